"""Fixed-window rate limits (the `limits` library): in memory, or in Redis for every worker."""

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from loguru import logger
from redis.asyncio import ConnectionPool


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int


_Step = Callable[[FixedWindowRateLimiter, RateLimitItem, str], Awaitable[Verdict]]


class Limiter:
    """A fixed-window limiter on Redis (shared by every worker) when configured, else in memory.

    While Redis is unreachable each worker counts in its own memory instead, so the API
    stays both limited and available; Redis is tried again `retry_s` after a failure.
    """

    retry_s = 1.0

    def __init__(self, redis_url: str | None) -> None:
        self._memory = FixedWindowRateLimiter(storage_from_string("async+memory://"))  # type: ignore[arg-type]
        self._shared: FixedWindowRateLimiter | None = None
        self._pool: ConnectionPool | None = None
        if redis_url:
            # Our own pool, so that shutdown can close it (`limits` never closes its client).
            self._pool = ConnectionPool.from_url(
                redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            storage = storage_from_string(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix="roomtimer-rl",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._shared = FixedWindowRateLimiter(storage)  # type: ignore[arg-type]
        self._shared_down_until = 0.0

    async def hit(self, item: RateLimitItem, client: str) -> Verdict:
        """Counts one request of `client`; says whether it is allowed, and when to retry."""
        return await self._run(self._hit, item, client)

    async def peek(self, item: RateLimitItem, client: str) -> Verdict:
        """Whether `client` is still under the limit, counting nothing."""
        return await self._run(self._peek, item, client)

    async def _run(self, step: _Step, item: RateLimitItem, client: str) -> Verdict:
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                verdict = await step(self._shared, item, client)
            except StorageError as exc:
                if not self._shared_down_until:
                    logger.error(
                        "rate limits fall back to each worker's memory: {}", exc.storage_error
                    )
                self._shared_down_until = time.monotonic() + self.retry_s
            else:
                if self._shared_down_until:
                    logger.info("rate limits are shared through Redis again")
                    self._shared_down_until = 0.0
                return verdict
        return await step(self._memory, item, client)

    @staticmethod
    async def _hit(limiter: FixedWindowRateLimiter, item: RateLimitItem, client: str) -> Verdict:
        if await limiter.hit(item, client):
            return Verdict(True, 0)
        return await Limiter._refused(limiter, item, client)

    @staticmethod
    async def _peek(limiter: FixedWindowRateLimiter, item: RateLimitItem, client: str) -> Verdict:
        if await limiter.test(item, client):
            return Verdict(True, 0)
        return await Limiter._refused(limiter, item, client)

    @staticmethod
    async def _refused(
        limiter: FixedWindowRateLimiter, item: RateLimitItem, client: str
    ) -> Verdict:
        stats = await limiter.get_window_stats(item, client)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))

    async def aclose(self) -> None:
        """Closes the shared storage's Redis connections."""
        if self._pool is not None:
            await self._pool.aclose()
