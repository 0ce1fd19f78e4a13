"""Use cases: rooms, timers, scheduling, presence, stats. No HTTP, no socket library."""
