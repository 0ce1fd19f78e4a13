"""JsViewer: one stock JavaScript socket.io-client connection (tests/js/viewer.js) from asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tests.support.services import VIEWER_JS

Line = dict[str, Any]
Match = str | Callable[[Line], bool]
_NO_PAYLOAD = object()


def _matcher(match: Match) -> Callable[[Line], bool]:
    """A string matches an event of that name, or a line of that type (connect, upgrade…)."""
    if callable(match):
        return match
    return lambda line: (
        line.get("name") == match if line.get("type") == "event" else line.get("type") == match
    )


class JsViewer:
    """An asyncio handle on `node viewer.js`: every stdout line is kept, in order."""

    def __init__(self, proc: asyncio.subprocess.Process, argv: list[str]) -> None:
        self.proc = proc
        self.argv = argv
        self.lines: list[Line] = []
        self._consumed: set[int] = set()
        self._stderr: list[str] = []
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    @classmethod
    async def start(
        cls,
        url: str,
        transports: str | list[str] | None = None,
        auth: dict[str, Any] | None = None,
        local_address: str | None = None,
        *,
        connect_timeout_ms: int | None = None,
        reconnection: bool = True,
        node: str = "node",
    ) -> JsViewer:
        """Starts viewer.js connecting to url (transports None = polling, then upgrade)."""
        argv = [node, str(VIEWER_JS), "--url", url]
        if transports:
            joined = transports if isinstance(transports, str) else ",".join(transports)
            argv += ["--transports", joined]
        if auth is not None:
            argv += ["--auth", json.dumps(auth)]
        if local_address:
            argv += ["--local-address", local_address]
        if connect_timeout_ms is not None:
            argv += ["--timeout", str(connect_timeout_ms)]
        if not reconnection:
            argv += ["--reconnection", "false"]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,  # one room-state line can be large
        )
        return cls(proc, argv)

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            text = raw.decode(errors="replace").strip()
            if not text:
                continue
            try:
                line = json.loads(text)
            except ValueError:
                line = {"type": "garbage", "text": text}
            async with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()  # EOF: waiters give up instead of running to timeout

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self._stderr.append(raw.decode(errors="replace"))

    @property
    def stderr(self) -> str:
        """What node printed to stderr so far."""
        return "".join(self._stderr)

    def _find(self, pred: Callable[[Line], bool]) -> Line | None:
        for index, line in enumerate(self.lines):
            if index not in self._consumed and pred(line):
                self._consumed.add(index)
                return line
        return None

    async def wait_for(self, match: Match, timeout: float = 10.0) -> Line:
        """The first not yet consumed line matching an event name, a line type or a predicate."""
        pred = _matcher(match)
        deadline = time.monotonic() + timeout
        async with self._changed:
            while (found := self._find(pred)) is None:
                remaining = deadline - time.monotonic()
                if self._readers[0].done():
                    raise AssertionError(f"viewer exited before {match!r}: {self._describe()}")
                if remaining <= 0:
                    raise TimeoutError(f"no {match!r} within {timeout} s: {self._describe()}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return found

    def _describe(self) -> str:
        tail = "\n".join(json.dumps(line)[:300] for line in self.lines[-15:])
        return f"exit={self.proc.returncode}\nlast lines:\n{tail}\nstderr:\n{self.stderr[-2000:]}"

    async def send(self, command: dict[str, Any]) -> None:
        """Writes one raw command line to viewer.js."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()

    async def emit(
        self, event: str, payload: Any = _NO_PAYLOAD, *, ack: bool = True, timeout: float = 10.0
    ) -> Any:
        """Emits event; with ack, waits for and returns the server's ack data."""
        command: dict[str, Any] = {
            "id": next(self._ids),
            "emit": event,
            "ack": ack,
            "timeout": int(timeout * 1000),
        }
        if payload is not _NO_PAYLOAD:
            command["payload"] = payload
        await self.send(command)
        if not ack:
            return None
        line = await self.wait_for(
            lambda ln: ln.get("type") == "ack" and ln.get("id") == command["id"], timeout + 2
        )
        if "error" in line:
            raise TimeoutError(f"no ack for {event!r}: {line['error']}")
        return line.get("data")

    def events(self, name: str) -> list[Any]:
        """The data of every `name` event received so far, consumed or not."""
        return [
            ln.get("data")
            for ln in self.lines
            if ln.get("type") == "event" and ln.get("name") == name
        ]

    async def close(self, timeout: float = 5.0) -> int | None:
        """Disconnects, waits for node to exit (killing it after timeout), returns its code."""
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            if self.proc.returncode is None:
                with contextlib.suppress(OSError):  # node may be gone already (broken pipe)
                    await self.send({"close": True})
            stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await asyncio.gather(*self._readers)
        return self.proc.returncode

    async def __aenter__(self) -> JsViewer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
