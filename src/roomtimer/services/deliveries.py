"""Sends the outbox: each due delivery claimed by one worker, retried with backoff.

A claim is one UPDATE of due rows that sets their lease (and counts the attempt): on
PostgreSQL its rows are chosen `FOR UPDATE SKIP LOCKED`, so workers claim different
rows without waiting on each other; on SQLite, which runs one write at a time, the same
statement's WHERE is the compare-and-set. A worker writes an attempt's outcome only
while its lease still holds; a worker that died loses its claim when the lease passes,
and another sends the delivery again. Sends run concurrently up to a bound, each within
the sender's timeout, so a slow or dead receiver holds back no other delivery.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol

from loguru import logger
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.infra.background import finish_task, stop_task
from roomtimer.infra.metrics import Metrics
from roomtimer.models.tables import Delivery
from roomtimer.services.outbox import DELIVERED, FAILED, PENDING, sign

MAX_ATTEMPTS = 8
FIRST_RETRY_MS = 1_000
LEASE_MS = 30_000  # far beyond one attempt (5 s): only a dead worker's claim runs out
KEEP_DONE_MS = 7 * 24 * 3600 * 1000
PRUNE_EVERY_MS = 600_000


class Sender(Protocol):
    """POSTs one delivery; answers (HTTP status or None, error or None)."""

    def post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> Awaitable[tuple[int | None, str | None]]:
        """Sends `body` to `url`; never raises for the receiver's faults."""
        ...


def retry_delay_ms(attempts: int) -> int:
    """Backoff after the `attempts`-th failed attempt: 1 s, 2 s, 4 s…"""
    return FIRST_RETRY_MS * 2 ** (attempts - 1)


class DeliveryWorker:
    """This worker's sender loop."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        sender: Sender,
        metrics: Metrics,
        *,
        concurrency: int = 16,
        poll_ms: int = 500,
        lease_ms: int = LEASE_MS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sender = sender
        self.metrics = metrics
        self.concurrency = concurrency
        self.poll_ms = poll_ms
        self.lease_ms = lease_ms
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._sending: set[str] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._stopping = False

    def wake(self) -> None:
        """Deliveries were recorded, or a slot or a retry came free: look again now."""
        self._wake.set()

    def _due(self, now: int) -> list[Any]:
        due = [
            Delivery.status == PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now),
        ]
        if self._sending:  # never its own, whatever the clock did meanwhile
            due.append(Delivery.id.not_in(self._sending))
        return due

    def _claim_statement(self, now: int, limit: int) -> Any:
        due = self._due(now)
        chosen = (
            select(Delivery.id)
            .where(*due)
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite writes one at a time
        )
        return (
            update(Delivery)
            .where(Delivery.id.in_(chosen.scalar_subquery()), *due)
            .values(lease_until=now + self.lease_ms, attempts=Delivery.attempts + 1)
            .returning(
                Delivery.id,
                Delivery.event,
                Delivery.url,
                Delivery.secret,
                Delivery.body,
                Delivery.attempts,
                Delivery.lease_until,
            )
            .execution_options(synchronize_session=False)
        )

    async def claim(self, limit: int) -> list[Any]:
        """Claims up to `limit` due deliveries for this worker."""
        async with self.db.begin() as session:
            return list(await session.execute(self._claim_statement(self.clock.now_ms(), limit)))

    async def any_due(self) -> bool:
        """True when some delivery is due: a read, so an idle poll takes no write lock."""
        async with self.db() as session:
            found = await session.scalar(
                select(Delivery.id).where(*self._due(self.clock.now_ms())).limit(1)
            )
        return found is not None

    async def attempt(self, row: Any) -> bool:
        """Sends one claimed delivery and records the outcome; True when delivered."""
        body = row.body.encode()
        timestamp = self.clock.now_ms() // 1000
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "roomtimer-webhooks/1",
            "X-Roomtimer-Event": row.event,
            "X-Roomtimer-Delivery": row.id,
            "X-Roomtimer-Timestamp": str(timestamp),
            "X-Roomtimer-Signature": sign(row.secret, timestamp, body),
        }
        status, error = await self.sender.post(row.url, body, headers)
        delivered = error is None and status is not None and 200 <= status < 300
        now = self.clock.now_ms()
        values: dict[str, Any] = {"response_status": status, "lease_until": None}
        if delivered:
            values.update(status=DELIVERED, delivered_at=now, next_attempt_at=None, last_error=None)
        else:
            values["last_error"] = (error or f"HTTP {status}")[:500]
            if row.attempts >= MAX_ATTEMPTS:
                values.update(status=FAILED, next_attempt_at=None)
            else:
                delay = retry_delay_ms(row.attempts)
                values["next_attempt_at"] = now + delay
                self._wake_in(delay)
        async with self.db.begin() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == row.id, Delivery.lease_until == row.lease_until)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        outcome = "delivered" if delivered else values.get("status", "retry")
        self.metrics.webhook_attempts.labels(outcome).inc()
        return delivered

    async def prune(self) -> int:
        """Forgets deliveries that were done a week ago."""
        before = self.clock.now_ms() - KEEP_DONE_MS
        async with self.db.begin() as session:
            done = await session.execute(
                delete(Delivery).where(
                    Delivery.status.in_((DELIVERED, FAILED)), Delivery.created_at < before
                )
            )
        return int(done.rowcount)  # type: ignore[attr-defined]

    def _wake_in(self, delay_ms: int) -> None:
        """Looks again when a retry falls due (other workers' retries: the poll finds them)."""
        if self._stopping:
            return

        def due() -> None:
            self._timers.discard(handle)
            self.wake()

        handle = asyncio.get_running_loop().call_later(delay_ms / 1000, due)
        self._timers.add(handle)

    def start(self) -> None:
        """Starts the loop."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="roomtimer-webhooks")

    async def stop(self, timeout_s: float = 6.0) -> None:
        """Stops claiming and lets sends in flight finish (cancelled after timeout_s: their
        leases run out and another worker sends them again)."""
        if self._task is None:
            return
        self._stopping = True
        self.wake()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await finish_task(self._task, timeout_s)
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout_s)
        for task in list(self._inflight):
            await stop_task(task)
        self._task = None

    async def _run(self) -> None:
        next_prune = 0
        look = True  # woken because something is due here (recorded, retry): claim at once
        while not self._stopping:
            try:
                free = self.concurrency - len(self._inflight)
                if free > 0 and (look or await self.any_due()):
                    for row in await self.claim(free):
                        self._spawn(row)
                if self.clock.now_ms() >= next_prune:
                    await self.prune()
                    next_prune = self.clock.now_ms() + PRUNE_EVERY_MS
                look = await self._sleep(self.poll_ms)
            except asyncio.CancelledError:
                raise
            except (SQLAlchemyError, OSError) as exc:  # the database is down or busy
                logger.warning("webhook pass failed ({}); retrying in 1 s", type(exc).__name__)
                look = await self._sleep(1_000)
            except Exception:
                logger.exception("webhook pass failed; retrying in 1 s")
                look = await self._sleep(1_000)

    def _spawn(self, row: Any) -> None:
        self._sending.add(row.id)
        task = asyncio.create_task(self._attempt_logged(row), name=f"webhook-{row.id}")
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        full = len(self._inflight) >= self.concurrency
        self._inflight.discard(task)
        if full:
            self.wake()  # a slot came free: more may be waiting

    async def _attempt_logged(self, row: Any) -> None:
        try:
            await self.attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:  # its lease runs out and it is tried again
            logger.exception("webhook delivery {} could not be recorded", row.id)
        finally:
            self._sending.discard(row.id)

    async def _sleep(self, delay_ms: int) -> bool:
        """Waits for a wake-up (True) or `delay_ms` (False)."""
        if self._stopping:
            return False
        woken = True
        try:
            async with asyncio.timeout(max(0, delay_ms) / 1000):
                await self._wake.wait()
        except TimeoutError:
            woken = False
        self._wake.clear()
        return woken
