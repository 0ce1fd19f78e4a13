"""The contract's timer state machine, cell by cell: pure, the clock is a number."""

from dataclasses import replace

import pytest

from roomtimer.errors import InvalidTransition
from roomtimer.models import timer_machine as m
from roomtimer.models.timer_machine import Status, TimerState

NOW = 1_800_000_000_000
MINUTE = 60_000
DURATION = 10 * MINUTE


def idle(remaining: int = DURATION, version: int = 1) -> TimerState:
    return TimerState(Status.IDLE, DURATION, remaining, version=version)


def running(ends_at: int = NOW + 4 * MINUTE, version: int = 2) -> TimerState:
    return TimerState(Status.RUNNING, DURATION, 7 * MINUTE, ends_at=ends_at, version=version)


def paused(remaining: int = 3 * MINUTE, version: int = 3) -> TimerState:
    return TimerState(Status.PAUSED, DURATION, remaining, version=version)


def finished(finished_at: int = NOW - MINUTE, version: int = 4) -> TimerState:
    return TimerState(Status.FINISHED, DURATION, 0, finished_at=finished_at, version=version)


def changed(before: TimerState, after: TimerState, **fields: object) -> None:
    """`after` is `before` with exactly `fields` changed and the version one higher."""
    assert after is not before
    assert after == replace(before, version=before.version + 1, **fields)  # type: ignore[arg-type]


# start


def test_start_idle_runs_until_now_plus_remaining() -> None:
    before = idle(remaining=5 * MINUTE)
    changed(before, m.start(before, NOW), status=Status.RUNNING, ends_at=NOW + 5 * MINUTE)


def test_start_running_is_a_no_op() -> None:
    before = running()
    assert m.start(before, NOW) is before


def test_start_paused_runs_for_what_was_left() -> None:
    before = paused(remaining=3 * MINUTE)
    changed(before, m.start(before, NOW), status=Status.RUNNING, ends_at=NOW + 3 * MINUTE)


def test_start_finished_is_refused() -> None:
    with pytest.raises(InvalidTransition) as refused:
        m.start(finished(), NOW)
    assert (refused.value.status, refused.value.code) == (409, "invalid_transition")


# pause


def test_pause_idle_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        m.pause(idle(), NOW)


def test_pause_running_keeps_what_is_left_at_now() -> None:
    before = running(ends_at=NOW + 90_123)
    after = m.pause(before, NOW)
    changed(before, after, status=Status.PAUSED, remaining_ms=90_123, ends_at=None)


def test_pause_paused_is_a_no_op() -> None:
    before = paused()
    assert m.pause(before, NOW) is before


def test_pause_finished_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        m.pause(finished(), NOW)


# reset


def test_reset_idle_restores_the_duration() -> None:
    before = idle(remaining=2 * MINUTE)
    changed(before, m.reset(before, NOW), remaining_ms=DURATION)


def test_reset_running_is_idle_with_the_duration() -> None:
    before = running()
    after = m.reset(before, NOW)
    changed(before, after, status=Status.IDLE, remaining_ms=DURATION, ends_at=None)


def test_reset_paused_is_idle_with_the_duration() -> None:
    before = paused()
    changed(before, m.reset(before, NOW), status=Status.IDLE, remaining_ms=DURATION)


def test_reset_finished_is_idle_and_forgets_the_finish() -> None:
    before = finished()
    after = m.reset(before, NOW)
    changed(before, after, status=Status.IDLE, remaining_ms=DURATION, finished_at=None)


# adjust


def test_adjust_idle_changes_what_is_left() -> None:
    before = idle()
    changed(before, m.adjust(before, -MINUTE, NOW), remaining_ms=DURATION - MINUTE)
    changed(before, m.adjust(before, MINUTE, NOW), remaining_ms=DURATION + MINUTE)


def test_adjust_running_moves_the_deadline() -> None:
    before = running(ends_at=NOW + 4 * MINUTE)
    changed(before, m.adjust(before, MINUTE, NOW), ends_at=NOW + 5 * MINUTE)
    changed(before, m.adjust(before, -MINUTE, NOW), ends_at=NOW + 3 * MINUTE)
    assert m.adjust(before, MINUTE, NOW).remaining_at(NOW) == 5 * MINUTE


def test_adjust_paused_changes_what_is_left() -> None:
    before = paused(remaining=3 * MINUTE)
    changed(before, m.adjust(before, 30_000, NOW), remaining_ms=3 * MINUTE + 30_000)


def test_adjust_finished_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        m.adjust(finished(), MINUTE, NOW)


@pytest.mark.parametrize("leftover", [0, -1, -DURATION])
@pytest.mark.parametrize("state", [idle(), running(), paused()], ids=["idle", "running", "paused"])
def test_adjust_leaving_no_time_finishes_now(state: TimerState, leftover: int) -> None:
    delta = leftover - state.remaining_at(NOW)
    after = m.adjust(state, delta, NOW)
    changed(state, after, status=Status.FINISHED, remaining_ms=0, ends_at=None, finished_at=NOW)


def test_adjust_running_leaving_a_millisecond_keeps_running() -> None:
    before = running(ends_at=NOW + MINUTE)
    after = m.adjust(before, -MINUTE + 1, NOW)
    assert (after.status, after.ends_at, after.remaining_at(NOW)) == (Status.RUNNING, NOW + 1, 1)


# settle, set_duration, remaining_at, new


def test_settle_finishes_a_running_timer_at_its_deadline() -> None:
    before = running(ends_at=NOW - 250)
    after = m.settle(before, NOW)
    changed(
        before, after, status=Status.FINISHED, remaining_ms=0, ends_at=None, finished_at=NOW - 250
    )
    at_deadline = running(ends_at=NOW)
    assert m.settle(at_deadline, NOW).finished_at == NOW


@pytest.mark.parametrize(
    "state",
    [running(ends_at=NOW + 1), idle(), paused(), finished()],
    ids=["running-not-due", "idle", "paused", "finished"],
)
def test_settle_leaves_everything_else_alone(state: TimerState) -> None:
    assert m.settle(state, NOW) is state


def test_set_duration_on_idle_also_sets_what_is_left() -> None:
    before = idle(remaining=2 * MINUTE)
    after = m.set_duration(before, 5 * MINUTE)
    assert after == replace(before, duration_ms=5 * MINUTE, remaining_ms=5 * MINUTE)


@pytest.mark.parametrize(
    "state", [running(), paused(), finished()], ids=["running", "paused", "finished"]
)
def test_set_duration_elsewhere_waits_for_the_next_reset(state: TimerState) -> None:
    after = m.set_duration(state, 5 * MINUTE)
    assert after == replace(state, duration_ms=5 * MINUTE)
    assert m.reset(after, NOW).remaining_ms == 5 * MINUTE


def test_remaining_at_counts_down_while_running_and_stops_at_zero() -> None:
    state = running(ends_at=NOW + 1_500)
    assert [state.remaining_at(NOW + d) for d in (0, 1_000, 1_500, 9_000)] == [1_500, 500, 0, 0]


def test_remaining_at_is_the_stored_value_when_not_running() -> None:
    assert paused(remaining=42_000).remaining_at(NOW + 10 * MINUTE) == 42_000
    assert idle().remaining_at(NOW) == DURATION
    assert finished().remaining_at(NOW) == 0


def test_new_timer_is_idle_at_version_one() -> None:
    assert m.new(DURATION) == TimerState(Status.IDLE, DURATION, DURATION, None, None, 1)


def test_a_full_run_bumps_the_version_once_per_change() -> None:
    state = m.new(DURATION)
    state = m.start(state, NOW)
    state = m.start(state, NOW + 1)  # no-op
    state = m.pause(state, NOW + MINUTE)
    state = m.pause(state, NOW + 2 * MINUTE)  # no-op
    state = m.adjust(state, MINUTE, NOW + 2 * MINUTE)
    state = m.start(state, NOW + 3 * MINUTE)
    state = m.settle(state, NOW + 13 * MINUTE)
    assert (state.status, state.finished_at, state.version) == (
        Status.FINISHED,
        NOW + 13 * MINUTE,
        6,
    )
