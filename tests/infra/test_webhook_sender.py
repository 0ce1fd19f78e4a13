"""The sender checks addresses again when it connects, and never follows a redirect."""

import ipaddress

import pytest
from aiohttp import web

from roomtimer.infra.url_safety import address_problem
from roomtimer.infra.webhook_sender import SafeResolver, WebhookSender
from tests.support.receiver import Received, receiving


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 form of 169.254.169.254
        ("2002:a00:1::", "private"),  # 6to4 form of 10.0.0.1
        ("169.254.169.254", "link-local"),
        ("fd00:ec2::254", "private"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "non-public"),
        ("239.1.2.3", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_addresses_outside_the_public_internet_are_named(address: str, problem: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


async def test_at_send_time_loopback_names_and_literals_are_refused_and_nothing_is_sent() -> None:
    sender = WebhookSender(allow_private=False)
    await sender.open()
    try:
        async with receiving() as receiver:
            for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
                status, error = await sender.post(f"http://{host}:{receiver.port}/", b"{}", {})
                assert status is None and error is not None and error.startswith("refused"), error
            assert receiver.requests == []
    finally:
        await sender.close()


async def test_the_resolver_refuses_a_name_that_resolves_to_loopback_now() -> None:
    resolver = SafeResolver(allow_private=False)
    try:
        with pytest.raises(OSError, match="loopback"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
    allowing = SafeResolver(allow_private=True)
    try:
        assert await allowing.resolve("localhost", 80)
    finally:
        await allowing.close()


async def test_a_redirect_is_an_answer_not_followed() -> None:
    sender = WebhookSender(allow_private=True)
    await sender.open()
    try:
        async with receiving() as receiver:

            async def redirect(request: Received) -> int:
                if request.path == "/hook":
                    raise web.HTTPFound("/elsewhere")
                return 200

            receiver.behaviour = redirect
            status, error = await sender.post(f"{receiver.url}/hook", b"{}", {})
            assert (status, error) == (302, None)
            assert [r.path for r in receiver.requests] == ["/hook"]
    finally:
        await sender.close()


async def test_an_unreachable_receiver_is_an_error_not_an_exception() -> None:
    sender = WebhookSender(allow_private=True)
    await sender.open()
    try:
        async with receiving() as receiver:
            port = receiver.port
        status, error = await sender.post(f"http://127.0.0.1:{port}/", b"{}", {})
        assert status is None and error is not None and "connect" in error
    finally:
        await sender.close()
