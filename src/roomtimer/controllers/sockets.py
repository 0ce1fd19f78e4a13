"""Socket.IO handlers of viewers: join, leave, sync, ping."""

import math
from collections.abc import Callable
from typing import Any

import socketio
from loguru import logger

from roomtimer.clock import Clock
from roomtimer.controllers.socket_limits import AddressCaps, EventWindows, PenaltyBox, Verdict
from roomtimer.errors import RateLimited
from roomtimer.infra import db as database
from roomtimer.infra.tokens import InvalidToken
from roomtimer.models.tables import Room
from roomtimer.realtime.control import ControlSockets
from roomtimer.realtime.packets import UNREADABLE
from roomtimer.realtime.rooms import NAMESPACE, PREFIX, SocketRooms, channel
from roomtimer.realtime.server import RoomtimerServer, ack_wanted
from roomtimer.schemas import public
from roomtimer.services.presence import Presence
from roomtimer.services.rooms import RoomService
from roomtimer.services.share_tokens import ShareTokens

MAX_TOKEN_LENGTH = 512


class SocketError(Exception):
    """A refused socket request: reported by `error` event and in the ack."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _share_token(payload: Any) -> str:
    token = payload.get("shareToken") if isinstance(payload, dict) else None
    # Not printable (NUL, lone surrogates): no token is, and PostgreSQL refuses to compare.
    if (
        not isinstance(token, str)
        or not token
        or len(token) > MAX_TOKEN_LENGTH
        or not token.isprintable()
    ):
        raise SocketError("invalid_payload", "Expected {shareToken: string}")
    return token


def _rate_limited(message: str) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection: `connect_error` whose `data` is {code: rate_limited, message}."""
    refused = socketio.exceptions.ConnectionRefusedError(
        message, {"code": "rate_limited", "message": message}
    )
    # The stock JS client hands `data` over as `err.data`; `code` also stands on top.
    refused.error_args["code"] = "rate_limited"
    return refused


class ViewerNamespace(socketio.AsyncNamespace):
    """The default namespace: viewers, and owners' control sockets (`auth: {token}`).

    No per-client state lives on `self`: a control socket's owner is in its session.
    """

    def __init__(
        self,
        rooms: RoomService,
        share_tokens: ShareTokens,
        presence: Presence,
        sockets: SocketRooms,
        control: ControlSockets,
        verify_token: Callable[[str], str],
        clock: Clock,
        *,
        address_of: Callable[[Any], str],
        max_rooms: int = 20,
        max_per_address: int = 10000,
        flood_penalty_s: float = 60,
    ) -> None:
        super().__init__(NAMESPACE)
        self.room_service = rooms
        self.share_tokens = share_tokens
        self.presence = presence
        self.sockets = sockets
        self.control = control
        self.verify_token = verify_token
        self.clock = clock
        self.windows = EventWindows()
        self.address_of = address_of  # the client's address from the handshake's environ
        self.max_rooms = max_rooms
        self.caps = AddressCaps(max_per_address)
        self.penalties = PenaltyBox(flood_penalty_s)

    async def on_connect(self, sid: str, environ: Any, auth: Any = None) -> None:
        """A viewer, or an owner's control socket when `auth` carries a token (refused if bad)."""
        address = self.address_of(environ)
        # First, before anything else is done for it: a flooder reconnects as fast as it can.
        barred = self.penalties.retry_after(address)
        if barred:
            message = f"This address flooded; connect again in {math.ceil(barred)} s"
            # Held sockets count as open ones: past the cap they are refused at once.
            if self.caps.admit(sid, address):
                try:
                    await self.penalties.hold(address)
                finally:
                    self.caps.release(sid)
            raise _rate_limited(message)
        if not self.caps.admit(sid, address):
            raise _rate_limited("Too many connections from this address")
        if not isinstance(auth, dict) or "token" not in auth:
            return
        token = auth["token"]
        try:
            if not isinstance(token, str):
                raise InvalidToken("the token is not a string")
            owner = self.verify_token(token)
        except InvalidToken:
            error = public.ack_refused("unauthorized", "Missing, invalid or expired token")
            refused = socketio.exceptions.ConnectionRefusedError(
                error["error"]["message"], error["error"]
            )
            # The stock JS client hands `data` over as `err.data`; `code` also stands on top.
            refused.error_args["code"] = "unauthorized"
            self.caps.release(sid)  # refused: python-socketio will not call on_disconnect
            raise refused from None
        await self.save_session(sid, {"owner": owner})

    async def on_watch_rooms(self, sid: str, *_: Any) -> public.WatchAck:
        """Every event of every room of the socket's owner from now on; the rooms as they are."""
        owner = (await self.get_session(sid)).get("owner")
        if owner is None:
            raise SocketError("unauthorized", "Connect with auth: {token} to watch rooms")
        await self.control.watch(sid, owner)  # first: an event from here on is not missed
        rooms = await self.room_service.list_all_owned(owner_id=owner)
        for room in rooms.value:
            self.control.remember(room.id, owner)
        return public.watch_ack(rooms.value, rooms.at)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Routes `join-room` to `on_join_room`, refusing floods and reporting failures."""
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        sid = args[0]
        if not self._connected(sid):  # read before its socket was cut: nobody to answer
            return None
        verdict = self.windows.hit(sid)
        if verdict is Verdict.DROP:
            return None
        if verdict is Verdict.CUT:  # it went on flooding after being told: it goes
            address = self._client(sid)
            penalty = self.penalties.punish(address)
            logger.warning(
                "socket {} disconnected for flooding; {} may connect again in {} s",
                sid,
                address,
                round(penalty, 1),
            )
            await self.disconnect(sid)
            return None
        try:
            if verdict is Verdict.REFUSE:
                raise SocketError("rate_limited", "Too many events; slow down")
            if not isinstance(event, str):  # a hand-made packet: `42[5]`
                raise SocketError("invalid_payload", "An event name is a string")
            if event == UNREADABLE:
                raise SocketError("invalid_payload", "The message is not valid JSON")
            return await super().trigger_event(event.replace("-", "_"), *args)
        except SocketError as exc:
            return await self._refuse(sid, exc.code, exc.message)
        except Exception as exc:  # every request gets its answer, whatever went wrong
            if not self._connected(sid):  # it went (cut for flooding) while being answered
                return None
            if database.is_unavailable(exc):
                logger.warning("socket {} on {}: the database is unavailable", event, sid)
                return await self._refuse(sid, "unavailable", "Try again in a moment")
            logger.exception("socket event {} failed", event)
            return await self._refuse(sid, "internal_error", "Internal server error")

    def _connected(self, sid: str) -> bool:
        return bool(self.server.manager.is_connected(sid, self.namespace))

    async def _refuse(self, sid: str, code: str, message: str) -> public.Ack:
        """The `error` event to the socket, and the ack that says the same."""
        payload = public.error_event(code, message, self.clock.now_ms())
        await self.sockets.to_socket(sid, "error", payload)
        return public.ack_refused(code, message)

    def _client(self, sid: str) -> str:
        """The socket's client address, as the HTTP rate limits see it (proxies considered)."""
        return self.address_of(self.server.get_environ(sid, namespace=self.namespace) or {})

    async def _room(self, sid: str, payload: Any) -> Room:
        token = _share_token(payload)
        try:
            room = await self.share_tokens.find(share_token=token, client=self._client(sid))
        except RateLimited as exc:
            raise SocketError(
                "rate_limited",
                f"Too many unknown share tokens from this address; retry in {exc.retry_after_s} s",
            ) from None
        if room is None:
            raise SocketError("room_not_found", "No room with this share token")
        return room

    async def _joined_room(self, sid: str, payload: Any) -> Room:
        room = await self._room(sid, payload)
        if channel(room.id) not in self.rooms(sid):
            raise SocketError("not_joined", "Join the room first")
        return room

    async def _send_state(self, sid: str, room: Room) -> None:
        seen = self.room_service.audience(room)
        state = public.room_state(room, seen.at, seen.watchers)
        await self.sockets.to_socket(sid, "room-state", state)

    async def on_join_room(self, sid: str, payload: Any = None, *_: Any) -> public.Ack:
        """Joins the room of a share token and sends its state, read after joining: a
        change broadcast before that read is in the state, a later one reaches the socket.
        (A state read before joining could miss a change broadcast in between and leave
        the viewer stale until the next one; an event already in the state may come
        again, and clients drop stale versions.)"""
        room = await self._room(sid, payload)
        joined = [name for name in self.rooms(sid) if name.startswith(PREFIX)]
        if channel(room.id) not in joined and len(joined) >= self.max_rooms:
            raise SocketError("too_many_rooms", f"A socket joins at most {self.max_rooms} rooms")
        await self.enter_room(sid, channel(room.id))
        fresh = await self.room_service.find_by_token(room.share_token)
        if fresh is None or fresh.id != room.id:  # deleted or its token replaced meanwhile
            await self.leave_room(sid, channel(room.id))
            raise SocketError("room_not_found", "No room with this share token")
        await self._send_state(sid, fresh)
        self.presence.changed(room.id, joined=True)
        return public.ack(room.id)

    async def on_leave_room(self, sid: str, payload: Any = None, *_: Any) -> public.Ack:
        """Leaves a joined room."""
        room = await self._joined_room(sid, payload)
        await self.leave_room(sid, channel(room.id))
        self.presence.changed(room.id)
        return public.ack()

    async def on_request_sync(self, sid: str, payload: Any = None, *_: Any) -> public.Ack:
        """Sends the joined room's state again."""
        room = await self._joined_room(sid, payload)
        await self._send_state(sid, room)
        return public.ack()

    async def on_ping(self, sid: str, *_: Any) -> public.ServerTime | None:
        """The server clock: as the ack, or as a `pong` event without one."""
        now = public.server_time(self.clock.now_ms())
        server = self.server
        if isinstance(server, RoomtimerServer) and server.hooks_ok:
            if ack_wanted.get():
                return now
            await self.sockets.to_socket(sid, "pong", now)
            return None
        # Without the hook that tells an ack from none: both, so every client gets its answer.
        await self.sockets.to_socket(sid, "pong", now)
        return now

    async def on_disconnect(self, sid: str, *_: Any) -> None:
        """Recounts the rooms the socket was in."""
        self.windows.forget(sid)
        self.caps.release(sid)
        self.control.forget(sid)
        for name in self.rooms(sid):
            if name.startswith(PREFIX):
                self.presence.changed(name[len(PREFIX) :])
