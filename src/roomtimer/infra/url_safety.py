"""Webhook targets: `http(s)` only, and no address inside the server's own networks (SSRF).

A host is refused when any address it resolves to is loopback, private, link-local
(cloud metadata at 169.254.169.254 included), shared (100.64/10), multicast, reserved
or unspecified, in IPv4 or IPv6, also when written as an IPv4-mapped, NAT64 or 6to4
IPv6 address. Names are resolved here, and again by the sender's resolver when a
delivery connects, so a name that later resolves elsewhere (DNS rebinding) is refused
then too.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIXTO4 = ipaddress.ip_network("2002::/16")
MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_S = 5.0


class UnsafeUrl(ValueError):
    """The URL is not an allowed webhook target (a reason a user can act on)."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` may not be a webhook target, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_problem(inner)
    for kind in ("loopback", "unspecified", "multicast", "link_local", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:  # shared (100.64/10, carrier NAT), documentation, benchmarking…
        return "non-public"
    return None


def split_target(url: str) -> tuple[str, int]:
    """The host and port of an `http(s)` URL (UnsafeUrl otherwise)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"Must be at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("Not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeUrl("Must be an http:// or https:// URL.")
    if not parts.hostname:
        raise UnsafeUrl("Must name a host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Must not carry a user name or password.")
    default = 443 if parts.scheme.lower() == "https" else 80
    return parts.hostname, port or default


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_addresses(host: str, addresses: list[str]) -> None:
    """Raises UnsafeUrl when any of `host`'s addresses is not public."""
    if not addresses:
        raise UnsafeUrl(f"{host} does not resolve to any address.")
    for text in addresses:
        problem = address_problem(ipaddress.ip_address(text.split("%", 1)[0]))
        if problem is not None:
            raise UnsafeUrl(f"{host} resolves to {text} ({problem}), which is refused.")


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (UnsafeUrl when it does not resolve)."""
    literal = _literal(host)
    if literal is not None:
        return [str(literal)]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, TimeoutError):
        raise UnsafeUrl(f"{host} does not resolve.") from None
    return [str(info[4][0]) for info in infos]


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raises UnsafeUrl unless `url` is an http(s) URL whose host is public (or allowed)."""
    host, port = split_target(url)
    if allow_private:
        return
    check_addresses(host, await resolve(host, port))


def check_literal(url: str, *, allow_private: bool) -> None:
    """At send time: a URL whose host is an IP literal is checked here (no resolver runs)."""
    host, _ = split_target(url)
    literal = _literal(host)
    if literal is not None and not allow_private:
        check_addresses(host, [str(literal)])
