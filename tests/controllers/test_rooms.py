"""Rooms over HTTP: create, list, view by share token, change, delete, rotate the token."""

import re
from typing import Any

import pytest

from tests.middleware.helpers import assert_error, assert_server_time
from tests.support.app import Api, RunningApp, make_token

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ROOM_KEYS = {"id", "name", "description", "shareToken", "ownerId", "createdAt", "updatedAt"}


def assert_room(body: dict[str, Any], **expected: Any) -> None:
    """An owner's Room with `expected` field values."""
    assert set(body) == ROOM_KEYS | {"timers", "serverTime"}, body
    assert_server_time(body)
    assert ISO.match(body["createdAt"]) and ISO.match(body["updatedAt"])
    # A capability: URL-safe and at least 128 bits (22 base64url characters).
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", body["shareToken"])
    for name, value in expected.items():
        assert body[name] == value, (name, body)


async def test_create_returns_201_with_the_trimmed_room(api: Api) -> None:
    reply = await api.call("POST", "/api/rooms", {"name": "  Main hall ", "description": " A "})
    assert reply.status == 201
    assert_room(reply.body, name="Main hall", description="A", ownerId="alice", timers=[])


async def test_description_defaults_to_empty(api: Api) -> None:
    for body in [{"name": "Hall"}, {"name": "Hall", "description": None}]:
        reply = await api.call("POST", "/api/rooms", body)
        assert (reply.status, reply.body["description"]) == (201, ""), body


async def test_each_room_gets_its_own_share_token(api: Api) -> None:
    first, second = await api.room(), await api.room()
    assert first["id"] != second["id"]
    assert first["shareToken"] != second["shareToken"]


INVALID_CREATES = [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": 42}, "name"),
    ({"name": None}, "name"),
    ({"name": ["a"]}, "name"),
    ({"name": "ok", "description": "d" * 501}, "description"),
    ({"name": "ok", "description": 7}, "description"),
]


async def test_create_refuses_invalid_fields(api: Api, subtests: pytest.Subtests) -> None:
    for body, field in INVALID_CREATES:
        with subtests.test(body=repr(body)[:60]):
            reply = await api.call("POST", "/api/rooms", body)
            assert list(assert_error(reply, 400, "validation_error")["details"]) == [field]
    assert (await api.call("GET", "/api/rooms")).body["rooms"] == []


async def test_limits_count_characters_and_trimmed_length(api: Api) -> None:
    reply = await api.call(
        "POST", "/api/rooms", {"name": " " + "é" * 100 + " ", "description": "d" * 500}
    )
    assert reply.status == 201
    assert (reply.body["name"], len(reply.body["description"])) == ("é" * 100, 500)


async def test_unknown_fields_are_refused_one_by_one(api: Api) -> None:
    body = {"name": "Hall", "ownerId": "mallory", "shareToken": "mine", "colour": "red"}
    error = assert_error(await api.call("POST", "/api/rooms", body), 400, "validation_error")
    assert set(error["details"]) == {"ownerId", "shareToken", "colour"}
    assert (await api.call("GET", "/api/rooms")).body["rooms"] == []


async def test_a_body_that_is_not_an_object_is_refused(api: Api, subtests: pytest.Subtests) -> None:
    headers = {"Content-Type": "application/json"}
    for raw in [b"null", b"[]", b'["name"]', b'"Hall"', b"42", b"true"]:
        with subtests.test(body=raw):
            reply = await api.call("POST", "/api/rooms", data=raw, headers=headers)
            assert assert_error(reply, 400, "validation_error")["details"]


async def test_list_shows_only_the_callers_rooms(app: RunningApp, api: Api) -> None:
    first = await api.room(name="One")
    second = await api.room(name="Two")
    await api.timer(first["id"])
    reply = await api.call("GET", "/api/rooms", token=app.token("bob"))
    assert reply.status == 200 and reply.body["rooms"] == []
    await api.call("POST", "/api/rooms", {"name": "Bob's"}, token=app.token("bob"))
    reply = await api.call("GET", "/api/rooms")
    assert reply.status == 200
    assert set(reply.body) == {"rooms", "next", "serverTime"}
    assert_server_time(reply.body)
    rooms = reply.body["rooms"]
    assert {r["id"] for r in rooms} == {first["id"], second["id"]}
    for room in rooms:
        assert set(room) == ROOM_KEYS | {"timers"} and room["ownerId"] == "alice"
    by_id = {r["id"]: r for r in rooms}
    assert [t["label"] for t in by_id[first["id"]]["timers"]] == ["Keynote"]


async def test_anyone_gets_room_state_by_share_token(app: RunningApp, api: Api) -> None:
    room = await api.room(name="Stage", description="Main")
    for position, label in [(5, "Last"), (1, "First"), (3, "Middle")]:
        await api.timer(room["id"], label=label, position=position)
    reply = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert reply.status == 200
    state = reply.body
    assert set(state) == {"room", "timers", "message", "userCount", "serverTime"}
    assert_server_time(state)
    # Viewers see neither the owner nor the capability itself.
    assert state["room"] == {"id": room["id"], "name": "Stage", "description": "Main"}
    assert state["userCount"] == 0
    assert [t["label"] for t in state["timers"]] == ["First", "Middle", "Last"]
    assert [t["position"] for t in state["timers"]] == [1, 3, 5]


async def test_unknown_share_token_is_404(api: Api) -> None:
    await api.room()
    reply = await api.call("GET", "/api/rooms/no-such-share-token", token=None)
    assert_error(reply, 404, "not_found")


async def test_put_changes_only_the_given_fields(app: RunningApp, api: Api) -> None:
    room = await api.room(name="Hall", description="Old")
    path = f"/api/rooms/{room['id']}"
    reply = await api.call("PUT", path, {"name": "  New hall  "})
    assert reply.status == 200
    assert_room(reply.body, id=room["id"], name="New hall", description="Old")
    assert reply.body["shareToken"] == room["shareToken"]
    reply = await api.call("PUT", path, {"description": "  Fresh "})
    assert_room(reply.body, name="New hall", description="Fresh")
    reply = await api.call("PUT", path, {"description": None})
    assert reply.body["description"] == ""
    reply = await api.call("PUT", path, {})
    assert reply.status == 200 and reply.body["name"] == "New hall"
    state = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert state.body["room"]["name"] == "New hall"


async def test_put_validates_like_create(api: Api, subtests: pytest.Subtests) -> None:
    room = await api.room(name="Hall")
    for body in [{"name": ""}, {"name": "x" * 101}, {"description": "d" * 501}, {"owner": "b"}]:
        with subtests.test(body=repr(body)[:60]):
            reply = await api.call("PUT", f"/api/rooms/{room['id']}", body)
            assert list(assert_error(reply, 400, "validation_error")["details"]) == list(body)
    listed = (await api.call("GET", "/api/rooms")).body["rooms"]
    assert (listed[0]["name"], listed[0]["description"]) == ("Hall", "")


async def test_put_by_another_owner_is_403_and_changes_nothing(app: RunningApp, api: Api) -> None:
    room = await api.room(name="Hall")
    reply = await api.call(
        "PUT", f"/api/rooms/{room['id']}", {"name": "Mine"}, token=app.token("bob")
    )
    assert_error(reply, 403, "forbidden")
    assert (await api.call("GET", "/api/rooms")).body["rooms"][0]["name"] == "Hall"


async def test_put_unknown_room_is_404(api: Api) -> None:
    reply = await api.call("PUT", "/api/rooms/00000000-0000-4000-8000-000000000000", {"name": "x"})
    assert_error(reply, 404, "not_found")


async def test_delete_removes_the_room_and_its_timers(app: RunningApp, api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    reply = await api.call("DELETE", f"/api/rooms/{room['id']}")
    assert (reply.status, reply.body) == (204, None)
    gone = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert_error(gone, 404, "not_found")
    assert (await api.call("GET", "/api/rooms")).body["rooms"] == []
    assert_error(await api.call("PUT", f"/api/rooms/{room['id']}", {"name": "x"}), 404, "not_found")
    assert_error(await api.command(timer["id"], "start"), 404, "not_found")
    assert_error(await api.call("DELETE", f"/api/timers/{timer['id']}"), 404, "not_found")
    assert_error(await api.call("DELETE", f"/api/rooms/{room['id']}"), 404, "not_found")


async def test_delete_by_another_owner_is_403(app: RunningApp, api: Api) -> None:
    room = await api.room()
    reply = await api.call("DELETE", f"/api/rooms/{room['id']}", token=app.token("bob"))
    assert_error(reply, 403, "forbidden")
    still = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert still.status == 200


# Admin panels and hardware controllers send no body, an empty one, or `{}`.
EMPTY_BODIES: list[tuple[bytes | None, dict[str, str]]] = [
    (None, {}),
    (b"", {"Content-Type": "text/plain"}),
    (b"", {"Content-Type": "application/json"}),
    (b"{}", {"Content-Type": "application/json"}),
    (b"  ", {"Content-Type": "application/x-www-form-urlencoded"}),
]


async def test_rotating_the_share_token_revokes_the_old_one(
    api: Api, subtests: pytest.Subtests
) -> None:
    room = await api.room()
    await api.timer(room["id"])
    old = room["shareToken"]
    for data, headers in EMPTY_BODIES:
        with subtests.test(body=data, headers=headers):
            path = f"/api/rooms/{room['id']}/share-token"
            reply = await api.call("POST", path, data=data, headers=headers)
            assert reply.status == 200, reply.body
            assert_room(reply.body, id=room["id"], name=room["name"])
            assert len(reply.body["timers"]) == 1
            new = reply.body["shareToken"]
            assert new != old
            gone = await api.call("GET", f"/api/rooms/{old}", token=None)
            assert_error(gone, 404, "not_found")
            fresh = await api.call("GET", f"/api/rooms/{new}", token=None)
            assert fresh.status == 200 and fresh.body["room"]["id"] == room["id"]
            listed = (await api.call("GET", "/api/rooms")).body["rooms"]
            assert listed[0]["shareToken"] == new
            old = new


async def test_rotation_refuses_a_body_with_fields(api: Api) -> None:
    room = await api.room()
    reply = await api.call("POST", f"/api/rooms/{room['id']}/share-token", {"token": "mine"})
    assert "token" in assert_error(reply, 400, "validation_error")["details"]
    still = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert still.status == 200


async def test_rotation_by_another_owner_or_of_unknown_room(app: RunningApp, api: Api) -> None:
    room = await api.room()
    path = f"/api/rooms/{room['id']}/share-token"
    assert_error(await api.call("POST", path, token=app.token("bob")), 403, "forbidden")
    unknown = "/api/rooms/00000000-0000-4000-8000-000000000000/share-token"
    assert_error(await api.call("POST", unknown), 404, "not_found")
    still = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert still.status == 200


async def test_a_few_rooms_come_on_one_page_with_no_next(api: Api) -> None:
    await api.room(name="Only")
    reply = await api.call("GET", "/api/rooms")
    assert reply.status == 200
    assert [r["name"] for r in reply.body["rooms"]] == ["Only"]
    assert reply.body["next"] is None


async def test_pages_follow_the_cursor_oldest_first_until_next_is_null(api: Api) -> None:
    names = [f"Room {n:02d}" for n in range(7)]
    for name in names:
        await api.room(name=name)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "?limit=3" + (f"&after={cursor}" if cursor else "")
        reply = await api.call("GET", "/api/rooms" + query)
        assert reply.status == 200, reply.body
        assert len(reply.body["rooms"]) <= 3
        seen += [r["name"] for r in reply.body["rooms"]]
        pages += 1
        cursor = reply.body["next"]
        if cursor is None:
            break
    assert (seen, pages) == (names, 3)
    # An owner's cursor shows nobody else's rooms.
    async with Api(api.base_url, make_token("bob")) as bob:
        await bob.room(name="Bob's")
        first = (await api.call("GET", "/api/rooms?limit=6")).body
        rest = (await api.call("GET", f"/api/rooms?after={first['next']}")).body
        assert [r["name"] for r in rest["rooms"]] == names[6:] and rest["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("after=not-a-cursor", "after"),
        ("after=", "after"),
        ("colour=red", "colour"),
    ],
)
async def test_a_bad_page_query_is_a_400_naming_the_parameter(
    api: Api, query: str, field: str
) -> None:
    reply = await api.call("GET", f"/api/rooms?{query}")
    assert reply.status == 400, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert field in reply.body["error"]["details"]
