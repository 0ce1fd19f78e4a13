// Preloaded into the suites' node (--require): records what each TCP read handed the
// websocket client, one JSON line per read holding whole frames, without changing the suite.
"use strict";
const fs = require("fs");
const net = require("net");

const out = process.env.ROOMTIMER_FRAMES_OUT;
const emit = net.Socket.prototype.emit;

function frames(buf) {
  const found = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const first = buf[i];
    if ((first & 0x30) !== 0 || (first & 0x0f) > 0xa) return null; // RSV2/3 set: not a frame
    let len = buf[i + 1] & 0x7f;
    let off = 2;
    if (len === 126) [len, off] = [buf.readUInt16BE(i + 2), 4];
    else if (len === 127) [len, off] = [Number(buf.readBigUInt64BE(i + 2)), 10];
    const deflated = (first & 0x40) !== 0;
    const body = buf.subarray(i + off, i + off + len);
    found.push(deflated ? "<deflated>" : body.toString("latin1"));
    i += off + len;
  }
  return i === buf.length ? found : null;
}

net.Socket.prototype.emit = function (event, chunk, ...rest) {
  if (out && event === "data" && Buffer.isBuffer(chunk) && (chunk[0] & 0x80) !== 0) {
    const found = frames(chunk);
    if (found) {
      const line = { at_ns: String(process.hrtime.bigint()), bytes: chunk.length, frames: found };
      fs.appendFileSync(out, JSON.stringify(line) + "\n");
    }
  }
  return emit.call(this, event, chunk, ...rest);
};
