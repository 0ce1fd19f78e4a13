"""Installing and running the official protocol suites, and reading what they report."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.services import REPO_ROOT, free_port, stop_process, wait_for_port

# Unchanged copies at pinned commits (their README says which), beside the repository.
SUITES_DIR = Path(
    os.environ.get("ROOMTIMER_PROTOCOL_SUITES") or REPO_ROOT.parent / "shared" / "protocol-suites"
)
FRAMES_JS = Path(__file__).with_name("frames.cjs")
SUITE_URL = 'const URL = "http://localhost:3000";'  # line 10 of each test-suite.js
RUN_TIMEOUT_S = 90


@dataclass
class SuiteRun:
    """One mocha run: each test's full title and whether it passed; the reads observed."""

    passed: dict[str, bool]
    errors: dict[str, str] = field(default_factory=dict)  # the first line of each failure
    reads: list[dict[str, Any]] = field(default_factory=list)

    def reads_with(self, *prefixes: str) -> int:
        """How many TCP reads held frames starting with each prefix, in that order."""
        count = 0
        for read in self.reads:
            frames = read["frames"]
            for i in range(len(frames) - len(prefixes) + 1):
                if all(f.startswith(p) for f, p in zip(frames[i:], prefixes, strict=False)):
                    count += 1
                    break
        return count


def installed(suite: str) -> Path:
    """The suite with its npm dependencies, installed once per lock file in a temp folder."""
    source = SUITES_DIR / suite
    lock = hashlib.sha256((source / "package-lock.json").read_bytes()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "roomtimer-protocol-suites" / f"{suite}-{lock}"
    if (target / "node_modules" / ".package-lock.json").is_file():
        return target
    staging = target.with_name(f"{target.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    for path in (staging, *staging.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the shared copy is read-only
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        check=True,
        capture_output=True,
        timeout=300,
    )
    try:
        staging.rename(target)
    except OSError:  # another run installed it first: use that one
        shutil.rmtree(staging, ignore_errors=True)
    return target


def pointed_at(suite: str, port: int, workdir: Path) -> Path:
    """A copy of the suite in workdir whose URL (line 10, and only it) names 127.0.0.1:port."""
    cached = installed(suite)
    copy = workdir / suite
    copy.mkdir(parents=True)
    for name in ("package.json", "node-imports.js", "test-suite.js"):
        shutil.copy(cached / name, copy / name)
    (copy / "node_modules").symlink_to(cached / "node_modules", target_is_directory=True)
    script = copy / "test-suite.js"
    lines = script.read_text().split("\n")
    if lines[9] != SUITE_URL:
        raise ValueError(f"{suite}/test-suite.js line 10 is {lines[9]!r}, not {SUITE_URL!r}")
    lines[9] = f'const URL = "http://127.0.0.1:{port}";'
    script.write_text("\n".join(lines))
    return copy


async def run_suite(suite: str, port: int, workdir: Path, grep: str = "") -> SuiteRun:
    """Runs the suite (its tests whose title holds `grep`) against 127.0.0.1:port."""
    copy = pointed_at(suite, port, workdir)
    frames_log = workdir / f"{suite}-reads.jsonl"
    env = {
        **os.environ,
        "NODE_OPTIONS": f"--require {FRAMES_JS}",
        "ROOMTIMER_FRAMES_OUT": str(frames_log),
    }
    args = ["mocha", "test-suite.js", "--exit", "--reporter", "json"]
    args += ["--grep", grep] if grep else []
    proc = await asyncio.create_subprocess_exec(
        "npx",
        *args,
        cwd=copy,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    text = stdout.decode(errors="replace")
    try:
        report = json.loads(text[text.index("{") :])
    except ValueError:
        raise RuntimeError(f"mocha printed no JSON report:\n{text}\n{stderr.decode()}") from None
    # A test can fail after it passed (an error once done), so a failure always wins.
    passed = {t["fullTitle"]: True for t in report["passes"]}
    passed.update({t["fullTitle"]: False for t in report["failures"]})
    errors = {t["fullTitle"]: str(t["err"].get("message", "")) for t in report["failures"]}
    reads = []
    if frames_log.exists():
        reads = [json.loads(line) for line in frames_log.read_text().splitlines()]
    return SuiteRun(passed, errors, reads)


class Harness:
    """tests/protocol/harness.py in a process of its own, on a free port."""

    def __init__(self, library: str, fast_path: str, workdir: Path) -> None:
        self.library = library
        self.env = {**os.environ, "ROOMTIMER_FAST_PATH": fast_path, "PYTHONUNBUFFERED": "1"}
        self.log = workdir / f"harness-{library}-{fast_path}.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Harness:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.protocol.harness", self.library, str(self.port)],
                cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        try:
            await wait_for_port(self.port, deadline_s=20, alive=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            await self.__aexit__()
            raise RuntimeError(f"harness did not start: {exc}\n{self.log.read_text()}") from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            await stop_process(self.proc, 15, timeout=10)
