"""Timer phase thresholds, `finishedAt`, and the room message (contract Part 2)."""

from typing import Any

import pytest

from tests.support.app import Api, RunningApp, Viewer

DEFAULT_MESSAGE = {"text": "", "visible": False, "blackout": False, "updatedAt": None}


async def test_thresholds_are_kept_and_shown_to_owner_and_viewers(api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], durationMs=600_000, warnAtMs=120_000, dangerAtMs=30_000)
    assert (timer["warnAtMs"], timer["dangerAtMs"], timer["finishedAt"]) == (120_000, 30_000, None)
    state = (await api.call("GET", f"/api/rooms/{room['shareToken']}")).body
    [seen] = state["timers"]
    assert (seen["warnAtMs"], seen["dangerAtMs"]) == (120_000, 30_000)
    plain = await api.timer(room["id"])
    assert (plain["warnAtMs"], plain["dangerAtMs"]) == (None, None)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"warnAtMs": 600_001}, "warnAtMs"),  # beyond the duration
        ({"dangerAtMs": 0}, "dangerAtMs"),
        ({"warnAtMs": 60_000, "dangerAtMs": 60_000}, "dangerAtMs"),  # danger must come later
        ({"warnAtMs": 30_000, "dangerAtMs": 60_000}, "dangerAtMs"),
        ({"warnAtMs": "60000"}, "warnAtMs"),
        ({"warnAtMs": 1.5}, "warnAtMs"),
        ({"dangerAtMs": True}, "dangerAtMs"),
    ],
)
async def test_bad_thresholds_are_refused_naming_the_field(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    room = await api.room()
    body = {"label": "Talk", "durationMs": 600_000, **fields}
    reply = await api.call("POST", f"/api/rooms/{room['id']}/timers", body)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert field in reply.body["error"]["details"]
    timer = await api.timer(room["id"], durationMs=600_000)
    reply = await api.call("PUT", f"/api/timers/{timer['id']}", fields)
    assert reply.status == 400 and field in reply.body["error"]["details"], reply.body


async def test_put_checks_thresholds_against_the_duration_the_timer_ends_up_with(
    api: Api,
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], durationMs=600_000, warnAtMs=120_000)
    shorter = await api.call("PUT", f"/api/timers/{timer['id']}", {"durationMs": 60_000})
    assert shorter.status == 400 and "warnAtMs" in shorter.body["error"]["details"]
    both = await api.call(
        "PUT", f"/api/timers/{timer['id']}", {"durationMs": 60_000, "warnAtMs": 20_000}
    )
    assert both.status == 200, both.body
    assert (both.body["durationMs"], both.body["warnAtMs"]) == (60_000, 20_000)
    cleared = await api.call("PUT", f"/api/timers/{timer['id']}", {"warnAtMs": None})
    assert cleared.status == 200 and cleared.body["warnAtMs"] is None
    assert cleared.body["version"] == both.body["version"] + 1


async def test_a_finished_timer_carries_when_it_finished(api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], durationMs=60_000)
    assert (await api.command(timer["id"], "start")).status == 200
    finished = await api.command(timer["id"], "adjust", {"deltaMs": -60_000})
    body = finished.body
    assert body["status"] == "finished"
    assert body["finishedAt"] is not None and body["finishedAt"] <= body["serverTime"]
    reset = await api.command(timer["id"], "reset")
    assert reset.body["finishedAt"] is None


async def test_the_room_message_reaches_viewers_and_is_part_of_room_state(
    app: RunningApp, api: Api
) -> None:
    room = await api.room()
    viewer = await Viewer(app.url).connect()
    try:
        assert (await viewer.join(room["shareToken"]))["ok"] is True
        first = await viewer.next("room-state")
        assert first["message"] == DEFAULT_MESSAGE
        body = {"text": "Wrap up, please", "visible": True, "blackout": True}
        reply = await api.call("PUT", f"/api/rooms/{room['id']}/message", body)
        assert reply.status == 200, reply.body
        assert set(reply.body) == {"text", "visible", "blackout", "updatedAt", "serverTime"}
        assert {k: reply.body[k] for k in body} == body
        assert reply.body["updatedAt"].endswith("Z")
        event = await viewer.next("room-message")
        assert event == reply.body
        state = (await api.call("GET", f"/api/rooms/{room['shareToken']}")).body
        assert state["message"] == {k: v for k, v in reply.body.items() if k != "serverTime"}
        # `blackout` left out means off.
        hidden = await api.call(
            "PUT", f"/api/rooms/{room['id']}/message", {"text": "", "visible": False}
        )
        assert (hidden.body["blackout"], hidden.body["visible"]) == (False, False)
        assert (await viewer.next("room-message"))["blackout"] is False
    finally:
        await viewer.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x" * 201, "visible": True}, "text"),
        ({"visible": True}, "text"),
        ({"text": "Hi"}, "visible"),
        ({"text": "Hi", "visible": "true"}, "visible"),
        ({"text": "Hi", "visible": 1}, "visible"),
        ({"text": "Hi", "visible": True, "blackout": 0}, "blackout"),
        ({"text": 5, "visible": True}, "text"),
        ({"text": "Hi", "visible": True, "colour": "red"}, "colour"),
    ],
)
async def test_a_bad_message_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    room = await api.room()
    reply = await api.call("PUT", f"/api/rooms/{room['id']}/message", body)
    assert reply.status == 400, reply.body
    assert field in reply.body["error"]["details"]


async def test_only_the_owner_sets_the_message(app: RunningApp, api: Api) -> None:
    room = await api.room()
    body = {"text": "Hi", "visible": True}
    async with Api(app.url, app.token("mallory")) as other:
        assert (await other.call("PUT", f"/api/rooms/{room['id']}/message", body)).status == 403
    missing = await api.call("PUT", "/api/rooms/no-such-room/message", body)
    assert missing.status == 404
    async with Api(app.url, None) as anonymous:
        assert (await anonymous.call("PUT", f"/api/rooms/{room['id']}/message", body)).status == 401
