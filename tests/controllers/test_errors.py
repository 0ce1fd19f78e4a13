"""Every error of the HTTP API in the contract's shape, in the contract's order; never a 500."""

import json
import random
import uuid
from typing import Any

import pytest

from tests.middleware.helpers import CODES, assert_error, assert_error_shape, assert_server_time
from tests.support.app import Api, RunningApp

JSON = {"Content-Type": "application/json"}

# Every route that needs the owner: (method, path with {room}/{timer}, a valid body).
OWNER_ROUTES = [
    ("PUT", "/api/rooms/{room}", {"name": "Taken"}),
    ("DELETE", "/api/rooms/{room}", None),
    ("POST", "/api/rooms/{room}/share-token", None),
    ("POST", "/api/rooms/{room}/timers", {"label": "Mine", "durationMs": 1000}),
    ("PUT", "/api/timers/{timer}", {"label": "Mine"}),
    ("DELETE", "/api/timers/{timer}", None),
    ("POST", "/api/timers/{timer}/start", None),
    ("POST", "/api/timers/{timer}/pause", None),
    ("POST", "/api/timers/{timer}/reset", None),
    ("POST", "/api/timers/{timer}/adjust", {"deltaMs": 1000}),
]
GARBAGE_IDS = [
    str(uuid.uuid4()),
    "not-a-uuid",
    "x" * 3000,
    "%00",
    "a%00b",
    "%ED%A0%80",
    "%F0%9F%98%80",
    "%27%20OR%201%3D1%20--",
    "..%2F..%2Fhealth",
]


async def alice_room(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """A room of alice's with one timer."""
    room = await api.room()
    return room, await api.timer(room["id"])


async def test_another_owner_gets_403_and_changes_nothing(
    app: RunningApp, api: Api, subtests: pytest.Subtests
) -> None:
    room, timer = await alice_room(api)
    for method, path, body in OWNER_ROUTES:
        with subtests.test(route=f"{method} {path}"):
            url = path.format(room=room["id"], timer=timer["id"])
            reply = await api.call(method, url, body, token=app.token("bob"))
            assert_error(reply, 403, "forbidden")
    state = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert state.status == 200 and state.body["room"] == {
        "id": room["id"], "name": room["name"], "description": "",
    }  # fmt: skip
    assert [(t["label"], t["version"]) for t in state.body["timers"]] == [("Keynote", 1)]


async def test_unknown_or_garbage_ids_are_404(api: Api, subtests: pytest.Subtests) -> None:
    await alice_room(api)
    for method, path, body in OWNER_ROUTES:
        for bad_id in GARBAGE_IDS:
            with subtests.test(route=f"{method} {path}", id=bad_id[:40]):
                reply = await api.call(method, path.format(room=bad_id, timer=bad_id), body)
                assert_error(reply, 404, "not_found")
    for bad_id in GARBAGE_IDS:
        with subtests.test(route="GET /api/rooms/{shareToken}", id=bad_id[:40]):
            reply = await api.call("GET", f"/api/rooms/{bad_id}", token=None)
            assert_error(reply, 404, "not_found")


UNKNOWN_PATHS = [
    "/", "/nope", "/api", "/api/", "/api/room", "/api/rooms/", "/api/rooms/a/b/c", "/api/timers",
    "/api/timers/x/launch", "/api/timers/x/start/now", "/static/../etc/passwd", "/HEALTH",
]  # fmt: skip


async def test_unknown_paths_are_json_404(api: Api, subtests: pytest.Subtests) -> None:
    for path in UNKNOWN_PATHS:
        with subtests.test(path=path):
            reply = await api.call("GET", path)
            assert reply.headers["Content-Type"].startswith("application/json")
            assert_error(reply, 404, "not_found")


WRONG_METHODS = [
    ("PATCH", "/api/rooms", {"GET", "POST"}),
    ("DELETE", "/api/rooms", {"GET", "POST"}),
    ("POST", "/api/rooms/abc", {"GET", "PUT", "DELETE"}),
    ("PATCH", "/api/rooms/abc", {"GET", "PUT", "DELETE"}),
    ("GET", "/api/rooms/abc/share-token", {"POST"}),
    ("PUT", "/api/rooms/abc/timers", {"POST"}),
    ("GET", "/api/timers/abc", {"PUT", "DELETE"}),
    ("POST", "/api/timers/abc", {"PUT", "DELETE"}),
    ("GET", "/api/timers/abc/start", {"POST"}),
    ("DELETE", "/api/timers/abc/adjust", {"POST"}),
    ("POST", "/api/stats/socket", {"GET"}),
    ("POST", "/health", {"GET"}),
    ("DELETE", "/metrics", {"GET"}),
]


async def test_wrong_method_is_405_with_allow(api: Api, subtests: pytest.Subtests) -> None:
    for method, path, allowed in WRONG_METHODS:
        with subtests.test(method=method, path=path):
            reply = await api.call(method, path, None)
            assert_error(reply, 405, "method_not_allowed")
            listed = {m.strip() for m in reply.headers["Allow"].split(",")}
            assert allowed <= listed <= allowed | {"HEAD", "OPTIONS"}


async def test_a_body_that_is_not_json_is_415(api: Api, subtests: pytest.Subtests) -> None:
    room, timer = await alice_room(api)
    body = b'{"name": "Hall", "label": "x", "durationMs": 1000, "deltaMs": 1}'
    routes = [
        ("POST", "/api/rooms"),
        ("PUT", f"/api/rooms/{room['id']}"),
        ("POST", f"/api/rooms/{room['id']}/timers"),
        ("PUT", f"/api/timers/{timer['id']}"),
        ("POST", f"/api/timers/{timer['id']}/adjust"),
    ]
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "text/json", None]:
        headers = {"Content-Type": content_type} if content_type else {}
        for method, path in routes:
            with subtests.test(content_type=content_type, route=f"{method} {path}"):
                reply = await api.call(method, path, data=body, headers=headers)
                assert_error(reply, 415, "unsupported_media_type")
    assert [r["name"] for r in (await api.call("GET", "/api/rooms")).body["rooms"]] == [
        room["name"]
    ]


MALFORMED = [
    b"{", b'{"name": "x",}', b"{'name': 'x'}", b'{"name": "x"} trailing', b"NaN",
    b'{"name": "x", "description": NaN}', b'{"name": Infinity}', b"\xff\xfe\x00",
    b'{"name": "\xff\xfe"}', b'{"name": "\xc3"}', b'{"name": "\\ud800"}',
    b'{"name": "x", "description": "\\udfff"}', b'{"name": "\\u12"}', b"[" * 5000,
]  # fmt: skip


async def test_malformed_json_is_invalid_json(api: Api, subtests: pytest.Subtests) -> None:
    for raw in MALFORMED:
        with subtests.test(body=raw[:40]):
            reply = await api.call("POST", "/api/rooms", data=raw, headers=JSON)
            assert_error(reply, 400, "invalid_json")
    assert (await api.call("GET", "/api/rooms")).body["rooms"] == []


async def test_json_that_is_not_an_object_or_too_deep_is_400(
    api: Api, subtests: pytest.Subtests
) -> None:
    for raw in [
        b"null", b"[]", b'"Hall"', b"1", b"[" * 2000 + b"]" * 2000,
        b'{"name": ' + b'{"a": ' * 500 + b"1" + b"}" * 501,
    ]:  # fmt: skip
        with subtests.test(body=raw[:40]):
            reply = await api.call("POST", "/api/rooms", data=raw, headers=JSON)
            assert reply.status == 400, reply.body
            assert_error_shape(400, reply.body)


OUT_OF_RANGE = [
    ("timers", {"label": "x", "durationMs": 10**30}, "durationMs"),
    ("timers", {"label": "x", "durationMs": -(10**30)}, "durationMs"),
    ("timers", {"label": "x", "durationMs": 1000, "position": 10**30}, "position"),
    ("timers", {"label": "x", "durationMs": 2**63}, "durationMs"),
    ("timers", {"label": "a\u0000b", "durationMs": 1000}, "label"),
    ("adjust", {"deltaMs": 10**30}, "deltaMs"),
    ("adjust", {"deltaMs": 2**64}, "deltaMs"),
    ("room", {"name": "nul\u0000name"}, "name"),
    ("room", {"description": "\u0000"}, "description"),
]


async def test_huge_integers_and_nul_are_validation_errors(
    api: Api, subtests: pytest.Subtests
) -> None:
    room, timer = await alice_room(api)
    paths = {
        "timers": ("POST", f"/api/rooms/{room['id']}/timers"),
        "adjust": ("POST", f"/api/timers/{timer['id']}/adjust"),
        "room": ("PUT", f"/api/rooms/{room['id']}"),
    }
    for route, body, field in OUT_OF_RANGE:
        with subtests.test(route=route, body=repr(body)[:60]):
            reply = await api.call(*paths[route], body)
            assert field in assert_error(reply, 400, "validation_error")["details"]


async def test_checks_come_in_the_contract_order(app: RunningApp, api: Api) -> None:
    """401 before 404, 404 before 403, 403 before 415/invalid_json, those before 400."""
    room, timer = await alice_room(api)
    bob, unknown = app.token("bob"), str(uuid.uuid4())
    text = {"Content-Type": "text/plain"}
    cases: list[tuple[str, str, bytes, dict[str, str], str | None, int | str]] = [
        ("PUT", f"/api/timers/{unknown}", b"{", JSON, None, 401),
        ("PUT", f"/api/timers/{unknown}", b"{", JSON, bob, 404),
        ("PUT", f"/api/timers/{timer['id']}", b"{", JSON, bob, 403),
        ("PUT", f"/api/rooms/{room['id']}", b"x", text, bob, 403),
        ("PUT", f"/api/rooms/{room['id']}", b'{"name": ""}', text, api.token, 415),
        ("POST", "/api/rooms", b'{"name": 1', JSON, api.token, "invalid_json"),
        ("POST", "/api/rooms", b'{"name": ""}', JSON, api.token, "validation_error"),
    ]
    for method, path, data, headers, token, expected in cases:
        reply = await api.call(method, path, data=data, headers=headers, token=token)
        if isinstance(expected, str):
            assert (reply.status, reply.body["error"]["code"]) == (400, expected)
        else:
            assert reply.status == expected, (expected, reply.body)
        assert_error_shape(reply.status, reply.body)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, biased toward the fields the API knows."""
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 999, 1000, 604_800_001, 2**53, 10**30, -(10**19)])
    if kind == 2:
        return rng.choice([0.5, -1e308, 1e-9, 1000.0])
    if kind in (3, 4, 5):
        return rng.choice(["", " ", "x" * 101, "é", "\u0000", "\ud800", "\u202e", "{}", "' OR 1=1"])
    if kind in (6, 7):
        keys = ["name", "description", "label", "durationMs", "position", "deltaMs", "x"]
        return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [random_json(rng, depth + 1) for _ in range(rng.randrange(3))]


def random_body(rng: random.Random) -> tuple[bytes | None, str | None]:
    """Bytes and a Content-Type: valid JSON, mangled JSON, or noise."""
    content_type = rng.choice(["application/json", "application/json; charset=utf-8", None,
                               "text/plain", "application/xml", "multipart/form-data"])  # fmt: skip
    choice = rng.randrange(4)
    if choice == 0:
        return None, content_type
    text = json.dumps(random_json(rng)).encode()
    if choice == 1:
        return text, content_type
    if choice == 2:
        cut = rng.randrange(len(text) + 1)
        return text[:cut] + bytes([rng.randrange(256)]) + text[cut:], content_type
    return rng.randbytes(rng.randrange(1, 64)), content_type


async def test_no_input_yields_a_500(app: RunningApp, api: Api) -> None:
    rng = random.Random(20260101)
    room, timer = await alice_room(api)
    ids = [room["id"], timer["id"], room["shareToken"], "x" * 300, "%00", "%E2%80%AE", "-1"]
    paths = ["/api/rooms", "/api/rooms/{id}", "/api/rooms/{id}/share-token",
             "/api/rooms/{id}/timers", "/api/timers/{id}", "/api/timers/{id}/start",
             "/api/timers/{id}/pause", "/api/timers/{id}/reset", "/api/timers/{id}/adjust",
             "/api/stats/socket", "/health", "/api/{id}", "/{id}"]  # fmt: skip
    tokens = [api.token, app.token("bob"), None, "garbage", app.token("x" * 300)]
    for _ in range(250):
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
        path = rng.choice(paths).replace("{id}", rng.choice(ids))
        data, content_type = random_body(rng)
        headers = {"Content-Type": content_type} if content_type else {}
        reply = await api.call(method, path, data=data, headers=headers, token=rng.choice(tokens))
        assert reply.status < 500, (method, path, data, reply.body)
        if reply.status >= 400 and method != "HEAD":
            assert reply.status in CODES
            assert_error_shape(reply.status, reply.body)
        elif reply.body is not None:
            assert_server_time(reply.body)
