"""The real roomtimer server as a child process, for tests that need real ports and signals."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from tests.support.services import free_port, stop_process

# Settings the server reads: a test's env gives them explicitly, never the developer's shell.
SERVER_ENV_VARS = (
    "PORT",
    "HOST",
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_SECRET",
    "CORS_ORIGIN",
    "LOG_LEVEL",
    "RATE_LIMIT_WINDOW_MS",
    "RATE_LIMIT_MAX_REQUESTS",
    "NODE_ENV",
    "APP_ENV",
    "TRUSTED_PROXIES",
    "SHARE_TOKEN_MAX_MISSES",
    "WEBHOOK_ALLOW_PRIVATE",
    "ROOMTIMER_DATA_DIR",
    "HTTP_HEADER_TIMEOUT",
    "HTTP_BODY_TIMEOUT",
    "HTTP_KEEPALIVE_TIMEOUT",
    "HTTP_MAX_PENDING_PER_ADDRESS",
)


class ServerFailed(RuntimeError):
    """The server exited, never answered /health, or would not stop; carries its stderr."""

    def __init__(self, message: str, returncode: int | None, stderr: str) -> None:
        super().__init__(f"{message}\n--- server stderr ---\n{stderr[-4000:]}")
        self.returncode = returncode
        self.stderr = stderr


class ServerProcess:
    """`python -m roomtimer serve` on 127.0.0.1:<port>, logs kept in workdir.

    With `command`, that command runs instead, told its address by HOST and PORT.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        workdir: Path | None = None,
        args: tuple[str, ...] = (),
        command: Sequence[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="roomtimer-server-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = dict(env or {})
        self.args = args
        self.command = list(command) if command else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:40123."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None, "server not started"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited, else None."""
        return None if self.proc is None else self.proc.poll()

    def stdout(self) -> str:
        """Everything the server printed to stdout so far."""
        return self._read("stdout.log")

    def stderr(self) -> str:
        """Everything the server printed to stderr so far."""
        return self._read("stderr.log")

    def _read(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def _environ(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
        base.update(
            ROOMTIMER_DATA_DIR=str(self.workdir / "data"),  # SQLite and the dev secret stay here
            PYTHONUNBUFFERED="1",
            PYTHONFAULTHANDLER="1",  # SIGABRT prints where each thread is (see stop)
        )
        base.update(self.env)
        if self.command:
            base.update(HOST="127.0.0.1", PORT=str(self.port))
        return base

    async def start(self, deadline_s: float = 20.0) -> ServerProcess:
        """Spawns the server and waits until GET /health answers with any status."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cmd = self.command or [
            sys.executable,
            "-m",
            "roomtimer",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        with (
            open(self.workdir / "stdout.log", "ab") as out,
            open(self.workdir / "stderr.log", "ab") as err,
        ):
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env=self._environ(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + deadline_s
        while not await self._health_answers():
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"server exited with {self.proc.returncode} before /health answered",
                    self.proc.returncode,
                    self.stderr(),
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ServerFailed(
                    f"GET /health did not answer within {deadline_s} s", None, self.stderr()
                )
            await asyncio.sleep(0.05)
        return self

    async def _health_answers(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), timeout=2)
        except (TimeoutError, OSError):
            return False
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass  # the server may have reset it: we only wanted the status line
        return status.startswith(b"HTTP/1.")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Sends sig and returns the exit code; SIGKILLs and raises after timeout."""
        assert self.proc is not None, "server not started"
        try:
            return await stop_process(self.proc, sig, timeout, last=signal.SIGABRT)
        except TimeoutError as exc:
            raise ServerFailed(str(exc), self.proc.returncode, self.stderr()) from None

    def kill(self) -> int:
        """SIGKILL, as a crash would; returns the exit code."""
        assert self.proc is not None, "server not started"
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    async def close(self) -> None:
        """Stops it if running and removes a workdir it made itself."""
        if self.proc is not None and self.proc.poll() is None:
            await self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> ServerProcess:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
