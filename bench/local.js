'use strict';
// Helpers for the benches that need nothing but the stock socket.io-client and node's
// own modules (flood.js, soak.js), so that a test can run them from tests/js's
// node_modules without ../shared: argument parsing, JWT minting, a JSON HTTP call,
// percentiles, /proc readings of the server, a stock websocket viewer.
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { io } = require('socket.io-client');

function parseArgs(spec, argv = process.argv.slice(2)) {
  const out = { ...spec };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in spec)) throw new Error(`unknown argument ${argv[i]}; known: ${Object.keys(spec).map((k) => `--${k}`).join(' ')}`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    out[m[1]] = typeof spec[m[1]] === 'number' ? Number(value) : value;
  }
  return out;
}

function checkLoopback(url) {
  if (!/^127\.\d+\.\d+\.\d+$|^localhost$/.test(new URL(url).hostname)) {
    throw new Error(`--url must be on loopback (127.0.0.0/8); got ${url}`);
  }
}

function mintJwt(sub) {
  const secret = process.env.JWT_SECRET;
  if (!secret) throw new Error('set JWT_SECRET to the secret of the server under test');
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const data = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub, iat: now, exp: now + 6 * 3600 })}`;
  return `${data}.${crypto.createHmac('sha256', secret).update(data).digest('base64url')}`;
}

/** JSON HTTP call (global fetch, keep-alive); throws on a non-2xx status. */
async function call(base, token, method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` in flight. */
async function pool(n, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

const round = (x, digits = 2) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));

function summary(values, ps = [50, 99]) {
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  const out = { n: sorted.length };
  for (const p of ps) out[`p${p}`] = sorted.length ? round(at(p), 1) : null;
  out.max = sorted.length ? round(sorted[sorted.length - 1], 1) : null;
  return out;
}

/** A process's resident set size in KB (VmRSS), or null. */
function rssKB(pid) {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system, all threads) a process has used so far in ms, or null. */
function cpuMs(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ 100
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing in ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A stock socket.io-client on websocket only, from `localAddress`, not reconnecting. */
function connect(base, { localAddress, timeoutMs = 30000 } = {}) {
  const opts = { transports: ['websocket'], reconnection: false, forceNew: true, timeout: timeoutMs };
  if (localAddress) {
    opts.localAddress = localAddress;
    opts.agent = new http.Agent({ localAddress });
  }
  const socket = io(base, opts);
  const ready = new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      const error = new Error(`connect_error: ${err.message}`);
      error.data = err.data; // the server's refusal: {code, message}
      reject(error);
    });
  });
  return { socket, ready: withTimeout(ready, timeoutMs, 'connect') };
}

/** Joins a room by share token; throws unless the ack says ok. */
async function join(socket, shareToken, timeoutMs = 30000) {
  const ack = await withTimeout(socket.emitWithAck('join-room', { shareToken }), timeoutMs, 'join-room');
  if (!ack || ack.ok !== true) throw new Error(`join-room refused: ${JSON.stringify(ack)}`);
  return ack;
}

module.exports = { parseArgs, checkLoopback, mintJwt, call, pool, round, summary, rssKB, cpuMs, sleep, withTimeout, connect, join };
