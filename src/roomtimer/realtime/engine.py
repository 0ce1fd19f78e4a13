"""What roomtimer adds to python-engineio's server, whether Socket.IO runs on top of it or not."""

import inspect
from typing import Any

import engineio
from engineio import packet

from roomtimer.realtime.lean_socket import install_engineio_hooks


def prepare_engine(eio: engineio.AsyncServer, *, fast: bool, hooks_ok: bool) -> None:
    """Gives `eio` the fast path's sockets and driver (when `fast`) and the protocol hook
    below (when `compat.check_hooks()` found what it reads); call after its handlers are set."""
    if fast:
        install_engineio_hooks(eio)
    if hooks_ok:
        end_long_polls_when_clients_close(eio)


def end_long_polls_when_clients_close(eio: engineio.AsyncServer) -> None:
    """A polling client that closes has its pending long-poll answered NOOP at once.

    python-engineio 4.15.1 leaves that request parked until ping_interval + ping_timeout
    (45 s by default) and then answers 400; the Engine.IO protocol (and Node's engine.io)
    ends it with a NOOP packet, so the client is not kept waiting and shutdown need not
    wait for it. A server that closes the socket itself queues CLOSE, as stock does.
    """
    if getattr(eio, "_roomtimer_polls_ended", False):
        return
    disconnect = eio.handlers.get("disconnect")

    async def disconnect_then_end_poll(sid: str, reason: Any) -> Any:
        socket = eio.sockets.get(sid)
        try:
            result = disconnect(sid, reason) if disconnect is not None else None
            return await result if inspect.isawaitable(result) else result
        finally:
            if reason == eio.reason.CLIENT_DISCONNECT and socket is not None:
                if not socket.upgraded:
                    socket.queue.put_nowait(packet.Packet(packet.NOOP))

    eio.handlers["disconnect"] = disconnect_then_end_poll
    eio._roomtimer_polls_ended = True  # type: ignore[attr-defined]
