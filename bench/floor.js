#!/usr/bin/env node
'use strict';
// The floor under the load generators' figures on this machine: lateness measured
// against a server that does nothing but write (bench/floor_server.py).
//
//   NODE_PATH=<node_modules with ws> node bench/floor.js --events 1000 --viewers 10   # finish.js's burst
//   NODE_PATH=<node_modules with ws> node bench/floor.js --events 1 --viewers 5000    # fanout.js's round
//   (bash bench/run.sh runs both, each repeat, with the generator's node_modules)
//
// The server child builds every timer-finished frame before the deadline and, at the
// deadline, writes them to each viewer in one write. This parent is finish.js's
// receiving half, unchanged: shared/bench/lib/eio-client.js stamps each arrival, and
// lateness = arrival - deadline. What a real server adds (HTTP, a database, its own
// bookkeeping) comes on top. serverWriteMs is the writes alone: with one viewer a write,
// the kernel's loopback send path; readToP99Ms is the generator's reading, from the first
// arrival to the 99th percentile. Prints one JSON line; listens on 127.0.0.1 only.
// Env: BENCH_PYTHON (a Python with aiohttp and uvloop; default: the project's .venv),
// BENCH_SHARED (default <repo>/../shared).
const { spawn } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const lib = path.join(process.env.BENCH_SHARED || path.join(root, '..', 'shared'), 'bench', 'lib');
const { RawViewer } = require(path.join(lib, 'eio-client'));
const { parseArgs, summary, sleep } = require(path.join(lib, 'common'));

const args = parseArgs({ events: 1000, viewers: 10, lead: 1000 });
const epochNow = () => performance.timeOrigin + performance.now();

async function main() {
  const python = process.env.BENCH_PYTHON || path.join(root, '.venv', 'bin', 'python');
  const child = spawn(python, [path.join(__dirname, 'floor_server.py')], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.on('exit', () => child.kill());
  let serverWriteMs = null;
  child.stderr.on('data', (d) => {
    try { serverWriteMs = JSON.parse(d).serverWriteMs; } catch { process.stderr.write(d); }
  });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`floor_server.py exited ${code}`)));
  });
  const E = args.events;
  const V = args.viewers;
  const arrivals = []; // [epochMs, rawPacket], parsed after the burst
  const viewers = [];
  for (let v = 0; v < V; v++) {
    const viewer = new RawViewer(`http://127.0.0.1:${port}`, (name, raw, at) => {
      if (name === 'timer-finished') arrivals.push([performance.timeOrigin + at, raw]);
    });
    await viewer.connect();
    viewers.push(viewer);
  }
  const endsAt = Math.round(epochNow() + args.lead);
  viewers[0].emit('go', { endsAt, events: E });
  while (arrivals.length < E * V && epochNow() < endsAt + 15000) await sleep(20);
  const lateness = arrivals.map(([at, raw]) => at - JSON.parse(raw.slice(2))[1].finishedAt);
  const late = summary(lateness, [50, 99]);
  const first = Math.min(...lateness);
  for (const viewer of viewers) viewer.close();
  console.log(JSON.stringify({
    bench: 'floor', events: E, viewers: V, received: arrivals.length, expected: E * V,
    latenessMs: { first: Math.round(first * 100) / 100, p50: late.p50, p99: late.p99, max: late.max },
    // The server's writes, and the generator's reading from the first arrival to the 99th percentile.
    serverWriteMs, readToP99Ms: Math.round((late.p99 - first) * 100) / 100, date: new Date().toISOString(),
  }));
  process.exit(arrivals.length === E * V ? 0 : 1);
}

main().catch((err) => { console.error(`floor: ${err.stack || err}`); process.exit(2); });
