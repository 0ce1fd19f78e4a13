"""Timeouts and a per-address cap for HTTP connections aiohttp does not bound by itself.

aiohttp closes a connection that is idle between requests (`keepalive_timeout`, a public
setting) but has no deadline for a request head or body: a client that sends half a head,
or promises a body and drips it, holds the connection until the keep-alive deadline. Each
connection here gets, on top of aiohttp's own keep-alive:

- a head deadline: `header_timeout_s` from accept, or from the first byte of the next
  request on a kept-alive connection, to a complete request head;
- a body deadline: `body_timeout_s` from the head to the body's last byte;
- a cap on connections per client address that have not yet sent a whole first request
  (trusted proxies exempt: they carry many clients).

A connection past a deadline, or over the cap, is closed without an answer: no whole
request was read that could be answered. A request in progress (a long-poll, a
websocket, an event stream) has no deadline here once its body is in.

`runner` builds the AppRunner for both `roomtimer serve` and the gunicorn worker. It needs
three private names of aiohttp 3.14.5 (checked by `compat`); without them it serves on
aiohttp's stock runner, keep-alive timeout still set, after one warning.
"""

import asyncio
import ipaddress
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from loguru import logger

from roomtimer.config import Settings
from roomtimer.infra.metrics import Metrics
from roomtimer.realtime import compat


@dataclass(frozen=True)
class Limits:
    """The guard's settings (see README's Configuration)."""

    header_timeout_s: float
    body_timeout_s: float
    max_pending_per_address: int
    trusted_proxies: tuple[str, ...] = ()

    @cached_property
    def _proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies)

    def exempt(self, address: str) -> bool:
        """True for a trusted proxy's address: it speaks for many clients."""
        if not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)


class GuardedServer(web.Server):
    """aiohttp's Server making `GuardedHandler`s, with the per-address counts they share."""

    limits: Limits
    pending: Counter[str]
    metrics: Metrics | None

    def closed(self, handler: web.RequestHandler, reason: str) -> None:
        """Closes a connection unanswered, counted by reason."""
        handler.force_close()
        if self.metrics is not None:
            self.metrics.http_closed.labels(reason).inc()

    def __call__(self) -> web.RequestHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)


class GuardedHandler(web.RequestHandler):
    """aiohttp's RequestHandler with a head deadline, a body deadline and the address cap."""

    __slots__ = ("_guard", "_timers", "_waiting", "_head_timer", "_body_timer", "_pending_address")

    def __init__(
        self, manager: GuardedServer, *, loop: asyncio.AbstractEventLoop, **kwargs: Any
    ) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._guard = manager
        self._timers = loop
        self._waiting = True  # for a request head: nothing of a request is in progress
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._pending_address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else None
        guard = self._guard
        if address is not None and not guard.limits.exempt(address):
            if guard.pending[address] >= guard.limits.max_pending_per_address:
                logger.debug("refused a connection from {}: too many unfinished", address)
                guard.closed(self, "too_many_pending")
                return
            guard.pending[address] += 1
            self._pending_address = address
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if data and self._waiting and self._head_timer is None:
            self._arm_head_deadline()  # the first byte of the next request on this connection
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._release_pending()
        self._cancel_timers()
        super().connection_lost(exc)

    def request_started(self, payload: StreamReader) -> None:
        """A whole head was read: the head deadline ends, the body's begins."""
        self._waiting = False
        self._release_pending()
        self._cancel_timers()
        if not payload.is_eof():
            timeout = self._guard.limits.body_timeout_s
            self._body_timer = self._timers.call_later(timeout, self._body_too_slow, payload)
            payload.on_eof(self._cancel_timers)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        answered = await super().finish_response(request, resp, start_time)
        # The next head is awaited once this request's body is all in: at once, or after
        # aiohttp drained what the app left unread (its lingering time, then it closes).
        request.content.on_eof(self._await_next_head)
        return answered

    def _await_next_head(self) -> None:
        self._waiting = True

    def _arm_head_deadline(self) -> None:
        timeout = self._guard.limits.header_timeout_s
        self._head_timer = self._timers.call_later(timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._waiting:
            self._guard.closed(self, "head_timeout")

    def _body_too_slow(self, payload: StreamReader) -> None:
        self._body_timer = None
        if not payload.is_eof():
            self._guard.closed(self, "body_timeout")

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _release_pending(self) -> None:
        address, self._pending_address = self._pending_address, None
        if address is not None:
            pending = self._guard.pending
            pending[address] -= 1
            if pending[address] <= 0:
                del pending[address]


def _request_factory(factory: Any) -> Any:
    """Tells a guarded handler when the app gets its request (the head is complete)."""

    def make(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> Any:
        if isinstance(protocol, GuardedHandler):
            protocol.request_started(payload)
        return factory(message, payload, protocol, writer, task)

    return make


class GuardedRunner(web.AppRunner):
    """aiohttp's AppRunner whose server is a `GuardedServer`."""

    __slots__ = ("_limits", "_metrics")

    def __init__(
        self, app: web.Application, limits: Limits, metrics: Metrics | None, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits
        self._metrics = metrics

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = GuardedServer  # same state; only the handlers it makes differ
        assert isinstance(server, GuardedServer)
        server.limits = self._limits
        server.pending = Counter()
        server.metrics = self._metrics
        server.request_factory = _request_factory(server.request_factory)
        return server


def limits_of(settings: Settings) -> Limits:
    """The guard's limits from the settings."""
    return Limits(
        header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        max_pending_per_address=settings.http_max_pending_per_address,
        trusted_proxies=settings.trusted_proxies,
    )


def runner(
    app: web.Application, settings: Settings, metrics: Metrics | None = None, **kwargs: Any
) -> web.AppRunner:
    """The AppRunner serving `app`: guarded, or aiohttp's own if its internals changed.

    `metrics` counts the connections it closes (`roomtimer_http_connections_closed_total`).
    """
    kwargs.setdefault("access_log", None)  # roomtimer logs every request itself
    kwargs["keepalive_timeout"] = settings.http_keepalive_timeout_s
    report = compat.check_http_guard()
    if not report.ok:
        logger.warning(
            "aiohttp differs from 3.14.5, HTTP head and body timeouts and the per-address"
            " cap are off (keep-alive timeout still applies): {}",
            ", ".join(report.missing),
        )
        return web.AppRunner(app, **kwargs)
    return GuardedRunner(app, limits_of(settings), metrics, **kwargs)
