"""What one socket and one client address may do: events a window, rooms, connections,
and how long an address that flooded waits before it may connect again.

In memory and O(1) per event: sockets live in one process, so nothing is shared. (The
`limits` memory storage scans every key on a timer: with thousands of sockets that scan
cost more CPU than the joins themselves.) Per worker, so a cap on connections per
address, and an address's penalty, hold on each worker behind the load balancer, not
across them (Nginx hashes a client address to one worker).
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

# 60 events per 10 s per socket: the viewer page's clock sync sends bursts of pings.
EVENTS_PER_WINDOW = 60
WINDOW_S = 10.0


class Verdict(Enum):
    ALLOW = "allow"
    REFUSE = "refuse"  # the first event over the limit: told `rate_limited`
    DROP = "drop"  # later ones: answered with nothing, so a flood costs the server little
    CUT = "cut"  # the event at twice the limit in one window: the socket is disconnected


class EventWindows:
    """Fixed-window event counts per socket, forgotten when the socket goes."""

    def __init__(self, limit: int = EVENTS_PER_WINDOW, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, sid: str) -> Verdict:
        """Counts one event of `sid` and says what to do with it."""
        now = time.monotonic()
        started, count = self._windows.get(sid, (now, 0))
        if now - started >= self.window_s:
            started, count = now, 0
        count += 1
        self._windows[sid] = (started, count)
        if count <= self.limit:
            return Verdict.ALLOW
        if count == self.limit + 1:
            return Verdict.REFUSE
        # Once: events read with the one that cut it are dropped, not cut (and logged) again.
        return Verdict.CUT if count == 2 * self.limit else Verdict.DROP

    def forget(self, sid: str) -> None:
        """Drops a gone socket's window."""
        self._windows.pop(sid, None)


@dataclass
class AddressCaps:
    """Open sockets per client address, at most `limit` each (venue NATs share one)."""

    limit: int

    def __post_init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._address_of: dict[str, str] = {}

    def admit(self, sid: str, address: str) -> bool:
        """Counts `sid` against its address; False (and not counted) past the cap."""
        if self._open[address] >= self.limit:
            return False
        self._open[address] += 1
        self._address_of[sid] = address
        return True

    def release(self, sid: str) -> None:
        """Uncounts a socket that went."""
        address = self._address_of.pop(sid, None)
        if address is not None:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]


# The first cut of an address bars it this long (or the cap, if lower); each repeat doubles.
FIRST_PENALTY_S = 2.0
# A barred address's connection is answered (refused) this late at most: a client that
# reconnects the moment it is refused then tries about once a second instead of hundreds
# of times (each attempt is a websocket handshake).
HOLD_S = 1.0


class PenaltyBox:
    """Client addresses barred from new sockets for a while after one of theirs was cut.

    The per-socket limit alone does not bound a client that reconnects the moment it is
    cut: each new socket buys another 60 answered events. The first cut bars the address
    for 2 s; a cut after the bar lifted, while remembered, doubles it up to `max_s` (its
    other sockets cut during the bar were opened before it: they do not add to it); an
    address quiet for `max_s` after its bar ends is forgotten. Open sockets are untouched.
    A barred connection's refusal is held back a moment (`hold`), so reconnecting at once
    does not make a barred client cost more.
    """

    def __init__(self, max_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.max_s = max_s
        self._now = now
        self._barred: dict[str, tuple[float, float]] = {}  # address -> (until, last penalty)

    def retry_after(self, address: str) -> float:
        """Seconds `address` is still barred for: 0 when it may connect."""
        entry = self._barred.get(address)
        if entry is None:
            return 0.0
        left = entry[0] - self._now()
        return left if left > 0 else 0.0

    def punish(self, address: str) -> float:
        """Bars `address` after one of its sockets was cut; returns the seconds it waits."""
        if self.max_s <= 0:
            return 0.0
        now = self._now()
        entry = self._barred.get(address)
        penalty = min(FIRST_PENALTY_S, self.max_s)
        if entry is not None:
            until, last = entry
            if now < until:  # a socket opened before this bar: not a new offence
                return until - now
            if now - until < self.max_s:  # back and flooding again, still remembered
                penalty = min(last * 2, self.max_s)
        if len(self._barred) >= 1024:  # bounded: drop the forgotten ones now and then
            self._forget_quiet(now)
        self._barred[address] = (now + penalty, penalty)
        return penalty

    async def hold(self, address: str) -> None:
        """Waits before a barred address is refused (up to HOLD_S, never past its bar)."""
        wait = min(self.retry_after(address), HOLD_S)
        if wait > 0:
            await asyncio.sleep(wait)

    def _forget_quiet(self, now: float) -> None:
        for address in [a for a, (until, _) in self._barred.items() if now - until >= self.max_s]:
            del self._barred[address]
