"""Use cases: rooms, timers, scheduling, broadcasting; no HTTP."""
