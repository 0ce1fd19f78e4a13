"""The server's clock, injectable so tests of time need no sleeping."""

import time
from typing import Protocol


class Clock(Protocol):
    """Tells the time in integer epoch milliseconds."""

    def now_ms(self) -> int:
        """Current time, integer milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        """Current wall-clock time in epoch milliseconds."""
        return time.time_ns() // 1_000_000
