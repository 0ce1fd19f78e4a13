"""A domain object as it stood at one instant: what a use case hands back."""

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stamped(Generic[T]):
    """`value` as it was at `at` (epoch ms): replies show it, and `serverTime`, at that instant."""

    value: T
    at: int


@dataclass(frozen=True, slots=True)
class Audience(Generic[T]):
    """`value` with how many sockets watch it, at `at` (a room as its viewers see it)."""

    value: T
    watchers: int
    at: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Some of a longer list, and the cursor of what follows (None at the end)."""

    items: list[T]
    next: str | None
