#!/usr/bin/env node
// Drives one stock socket.io-client connection for roomtimer's Python tests.
//
//   node viewer.js --url http://127.0.0.1:3000 [--transports websocket|polling|polling,websocket]
//                  [--auth '{"token":"..."}'] [--local-address 127.0.0.2] [--timeout MS]
//                  [--reconnection true|false] [--lifetime MS]
//
// stdout, one JSON object a line (each with `at`, the local epoch ms):
//   {"type":"connect"} {"type":"connect_error","data":{message,data}} {"type":"disconnect","reason"}
//   {"type":"event","name","data","transport"} {"type":"upgrade","transport"}
//   {"type":"ack","id","data"} or {"type":"ack","id","error"} {"type":"command_error","message"}
// stdin, one JSON command a line:
//   {"id":1,"emit":"join-room","payload":{...},"ack":true,"timeout":10000}   {"close":true}
// It exits 0 on {"close":true} or when stdin closes, and 3 when --lifetime runs out.
"use strict";

const http = require("node:http");
const readline = require("node:readline");
const { parseArgs } = require("node:util");
const { io } = require("socket.io-client");

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    transports: { type: "string" },
    auth: { type: "string" },
    "local-address": { type: "string" },
    timeout: { type: "string" },
    reconnection: { type: "string", default: "true" },
    lifetime: { type: "string", default: "900000" },
  },
});

function out(line) {
  process.stdout.write(JSON.stringify({ ...line, at: Date.now() }) + "\n");
}

function errorData(err) {
  return { message: String(err && err.message), data: (err && err.data) ?? null };
}

if (!opts.url) {
  process.stderr.write("viewer.js: --url is required\n");
  process.exit(2);
}

const ioOpts = { forceNew: true, reconnection: opts.reconnection !== "false" };
if (opts.transports) ioOpts.transports = opts.transports.split(",").map((t) => t.trim());
if (opts.auth) ioOpts.auth = JSON.parse(opts.auth);
if (opts.timeout) ioOpts.timeout = Number(opts.timeout);
if (opts["local-address"]) {
  // Polling (xmlhttprequest-ssl) only honours `agent`; websocket (ws) takes both.
  ioOpts.agent = new http.Agent({ localAddress: opts["local-address"] });
  ioOpts.localAddress = opts["local-address"];
}

const socket = io(opts.url, ioOpts);
const transportName = () => socket.io.engine?.transport?.name ?? null;

socket.on("connect", () => out({ type: "connect", transport: transportName() }));
socket.on("connect_error", (err) => out({ type: "connect_error", data: errorData(err) }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.onAny((name, ...args) => {
  const line = { type: "event", name, data: args.length ? args[0] : null, transport: transportName() };
  if (args.length > 1) line.args = args;
  out(line);
});
socket.io.on("open", () => {
  socket.io.engine.on("upgrade", (transport) => out({ type: "upgrade", transport: transport.name }));
});

// Let the disconnect and close packets flush, then exit. A polling transport keeps its
// pending long-poll GET open, so exit once its close POST is written ("drain").
let finishing = false;
function finish(code) {
  if (finishing) return;
  finishing = true;
  process.exitCode = code;
  process.stdin.destroy();
  const transport = socket.io.engine?.transport;
  socket.disconnect();
  if (transport?.name === "polling" && !transport.writable) {
    transport.once("drain", () => process.exit(code));
  }
  setTimeout(() => process.exit(code), 1000).unref();
}

async function run(cmd) {
  if (cmd.close) return finish(0);
  if (typeof cmd.emit !== "string") throw new Error("a command needs `emit` or `close`");
  const args = "payload" in cmd ? [cmd.payload] : [];
  if (!cmd.ack) {
    socket.emit(cmd.emit, ...args);
    return;
  }
  try {
    const data = await socket.timeout(cmd.timeout ?? 10000).emitWithAck(cmd.emit, ...args);
    out({ type: "ack", id: cmd.id ?? null, data: data ?? null });
  } catch (err) {
    out({ type: "ack", id: cmd.id ?? null, error: String(err && err.message) });
  }
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (text) => {
  if (!text.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(text);
  } catch (err) {
    out({ type: "command_error", message: `bad JSON: ${err.message}` });
    return;
  }
  run(cmd).catch((err) => out({ type: "command_error", message: String(err.message) }));
});
input.on("close", () => finish(0));

setTimeout(() => {
  out({ type: "exit", reason: "lifetime" });
  finish(3);
}, Number(opts.lifetime)).unref();
