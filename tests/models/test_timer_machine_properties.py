"""The timer state machine driven by random command sequences, against a reference model.

The model is the contract's table written the plainest way (no shared code with the
machine); a fake clock moves between commands. Whatever the sequence: both agree on
status, time left and deadline; versions only grow, by one per change; time left is
never negative; a running timer finishes once, at its deadline.
"""

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from roomtimer.errors import InvalidTransition
from roomtimer.models import timer_machine as machine
from roomtimer.models.timer_machine import Status

T0 = 1_800_000_000_000


@dataclass
class Model:
    """The contract's timer, in the plainest terms."""

    status: str
    duration: int
    remaining: int
    ends_at: int | None = None
    finished_at: int | None = None
    changes: int = 0
    finishes: int = 0

    def left(self, now: int) -> int:
        if self.status == "running":
            assert self.ends_at is not None
            return max(0, self.ends_at - now)
        return self.remaining

    def finish(self, at: int) -> None:
        self.status, self.remaining, self.ends_at, self.finished_at = "finished", 0, None, at
        self.changes += 1
        self.finishes += 1

    def settle(self, now: int) -> bool:
        if self.status == "running" and self.ends_at is not None and self.ends_at <= now:
            self.finish(self.ends_at)
            return True
        return False

    def command(self, name: str, now: int, delta: int = 0) -> bool:
        """Applies a command; False when the contract refuses it (409)."""
        if name == "reset":
            self.status, self.remaining, self.ends_at, self.finished_at = (
                "idle", self.duration, None, None
            )  # fmt: skip
            self.changes += 1
        elif self.status == "finished":
            return False
        elif name == "start":
            if self.status != "running":
                self.status, self.ends_at = "running", now + self.remaining
                self.changes += 1
        elif name == "pause":
            if self.status == "idle":
                return False
            if self.status == "running":
                self.status, self.remaining, self.ends_at = "paused", self.left(now), None
                self.changes += 1
        elif name == "adjust" and delta != 0:
            if self.status == "running":
                assert self.ends_at is not None
                self.ends_at += delta
                if self.ends_at <= now:
                    self.finish(now)
                else:
                    self.changes += 1
            else:
                self.remaining += delta
                if self.remaining <= 0:
                    self.finish(now)
                else:
                    self.changes += 1
        return True


durations = st.integers(machine.DURATION_MIN_MS, 3_600_000)


class TimerMachine(RuleBasedStateMachine):
    """The real machine and the model, side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.state: machine.TimerState | None = None
        self.model: Model | None = None
        self.finishes = 0  # times the real machine entered `finished`

    @precondition(lambda self: self.state is None)
    @rule(duration=durations)
    def create(self, duration: int) -> None:
        self.state, self.model = machine.new(duration), Model("idle", duration, duration)

    def _apply(self, name: str, delta: int = 0) -> None:
        assert self.state is not None and self.model is not None
        before = self.state
        settled = machine.settle(before, self.now)
        self.model.settle(self.now)
        try:
            if name == "adjust":
                after = machine.adjust(settled, delta, self.now)
            else:
                after = machine.COMMANDS[name](settled, self.now)
            refused = False
        except InvalidTransition:
            after, refused = settled, True
        assert refused == (not self.model.command(name, self.now, delta)), name
        for old, new in ((before, settled), (settled, after)):
            if new is not old:
                assert new.version == old.version + 1  # a change is exactly one version
                if new.status is Status.FINISHED and old.status is not Status.FINISHED:
                    self.finishes += 1
        self.state = after

    @precondition(lambda self: self.state is not None)
    @rule(name=st.sampled_from(["start", "pause", "reset"]))
    def command(self, name: str) -> None:
        self._apply(name)

    @precondition(lambda self: self.state is not None)
    @rule(delta=st.integers(-4_000_000, 4_000_000) | st.just(0))
    def adjust(self, delta: int) -> None:
        self._apply("adjust", delta)

    @precondition(lambda self: self.state is not None)
    @rule(ms=st.integers(0, 2_000_000))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.state is None or self.model is None:
            return
        state, model = machine.settle(self.state, self.now), self.model
        shadow = Model(**vars(model))
        shadow.settle(self.now)
        assert str(state.status) == shadow.status
        assert state.remaining_at(self.now) == shadow.left(self.now) >= 0
        assert state.ends_at == shadow.ends_at
        assert state.finished_at == shadow.finished_at
        assert state.version == 1 + shadow.changes  # versions only grow, one per change

    @invariant()
    def finishes_as_often_as_the_model(self) -> None:
        # Each run ends once: a finished timer never finishes again before a reset.
        if self.model is not None:
            assert self.finishes == self.model.finishes


TimerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_the_state_machine_agrees_with_the_contracts_table = TimerMachine.TestCase
