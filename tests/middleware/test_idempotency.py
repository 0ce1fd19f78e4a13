"""`Idempotency-Key`: the first answer replayed, changing nothing; conflicts; bad keys; expiry."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from roomtimer import keys
from roomtimer.services.idempotency import IdempotencyStore
from tests.middleware.helpers import assert_error_shape
from tests.support.app import Api, RunningApp, Viewer
from tests.support.frozen import FakeClock

DAY_MS = 24 * 3600 * 1000


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def test_a_repeated_command_gets_the_first_answer_and_changes_nothing(
    app: RunningApp, api: Api
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    viewer = await Viewer(app.url).connect()
    try:
        assert (await viewer.join(room["shareToken"]))["ok"] is True
        await viewer.next("room-state")
        path = f"/api/timers/{timer['id']}/adjust"
        first = await api.call("POST", path, {"deltaMs": 60_000}, headers=keyed("press-1"))
        assert first.status == 200 and first.body["version"] == 2
        assert "Idempotency-Replayed" not in first.headers
        again = await api.call("POST", path, {"deltaMs": 60_000}, headers=keyed("press-1"))
        assert (again.status, again.body) == (first.status, first.body)
        assert again.headers["Idempotency-Replayed"] == "true"
        assert again.headers["Content-Type"].startswith("application/json")
        # Same body written otherwise (spacing, key order) is the same request.
        spaced = await api.call(
            "POST",
            path,
            data='{ "deltaMs" : 60000 }',
            headers={**keyed("press-1"), "Content-Type": "application/json"},
        )
        assert spaced.body == first.body
        stored = (await api.call("GET", f"/api/rooms/{room['shareToken']}")).body["timers"][0]
        assert (stored["version"], stored["remainingMs"]) == (2, 660_000)
        await viewer.client.call("request-sync", {"shareToken": room["shareToken"]}, timeout=10)
        await viewer.next("room-state")  # everything sent before it has arrived
        assert [u["version"] for u in viewer.events("timer-update")] == [2]  # broadcast once
        other = await api.call("POST", path, {"deltaMs": 60_000}, headers=keyed("press-2"))
        assert other.body["version"] == 3  # another key is another press
    finally:
        await viewer.close()


async def test_creates_and_deletes_are_replayed_too(api: Api) -> None:
    room = await api.room()
    path = f"/api/rooms/{room['id']}/timers"
    body = {"label": "Talk", "durationMs": 60_000}
    first = await api.call("POST", path, body, headers=keyed("create-1"))
    again = await api.call("POST", path, body, headers=keyed("create-1"))
    assert (first.status, again.status) == (201, 201) and again.body == first.body
    rooms = (await api.call("GET", "/api/rooms")).body["rooms"]
    assert len(rooms[0]["timers"]) == 1
    gone = await api.call("DELETE", f"/api/rooms/{room['id']}", headers=keyed("drop"))
    again = await api.call("DELETE", f"/api/rooms/{room['id']}", headers=keyed("drop"))
    assert (gone.status, again.status, again.body) == (204, 204, None)
    assert again.headers["Idempotency-Replayed"] == "true"
    fresh = await api.call("DELETE", f"/api/rooms/{room['id']}", headers=keyed("drop-2"))
    assert fresh.status == 404


async def test_a_4xx_answer_is_kept_and_replayed(api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    path = f"/api/timers/{timer['id']}/pause"
    first = await api.call("POST", path, headers=keyed("pause-idle"))
    assert first.status == 409
    assert (await api.command(timer["id"], "start")).status == 200
    again = await api.call("POST", path, headers=keyed("pause-idle"))
    assert (again.status, again.body) == (409, first.body)  # the first answer, not a pause


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/timers/{timer}/adjust", {"deltaMs": 5_000}),  # another body
        ("POST", "/api/timers/{timer}/start", None),  # another path
        ("PUT", "/api/timers/{timer}", {"label": "Renamed"}),  # another method and path
    ],
)
async def test_the_same_key_on_another_request_is_a_conflict(
    api: Api, method: str, path: str, body: Any
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    adjust = f"/api/timers/{timer['id']}/adjust"
    assert (await api.call("POST", adjust, {"deltaMs": 1_000}, headers=keyed("k"))).status == 200
    reply = await api.call(method, path.format(timer=timer["id"]), body, headers=keyed("k"))
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "idempotency_conflict"
    assert set(reply.body) == {"error", "serverTime"}
    state = (await api.call("GET", f"/api/rooms/{room['shareToken']}")).body["timers"][0]
    assert (state["version"], state["status"], state["label"]) == (2, "idle", "Keynote")


@pytest.mark.parametrize("key", ["", "k" * 101, "tab\there"])
async def test_a_bad_key_is_refused(api: Api, key: str) -> None:
    reply = await api.call("POST", "/api/rooms", {"name": "Hall"}, headers=keyed(key))
    assert reply.status == 400
    assert_error_shape(400, reply.body)
    assert "Idempotency-Key" in reply.body["error"]["details"]
    assert (await api.call("GET", "/api/rooms")).body["rooms"] == []


async def test_a_key_of_100_characters_is_fine_and_owners_do_not_share_keys(
    app: RunningApp, api: Api
) -> None:
    key = "k" * 100
    mine = await api.call("POST", "/api/rooms", {"name": "Mine"}, headers=keyed(key))
    assert mine.status == 201
    async with Api(app.url, app.token("bob")) as bob:
        theirs = await bob.call("POST", "/api/rooms", {"name": "Bob's"}, headers=keyed(key))
        assert theirs.status == 201 and theirs.body["id"] != mine.body["id"]
        assert "Idempotency-Replayed" not in theirs.headers


async def test_requests_without_a_valid_token_are_not_keyed(api: Api) -> None:
    for _ in range(2):
        reply = await api.call(
            "POST", "/api/rooms", {"name": "Hall"}, token="bad", headers=keyed("x")
        )
        assert reply.status == 401
    created = await api.call("POST", "/api/rooms", {"name": "Hall"}, headers=keyed("x"))
    assert created.status == 201  # the 401s stored nothing under the key
    assert (await api.call("GET", "/api/rooms")).body["rooms"][0]["id"] == created.body["id"]


async def test_keys_expire_after_24_hours_by_the_cleanup(start_app: Callable[..., Any]) -> None:
    clock = FakeClock()
    app: RunningApp = await start_app(clock=clock)
    store: IdempotencyStore = app.app[keys.idempotency]
    async with Api(app.url, app.token()) as api:
        first = await api.call("POST", "/api/rooms", {"name": "Hall"}, headers=keyed("daily"))
        clock.now += DAY_MS - 1
        assert await store.purge() == 0
        kept = await api.call("POST", "/api/rooms", {"name": "Hall"}, headers=keyed("daily"))
        assert kept.body == first.body
        clock.now += 1
        # The periodic task is the one that deletes: a store on a short period, here.
        quick = IdempotencyStore(app.app[keys.db], clock, cleanup_every_ms=20)
        quick.start()
        try:
            async with asyncio.timeout(5):
                while await store.find("alice", "daily") is not None or await _rows(store):
                    await asyncio.sleep(0.02)
        finally:
            await quick.stop()
        later = await api.call("POST", "/api/rooms", {"name": "Hall"}, headers=keyed("daily"))
        assert later.status == 201 and later.body["id"] != first.body["id"]
        assert len((await api.call("GET", "/api/rooms")).body["rooms"]) == 2


async def _rows(store: IdempotencyStore) -> int:
    """Keys still stored, expired or not."""
    from sqlalchemy import func, select

    from roomtimer.models.tables import IdempotencyKey

    async with store.db() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


def _same_request(method: str, path: str, body: bytes) -> str:
    """The fingerprint the middleware takes of a request (method, path, JSON by value)."""
    import hashlib

    return hashlib.sha256(f"{method}\n{path}\n".encode() + body).hexdigest()


async def test_a_repeat_waits_for_the_first_answer_and_gives_up_with_503(
    start_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from roomtimer.middleware import idempotency

    monkeypatch.setattr(idempotency, "WAIT_S", 0.5)
    clock = FakeClock()
    app: RunningApp = await start_app(clock=clock)
    store: IdempotencyStore = app.app[keys.idempotency]
    async with Api(app.url, app.token()) as api:
        room = await api.room()
        path = f"/api/rooms/{room['id']}"
        fingerprint = _same_request("DELETE", path, b"")
        # Another worker holds the key and is still running the request.
        assert await store.reserve("alice", "slow", fingerprint) is None
        waiting = asyncio.create_task(api.call("DELETE", path, headers=keyed("slow")))
        await asyncio.sleep(0.1)  # the repeat arrives first (later, it would replay the same)
        await store.complete("alice", "slow", 204, None, b"")  # the first one answers
        reply = await waiting
        assert (reply.status, reply.headers["Idempotency-Replayed"]) == (204, "true")
        assert (await api.call("GET", "/api/rooms")).body["rooms"] != []  # it ran elsewhere
        assert await store.reserve("alice", "stuck", fingerprint) is None
        stuck = await api.call("DELETE", path, headers=keyed("stuck"))
        assert stuck.status == 503 and stuck.body["error"]["code"] == "unavailable"
        # A reservation whose worker died is taken over once it is a minute old.
        clock.now += 60_000
        taken = await api.call("DELETE", path, headers=keyed("stuck"))
        assert taken.status == 204 and "Idempotency-Replayed" not in taken.headers
        assert (await api.call("GET", "/api/rooms")).body["rooms"] == []


async def test_a_5xx_is_not_kept_and_the_retry_runs(
    app: RunningApp, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    service = app.app[keys.timers]
    real = service.command

    async def broken_once(**kwargs: Any) -> Any:
        monkeypatch.setattr(service, "command", real)
        raise RuntimeError("a fault inside the use case")

    monkeypatch.setattr(service, "command", broken_once)
    path = f"/api/timers/{timer['id']}/start"
    failed = await api.call("POST", path, headers=keyed("retry-me"))
    assert failed.status == 500 and failed.body["error"]["code"] == "internal_error"
    retried = await api.call("POST", path, headers=keyed("retry-me"))
    assert retried.status == 200 and retried.body["status"] == "running"
    assert "Idempotency-Replayed" not in retried.headers
