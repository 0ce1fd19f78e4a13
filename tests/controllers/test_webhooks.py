"""Webhooks over HTTP, delivered to a real receiver on loopback (WEBHOOK_ALLOW_PRIVATE=true)."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from tests.support.app import Api, RunningApp
from tests.support.receiver import Received, Receiver, receiving, signature_ok

ALL_EVENTS = [
    "timer.created",
    "timer.started",
    "timer.paused",
    "timer.reset",
    "timer.adjusted",
    "timer.deleted",
    "timer.warning",
    "timer.danger",
    "timer.finished",
    "room.updated",
    "room.deleted",
]
SECRET = "a-long-shared-secret-for-tests"


@pytest_asyncio.fixture
async def hooked(start_app: Callable[..., Any]) -> RunningApp:
    """The app allowed to deliver to loopback."""
    app: RunningApp = await start_app(WEBHOOK_ALLOW_PRIVATE="true")
    return app


@pytest_asyncio.fixture
async def owner(hooked: RunningApp) -> AsyncIterator[Api]:
    async with Api(hooked.url, hooked.token("alice")) as client:
        yield client


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as found:
        yield found


async def add_hook(api: Api, room_id: str, url: str, events: list[str], **extra: Any) -> Any:
    reply = await api.call(
        "POST", f"/api/rooms/{room_id}/webhooks", {"url": url, "events": events, **extra}
    )
    assert reply.status == 201, reply.body
    return reply.body


async def log_of(api: Api, hook_id: str) -> list[dict[str, Any]]:
    reply = await api.call("GET", f"/api/webhooks/{hook_id}/deliveries")
    assert reply.status == 200, reply.body
    return reply.body["deliveries"]  # type: ignore[no-any-return]


async def test_a_webhook_is_registered_listed_and_deleted_and_its_secret_shown_once(
    owner: Api, hooked: RunningApp, receiver: Receiver
) -> None:
    room = await owner.room()
    hook = await add_hook(owner, room["id"], receiver.url + "/in", ["timer.started"])
    assert set(hook) == {"id", "roomId", "url", "events", "secret", "createdAt", "serverTime"}
    assert (hook["roomId"], hook["url"], hook["events"]) == (
        room["id"],
        receiver.url + "/in",
        ["timer.started"],
    )
    assert len(hook["secret"]) >= 32 and hook["createdAt"].endswith("Z")
    listed = await owner.call("GET", f"/api/rooms/{room['id']}/webhooks")
    assert listed.status == 200
    assert listed.body["webhooks"] == [
        {k: v for k, v in hook.items() if k not in ("secret", "serverTime")}
    ]
    chosen = await add_hook(owner, room["id"], receiver.url, ["room.updated"], secret=SECRET)
    assert chosen["secret"] == SECRET
    async with Api(hooked.url, hooked.token("mallory")) as other:
        assert (await other.call("GET", f"/api/rooms/{room['id']}/webhooks")).status == 403
        assert (await other.call("DELETE", f"/api/webhooks/{hook['id']}")).status == 403
        assert (await other.call("GET", f"/api/webhooks/{hook['id']}/deliveries")).status == 403
    async with Api(hooked.url, None) as anonymous:
        body = {"url": receiver.url, "events": ["timer.started"]}
        reply = await anonymous.call("POST", f"/api/rooms/{room['id']}/webhooks", body)
        assert reply.status == 401
    assert (await owner.call("DELETE", f"/api/webhooks/{hook['id']}")).status == 204
    assert (await owner.call("DELETE", f"/api/webhooks/{hook['id']}")).status == 404
    assert (await owner.call("GET", f"/api/webhooks/{hook['id']}/deliveries")).status == 404
    left = (await owner.call("GET", f"/api/rooms/{room['id']}/webhooks")).body["webhooks"]
    assert [h["id"] for h in left] == [chosen["id"]]
    missing = await owner.call("POST", "/api/rooms/nope/webhooks", body)
    assert missing.status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["timer.started"]}, "url"),
        ({"url": "ftp://example.com/x", "events": ["timer.started"]}, "url"),
        ({"url": "not a url", "events": ["timer.started"]}, "url"),
        ({"url": "http://example.com", "events": []}, "events"),
        ({"url": "http://example.com", "events": ["timer.exploded"]}, "events"),
        ({"url": "http://example.com", "events": "timer.started"}, "events"),
        ({"url": "http://example.com"}, "events"),
        ({"url": "http://example.com", "events": ["timer.started"], "secret": ""}, "secret"),
        ({"url": "http://example.com", "events": ["timer.started"], "secret": "x" * 257}, "secret"),
        ({"url": "http://example.com", "events": ["timer.started"], "retries": 3}, "retries"),
    ],
)
async def test_a_bad_webhook_is_refused_naming_the_field(
    owner: Api, body: dict[str, Any], field: str
) -> None:
    room = await owner.room()
    reply = await owner.call("POST", f"/api/rooms/{room['id']}/webhooks", body)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert field in reply.body["error"]["details"], reply.body


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:7f00:1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://100.100.100.200/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::]/hook",
        "http://2130706433/hook",
        "http://0x7f.1/hook",
        "https://[64:ff9b::7f00:1]/hook",
    ],
)
async def test_private_loopback_and_metadata_targets_are_refused_without_the_setting(
    api: Api, url: str
) -> None:
    room = await api.room()
    body = {"url": url, "events": ["timer.started"]}
    reply = await api.call("POST", f"/api/rooms/{room['id']}/webhooks", body)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert "refused" in reply.body["error"]["details"]["url"][0]
    assert (await api.call("GET", f"/api/rooms/{room['id']}/webhooks")).body["webhooks"] == []


async def test_each_delivery_is_signed_and_carries_the_documented_payload(
    owner: Api, receiver: Receiver
) -> None:
    room = await owner.room()
    await add_hook(owner, room["id"], receiver.url + "/in", ALL_EVENTS, secret=SECRET)
    timer = await owner.timer(room["id"], durationMs=600_000)
    started = (await owner.command(timer["id"], "start")).body
    await owner.command(timer["id"], "adjust", {"deltaMs": 5_000})
    await owner.command(timer["id"], "pause")
    await owner.command(timer["id"], "reset")
    await owner.call("PUT", f"/api/rooms/{room['id']}", {"name": "Hall B"})
    assert (await owner.call("DELETE", f"/api/timers/{timer['id']}")).status == 204
    expected = [
        "timer.created",
        "timer.started",
        "timer.adjusted",
        "timer.paused",
        "timer.reset",
        "room.updated",
        "timer.deleted",
    ]
    got = await receiver.wait_for(len(expected))
    assert sorted(r.event for r in got) == sorted(expected)  # order is not guaranteed
    for received in got:
        assert signature_ok(SECRET, received), received.headers
        assert not signature_ok("another-secret", received)
        body = received.json
        assert body["id"] == received.delivery and body["event"] == received.event
        assert body["roomId"] == room["id"]
        assert received.headers["Content-Type"] == "application/json"
        assert abs(int(received.headers["X-Roomtimer-Timestamp"]) - time.time()) < 30
        assert isinstance(body["occurredAt"], int) and body["serverTime"] == body["occurredAt"]
        if received.event.startswith("timer."):
            assert set(body) == {"id", "event", "roomId", "timer", "occurredAt", "serverTime"}
            assert body["timer"]["id"] == timer["id"]
        else:
            assert body["room"] == {"id": room["id"], "name": "Hall B", "description": ""}
    [start] = [r.json for r in got if r.event == "timer.started"]
    assert start["timer"]["status"] == "running"
    assert (start["timer"]["version"], start["timer"]["endsAt"]) == (
        started["version"],
        started["endsAt"],
    )
    assert len({r.delivery for r in got}) == len(got)


async def test_only_subscribed_events_are_delivered(owner: Api, receiver: Receiver) -> None:
    room = await owner.room()
    hook = await add_hook(owner, room["id"], receiver.url, ["timer.paused"])
    timer = await owner.timer(room["id"])
    await owner.command(timer["id"], "start")
    await owner.command(timer["id"], "pause")
    [paused] = await receiver.wait_for(1)
    assert paused.event == "timer.paused"
    log = await log_of(owner, hook["id"])
    assert [d["event"] for d in log] == ["timer.paused"]  # start and create recorded nothing


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt_after_1_and_2_s(
    owner: Api, receiver: Receiver
) -> None:
    answers = iter([500, 503, 200])

    async def flaky(_: Received) -> int:
        return next(answers)

    receiver.behaviour = flaky
    room = await owner.room()
    hook = await add_hook(owner, room["id"], receiver.url, ["timer.created"], secret=SECRET)
    await owner.timer(room["id"])
    await receiver.wait_for(1)
    for _ in range(100):  # the first outcome is recorded just after the answer
        [entry] = await log_of(owner, hook["id"])
        if entry["attempts"] == 1 and entry["lastError"]:
            break
    assert (entry["status"], entry["responseStatus"], entry["lastError"]) == (
        "pending",
        500,
        "HTTP 500",
    )
    assert entry["nextAttemptAt"] is not None and entry["deliveredAt"] is None
    got = await receiver.wait_for(3, timeout=15)
    assert len({r.delivery for r in got}) == 1  # the same delivery, retried
    assert all(signature_ok(SECRET, r) for r in got)  # signed afresh at each attempt
    gaps = [(b.at_ms - a.at_ms) / 1000 for a, b in zip(got, got[1:], strict=False)]
    assert 0.95 <= gaps[0] < 1.8, gaps
    assert 1.95 <= gaps[1] < 3.0, gaps
    for _ in range(100):
        [entry] = await log_of(owner, hook["id"])
        if entry["status"] == "delivered":
            break
    assert (entry["attempts"], entry["responseStatus"], entry["lastError"]) == (3, 200, None)
    assert entry["deliveredAt"] is not None and entry["nextAttemptAt"] is None


async def test_a_slow_receiver_holds_back_no_other_delivery(owner: Api, receiver: Receiver) -> None:
    async def slow_path(request: Received) -> int:
        if request.path == "/slow":
            await asyncio.sleep(10)
        return 200

    receiver.behaviour = slow_path
    room = await owner.room()
    slow = await add_hook(owner, room["id"], receiver.url + "/slow", ["timer.created"])
    await add_hook(owner, room["id"], receiver.url + "/fast", ["timer.created"])
    await owner.timer(room["id"])
    await receiver.wait_for(1, path="/slow")
    started = time.monotonic()
    for n in range(2, 5):  # while the slow one waits, every later delivery still arrives
        await owner.timer(room["id"], label=f"T{n}")
        await receiver.wait_for(n, path="/fast", timeout=2)
    assert time.monotonic() - started < 2.5
    for _ in range(200):
        log = await log_of(owner, slow["id"])
        first = log[-1]
        if first["lastError"]:
            break
        await asyncio.sleep(0.05)
    assert first["lastError"] == "no answer within 5 s"
    assert first["responseStatus"] is None and first["status"] == "pending"


async def test_room_deleted_is_delivered_after_its_webhooks_went_with_the_room(
    owner: Api, receiver: Receiver
) -> None:
    room = await owner.room(name="Doomed")
    hook = await add_hook(owner, room["id"], receiver.url, ["room.deleted"], secret=SECRET)
    assert (await owner.call("DELETE", f"/api/rooms/{room['id']}")).status == 204
    [gone] = await receiver.wait_for(1)
    assert gone.event == "room.deleted" and signature_ok(SECRET, gone)
    assert gone.json["room"] == {"id": room["id"], "name": "Doomed", "description": ""}
    assert (await owner.call("GET", f"/api/webhooks/{hook['id']}/deliveries")).status == 404


async def test_a_room_has_at_most_20_webhooks(owner: Api, receiver: Receiver) -> None:
    room = await owner.room()
    for n in range(20):
        await add_hook(owner, room["id"], f"{receiver.url}/{n}", ["timer.started"])
    body = {"url": receiver.url, "events": ["timer.started"]}
    reply = await owner.call("POST", f"/api/rooms/{room['id']}/webhooks", body)
    assert reply.status == 400 and "webhooks" in reply.body["error"]["details"]


async def test_a_refused_change_records_no_delivery(owner: Api, receiver: Receiver) -> None:
    room = await owner.room()
    hook = await add_hook(owner, room["id"], receiver.url, ALL_EVENTS)
    timer = await owner.timer(room["id"], durationMs=60_000)
    await owner.command(timer["id"], "start")
    finished = await owner.command(timer["id"], "adjust", {"deltaMs": -60_000})
    assert finished.body["status"] == "finished"
    assert (await owner.command(timer["id"], "start")).status == 409
    assert (await owner.command(timer["id"], "adjust", {"deltaMs": 5})).status == 409
    no_op = await owner.call("POST", f"/api/rooms/{room['id']}/timers", {"label": ""})
    assert no_op.status == 400
    await receiver.wait_for(3)
    log = await log_of(owner, hook["id"])
    # An adjust that leaves no time is timer.finished only (as on the socket).
    assert sorted(d["event"] for d in log) == ["timer.created", "timer.finished", "timer.started"]
