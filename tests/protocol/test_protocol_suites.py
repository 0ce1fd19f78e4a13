"""The official Engine.IO and Socket.IO protocol suites against roomtimer's own servers.

Each server runs both suites: roomtimer with the fast path (`fast`), roomtimer under
ROOMTIMER_FAST_PATH=off (`stock-path`), and plain python-socketio (`stock-library`), which
measures the "stock has it too" column of expectations.py; plain python-socketio writing
undeflated frames (`stock-undeflated`) runs the Socket.IO suite to show the two-frames race.
Every test must pass or have the outcome listed there; a listed failure that passes fails
the run, so the table stays true.
"""

import asyncio
import shutil
from pathlib import Path

from tests.protocol.expectations import EITHER, FAILS, PASSES, SERVERS, SUITES, Deviation
from tests.protocol.suites import SUITES_DIR, Harness, SuiteRun, installed, run_suite
from tests.support.services import needs

HARNESS = {
    "fast": ("roomtimer", "on"),
    "stock-path": ("roomtimer", "off"),
    "stock-library": ("stock", "on"),
    "stock-undeflated": ("stock-undeflated", "on"),
}
# The two-frames race only concerns Socket.IO's connect: the only part run there.
PARTS_RUN = {"stock-undeflated": (("socket.io", "Socket.IO protocol"),)}


def problems_of(suite: str, run: SuiteRun, server: str, grep: str = "") -> list[str]:
    """Each way the run (of the tests whose title holds `grep`) differs from the table."""
    table = {title: d for title, d in SUITES[suite].items() if grep in title}
    found = []
    for title, passed in sorted(run.passed.items()):
        expected = table[title].on(server) if title in table else PASSES
        if expected == EITHER or passed == (expected == PASSES):
            continue
        why = f" ({table[title].reason})" if title in table else ""
        error = run.errors.get(title, "").partition("\n")[0][:120]
        state = "passes" if passed else f"fails ({error})"
        found.append(f"{suite}: {title!r} {state}, the table says {expected}{why}")
    found += [
        f"{suite}: {title!r} is listed but was not run" for title in table.keys() - run.passed
    ]
    two_frames = [
        t for t, ok in run.passed.items() if not ok and t in table and table[t].two_frames
    ]
    if two_frames and not run.reads_with("40", "42"):
        found.append(f"{suite}: {two_frames} failed, yet no read held CONNECT and `auth` together")
    return found


def summary(suite: str, run: SuiteRun) -> str:
    """`engine.io: 13 of 24 pass`."""
    return f"{suite}: {sum(run.passed.values())} of {len(run.passed)} pass"


async def check_server(server: str, workdir: Path) -> tuple[str, list[str]]:
    """Runs the suites against one server: its summary line and each way it departs."""
    library, fast_path = HARNESS[server]
    problems, summaries = [], []
    async with Harness(library, fast_path, workdir) as harness:
        for suite, grep in PARTS_RUN.get(server, [(suite, "") for suite in SUITES]):
            run = await run_suite(suite, harness.port, workdir / server, grep)
            problems += problems_of(suite, run, server, grep)
            summaries.append(summary(suite, run))
    if server == "stock-undeflated":
        # Stock writes CONNECT and `auth` back to back too: the suite's client reads them at once.
        problems += [] if run.reads_with("40", "42") else ["no read held CONNECT and `auth`"]
    return f"{server}: " + "; ".join(summaries), [f"{server}: {p}" for p in problems]


async def test_the_protocol_suites_pass_but_for_the_deviations_listed(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npx") is None:
        needs("node and npm", "node/npx are not on PATH: the protocol suites run in node")
    if not (SUITES_DIR / "socket.io" / "test-suite.js").is_file():
        needs("the protocol suites", f"{SUITES_DIR} has no suites (set ROOMTIMER_PROTOCOL_SUITES)")
    for suite in SUITES:
        installed(suite)  # npm ci once, before the servers run side by side
    # The suites mostly wait on the protocol's timers: the four servers run at once, each in
    # its own process with its own mocha runs, so the whole check takes as long as one.
    results = await asyncio.gather(*(check_server(server, tmp_path) for server in SERVERS))
    summaries = [line for line, _ in results]
    problems = [problem for _, found in results for problem in found]
    print("\n".join(summaries))
    assert not problems, "\n".join([*summaries, *problems])


def test_roomtimer_adds_no_deviation_of_its_own() -> None:
    # Whatever can fail on roomtimer fails on the stock library too, or is the suite's own
    # two-frames race (measured on every run: see problems_of).
    deviations: list[Deviation] = [d for table in SUITES.values() for d in table.values()]
    own = [
        d.reason
        for d in deviations
        if {d.fast, d.stock_path} & {FAILS, EITHER}
        and d.stock_library == PASSES
        and not d.two_frames
    ]
    assert own == []
