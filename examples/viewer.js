// A minimal roomtimer viewer: one line a second with every timer of a room, counted down
// locally on the server's clock. Node 20+ with `npm install socket.io-client@4`:
//
//   node examples/viewer.js http://127.0.0.1:3000 SHARE_TOKEN
//
// In a browser, load the client with <script src=".../socket.io.min.js"></script> and
// drop the `require` line: `io` is then a global.
"use strict";

const { io } = require("socket.io-client");

const [url, shareToken] = process.argv.slice(2);
const timers = new Map();
let offsetMs = 0; // the server's clock minus this machine's

const nowMs = () => Date.now() + offsetMs;
const remainingMs = (t) => (t.status === "running" ? Math.max(0, t.endsAt - nowMs()) : t.remainingMs);

function line() {
  const shown = [...timers.values()]
    .sort((a, b) => a.position - b.position)
    .map((t) => {
      const s = Math.ceil(remainingMs(t) / 1000); // rounded up, as countdowns are
      return `${t.label} ${t.status} ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    });
  return shown.join(" | ") || "(no timers)";
}

function keep(t) {
  const held = timers.get(t.id); // messages may cross: keep the newest version
  if (!held || t.version > held.version) timers.set(t.id, t);
}

async function syncClock(socket) {
  // The ping with the shortest round trip of five gives the offset.
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const sent = Date.now();
    const reply = await socket.timeout(5000).emitWithAck("ping");
    const received = Date.now();
    samples.push([received - sent, reply.serverTime - (sent + received) / 2]);
  }
  samples.sort((a, b) => a[0] - b[0]);
  offsetMs = samples[0][1];
}

// Websocket only: one connection, no stickiness needed behind a venue's NAT (README).
const socket = io(url, { transports: ["websocket"] }); // reconnects by itself, with backoff
socket.on("connect", () => {
  socket.emit("join-room", { shareToken }); // again after every reconnect
  syncClock(socket).catch((err) => console.error("clock sync failed:", err.message));
});
socket.on("room-state", (state) => {
  timers.clear();
  state.timers.forEach(keep);
});
["timer-created", "timer-update", "timer-finished"].forEach((name) => socket.on(name, keep));
socket.on("timer-deleted", (gone) => timers.delete(gone.id));
socket.on("error", (error) => console.error("error:", error.code));
setInterval(() => console.log(line()), 1000);
