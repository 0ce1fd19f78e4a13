// The viewer screen: joins a room by its share token and shows its timers live.
//
// Time shown = the server's clock (ServerClock: local monotonic clock + measured offset)
// minus ?delay, recomputed every animation frame from each timer's endsAt: nothing is
// counted by accumulating ticks, so a slow or throttled frame never drifts the digits.

import { ServerClock, localNow } from "./clock.js";
import { longestText, timeOfDay, timerView } from "./format.js";
import { Screen } from "./screen.js";
import { RoomStore } from "./store.js";

const EVENTS = [
  "room-state",
  "timer-created",
  "timer-update",
  "timer-deleted",
  "timer-finished",
  "room-updated",
  "room-deleted",
  "room-message",
];
const MAX_DELAY_MS = 600_000;
const OFFLINE_GRACE_MS = 1_500; // a first connection that takes longer is shown as offline

function readOptions(search) {
  const params = new URLSearchParams(search);
  const flag = (name) => ["1", "true"].includes(params.get(name));
  const delay = Number(params.get("delay") ?? 0);
  return {
    timerId: params.get("timer") || null,
    transparent: flag("transparent"),
    showClock: flag("clock"),
    delayMs: Number.isFinite(delay) ? Math.min(Math.max(delay, 0), MAX_DELAY_MS) : 0,
  };
}

const config = JSON.parse(document.getElementById("roomtimer-config").textContent);
const options = readOptions(window.location.search);
const startedAt = localNow();
const store = new RoomStore();
const screen = new Screen(document);
// A websocket first: one connection that needs no sticky worker (venue routers change a
// device's address mid-session); long-polling only where a proxy refuses websockets.
// Reconnection with jitter (randomizationFactor) and a short ceiling: a restarted server
// gets its screens back within about two seconds, spread over that time.
const socket = window.io({
  path: "/socket.io/",
  transports: ["websocket", "polling"],
  tryAllTransports: true,
  reconnectionDelay: 500,
  reconnectionDelayMax: 2_000,
  randomizationFactor: 0.5,
});
const link = { everConnected: false, joined: false, fresh: false, reconnect: false };

/** Applies a server event now, or `?delay` ms later (the whole screen runs late). */
function receive(event, payload) {
  if (event === "room-state") link.fresh = true;
  if (options.delayMs > 0) setTimeout(() => store.apply(event, payload), options.delayMs);
  else store.apply(event, payload);
}

/** The room is gone for this screen: say so, and stop reconnecting. */
function close(event) {
  receive(event, {});
  socket.disconnect();
}

function join() {
  if (!socket.connected) return;
  socket.timeout(5_000).emit("join-room", { shareToken: config.shareToken }, (err, ack) => {
    if (err || !ack) return setTimeout(join, 1_000);
    if (!ack.ok) {
      if (ack.error?.code === "room_not_found") return close("revoked");
      return setTimeout(join, 2_000); // rate limited or a passing failure: try again
    }
    link.joined = true;
    // After a reconnect, ask again for the state: whatever changed while away is in it.
    if (link.reconnect) socket.emit("request-sync", { shareToken: config.shareToken });
  });
}

socket.on("connect", () => {
  link.reconnect = link.everConnected;
  link.everConnected = true;
  [link.joined, link.fresh] = [false, false];
  join();
});
socket.on("disconnect", (reason) => {
  [link.joined, link.fresh] = [false, false];
  // The client does not come back by itself after a server-side disconnect.
  if (reason === "io server disconnect" && !store.closed) {
    setTimeout(() => socket.connect(), 500 + Math.random() * 1_500);
  }
});
socket.on("connect_error", (error) => {
  // Refused by the server (its address has too many sockets, or is barred a while after a
  // flood from it, perhaps by another device behind the same NAT): the client does not
  // retry a refusal by itself. A failed transport (`socket.active`) it retries itself.
  if (!socket.active && error?.data?.code === "rate_limited") {
    setTimeout(() => socket.connect(), 1_000 + Math.random() * 2_000);
  }
});
for (const event of EVENTS) socket.on(event, (payload) => receive(event, payload));
socket.on("room-deleted", () => socket.disconnect());
socket.on("error", (error) => {
  if (error?.code === "share_token_revoked") close("revoked");
});
document.addEventListener("visibilitychange", () => {
  // A hidden tab may have slept: take the state again rather than trust it.
  if (document.visibilityState === "visible" && link.joined) {
    socket.emit("request-sync", { shareToken: config.shareToken });
  }
});
const clock = new ServerClock(socket);
document.fonts.load("700 100px Inter").catch(() => {});

/** Live: connected, joined, a fresh state received and the clock measured since. */
function isLive() {
  return socket.connected && link.joined && link.fresh && clock.synced && !store.closed;
}

/** The server time the screen shows (late by ?delay). */
function displayNow() {
  return clock.now() - options.delayMs;
}

function shownTimers() {
  if (!store.loaded || !clock.everSynced || store.closed || store.message.blackout) return [];
  const timers = store.ordered;
  return options.timerId ? timers.filter((t) => t.id === options.timerId) : timers;
}

function notice(shown) {
  if (store.closed === "deleted") {
    return { title: "This room has been closed", sub: "Its timers were deleted by its owner." };
  }
  if (store.closed === "revoked") {
    return { title: "This screen’s link no longer works", sub: "Ask the room’s owner for the new link." };
  }
  if (!store.loaded || !clock.everSynced) return { title: "Connecting…" };
  if (store.message.blackout || shown.length > 0) return null;
  if (options.timerId) return { title: "Waiting for this timer…" };
  return { title: "No timers yet" };
}

function frame() {
  const now = displayNow();
  const shown = shownTimers();
  const rows = shown.map((timer) => {
    const view = timerView(timer, now);
    // Digits are all one width (tabular figures): the shape is the text with 0s.
    const progress = Math.min(Math.max(view.remainingMs / (timer.durationMs || 1), 0), 1);
    return { view, progress, shape: longestText(timer, view.text).replace(/\d/g, "0") };
  });
  const offline =
    !socket.connected &&
    !store.closed &&
    (link.everConnected || localNow() - startedAt > OFFLINE_GRACE_MS);
  screen.draw({
    rows,
    stale: !isLive() && rows.length > 0,
    offline,
    message: store.closed ? { text: "", visible: false, blackout: false } : store.message,
    notice: notice(shown),
    roomName: options.transparent ? "" : (store.room?.name ?? document.title.split(" · ")[0]),
    clockText: options.showClock && clock.everSynced ? timeOfDay(now) : null,
  });
  window.requestAnimationFrame(frame);
}
window.requestAnimationFrame(frame);

window.roomtimer = {
  /** What the screen shows at this instant (contract: viewer screen). */
  snapshot() {
    const now = displayNow();
    return {
      connected: isLive(),
      offsetMs: clock.offsetMs,
      rttMs: clock.rttMs,
      timers: shownTimers().map((timer) => timerView(timer, now)),
    };
  },
};
