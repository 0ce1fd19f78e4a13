"""The pure rules of threshold crossings (models/crossings.py)."""

import pytest

from roomtimer.models import crossings
from roomtimer.models import timer_machine as machine
from roomtimer.models.crossings import Due, Thresholds

NOW = 1_000_000
WARN, DANGER = 120_000, 60_000
BOTH = Thresholds(WARN, DANGER)


def running(remaining_ms: int) -> machine.TimerState:
    return machine.TimerState(machine.Status.RUNNING, 600_000, 600_000, ends_at=NOW + remaining_ms)


def paused(remaining_ms: int) -> machine.TimerState:
    return machine.TimerState(machine.Status.PAUSED, 600_000, remaining_ms)


def test_a_running_timer_above_a_threshold_arms_its_crossing() -> None:
    assert crossings.armed(running(300_000), BOTH, NOW) == Due(NOW + 180_000, NOW + 240_000)
    assert crossings.armed(running(90_000), BOTH, NOW) == Due(None, NOW + 30_000)
    assert crossings.armed(running(WARN), BOTH, NOW) == Due(None, NOW + 60_000)  # at it: inside
    assert crossings.armed(paused(300_000), BOTH, NOW) == Due()
    assert crossings.armed(running(300_000), Thresholds(None, None), NOW) == Due()


@pytest.mark.parametrize(
    ("before", "due", "after", "fired"),
    [
        # Time reached the crossing; no pass had claimed it: the next write fires it.
        (running(100_000), Due(NOW - 20_000, None), paused(100_000), ["timer.warning"]),
        # An adjust of a running timer moves it into both phases.
        (
            running(300_000),
            Due(NOW + 180_000, NOW + 240_000),
            running(30_000),
            ["timer.warning", "timer.danger"],
        ),
        # The same jump on a paused timer: nothing (a paused timer arms nothing).
        (paused(300_000), Due(), paused(30_000), []),
        # A stale due instant of a timer that no longer runs is ignored.
        (paused(300_000), Due(NOW - 5, NOW - 5), running(300_000), []),
        # Pausing before the crossing: nothing.
        (running(300_000), Due(NOW + 180_000, None), paused(300_000), []),
        # Still ahead after the change: nothing now.
        (running(300_000), Due(NOW + 180_000, None), running(200_000), []),
        # Reset: nothing.
        (running(300_000), Due(NOW + 180_000, None), machine.new(600_000), []),
    ],
)
def test_what_a_write_fires(
    before: machine.TimerState, due: Due, after: machine.TimerState, fired: list[str]
) -> None:
    assert crossings.fired(before, due, after, BOTH, NOW) == fired
