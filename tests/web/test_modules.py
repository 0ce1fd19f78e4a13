"""The page's pure modules (formatting, clock estimate, room store) run in Node."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from roomtimer.controllers.pages import STATIC_DIR

SCRIPT = r"""
import { formatRemaining, timerView } from "./format.js";
import { ServerClock, estimate } from "./clock.js";
import { RoomStore } from "./store.js";

const out = {};
out.texts = Object.fromEntries([
  10000, 9001, 9000, 1, 0, -1, -999, -1000, 3599000, 3600000, 3600001, -3661000,
].map((ms) => [ms, formatRemaining(ms)]));

const base = { id: "a", label: "A", durationMs: 600000, remainingMs: 600000, endsAt: null };
const running = { ...base, status: "running", endsAt: 100000, warnAtMs: 60000, dangerAtMs: 10000 };
out.views = {
  idle: timerView({ ...base, status: "idle" }, 0),
  paused: timerView({ ...base, status: "paused", remainingMs: 4500 }, 0),
  running: timerView(running, 0),
  warning: timerView(running, 40000),
  danger: timerView(running, 90000),
  zero: timerView(running, 100000),
  late: timerView(running, 101500),
  noThresholds: timerView({ ...base, status: "running", endsAt: 5000 }, 0),
  finished: timerView({ ...base, status: "finished", remainingMs: 0, finishedAt: 1000 }, 4200),
  finishedEarly: timerView({ ...base, status: "finished", remainingMs: 0, finishedAt: 1000 }, 900),
  stop: timerView({ ...running, onEnd: "stop" }, 130000),
};

out.estimate = estimate([
  { offset: 100, rtt: 2 }, { offset: 104, rtt: 1 }, { offset: 103, rtt: 3 },
  { offset: 900, rtt: 400 }, { offset: -700, rtt: 350 }, { offset: 101, rtt: 2 },
]);
out.empty = estimate([]);

const store = new RoomStore();
const timer = (version, extra = {}) => ({ ...base, status: "idle", version, ...extra });
const room = { id: "r", name: "R" };
store.apply("room-state", { room, timers: [timer(3), { ...timer(1), id: "b" }] });
const log = [store.message];
log.push(store.apply("timer-update", timer(2, { label: "older" })));
log.push(store.apply("timer-update", timer(3, { label: "same" })));
log.push(store.apply("timer-update", timer(4, { label: "newer" })));
store.apply("room-state", { room, timers: [timer(3, { label: "stale" })] });
log.push(store.ordered.map((t) => [t.id, t.label, t.version, t.warnAtMs]));
store.apply("room-message", { text: "Wrap up", visible: true, serverTime: 1 });
log.push(store.message);
store.apply("room-deleted", { id: "r" });
log.push([store.closed, store.apply("timer-update", timer(9))]);
out.store = log;

// ServerClock against a fake socket: the server's clock is 5 s ahead, round trips vary.
let local = 1_000_000;
const scheduled = [];
globalThis.setTimeout = (fn, ms) => scheduled.push({ fn, ms }) && scheduled.length;
globalThis.clearTimeout = () => {};
const rtts = [40, 4, 30, 6, 50, 2, 8, 60, 3, 5, 7, 9];
const socket = {
  connected: false, handlers: {}, pings: 0,
  on(event, fn) { (this.handlers[event] ??= []).push(fn); },
  fire(event) { for (const fn of this.handlers[event] ?? []) fn(); },
  timeout() {
    return { emit: (event, ack) => {
      const rtt = rtts[this.pings++ % rtts.length];
      local += rtt / 2; const serverTime = local + 5_000; local += rtt / 2;
      queueMicrotask(() => ack(null, { serverTime }));
    } };
  },
};
const settle = () => new Promise((resolve) => setImmediate(resolve));
const clock = new ServerClock(socket, { now: () => local });
const trace = { before: [clock.synced, socket.pings] };
socket.connected = true; socket.fire("connect"); await settle();
trace.burst = [socket.pings, clock.synced, clock.offsetMs, clock.rttMs, scheduled.at(-1).ms];
scheduled.at(-1).fn(); await settle();
trace.refresh = [socket.pings, clock.offsetMs];
socket.connected = false; socket.fire("disconnect");
scheduled.at(-1).fn(); await settle();
trace.whileDown = socket.pings;
socket.connected = true; socket.fire("connect");
trace.reconnected = clock.synced; await settle();
trace.after = [socket.pings, clock.synced, clock.samples.length];
out.clock = trace;
console.log(JSON.stringify(out));
"""


@pytest.fixture
def results(node_bin: str, tmp_path: Path) -> dict[str, Any]:
    for name in ("format.js", "clock.js", "store.js"):
        shutil.copy(STATIC_DIR / name, tmp_path / name)
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "run.js").write_text(SCRIPT)
    done = subprocess.run(
        [node_bin, "run.js"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_digits_round_up_counting_down_and_down_in_overtime(results: dict[str, Any]) -> None:
    assert results["texts"] == {
        "10000": "0:10",
        "9001": "0:10",
        "9000": "0:09",
        "1": "0:01",
        "0": "0:00",
        "-1": "+0:00",
        "-999": "+0:00",
        "-1000": "+0:01",
        "3599000": "59:59",
        "3600000": "1:00:00",
        "3600001": "1:00:01",
        "-3661000": "+1:01:01",
    }


def test_phases_follow_status_and_thresholds(results: dict[str, Any]) -> None:
    views = {
        name: (v["phase"], v["text"], v["remainingMs"]) for name, v in results["views"].items()
    }
    assert views == {
        "idle": ("idle", "10:00", 600000),
        "paused": ("paused", "0:05", 4500),
        "running": ("running", "1:40", 100000),
        "warning": ("warning", "1:00", 60000),
        "danger": ("danger", "0:10", 10000),
        "zero": ("overtime", "0:00", 0),
        "late": ("overtime", "+0:01", -1500),
        "noThresholds": ("running", "0:05", 5000),
        "finished": ("overtime", "+0:03", -3200),
        "finishedEarly": ("overtime", "0:00", 0),
        "stop": ("finished", "0:00", 0),
    }
    assert set(results["views"]["idle"]) == {"id", "label", "remainingMs", "phase", "text"}


def test_clock_estimate_is_the_median_of_the_lowest_round_trips(results: dict[str, Any]) -> None:
    assert results["estimate"] == {"offset": 101, "rtt": 1}
    assert results["empty"] is None


def test_store_drops_versions_not_newer_and_defaults_missing_fields(
    results: dict[str, Any],
) -> None:
    default, older, same, newer, timers, message, closed = results["store"]
    assert default == {"text": "", "visible": False, "blackout": False, "updatedAt": None}
    assert (older, same, newer) == (False, False, True)
    # A room-state carrying an older copy keeps the newer one, and drops unlisted timers.
    assert timers == [["a", "newer", 4, None]]
    assert message == {"text": "Wrap up", "visible": True, "blackout": False, "updatedAt": None}
    assert closed == ["deleted", False]


def test_clock_bursts_on_every_connect_and_refreshes_while_up(results: dict[str, Any]) -> None:
    clock = results["clock"]
    assert clock["before"] == [False, 0]  # nothing is sent before the socket is up
    pings, synced, offset, rtt, next_run_ms = clock["burst"]
    assert (pings, synced) == (8, True)
    assert offset == 5_000 and rtt == 2  # exact: the fake's delays are symmetric
    assert 24_000 <= next_run_ms <= 36_000  # re-estimated well within a minute
    assert clock["refresh"] == [12, 5_000]  # 4 more samples
    assert clock["whileDown"] == 12  # a refresh due while down sends nothing
    assert clock["reconnected"] is False  # a new connection is not trusted until measured
    assert clock["after"] == [20, True, 8]  # a fresh burst; older samples forgotten
