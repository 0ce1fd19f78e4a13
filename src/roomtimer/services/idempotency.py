"""Idempotency keys: an owner's first answer to a key, kept 24 hours in the database.

A request reserves its key with an INSERT in a transaction of its own (the primary key
is (owner, key)), so of two identical requests on two workers exactly one runs; the
other reads the stored answer once the first has written it. A reservation whose worker
died mid-request is taken over after `stale_ms`. A periodic task deletes expired keys.
"""

import asyncio
from dataclasses import dataclass

from loguru import logger
from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.infra.background import finish_task
from roomtimer.models.tables import IdempotencyKey

TTL_MS = 24 * 3600 * 1000
STALE_MS = 60_000  # far beyond any request (shutdown waits 10 s): its worker is gone
CLEANUP_EVERY_MS = 600_000


@dataclass(frozen=True, slots=True)
class Stored:
    """What a key holds: its request's fingerprint and, once answered, the answer."""

    fingerprint: str
    status: int | None
    content_type: str | None
    body: bytes | None
    created_at: int


class IdempotencyStore:
    """Reserve, answer, release and expire keys."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        ttl_ms: int = TTL_MS,
        stale_ms: int = STALE_MS,
        cleanup_every_ms: int = CLEANUP_EVERY_MS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl_ms = ttl_ms
        self.stale_ms = stale_ms
        self.cleanup_every_ms = cleanup_every_ms
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @staticmethod
    def _where(owner_id: str, key: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return IdempotencyKey.owner_id == owner_id, IdempotencyKey.key == key

    async def find(self, owner_id: str, key: str) -> Stored | None:
        """The key as stored (expired keys count as absent)."""
        async with self.db() as session:
            row = await session.scalar(select(IdempotencyKey).where(*self._where(owner_id, key)))
        if row is None or row.created_at <= self.clock.now_ms() - self.ttl_ms:
            return None
        return Stored(row.fingerprint, row.status, row.content_type, row.body, row.created_at)

    async def reserve(self, owner_id: str, key: str, fingerprint: str) -> Stored | None:
        """None when this request now holds the key, else what another request stored."""
        for _ in range(3):
            now = self.clock.now_ms()
            try:
                async with self.db.begin() as session:
                    await session.execute(
                        insert(IdempotencyKey).values(
                            owner_id=owner_id, key=key, fingerprint=fingerprint, created_at=now
                        )
                    )
                return None
            except IntegrityError:
                pass
            async with self.db() as session:
                row = await session.scalar(
                    select(IdempotencyKey).where(*self._where(owner_id, key))
                )
            if row is None:
                continue  # released or expired meanwhile: try again
            expired = row.created_at <= now - self.ttl_ms
            stale = row.status is None and row.created_at <= now - self.stale_ms
            if expired or stale:
                if await self._take_over(owner_id, key, fingerprint, row.created_at, now):
                    return None
                continue
            return Stored(row.fingerprint, row.status, row.content_type, row.body, row.created_at)
        return await self.find(owner_id, key)

    async def _take_over(
        self, owner_id: str, key: str, fingerprint: str, seen_at: int, now: int
    ) -> bool:
        """Holds an expired key, or one whose request died, unless someone else just did."""
        async with self.db.begin() as session:
            taken = await session.execute(
                update(IdempotencyKey)
                .where(*self._where(owner_id, key), IdempotencyKey.created_at == seen_at)
                .values(
                    fingerprint=fingerprint,
                    status=None,
                    content_type=None,
                    body=None,
                    created_at=now,
                )
            )
        return bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    async def complete(
        self, owner_id: str, key: str, status: int, content_type: str | None, body: bytes
    ) -> None:
        """Stores the answer of the request that holds the key."""
        async with self.db.begin() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(*self._where(owner_id, key), IdempotencyKey.status.is_(None))
                .values(status=status, content_type=content_type, body=body)
            )

    async def release(self, owner_id: str, key: str) -> None:
        """Gives the key up unanswered (a 5xx): a retry runs the request again."""
        async with self.db.begin() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    *self._where(owner_id, key), IdempotencyKey.status.is_(None)
                )
            )

    async def purge(self) -> int:
        """Deletes keys older than the time to live; returns how many."""
        before = self.clock.now_ms() - self.ttl_ms
        async with self.db.begin() as session:
            gone = await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.created_at <= before)
            )
        return int(gone.rowcount)  # type: ignore[attr-defined]

    def start(self) -> None:
        """Starts the periodic cleanup."""
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="roomtimer-idempotency-cleanup")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stops the cleanup once its current pass is done."""
        if self._task is None:
            return
        self._stop.set()
        await finish_task(self._task, timeout_s)
        self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                purged = await self.purge()
                if purged:
                    logger.debug("idempotency keys expired: {}", purged)
            except (SQLAlchemyError, OSError) as exc:  # the database is down or busy
                reason = type(exc).__name__
                logger.warning("idempotency cleanup failed ({}); trying again later", reason)
            except Exception:
                logger.exception("idempotency cleanup failed; trying again later")
            try:
                async with asyncio.timeout(self.cleanup_every_ms / 1000):
                    await self._stop.wait()
            except TimeoutError:
                pass
