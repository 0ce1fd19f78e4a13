"""The client's address: the peer, or X-Forwarded-For when the peer is a trusted proxy."""

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """TRUSTED_PROXIES entries (addresses or CIDR blocks) as networks."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The nearest address in X-Forwarded-For that is not a trusted proxy, else the peer."""
    peer = peer or "unknown"
    networks = parse_networks(trusted)
    if not forwarded_for or not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def handshake_address(trusted: tuple[str, ...], environ: Mapping[str, Any]) -> str:
    """The client address of a Socket.IO handshake (its WSGI-style environ)."""
    request = environ.get("aiohttp.request")
    if request is not None:
        return client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)
    return client_address(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), trusted)
