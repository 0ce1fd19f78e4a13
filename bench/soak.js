#!/usr/bin/env node
'use strict';
// A bounded soak: --viewers stock socket.io-client viewers (websocket) in one room, and
// --rate timer commands a second for --seconds, spread over the room's --timers timers
// (each timer's commands one after another: start, adjust, pause in turn; a slot whose
// timer already has one command in flight and one queued is skipped and counted), plus
// --churn viewers a second that connect, join and leave. Every --sample seconds the
// server's RSS is read (/proc/PID/status VmRSS, --pid); after --warmup seconds a least
// squares line through the samples gives the slope in KB/min. Every viewer must get
// every command's `timer-update`, in version order, once.
//
//   JWT_SECRET=... NODE_PATH=tests/js/node_modules node bench/soak.js \
//       --url http://127.0.0.1:3000 --viewers 2000 --rate 10 --seconds 600 --pid SERVERPID
//
// Prints one JSON line: commands sent, deliveries missing / out of order / duplicated,
// the RSS samples' slope after warm-up (KB/min) and its start and end, server CPU, the
// commands' HTTP latency. Exits 1 if a delivery was missing, out of order or duplicated,
// a viewer was disconnected, or --max-slope (KB/min, when given) was exceeded.
const os = require('node:os');
const L = require('./local');

const args = L.parseArgs({
  url: 'http://127.0.0.1:3000',
  viewers: 2000,
  rate: 10, // commands a second
  timers: 5, // in the room; commands go to each in turn, one in flight per timer
  seconds: 60,
  warmup: 0, // seconds; 0: a third of --seconds
  sample: 2, // seconds between RSS samples
  churn: 2, // extra viewers a second that connect, join and leave
  pid: '',
  concurrency: 100,
  settle: 1500,
  drain: 30000, // ms to wait after the last command for its deliveries
  'max-slope': 0, // KB/min; 0: not checked
});

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx ? sxy / sxx : null;
}

async function main() {
  L.checkLoopback(args.url);
  const base = args.url.replace(/\/+$/, '');
  const pid = args.pid ? Number(args.pid) : null;
  const warmup = args.warmup || args.seconds / 3;
  const token = L.mintJwt(`bench-soak-${process.pid}`);
  const room = await L.call(base, token, 'POST', '/api/rooms', { name: 'soak' });
  const T = args.timers;
  const timers = [];
  for (let j = 0; j < T; j++) {
    timers.push(await L.call(base, token, 'POST', `/api/rooms/${room.id}/timers`, { label: `soak ${j}`, durationMs: 6 * 3600 * 1000 }));
  }
  const index = new Map(timers.map((t, j) => [t.id, j]));

  const N = args.viewers;
  const count = new Int32Array(N); // timer-updates received
  const last = new Float64Array(N * T); // the last version each one saw of each timer
  for (let i = 0; i < N; i++) for (let j = 0; j < T; j++) last[i * T + j] = timers[j].version;
  let outOfOrder = 0; // a version other than last + 1: a gap, or one older
  let duplicates = 0;
  let dropped = 0;
  const sockets = [];
  const rss0 = L.rssKB(pid);
  const tJoin = performance.now();
  await L.pool(N, args.concurrency, async (i) => {
    const { socket, ready } = L.connect(base);
    sockets.push(socket);
    await ready;
    socket.on('timer-update', (t) => {
      const j = index.get(t.id);
      if (j === undefined) return;
      const seen = last[i * T + j];
      if (t.version === seen) duplicates += 1;
      else if (t.version !== seen + 1) outOfOrder += 1;
      if (t.version > seen) last[i * T + j] = t.version;
      count[i] += 1;
    });
    socket.on('disconnect', () => { dropped += 1; });
    await L.join(socket, room.shareToken);
  });
  const joinMs = performance.now() - tJoin;
  await L.sleep(args.settle);

  // Churn: sockets that come and go alongside, so a per-connection leak shows too.
  let churned = 0;
  let churnFailures = 0;
  let stopping = false;
  const churnLoop = async () => {
    const gap = 1000 / args.churn;
    while (!stopping) {
      const t = performance.now();
      const { socket, ready } = L.connect(base, { timeoutMs: 10000 });
      try {
        await ready;
        await L.join(socket, room.shareToken, 10000);
        churned += 1;
      } catch {
        churnFailures += 1;
      }
      socket.close();
      await L.sleep(Math.max(0, gap - (performance.now() - t)));
    }
  };
  const churning = args.churn > 0 ? churnLoop() : Promise.resolve();

  const samples = []; // [seconds since start, KB]
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const kb = L.rssKB(pid);
    if (kb !== null) samples.push([(performance.now() - t0) / 1000, kb]);
  }, args.sample * 1000);
  const cpu0 = L.cpuMs(pid);
  const http = [];
  const commands = ['start', 'adjust', 'pause'];
  const chains = timers.map(() => Promise.resolve());
  const versions = timers.map((t) => t.version);
  const pending = new Int32Array(T); // each timer's commands sent or queued, not answered
  const sentTo = new Int32Array(T);
  let total = 0; // commands sent
  let skipped = 0; // slots skipped: the timer had one in flight and one queued already
  const command = async (j) => {
    const cmd = commands[sentTo[j]++ % commands.length];
    const at = performance.now();
    const res = await L.call(base, token, 'POST', `/api/timers/${timers[j].id}/${cmd}`, cmd === 'adjust' ? { deltaMs: 1000 } : undefined);
    http.push(performance.now() - at);
    if (res.version !== versions[j] + 1) throw new Error(`${cmd}: version ${res.version} after ${versions[j]}`);
    versions[j] = res.version;
    pending[j] -= 1;
  };
  const slots = Math.round(args.seconds * args.rate);
  for (let k = 0; k < slots; k++) {
    const due = t0 + (k * 1000) / args.rate;
    const wait = due - performance.now();
    if (wait > 0) await L.sleep(wait);
    const j = k % T;
    if (pending[j] >= 2) {
      skipped += 1; // a server slower than the rate: skip rather than queue without end
      continue;
    }
    pending[j] += 1;
    total += 1;
    chains[j] = chains[j].then(() => command(j));
  }
  await Promise.all(chains);
  const wall = (performance.now() - t0) / 1000;
  const cpu = L.cpuMs(pid);
  const deadline = performance.now() + args.drain;
  while (count.some((c) => c < total) && performance.now() < deadline) await L.sleep(100);
  clearInterval(sampler);
  stopping = true;
  await churning;
  const viewersDisconnected = dropped;
  for (const s of sockets) s.close();
  await L.call(base, token, 'DELETE', `/api/rooms/${room.id}`).catch(() => {});

  let missing = 0;
  for (let i = 0; i < N; i++) missing += Math.max(0, total - count[i]);
  const fitted = samples.filter(([t]) => t >= warmup);
  const perSecond = slope(fitted);
  const slopeKBPerMin = perSecond === null ? null : L.round(perSecond * 60, 1);
  const result = {
    bench: 'soak',
    viewers: N,
    seconds: args.seconds,
    rate: args.rate,
    timers: T,
    commands: total,
    commandsPerSec: L.round(total / wall, 2),
    skippedSlots: skipped,
    deliveries: N * total - missing,
    missingDeliveries: missing,
    outOfOrder,
    duplicates,
    viewersDisconnected,
    churned,
    churnFailures,
    joinsPerSec: L.round(N / (joinMs / 1000), 0),
    rssKB: { beforeJoin: rss0, atStart: samples.length ? samples[0][1] : null, afterWarmup: fitted.length ? fitted[0][1] : null, end: samples.length ? samples[samples.length - 1][1] : null },
    warmupSeconds: L.round(warmup, 1),
    rssSamplesFitted: fitted.length,
    rssSlopeKBPerMin: slopeKBPerMin,
    maxSlopeKBPerMin: args['max-slope'] || null,
    serverCpuPercent: cpu0 === null ? null : L.round(((cpu - cpu0) / (wall * 1000)) * 100, 0),
    loadAverage1m: L.round(os.loadavg()[0], 2), // the machine's, at the end: noise
    httpCommandMs: L.summary(http, [50, 99]),
    rssSamples: samples.map(([t, kb]) => [L.round(t, 1), kb]),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(result));
  const tooSteep = args['max-slope'] > 0 && (slopeKBPerMin === null || slopeKBPerMin > args['max-slope']);
  process.exit(missing || outOfOrder || duplicates || viewersDisconnected || tooSteep ? 1 : 0);
}

main().catch((err) => {
  console.error(`soak: ${err.stack || err}`);
  process.exit(2);
});
