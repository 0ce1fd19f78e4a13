#!/usr/bin/env node
'use strict';
// The floor under finish.js's lateness on this machine: what the load generator itself
// needs to read a burst, measured against a server that does nothing else.
//
//   NODE_PATH=<node_modules with ws> node bench/finish_floor.js [--timers 1000] [--viewers 10]
//   (bash bench/run.sh --floor runs it with the generator's node_modules, three times)
//
// A child process plays the server: it speaks just enough Engine.IO / Socket.IO for the
// generator's own client (shared/bench/lib/eio-client.js), builds every timer-finished
// frame (roomtimer's payload shape and size) before the deadline, and at the deadline
// writes them to each viewer in one write. The parent is finish.js's receiving half,
// unchanged: it stamps each arrival and computes lateness = arrival - endsAt. No server
// can do better than this with the same generator on the same two cores. Prints one JSON
// line; listens on 127.0.0.1 only.
const { spawn } = require('child_process');
const path = require('path');

const args = { timers: 1000, viewers: 10, lead: 1000, serve: false };
for (let i = 2; i < process.argv.length; i++) {
  const name = process.argv[i].replace(/^--/, '');
  if (name === 'serve') args.serve = true;
  else args[name] = Number(process.argv[++i]);
}
const epochNow = () => performance.timeOrigin + performance.now();

function serve() {
  const { WebSocketServer } = require('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  const sockets = [];
  const frame = (text) => {
    const body = Buffer.from(text);
    const head = body.length < 126 ? Buffer.from([0x81, body.length])
      : Buffer.from([0x81, 126, body.length >> 8, body.length & 255]);
    return Buffer.concat([head, body]);
  };
  const burst = (endsAt) => {
    const at = new Date(endsAt - 600000).toISOString();
    const frames = [];
    for (let i = 0; i < args.timers; i++) {
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      frames.push(frame(`42${JSON.stringify(['timer-finished', {
        id, roomId: '11111111-2222-4333-8444-555555555555', label: `t${i}`, durationMs: 600000,
        status: 'finished', remainingMs: 0, endsAt: null, finishedAt: endsAt, position: i % 100,
        version: 3, createdAt: at, updatedAt: at, serverTime: endsAt,
      }])}`));
    }
    return Buffer.concat(frames);
  };
  wss.on('connection', (ws) => {
    ws.send(`0${JSON.stringify({ sid: `e${sockets.length}`, upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1e6 })}`);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text === '40') {
        sockets.push(ws);
        ws.send(`40{"sid":"s${sockets.length}"}`);
      } else if (text.startsWith('42["go"')) {
        const endsAt = JSON.parse(text.slice(2))[1].endsAt;
        const bytes = burst(endsAt);
        setTimeout(() => {
          while (epochNow() < endsAt); // the last millisecond, exactly
          const t0 = epochNow();
          for (const s of sockets) s._socket.write(bytes);
          process.stderr.write(`${JSON.stringify({ serverWriteMs: Math.round((epochNow() - t0) * 10) / 10 })}\n`);
        }, Math.max(0, endsAt - epochNow() - 2));
      }
    });
  });
  wss.on('listening', () => console.log(wss.address().port));
}

async function measure() {
  const gen = path.join(process.env.BENCH_SHARED || path.join(__dirname, '..', '..', 'shared'), 'bench', 'lib');
  const { RawViewer } = require(path.join(gen, 'eio-client'));
  const { summary } = require(path.join(gen, 'common'));
  const child = spawn(process.execPath, [__filename, '--serve', '--timers', String(args.timers)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.on('exit', () => child.kill());
  let serverWriteMs = null;
  child.stderr.on('data', (d) => { try { serverWriteMs = JSON.parse(d).serverWriteMs; } catch { process.stderr.write(d); } });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`floor server exited ${code}`)));
  });
  const T = args.timers;
  const V = args.viewers;
  const arrivals = [];
  const viewers = [];
  for (let v = 0; v < V; v++) {
    const viewer = new RawViewer(`http://127.0.0.1:${port}`, (name, raw, at) => {
      if (name === 'timer-finished') arrivals.push([v, performance.timeOrigin + at, raw]);
    });
    await viewer.connect();
    viewers.push(viewer);
  }
  const endsAt = Math.round(epochNow() + args.lead);
  viewers[0].emit('go', { endsAt });
  const deadline = endsAt + 15000;
  while (arrivals.length < T * V && epochNow() < deadline) await new Promise((r) => setTimeout(r, 20));
  const late = summary(arrivals.map(([, at, raw]) => at - JSON.parse(raw.slice(2))[1].finishedAt), [50, 99]);
  for (const viewer of viewers) viewer.close();
  console.log(JSON.stringify({
    bench: 'finish-floor', timers: T, viewers: V, received: arrivals.length, expected: T * V,
    latenessMs: { p50: late.p50, p99: late.p99, max: late.max }, serverWriteMs, date: new Date().toISOString(),
  }));
  process.exit(arrivals.length === T * V ? 0 : 1);
}

if (args.serve) serve();
else measure().catch((err) => { console.error(`finish_floor: ${err.stack || err}`); process.exit(2); });
