#!/usr/bin/env node
'use strict';
// Fan-out across several workers: N viewers in ONE room, split evenly over the workers
// given by --urls, one load-generator process per worker (a process holds at most
// `ulimit -n` sockets). The first process (the driver) creates the room and the timer
// on the first worker, forks one follower per other worker (passing the room's share
// token on its command line), and drives R rounds of POST start / POST pause. Every
// process records when each of its viewers receives each timer version; a round ends
// when every viewer of every process has it (--round-timeout). Latency = receipt −
// the time the HTTP command was sent, both as epoch ms (performance.timeOrigin +
// performance.now()) on this machine's clock. The driver merges the followers'
// latencies and prints one JSON line shaped like fanout.js's, plus per-worker figures.
//
//   JWT_SECRET=... node bench/fanout_cluster.js --urls http://127.0.0.1:3001,http://127.0.0.1:3002 \
//       --viewers 20000 --rounds 20 [--pids PID1,PID2]
//
// Reuses ../shared/bench/lib (BENCH_LIB overrides the path); `ws` must resolve from there
// or from NODE_PATH. Exits 1 if any delivery is missing, 2 on errors.
const path = require('node:path');
const { fork } = require('node:child_process');

const lib = process.env.BENCH_LIB || path.resolve(__dirname, '..', '..', 'shared', 'bench', 'lib');
const { RawViewer } = require(path.join(lib, 'eio-client'));
const { parseArgs, checkLoopback, mintJwt, jwtSecret, call, pool, summary, round, rssMB, cpuMs, sleep } = require(path.join(lib, 'common'));

const args = parseArgs({
  urls: 'http://127.0.0.1:3001,http://127.0.0.1:3002',
  viewers: 20000, // in total, split evenly over --urls
  rounds: 20,
  pids: '', // server PIDs, comma-separated, in --urls order (RSS and CPU)
  concurrency: 200, // connects + joins in flight, per process
  'round-timeout': 30000,
  gap: 100,
  settle: 3000, // ms after the last join ack (counts cross workers on a 1 s heartbeat)
  'join-timeout': 600000, // ms for every process to connect and join its viewers
  // Internal, set by the driver on a follower's command line:
  role: 'driver',
  'share-token': '',
  index: 0,
});

const epochNow = () => performance.timeOrigin + performance.now();

/** One process's viewers: connects them, records the first receipt of every timer version. */
class Crowd {
  constructor(url, n) {
    this.url = url;
    this.n = n;
    this.viewers = new Array(n);
    this.latest = new Float64Array(n).fill(-1); // newest timer version each viewer holds
    this.receipts = new Map(); // version -> Float64Array(n) of epoch ms (-1: not received)
    this.duplicates = 0;
    this.userCounts = 0;
    this.joinPhase = true;
    this.waiting = null; // { after, count, resolve }
    this.joined = 0; // join-room acks received
  }

  onEvent(i) {
    return (name, raw, at) => {
      if (name === 'timer-update') {
        const m = /"version":\s*(\d+)/.exec(raw);
        if (!m) return;
        const v = Number(m[1]);
        let times = this.receipts.get(v);
        if (!times) {
          times = new Float64Array(this.n).fill(-1);
          this.receipts.set(v, times);
        }
        if (times[i] >= 0) { this.duplicates += 1; return; }
        times[i] = performance.timeOrigin + at;
        const prev = this.latest[i];
        if (v > prev) this.latest[i] = v;
        const w = this.waiting;
        if (w && prev <= w.after && v > w.after && ++w.count === this.n) w.resolve();
      } else if (name === 'user-count' && this.joinPhase) {
        this.userCounts += 1;
      }
    };
  }

  async join(shareToken, concurrency) {
    const t0 = performance.now();
    await pool(this.n, concurrency, async (i) => {
      const v = new RawViewer(this.url, this.onEvent(i));
      this.viewers[i] = v;
      await v.connect();
      const ack = await v.request('join-room', { shareToken });
      if (!ack || ack.ok !== true) throw new Error(`join-room failed for viewer ${i} on ${this.url}: ${JSON.stringify(ack)}`);
      this.joined += 1;
    });
    return performance.now() - t0;
  }

  /** Resolves when every viewer holds a version newer than `after`, or after timeoutMs. */
  waitNewer(after, timeoutMs) {
    return new Promise((resolve) => {
      let count = 0;
      for (let i = 0; i < this.n; i++) if (this.latest[i] > after) count += 1;
      if (count === this.n) { resolve(true); return; }
      const timer = setTimeout(() => { this.waiting = null; resolve(false); }, timeoutMs);
      this.waiting = { after, count, resolve: () => { clearTimeout(timer); this.waiting = null; resolve(true); } };
    });
  }

  /** Per round: latencies (ms) of the viewers that got exactly that round's version. */
  latencies(rounds) {
    return rounds.map(({ version, t0 }) => {
      const times = this.receipts.get(version);
      const lat = [];
      if (times) for (let i = 0; i < this.n; i++) if (times[i] >= 0) lat.push(times[i] - t0);
      return lat;
    });
  }

  close() {
    for (const v of this.viewers) if (v) v.close();
  }
}

// ---- follower: joins the driver's room on its own worker, answers the driver over IPC ----
async function follower() {
  const url = args.urls.replace(/\/+$/, '');
  checkLoopback(url);
  const crowd = new Crowd(url, args.viewers);
  process.on('disconnect', () => process.exit(3)); // the driver is gone
  const send = (msg) => process.send(msg);
  process.on('message', async (msg) => {
    try {
      if (msg.type === 'clock') send({ type: 'clock', at: epochNow() });
      else if (msg.type === 'join-phase-over') crowd.joinPhase = false;
      else if (msg.type === 'round') {
        const ok = await crowd.waitNewer(msg.after, msg.timeoutMs);
        send({ type: 'round-done', after: msg.after, ok });
      } else if (msg.type === 'finish') {
        const cpu = process.cpuUsage(crowd.cpu0);
        const result = {
          type: 'result',
          latencies: crowd.latencies(msg.rounds),
          duplicates: crowd.duplicates,
          userCounts: crowd.userCounts,
          clientCpuMsRounds: (cpu.user + cpu.system) / 1000,
        };
        // Exit only once the (large) message has left: an early exit would cut it off.
        process.send(result, () => { crowd.close(); setTimeout(() => process.exit(0), 100); });
      } else if (msg.type === 'rounds-start') crowd.cpu0 = process.cpuUsage();
    } catch (err) {
      send({ type: 'error', error: String(err.stack || err) });
    }
  });
  process.on('message', (msg) => { if (msg.type === 'progress') send({ type: 'progress', joined: crowd.joined }); });
  try {
    const joinMs = await crowd.join(args['share-token'], args.concurrency);
    send({ type: 'joined', joinMs });
  } catch (err) {
    send({ type: 'error', error: `${err.message} (${crowd.joined} of ${crowd.n} joined)` });
  }
}

// ---- driver ----
function expectMessage(child, type, timeoutMs, pred = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.off('message', on); reject(new Error(`follower ${child.pid}: no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (msg) => {
      if (msg.type === 'error') { clearTimeout(timer); child.off('message', on); reject(new Error(`follower ${child.pid}: ${msg.error}`)); }
      else if (msg.type === type && pred(msg)) { clearTimeout(timer); child.off('message', on); resolve(msg); }
    };
    child.on('message', on);
  });
}

async function driver() {
  const urls = args.urls.split(',').map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean);
  urls.forEach(checkLoopback);
  const N = args.viewers;
  const R = args.rounds;
  const pids = args.pids ? args.pids.split(',').map(Number) : [];
  const shares = urls.map((_, k) => Math.floor(N / urls.length) + (k < N % urls.length ? 1 : 0));
  const token = mintJwt(`bench-fanout-cluster-${process.pid}`, jwtSecret());
  const base = urls[0];

  const room = await call(base, token, 'POST', '/api/rooms', { name: `fanout cluster bench ${N}` });
  const timer = await call(base, token, 'POST', `/api/rooms/${room.id}/timers`, { label: 'bench', durationMs: 3600000 });

  const rssBefore = pids.map(rssMB);
  const cpuBefore = pids.map(cpuMs);
  const children = urls.slice(1).map((url, k) => fork(__filename, [
    '--role', 'follower', '--index', String(k + 1), '--urls', url, '--viewers', String(shares[k + 1]),
    '--share-token', room.shareToken, '--concurrency', String(args.concurrency),
  ], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const killChildren = () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); };
  process.on('exit', killChildren);

  try {
    const crowd = new Crowd(base, shares[0]);
    const tJoin = performance.now();
    const joined = children.map((c) => expectMessage(c, 'joined', args['join-timeout']));
    for (const p of joined) p.catch(() => {}); // awaited below; keep a late failure from crashing the report
    let joinMsPerProcess;
    try {
      const ownJoinMs = await crowd.join(room.shareToken, args.concurrency);
      joinMsPerProcess = [ownJoinMs, ...(await Promise.all(joined)).map((m) => m.joinMs)];
    } catch (err) {
      // One JSON line anyway, saying how far the joins got on each worker.
      const others = [];
      for (const c of children) {
        const reply = expectMessage(c, 'progress', 5000).then((m) => m.joined, () => null);
        try { c.send({ type: 'progress' }); } catch { /* the follower is gone */ }
        others.push(await reply);
      }
      console.log(JSON.stringify({
        bench: 'fanout-cluster', urls, viewers: N, rounds: R, error: String(err.message || err),
        joinedPerWorker: [crowd.joined, ...others], viewersPerWorker: shares,
        elapsedMs: round(performance.now() - tJoin, 0), serverRssMB: pids.map(rssMB), date: new Date().toISOString(),
      }));
      process.exit(2);
    }
    const joinMs = Math.max(...joinMsPerProcess);
    await sleep(args.settle);
    crowd.joinPhase = false;
    for (const c of children) c.send({ type: 'join-phase-over' });
    const rssAfterJoin = pids.map(rssMB);
    const cpuAfterJoin = pids.map(cpuMs);

    // Clock check: the followers' epoch clock against ours (same machine: should be ~0).
    const clockOffsetMs = [];
    for (const c of children) {
      const t1 = epochNow();
      c.send({ type: 'clock' });
      const { at } = await expectMessage(c, 'clock', 5000);
      const t2 = epochNow();
      clockOffsetMs.push(round(at - (t1 + t2) / 2, 3));
    }

    const rounds = [];
    const http = [];
    let timedOutRounds = 0;
    let version = timer.version;
    const clientCpu0 = process.cpuUsage();
    for (const c of children) c.send({ type: 'rounds-start' });
    for (let r = 1; r <= R; r++) {
      const cmd = r % 2 ? 'start' : 'pause';
      const after = version;
      const timeoutMs = args['round-timeout'];
      const others = children.map((c) => expectMessage(c, 'round-done', timeoutMs + 5000, (m) => m.after === after));
      for (const c of children) c.send({ type: 'round', after, timeoutMs });
      const own = crowd.waitNewer(after, timeoutMs);
      const t0 = epochNow();
      const res = await call(base, token, 'POST', `/api/timers/${timer.id}/${cmd}`);
      http.push(epochNow() - t0);
      if (res.version <= version) throw new Error(`${cmd} did not change the timer (version ${res.version})`);
      version = res.version;
      rounds.push({ version, t0 });
      const oks = [await own, ...(await Promise.all(others)).map((m) => m.ok)];
      if (oks.some((ok) => !ok)) timedOutRounds += 1;
      await sleep(args.gap);
    }
    const clientCpu = process.cpuUsage(clientCpu0);
    const cpuAfterRounds = pids.map(cpuMs);
    const rssAfterRounds = pids.map(rssMB);

    const results = children.map((c) => expectMessage(c, 'result', 60000));
    for (const c of children) c.send({ type: 'finish', rounds });
    const parts = [{ latencies: crowd.latencies(rounds), duplicates: crowd.duplicates, userCounts: crowd.userCounts, clientCpuMsRounds: (clientCpu.user + clientCpu.system) / 1000 },
      ...(await Promise.all(results))];
    crowd.close();
    await call(base, token, 'DELETE', `/api/rooms/${room.id}`).catch(() => {});

    // Merge: per round, the last viewer over every process; every delivery; per worker.
    const lastViewer = [];
    const all = [];
    let missing = 0;
    for (let r = 0; r < R; r++) {
      let max = 0;
      let got = 0;
      for (const p of parts) {
        for (const x of p.latencies[r]) { all.push(x); if (x > max) max = x; }
        got += p.latencies[r].length;
      }
      missing += N - got;
      lastViewer.push(max);
    }
    const perWorker = parts.map((p, k) => {
      const mine = p.latencies.flat();
      const last = p.latencies.map((l) => (l.length ? Math.max(...l) : 0));
      const del = summary(mine, [50, 99]);
      const lv = summary(last, [50, 95, 99]);
      return {
        url: urls[k],
        viewers: shares[k],
        connectJoinMs: round(joinMsPerProcess[k], 0),
        lastViewerMs: { p50: lv.p50, p95: lv.p95, p99: lv.p99 },
        deliveryMs: { p50: del.p50, p99: del.p99 },
        missingDeliveries: shares[k] * R - mine.length,
        duplicates: p.duplicates,
        serverRssMB: pids[k] ? { beforeJoin: rssBefore[k], afterJoin: rssAfterJoin[k], afterRounds: rssAfterRounds[k] } : null,
        serverCpuMs: pids[k] ? { join: round(cpuAfterJoin[k] - cpuBefore[k], 0), rounds: round(cpuAfterRounds[k] - cpuAfterJoin[k], 0) } : null,
        clientCpuMsRounds: round(p.clientCpuMsRounds, 0),
      };
    });
    const sum = (xs) => (xs.length && xs.every((x) => x !== null) ? round(xs.reduce((a, b) => a + b, 0), 1) : null);
    const fan = summary(lastViewer, [50, 95, 99]);
    const del = summary(all, [50, 99]);
    const result = {
      bench: 'fanout-cluster',
      urls,
      viewers: N,
      rounds: R,
      connectJoinMs: round(joinMs, 0),
      joinsPerSec: round(N / (joinMs / 1000), 0),
      fanoutLastViewerMs: { p50: fan.p50, p95: fan.p95, p99: fan.p99, max: fan.max },
      deliveryMs: { p50: del.p50, p99: del.p99 },
      httpCommandMs: { p50: summary(http, [50]).p50 },
      deliveries: all.length,
      missingDeliveries: missing,
      duplicates: parts.reduce((a, p) => a + p.duplicates, 0),
      timedOutRounds,
      userCountPerViewerDuringJoin: round(parts.reduce((a, p) => a + p.userCounts, 0) / N, 2),
      serverRssMB: pids.length ? { beforeJoin: sum(rssBefore), afterJoin: sum(rssAfterJoin), afterRounds: sum(rssAfterRounds) } : null,
      serverCpuMs: pids.length ? { join: sum(cpuAfterJoin.map((x, k) => x - cpuBefore[k])), rounds: sum(cpuAfterRounds.map((x, k) => x - cpuAfterJoin[k])) } : null,
      clientCpuMsRounds: round(parts.reduce((a, p) => a + p.clientCpuMsRounds, 0), 0),
      clockOffsetMs,
      perWorker,
      date: new Date().toISOString(),
    };
    console.log(JSON.stringify(result));
    process.exitCode = missing ? 1 : 0;
  } finally {
    killChildren();
  }
}

const main = args.role === 'follower' ? follower : driver;
main().then(() => {
  if (args.role === 'driver') process.exit(process.exitCode || 0);
}).catch((err) => {
  console.error(`fanout_cluster (${args.role}): ${err.stack || err}`);
  process.exit(2);
});
