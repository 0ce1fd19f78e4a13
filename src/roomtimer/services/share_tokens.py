"""Share-token lookups guarded against guessing: misses are counted per client address.

A share token is a 192-bit capability, so nobody finds one by guessing; what this stops
is trying. Only misses count (a venue's hundreds of screens behind one address, all
holding a valid token, never do). Past `max_misses` in a minute, every lookup from that
address is refused until the minute ends, valid tokens included: letting a right guess
through would tell the guesser it was right.
"""

from limits import RateLimitItem, RateLimitItemPerMinute

from roomtimer.errors import RateLimited
from roomtimer.infra.coalesce import Coalescer
from roomtimer.infra.ratelimit import Limiter, Verdict
from roomtimer.models.tables import Room
from roomtimer.services.rooms import RoomService

NAMESPACE = "share-token-misses"


def miss_item(max_misses: int) -> RateLimitItem:
    """`max_misses` per minute, counted apart from the API's request limit."""
    return RateLimitItemPerMinute(max_misses, 1, namespace=NAMESPACE)


class ShareTokens:
    """The viewers' one way to a room by its share token (HTTP, pages, sockets)."""

    def __init__(self, rooms: RoomService, max_misses: int) -> None:
        self.rooms = rooms
        self.item = miss_item(max_misses)
        self.limiter: Limiter | None = None  # set while the app runs (its cleanup context)
        # A venue joining at once asks about one address: one storage read for the crowd.
        self._verdicts: Coalescer[str, Verdict] = Coalescer(self._peek)

    async def find(self, *, share_token: str, client: str) -> Room | None:
        """The room of `share_token`, None for a miss (counted); RateLimited past the bound."""
        if self.limiter is not None:
            verdict = await self._verdicts.get(client)
            if not verdict.allowed:
                raise RateLimited(verdict.retry_after_s)
        room = await self.rooms.find_by_token(share_token)
        if room is None and self.limiter is not None:
            await self.limiter.hit(self.item, client)
        return room

    async def _peek(self, client: str) -> Verdict:
        assert self.limiter is not None
        return await self.limiter.peek(self.item, client)
