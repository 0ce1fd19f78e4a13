"""A TCP proxy that can stop passing bytes, as a network partition or a hung server does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.support.services import free_port


class Partition:
    """Forwards 127.0.0.1:port to an upstream port until `cut()`; after it, every byte either
    way is held and new connections are accepted but never answered. `heal()` closes what
    the cut held (their bytes never arrive, as after a partition that outlived them) and
    lets new connections through."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._open = asyncio.Event()
        self._open.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, upstream_port: int) -> AsyncIterator[Partition]:
        proxy = cls(upstream_port)
        proxy._server = await asyncio.start_server(proxy._accept, "127.0.0.1", proxy.port)
        try:
            yield proxy
        finally:
            proxy._server.close()
            proxy._drop()
            await proxy._server.wait_closed()

    def cut(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._drop()
        self._open.set()

    def _drop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._open.wait()
        if writer.is_closing():
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._open.wait()  # a cut holds what was read: it never arrives
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
