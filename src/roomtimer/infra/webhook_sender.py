"""POSTs webhook deliveries: aiohttp's client, 5 s in all, no redirects, safe addresses only."""

import asyncio
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from roomtimer.infra.url_safety import UnsafeUrl, check_addresses, check_literal

TIMEOUT_S = 5.0


class RefusedAddress(OSError):
    """A resolver's refusal: aiohttp reports resolvers' OSErrors as connection errors."""


class SafeResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to non-public addresses.

    aiohttp connects to exactly the addresses a resolver returns, so what was checked is
    what is connected to. (IP literals skip resolvers: the sender checks those itself.)
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of `host`, all of them public unless private ones are allowed."""
        found = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            try:
                check_addresses(host, [entry["host"] for entry in found])
            except UnsafeUrl as exc:
                raise RefusedAddress(str(exc)) from None
        return found

    async def close(self) -> None:
        """Closes the underlying resolver."""
        await self._inner.close()


class WebhookSender:
    """One client session for every delivery of this worker (opened in a cleanup context)."""

    def __init__(self, *, allow_private: bool, timeout_s: float = TIMEOUT_S) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Creates the client session (needs the running loop)."""
        connector = aiohttp.TCPConnector(
            resolver=SafeResolver(self.allow_private),
            use_dns_cache=False,  # every connection resolves and checks again (rebinding)
            limit=0,  # the delivery worker bounds concurrency itself
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            trust_env=False,  # no proxy from the environment: the checked address is the peer
        )

    async def close(self) -> None:
        """Closes the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """(status, None) when the receiver answered, else (None, why); never raises."""
        assert self._session is not None, "sender not opened"
        try:
            check_literal(url, allow_private=self.allow_private)
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return response.status, None
        except UnsafeUrl as exc:
            return None, f"refused: {exc}"
        except TimeoutError:
            return None, f"no answer within {self.timeout_s:g} s"
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            if isinstance(cause, RefusedAddress):
                return None, f"refused: {cause}"
            return None, f"could not connect: {cause.strerror or cause}"[:500]
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        except asyncio.CancelledError:
            raise
