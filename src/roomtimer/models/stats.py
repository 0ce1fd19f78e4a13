"""What operators are told: stored counts and connected sockets."""

from dataclasses import dataclass


@dataclass(frozen=True)
class StorageCounts:
    rooms: int
    timers: int
    running_timers: int


@dataclass(frozen=True)
class SocketStats:
    connected_clients: int
    active_rooms: int
    storage: StorageCounts
    at: int
