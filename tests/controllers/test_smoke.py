"""A first end-to-end pass: HTTP command reaches a joined viewer before the reply."""

from tests.support.app import Api, RunningApp, Viewer


async def test_start_reaches_viewer_before_reply(app: RunningApp, api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    viewer = await Viewer(app.url).connect()
    try:
        ack = await viewer.join(room["shareToken"])
        assert ack == {"ok": True, "roomId": room["id"]}
        state = await viewer.next("room-state")
        assert [t["id"] for t in state["timers"]] == [timer["id"]]
        reply = await api.command(timer["id"], "start")
        assert reply.status == 200
        update = await viewer.next("timer-update")
        assert update["version"] == reply.body["version"] == 2
        assert update["status"] == "running"
    finally:
        await viewer.close()
