"""Timers over HTTP: create, change, delete, and every command of the state machine."""

from typing import Any

import pytest

from tests.middleware.helpers import assert_error, assert_server_time
from tests.support.app import Api, Reply

TIMER_KEYS = {
    "id", "roomId", "label", "durationMs", "status", "remainingMs", "endsAt", "position",
    "version", "createdAt", "updatedAt",
}  # fmt: skip


def timer_of(reply: Reply, status: int = 200) -> dict[str, Any]:
    """The Timer of a reply, checked for shape and clock consistency."""
    assert reply.status == status, (reply.status, reply.body)
    timer: dict[str, Any] = reply.body
    assert TIMER_KEYS <= set(timer), timer
    now = assert_server_time(timer)
    if timer["status"] == "running":
        assert timer["endsAt"] - now == timer["remainingMs"]
    else:
        assert timer["endsAt"] is None
    return timer


async def in_state(api: Api, status: str, **fields: Any) -> dict[str, Any]:
    """A fresh timer brought into `status` over HTTP."""
    room = await api.room()
    timer = await api.timer(room["id"], **fields)
    steps = {"idle": [], "running": ["start"], "paused": ["start", "pause"]}
    for step in steps.get(status, []):
        timer = timer_of(await api.command(timer["id"], step))
    if status == "finished":
        timer = timer_of(await api.command(timer["id"], "adjust", {"deltaMs": -604_800_000}))
    assert timer["status"] == status
    return timer


async def test_create_has_the_contract_defaults(api: Api) -> None:
    room = await api.room()
    reply = await api.call(
        "POST", f"/api/rooms/{room['id']}/timers", {"label": "  Keynote ", "durationMs": 600_000}
    )
    timer = timer_of(reply, 201)
    assert timer["roomId"] == room["id"] and timer["label"] == "Keynote"
    assert (timer["status"], timer["durationMs"], timer["remainingMs"]) == (
        "idle",
        600_000,
        600_000,
    )
    assert (timer["endsAt"], timer["position"], timer["version"]) == (None, 0, 1)


async def test_position_defaults_to_one_past_the_highest(api: Api) -> None:
    room = await api.room()
    assert (await api.timer(room["id"]))["position"] == 0
    assert (await api.timer(room["id"]))["position"] == 1
    assert (await api.timer(room["id"], position=10))["position"] == 10
    assert (await api.timer(room["id"]))["position"] == 11
    assert (await api.timer(room["id"], position=0))["position"] == 0


async def test_duration_limits_are_inclusive(api: Api) -> None:
    room = await api.room()
    for duration in [1000, 604_800_000]:
        assert (await api.timer(room["id"], durationMs=duration))["remainingMs"] == duration


INVALID_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"durationMs": 999}, "durationMs"),
    ({"durationMs": 604_800_001}, "durationMs"),
    ({"durationMs": 0}, "durationMs"),
    ({"durationMs": -5000}, "durationMs"),
    ({"durationMs": 1000.0}, "durationMs"),
    ({"durationMs": 60000.5}, "durationMs"),
    ({"durationMs": "60000"}, "durationMs"),
    ({"durationMs": True}, "durationMs"),
    ({"durationMs": None}, "durationMs"),
    ({"durationMs": 10**30}, "durationMs"),
    ({"label": ""}, "label"),
    ({"label": "   "}, "label"),
    ({"label": "x" * 101}, "label"),
    ({"label": 5}, "label"),
    ({"position": -1}, "position"),
    ({"position": 1.5}, "position"),
    ({"position": "1"}, "position"),
    ({"status": "running"}, "status"),
    ({"version": 9}, "version"),
]


async def test_create_refuses_invalid_fields(api: Api, subtests: pytest.Subtests) -> None:
    room = await api.room()
    for fields, field in INVALID_CREATES:
        with subtests.test(fields=repr(fields)[:60]):
            body = {"label": "Talk", "durationMs": 60_000, **fields}
            reply = await api.call("POST", f"/api/rooms/{room['id']}/timers", body)
            assert list(assert_error(reply, 400, "validation_error")["details"]) == [field]
    state = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert state.body["timers"] == []


async def test_create_requires_label_and_duration(api: Api) -> None:
    room = await api.room()
    reply = await api.call("POST", f"/api/rooms/{room['id']}/timers", {})
    assert set(assert_error(reply, 400, "validation_error")["details"]) == {"label", "durationMs"}


async def test_a_room_holds_at_most_100_timers(api: Api) -> None:
    room = await api.room()
    created = [await api.timer(room["id"], durationMs=1000 + i) for i in range(100)]
    reply = await api.call(
        "POST", f"/api/rooms/{room['id']}/timers", {"label": "One too many", "durationMs": 1000}
    )
    assert "timers" in assert_error(reply, 400, "validation_error")["details"]
    state = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert len(state.body["timers"]) == 100
    assert (await api.call("DELETE", f"/api/timers/{created[0]['id']}")).status == 204
    assert (await api.timer(room["id"]))["position"] == 100


async def test_put_changes_label_and_position_by_one_version(api: Api) -> None:
    room = await api.room()
    first, second = await api.timer(room["id"], label="A"), await api.timer(room["id"], label="B")
    reply = await api.call("PUT", f"/api/timers/{first['id']}", {"label": " A2 ", "position": 7})
    timer = timer_of(reply)
    assert (timer["label"], timer["position"], timer["version"]) == ("A2", 7, 2)
    state = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert [t["id"] for t in state.body["timers"]] == [second["id"], first["id"]]
    same = timer_of(await api.call("PUT", f"/api/timers/{first['id']}", {}))
    assert same["version"] == 2


async def test_put_duration_on_an_idle_timer_sets_the_time_left(api: Api) -> None:
    timer = await in_state(api, "idle")
    changed = timer_of(await api.call("PUT", f"/api/timers/{timer['id']}", {"durationMs": 5000}))
    assert (changed["durationMs"], changed["remainingMs"], changed["version"]) == (5000, 5000, 2)


async def test_put_duration_on_a_paused_timer_waits_for_reset(api: Api) -> None:
    timer = await in_state(api, "paused")
    left = timer["remainingMs"]
    changed = timer_of(await api.call("PUT", f"/api/timers/{timer['id']}", {"durationMs": 5000}))
    assert (changed["status"], changed["durationMs"], changed["remainingMs"]) == (
        "paused", 5000, left,
    )  # fmt: skip
    assert changed["version"] == timer["version"] + 1
    reset = timer_of(await api.command(timer["id"], "reset"))
    assert (reset["status"], reset["remainingMs"]) == ("idle", 5000)


async def test_put_duration_on_a_running_timer_keeps_its_deadline(api: Api) -> None:
    timer = await in_state(api, "running")
    changed = timer_of(await api.call("PUT", f"/api/timers/{timer['id']}", {"durationMs": 5000}))
    assert (changed["status"], changed["endsAt"]) == ("running", timer["endsAt"])


async def test_put_validates_like_create(api: Api, subtests: pytest.Subtests) -> None:
    timer = await in_state(api, "idle")
    bodies: list[dict[str, Any]] = [
        {"durationMs": 999}, {"durationMs": 2.5}, {"label": ""}, {"roomId": "x"},
    ]  # fmt: skip
    for body in bodies:
        with subtests.test(body=repr(body)):
            reply = await api.call("PUT", f"/api/timers/{timer['id']}", body)
            assert list(assert_error(reply, 400, "validation_error")["details"]) == list(body)
    after = timer_of(await api.call("PUT", f"/api/timers/{timer['id']}", {}))
    assert (after["label"], after["durationMs"], after["version"]) == ("Keynote", 600_000, 1)


async def test_delete_removes_the_timer(api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    reply = await api.call("DELETE", f"/api/timers/{timer['id']}")
    assert (reply.status, reply.body) == (204, None)
    state = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert state.body["timers"] == []
    assert_error(await api.call("PUT", f"/api/timers/{timer['id']}", {}), 404, "not_found")
    assert_error(await api.call("DELETE", f"/api/timers/{timer['id']}"), 404, "not_found")


# (state, command, body, resulting status or 409, whether it is a change)
TABLE = [
    ("idle", "start", None, "running", True),
    ("idle", "pause", None, 409, False),
    ("idle", "reset", None, "idle", True),
    ("idle", "adjust", {"deltaMs": 5000}, "idle", True),
    ("running", "start", None, "running", False),
    ("running", "pause", None, "paused", True),
    ("running", "reset", None, "idle", True),
    ("running", "adjust", {"deltaMs": 60_000}, "running", True),
    ("paused", "start", None, "running", True),
    ("paused", "pause", None, "paused", False),
    ("paused", "reset", None, "idle", True),
    ("paused", "adjust", {"deltaMs": -1000}, "paused", True),
    ("finished", "start", None, 409, False),
    ("finished", "pause", None, 409, False),
    ("finished", "reset", None, "idle", True),
    ("finished", "adjust", {"deltaMs": 1000}, 409, False),
]


async def test_state_machine_over_http(api: Api, subtests: pytest.Subtests) -> None:
    for state, command, body, outcome, changes in TABLE:
        with subtests.test(state=state, command=command):
            before = await in_state(api, state)
            reply = await api.command(before["id"], command, body)
            if outcome == 409:
                assert_error(reply, 409, "invalid_transition")
                after = timer_of(await api.call("PUT", f"/api/timers/{before['id']}", {}))
                assert (after["status"], after["version"]) == (state, before["version"])
                continue
            after = timer_of(reply)
            assert after["status"] == outcome
            assert after["version"] == before["version"] + (1 if changes else 0)
            if outcome == "idle":
                delta = (body or {}).get("deltaMs", 0)
                assert after["remainingMs"] == before["durationMs"] + delta
            if (state, command) == ("running", "adjust"):
                assert after["endsAt"] == before["endsAt"] + 60_000
            if (state, command) == ("running", "start"):
                assert after["endsAt"] == before["endsAt"]
            if (state, command) == ("paused", "adjust"):
                assert after["remainingMs"] == before["remainingMs"] - 1000
            if (state, command) == ("running", "pause"):
                assert 0 < after["remainingMs"] <= before["remainingMs"]


async def test_adjust_that_leaves_no_time_finishes_the_timer(api: Api) -> None:
    for state in ("idle", "running", "paused"):
        timer = await in_state(api, state, durationMs=10_000)
        done = timer_of(await api.command(timer["id"], "adjust", {"deltaMs": -10_000}))
        assert (done["status"], done["remainingMs"], done["endsAt"]) == ("finished", 0, None)
        assert done["version"] == timer["version"] + 1


async def test_every_change_adds_exactly_one_to_the_version(api: Api) -> None:
    timer = await in_state(api, "idle")
    steps = [("start", None), ("pause", None), ("start", None), ("adjust", {"deltaMs": 1000})]
    steps += [("reset", None), ("reset", None)]
    for expected, (command, body) in enumerate(steps, start=2):
        assert timer_of(await api.command(timer["id"], command, body))["version"] == expected


BAD_ADJUSTS: list[Any] = [
    None, {}, {"deltaMs": 1.5}, {"deltaMs": "1000"}, {"deltaMs": True}, {"deltaMs": None},
    {"deltaMs": 10**30}, {"deltaMs": -(10**30)}, {"deltaMs": 1000, "extra": 1}, [1000],
]  # fmt: skip


async def test_adjust_validates_its_body(api: Api, subtests: pytest.Subtests) -> None:
    timer = await in_state(api, "paused")
    for body in BAD_ADJUSTS:
        with subtests.test(body=repr(body)):
            reply = await api.command(timer["id"], "adjust", body)
            assert assert_error(reply, 400, "validation_error")["details"]
    after = timer_of(await api.call("PUT", f"/api/timers/{timer['id']}", {}))
    assert (after["remainingMs"], after["version"]) == (timer["remainingMs"], timer["version"])


async def test_bodyless_commands_accept_no_body_or_empty_object(
    api: Api, subtests: pytest.Subtests
) -> None:
    timer = await in_state(api, "idle")
    for data, content_type in [
        (None, None), (b"", "text/plain"), (b"{}", "application/json"), (b"", "application/json"),
    ]:  # fmt: skip
        headers = {"Content-Type": content_type} if content_type else {}
        for command, status in [("start", "running"), ("pause", "paused"), ("reset", "idle")]:
            with subtests.test(body=data, content_type=content_type, command=command):
                path = f"/api/timers/{timer['id']}/{command}"
                reply = await api.call("POST", path, data=data, headers=headers)
                assert timer_of(reply)["status"] == status


async def test_bodyless_commands_refuse_fields(api: Api) -> None:
    timer = await in_state(api, "idle")
    reply = await api.command(timer["id"], "start", {"deltaMs": 5})
    assert "deltaMs" in assert_error(reply, 400, "validation_error")["details"]
    assert timer_of(await api.call("PUT", f"/api/timers/{timer['id']}", {}))["status"] == "idle"
