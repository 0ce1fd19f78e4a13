#!/usr/bin/env node
'use strict';
// What one flooding client costs everyone else: N stock socket.io-client viewers (from
// 127.0.0.1) in one room get `timer-update`s from HTTP start/pause commands sent at a
// steady --rate. Phase A runs --seconds with no flood; phase B the same with a flooder
// (a child process, from --flood-address) whose --flooders sockets each send join-room
// events at --flood-rate a second, and reconnect the moment they are cut off: a
// sustained storm of events and joins from one address. Latency = a viewer's receipt -
// the time its command was sent (one monotonic clock, this process; the flooder runs in
// its own process so its loop does not delay the viewers' clock).
//
//   JWT_SECRET=... NODE_PATH=tests/js/node_modules node bench/flood.js \
//       --url http://127.0.0.1:3000 --viewers 1000 --seconds 10 --rate 10 --pid SERVERPID
//
// Prints one JSON line: the others' delivery p50/p99/max in each phase, missing
// deliveries, the flood's events sent, `rate_limited` answers, server cuts, reconnects and
// joins answered, and the server's CPU in each phase. Exits 1 if a viewer missed a
// delivery or was disconnected, or if the flood was never refused and cut.
const { fork } = require('node:child_process');
const os = require('node:os');
const L = require('./local');

const args = L.parseArgs({
  url: 'http://127.0.0.1:3000',
  viewers: 1000,
  seconds: 10, // each phase
  rate: 10, // commands a second
  flooders: 2, // flooding sockets, each reconnecting as soon as it is cut
  'flood-rate': 5000, // events a second per flooding socket
  'flood-address': '127.0.0.2',
  pid: '',
  concurrency: 100,
  settle: 1500,
  drain: 10000, // ms to wait after a phase's last command for its deliveries
  role: '', // "flooder": the child
  'share-token': '',
});

function flooder() {
  const base = args.url.replace(/\/+$/, '');
  const stats = { sent: 0, rateLimited: 0, otherErrors: 0, cut: 0, otherDisconnects: 0, connects: 0, connectsRefused: 0, connectFailures: 0, joinsAnswered: 0 };
  let stopping = false;
  const begun = performance.now();
  const perTick = Math.max(1, Math.round(args['flood-rate'] / 100)); // every 10 ms
  const slot = async () => {
    while (!stopping) {
      const { socket, ready } = L.connect(base, { localAddress: args['flood-address'], timeoutMs: 5000 });
      try {
        await ready;
      } catch (err) {
        // Refused with `rate_limited` (the address is barred after a cut), or failed.
        if (err.data && err.data.code === 'rate_limited') stats.connectsRefused += 1;
        else stats.connectFailures += 1;
        socket.close();
        await L.sleep(5);
        continue;
      }
      stats.connects += 1;
      socket.on('error', (e) => { if (e && e.code === 'rate_limited') stats.rateLimited += 1; else stats.otherErrors += 1; });
      socket.on('room-state', () => { stats.joinsAnswered += 1; });
      await new Promise((resolve) => {
        socket.on('disconnect', (reason) => {
          if (reason === 'io server disconnect') stats.cut += 1;
          else if (!stopping) stats.otherDisconnects += 1;
          clearInterval(pump);
          resolve();
        });
        const pump = setInterval(() => {
          if (stopping) { socket.disconnect(); return; }
          if (!socket.connected) return;
          for (let k = 0; k < perTick; k++) socket.emit('join-room', { shareToken: args['share-token'] });
          stats.sent += perTick;
        }, 10);
      });
      socket.close();
    }
  };
  const slots = Array.from({ length: args.flooders }, slot);
  process.on('message', async (msg) => {
    if (msg !== 'stop') return;
    stopping = true;
    await Promise.all(slots);
    const seconds = (performance.now() - begun) / 1000;
    stats.seconds = L.round(seconds, 1);
    stats.eventsPerSec = L.round(stats.sent / seconds, 0);
    stats.reconnectsPerSec = L.round(stats.connects / seconds, 1);
    stats.refusedPerSec = L.round(stats.connectsRefused / seconds, 1);
    process.send(stats, () => process.exit(0));
  });
  process.send('started');
}

async function main() {
  L.checkLoopback(args.url);
  const base = args.url.replace(/\/+$/, '');
  const pid = args.pid ? Number(args.pid) : null;
  const token = L.mintJwt(`bench-flood-${process.pid}`);
  const room = await L.call(base, token, 'POST', '/api/rooms', { name: 'flood bench' });
  const timer = await L.call(base, token, 'POST', `/api/rooms/${room.id}/timers`, { label: 'bench', durationMs: 3600000 });

  const N = args.viewers;
  const received = new Map(); // version -> Float64Array(N) of receipt times, -1 if none
  let fromServer = []; // receipt - the event's serverTime (epoch ms, one machine)
  let dropped = 0; // viewers that lost their connection
  const sockets = [];
  await L.pool(N, args.concurrency, async (i) => {
    const { socket, ready } = L.connect(base);
    sockets.push(socket);
    await ready;
    socket.on('timer-update', (t) => {
      const at = performance.now();
      if (t.id !== timer.id) return;
      let times = received.get(t.version);
      if (!times) received.set(t.version, (times = new Float64Array(N).fill(-1)));
      if (times[i] < 0) {
        times[i] = at;
        fromServer.push(Date.now() - t.serverTime);
      }
    });
    socket.on('disconnect', () => { dropped += 1; });
    await L.join(socket, room.shareToken);
  });
  await L.sleep(args.settle);

  let version = timer.version;
  let started = false;
  const phase = async (name) => {
    const sent = []; // [version, t0]
    fromServer = [];
    const http = [];
    const cpu0 = L.cpuMs(pid);
    const t0 = performance.now();
    const total = Math.round(args.seconds * args.rate);
    for (let k = 0; k < total; k++) {
      const due = t0 + (k * 1000) / args.rate;
      const wait = due - performance.now();
      if (wait > 0) await L.sleep(wait);
      const cmd = started ? 'pause' : 'start';
      const at = performance.now();
      const res = await L.call(base, token, 'POST', `/api/timers/${timer.id}/${cmd}`);
      http.push(performance.now() - at);
      if (res.version <= version) throw new Error(`${cmd} did not change the timer (version ${res.version})`);
      version = res.version;
      started = !started;
      sent.push([version, at]);
    }
    const wall = performance.now() - t0;
    const complete = () => sent.every(([v]) => { const times = received.get(v); return times && times.every((x) => x >= 0); });
    const deadline = performance.now() + args.drain;
    while (!complete() && performance.now() < deadline) await L.sleep(50);
    const cpu = L.cpuMs(pid);
    const lat = [];
    let missing = 0;
    for (const [v, at] of sent) {
      const times = received.get(v) || new Float64Array(N).fill(-1);
      for (const x of times) if (x < 0) missing += 1; else lat.push(x - at);
      received.delete(v);
    }
    return {
      phase: name,
      commands: total,
      commandsPerSec: L.round(total / (wall / 1000), 1),
      deliveryMs: L.summary(lat, [50, 99]),
      fromServerTimeMs: L.summary(fromServer, [50, 99]),
      missingDeliveries: missing,
      httpCommandMs: L.summary(http, [50, 99]),
      serverCpuPercent: cpu0 === null ? null : L.round(((cpu - cpu0) / (performance.now() - t0)) * 100, 0),
      loadAverage1m: L.round(os.loadavg()[0], 2), // the machine's, at the phase's end: noise
    };
  };

  const quiet = await phase('quiet');
  const child = fork(__filename, [...process.argv.slice(2), '--role', 'flooder', '--share-token', room.shareToken], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const messages = [];
  let onMessage = null;
  child.on('message', (m) => { messages.push(m); if (onMessage) onMessage(); });
  const next = () => new Promise((resolve) => { onMessage = () => { if (messages.length) resolve(messages.shift()); }; onMessage(); });
  await L.withTimeout(next(), 10000, 'flooder start');
  await L.sleep(1000); // the flood under way before the first measured command
  const flooded = await phase('flood');
  child.send('stop');
  const flood = await L.withTimeout(next(), 30000, 'flooder stats');
  const viewersDisconnected = dropped;
  for (const s of sockets) s.close();
  await L.call(base, token, 'DELETE', `/api/rooms/${room.id}`).catch(() => {});
  const result = {
    bench: 'flood',
    viewers: N,
    rate: args.rate,
    seconds: args.seconds,
    flooders: args.flooders,
    quiet,
    flooded,
    p99Ratio: quiet.deliveryMs.p99 ? L.round(flooded.deliveryMs.p99 / quiet.deliveryMs.p99, 2) : null,
    flood,
    viewersDisconnected,
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(result));
  const failed = quiet.missingDeliveries || flooded.missingDeliveries || viewersDisconnected || !flood.rateLimited || !flood.cut;
  process.exit(failed ? 1 : 0);
}

if (args.role === 'flooder') {
  flooder();
} else {
  main().catch((err) => {
    console.error(`flood: ${err.stack || err}`);
    process.exit(2);
  });
}
