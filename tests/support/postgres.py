"""A private PostgreSQL server for fault tests: stopped and started again at will.

The shared test PostgreSQL is never touched. The cluster lives in its own folder, on its
own free port on 127.0.0.1, with fsync off (nothing in it has to outlive the test).
PostgreSQL refuses to run as root, so under root initdb and postgres run as the
`postgres` user (`subprocess.Popen(user=…)`, as `runuser -u postgres` would, but with
postgres itself as our child, so that our signals reach it and no one else's).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from tests.support.services import free_port, needs, stop_process

USER = "roomtimer"
DATABASE = "roomtimer"

# PostgreSQL's own shutdown modes (its server signals): `fast` rolls back open
# transactions and closes every session; `immediate` quits at once, as a crash would,
# and the next start recovers from the WAL.
SHUTDOWN = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def find_binaries() -> Path | None:
    """The folder with initdb and postgres (the newest installed version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("postgres") else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


class PostgresServer:
    """`postgres` on 127.0.0.1:<free port>, its cluster in a folder of its own."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        # Not tmp_path: pytest makes its folders root-only, and postgres must reach its own.
        self.workdir = Path(tempfile.mkdtemp(prefix="roomtimer-pg-"))
        self.datadir = self.workdir / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            owner = pwd.getpwnam(self.user)
            os.chown(self.workdir, owner.pw_uid, owner.pw_gid)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """postgresql://roomtimer@127.0.0.1:<port>/roomtimer (trust authentication)"""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _log(self) -> str:
        path = self.workdir / "postgres.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def init(self) -> None:
        """initdb (no fsync), then the `roomtimer` database."""
        argv = [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", USER]
        argv += ["--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"]
        done = await asyncio.to_thread(
            subprocess.run, argv, user=self.user, capture_output=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.decode(errors='replace')}")
        await self.start()
        conn = await asyncpg.connect(self.url.rsplit("/", 1)[0] + "/postgres", timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()

    async def start(self, deadline_s: float = 20.0) -> None:
        """Starts it (again, on the same port); returns once it takes connections."""
        argv = [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        for setting in (
            "listen_addresses=127.0.0.1",
            f"unix_socket_directories={self.workdir}",
            "fsync=off",
            "full_page_writes=off",
            "max_connections=60",
            "shared_buffers=16MB",
        ):
            argv += ["-c", setting]
        with open(self.workdir / "postgres.log", "ab") as log:
            self.proc = subprocess.Popen(
                argv, user=self.user, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while not await self.accepts():
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self._log()}")
            if loop.time() > deadline:
                raise TimeoutError(f"postgres took no connection in {deadline_s} s:\n{self._log()}")
            await asyncio.sleep(0.05)

    async def accepts(self) -> bool:
        """True when a session can be opened (crash recovery over, not shutting down)."""
        try:
            conn = await asyncpg.connect(self.url.rsplit("/", 1)[0] + "/postgres", timeout=2)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    async def stop(self, mode: str = "fast", timeout: float = 15.0) -> None:
        """Shuts it down in PostgreSQL's `fast` or `immediate` mode; returns once it exited."""
        if self.proc is not None and self.proc.poll() is None:
            await stop_process(self.proc, SHUTDOWN[mode], timeout)

    def remove(self) -> None:
        """Stops a still running server (immediate shutdown) and deletes the cluster."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(SHUTDOWN["immediate"])
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[PostgresServer]:
        """A started private PostgreSQL with an empty `roomtimer` database, removed on exit."""
        bindir = find_binaries()
        if bindir is None:
            needs("PostgreSQL server binaries", "no initdb/postgres (apt-get install postgresql)")
        server = cls(bindir)
        try:
            await server.init()
            yield server
        finally:
            server.remove()
