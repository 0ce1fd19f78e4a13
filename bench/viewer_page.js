#!/usr/bin/env node
'use strict';
// What a viewer page (GET /v/{shareToken}) costs the server, next to a raw Socket.IO
// viewer: N stock socket.io-client viewers (default transports: polling, then upgrade,
// as a browser) connect and join one room, as a raw viewer does; then each runs the
// page's clock-sync burst (--pings sequential `ping`s with acks, each sent when the last
// ack arrived). Server CPU (/proc, --pid) is read before and after each phase.
//
//   JWT_SECRET=... NODE_PATH=tests/js/node_modules node bench/viewer_page.js \
//       --url http://127.0.0.1:3000 --viewers 500 --pings 8 --pid SERVERPID
//
// Prints one JSON line: join and ping-burst CPU per viewer (ms), the burst as a share of
// a raw viewer's join, and the pings' round trips. Exits 1 if a viewer missed an answer.
const path = require('node:path');
const { io } = require('socket.io-client');

const lib = process.env.BENCH_LIB || path.resolve(__dirname, '..', '..', 'shared', 'bench', 'lib');
const { parseArgs, checkLoopback, mintJwt, jwtSecret, call, pool, summary, round, cpuMs, rssMB, sleep } = require(path.join(lib, 'common'));

const args = parseArgs({
  url: 'http://127.0.0.1:3000',
  viewers: 500,
  pings: 8, // the page's burst at start and after every reconnect (web/static/clock.js)
  pid: '',
  concurrency: 100, // connects + joins in flight
  settle: 1500, // ms for the server to go quiet between phases (coalesced user-counts)
  timeout: 20000,
});

function withTimeout(promise, ms, what) {
  return Promise.race([promise, sleep(ms).then(() => { throw new Error(`${what}: no answer in ${ms} ms`); })]);
}

async function main() {
  checkLoopback(args.url);
  const base = args.url.replace(/\/+$/, '');
  const pid = args.pid ? Number(args.pid) : null;
  const token = mintJwt(`bench-page-${process.pid}`, jwtSecret());
  const room = await call(base, token, 'POST', '/api/rooms', { name: 'viewer page bench' });
  await call(base, token, 'POST', `/api/rooms/${room.id}/timers`, { label: 'bench', durationMs: 600000 });

  const sockets = [];
  const rssBefore = rssMB(pid);
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  await pool(args.viewers, args.concurrency, async () => {
    const socket = io(base, { reconnection: false, forceNew: true });
    sockets.push(socket);
    await withTimeout(new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }), args.timeout, 'connect');
    const ack = await withTimeout(socket.emitWithAck('join-room', { shareToken: room.shareToken }), args.timeout, 'join');
    if (!ack.ok) throw new Error(`join refused: ${JSON.stringify(ack)}`);
  });
  const joinMs = performance.now() - t0;
  await sleep(args.settle);
  const cpu1 = cpuMs(pid);

  const rtts = [];
  let missing = 0;
  const t1 = performance.now();
  await pool(sockets.length, args.concurrency, async (i) => {
    for (let n = 0; n < args.pings; n++) {
      const sent = performance.now();
      try {
        const answer = await withTimeout(sockets[i].emitWithAck('ping'), args.timeout, 'ping');
        if (typeof answer.serverTime !== 'number') missing++;
        rtts.push(performance.now() - sent);
      } catch {
        missing++;
      }
    }
  });
  const burstMs = performance.now() - t1;
  const cpu2 = cpuMs(pid);
  const rssAfter = rssMB(pid);
  for (const socket of sockets) socket.disconnect();

  const n = sockets.length;
  const joinCpu = cpu0 === null ? null : (cpu1 - cpu0) / n;
  const burstCpu = cpu1 === null ? null : (cpu2 - cpu1) / n;
  const result = {
    viewers: n,
    pingsPerViewer: args.pings,
    joinWallMs: round(joinMs, 1),
    burstWallMs: round(burstMs, 1),
    joinCpuMsPerViewer: joinCpu === null ? null : round(joinCpu, 3),
    pingBurstCpuMsPerViewer: burstCpu === null ? null : round(burstCpu, 3),
    burstShareOfJoin: joinCpu ? round(burstCpu / joinCpu, 3) : null,
    pingRttMs: summary(rtts),
    rssKBPerViewer: rssBefore === null ? null : round(((rssAfter - rssBefore) * 1024) / n, 1),
    missingAnswers: missing,
  };
  console.log(JSON.stringify(result));
  process.exit(missing ? 1 : 0);
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(2);
});
