"""Socket.IO packets whose JSON cannot be read are refused politely, not dropped with a trace.

python-socketio takes a `Packet` subclass as its serializer (a public option). With the
stock one, an event whose JSON is bad (nested past the parser's depth, a lone surrogate)
raises inside Engine.IO's message handler: an ERROR with a traceback in the log, and no
answer for the client. Here such an event becomes the event `UNREADABLE`, its ack id
kept, which the namespace answers with `invalid_payload` like any other bad request.
"""

from typing import Any

from socketio import packet as sio_packet

UNREADABLE = "\x00unreadable"  # no client can name an event so: it holds a NUL


class LenientPacket(sio_packet.Packet):  # type: ignore[misc]
    """python-socketio's packet, decoding an unreadable event as `UNREADABLE`."""

    def decode(self, encoded_packet: Any) -> int:
        """As stock; an event whose payload cannot be read keeps its id and loses its data."""
        try:
            return int(super().decode(encoded_packet) or 0)
        except ValueError:  # orjson's JSONDecodeError is one; so are bad attachment counts
            kind: int = getattr(self, "packet_type", -1)
            if kind not in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
                raise
            self.packet_type = sio_packet.EVENT
            self.data = [UNREADABLE]
            return 0
