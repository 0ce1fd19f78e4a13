#!/usr/bin/env node
// Many stock socket.io-client viewers of one room in one node process, for roomtimer's
// fault tests (a viewer process each would cost far more than the server under test).
//
//   node crowd.js --url http://127.0.0.1:8080 --share-token T --count 500
//                 --addresses 127.0.0.20,127.0.0.21,... [--default-every K]
//
// Each viewer behaves as the viewer page does: it reconnects with the page's settings, and
// on every connect (the first and each reconnect) it emits `join-room` (again after a
// failure) and the join's `room-state` is its resync. Viewer i leaves
// from addresses[i % addresses.length], so Nginx's sticky hash spreads them over workers.
// Every K-th viewer uses the default transports (polling, then upgrade); the others
// websocket only, which is cheaper.
//
// stdout, one JSON object a line: {"type":"ready"} once every viewer has joined once;
// {"type":"status","id",...} and {"type":"report","id","viewers":[...]} on request.
// stdin, one JSON command a line: {"status": id} or {"report": id}; it exits when stdin closes.
//
// A report holds per viewer: addr; conns (connect times); drops ([at, reason, close code]);
// errors ([at, message] of each failed connection attempt);
// joins ([sentAt, ackAt, ok]); seq {timerId: [[version, kind, at, serverTime, finishedAt]]}
// with kind "s" room-state, "u" timer-update, "f" timer-finished, in order of receipt.
"use strict";

const http = require("node:http");
const readline = require("node:readline");
const { parseArgs } = require("node:util");
const { io } = require("socket.io-client");

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    "share-token": { type: "string" },
    count: { type: "string", default: "100" },
    addresses: { type: "string", default: "127.0.0.1" },
    "default-every": { type: "string", default: "0" },
  },
});

function out(line) {
  process.stdout.write(JSON.stringify({ ...line, at: Date.now() }) + "\n");
}

// The viewer page's reconnection (src/roomtimer/web/static/viewer.js).
const PAGE_RECONNECTION = { reconnectionDelay: 500, reconnectionDelayMax: 2000, randomizationFactor: 0.5 };
const addresses = opts.addresses.split(",");
const agents = new Map(addresses.map((a) => [a, new http.Agent({ localAddress: a })]));
const shareToken = opts["share-token"];
const viewers = [];
let joinedOnce = 0;

function record(v, kind, timer, serverTime) {
  const list = v.seq[timer.id] || (v.seq[timer.id] = []);
  list.push([timer.version, kind, Date.now(), serverTime ?? null, timer.finishedAt ?? null]);
}

function start(index) {
  const addr = addresses[index % addresses.length];
  const v = { addr, conns: [], drops: [], errors: [], joins: [], seq: {}, synced: false, once: false };
  const every = Number(opts["default-every"]);
  const transports = every && index % every === 0 ? ["polling", "websocket"] : ["websocket"];
  const socket = io(opts.url, {
    forceNew: true,
    transports,
    agent: agents.get(addr),
    localAddress: addr,
    ...PAGE_RECONNECTION,
  });
  v.socket = socket;
  socket.on("connect", () => {
    v.conns.push(Date.now());
    v.synced = false;
    join();
  });
  // As the viewer page does: a failed join is tried again while connected.
  function join() {
    if (!socket.connected) return;
    const attempt = [Date.now(), null, null];
    v.joins.push(attempt);
    socket.timeout(5000).emit("join-room", { shareToken }, (err, ack) => {
      attempt[1] = Date.now();
      attempt[2] = !err && ack && ack.ok === true;
      if (!attempt[2]) return setTimeout(join, err ? 1000 : 2000);
      if (!socket.connected) return;
      v.synced = true;
      if (!v.once) {
        v.once = true;
        if (++joinedOnce === viewers.length) out({ type: "ready" });
      }
    });
  }
  socket.on("connect_error", (err) => v.errors.push([Date.now(), String(err && err.message)]));
  socket.on("disconnect", (reason, details) => {
    v.synced = false;
    const code = details && details.context ? details.context.code ?? null : null;
    v.drops.push([Date.now(), reason, code]);
  });
  socket.on("room-state", (state) => {
    for (const timer of state.timers) record(v, "s", timer, state.serverTime);
  });
  socket.on("timer-update", (timer) => record(v, "u", timer, timer.serverTime));
  socket.on("timer-finished", (timer) => record(v, "f", timer, timer.serverTime));
  viewers.push(v);
}

function status(id) {
  // Per timer: the lowest and highest latest version over the viewers.
  const latest = {};
  for (const v of viewers) {
    for (const [timerId, list] of Object.entries(v.seq)) {
      const version = list.reduce((m, e) => Math.max(m, e[0]), 0);
      const span = latest[timerId] || (latest[timerId] = [Infinity, 0, 0]);
      span[0] = Math.min(span[0], version);
      span[1] = Math.max(span[1], version);
      span[2] += 1;
    }
  }
  const connected = viewers.filter((v) => v.socket.connected).length;
  const synced = viewers.filter((v) => v.synced).length;
  out({ type: "status", id, count: viewers.length, connected, synced, latest });
}

function report(id) {
  const list = viewers.map(({ addr, conns, drops, errors, joins, seq }) => ({ addr, conns, drops, errors, joins, seq }));
  out({ type: "report", id, viewers: list });
}

const count = Number(opts.count);
for (let i = 0; i < count; i++) start(i);

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (text) => {
  if (!text.trim()) return;
  const cmd = JSON.parse(text);
  if ("status" in cmd) status(cmd.status);
  if ("report" in cmd) report(cmd.report);
});
input.on("close", () => {
  for (const v of viewers) v.socket.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
});
