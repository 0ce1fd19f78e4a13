// The server's clock, as seen from this page: one module for every roomtimer page.
//
// NTP-style: each `ping` ack carries the server's `serverTime`; assuming the request and
// the answer took equally long, the offset is serverTime - (t0 + t1) / 2, wrong by at most
// half the round trip. Samples with the lowest round trip are the least wrong, so the
// estimate is the median offset of the lowest-rtt half of the recent samples.

const BURST = 8; // samples at start and after every reconnect
const REFRESH_SAMPLES = 4; // a lighter burst each period: thousands of screens ping too
const REFRESH_MS = 30_000; // re-estimate at least once a minute (here: every ~30 s)
const KEEP = 16; // recent samples kept across bursts
const PING_TIMEOUT_MS = 2_000;

/** Milliseconds since the epoch from the monotonic clock, never from accumulated ticks. */
export function localNow() {
  return performance.timeOrigin + performance.now();
}

/** One estimate from samples [{offset, rtt}]: median offset of the lowest-rtt half. */
export function estimate(samples) {
  if (samples.length === 0) return null;
  const best = [...samples].sort((a, b) => a.rtt - b.rtt).slice(0, Math.ceil(samples.length / 2));
  const offsets = best.map((s) => s.offset).sort((a, b) => a - b);
  const mid = offsets.length >> 1;
  const offset = offsets.length % 2 ? offsets[mid] : (offsets[mid - 1] + offsets[mid]) / 2;
  return { offset, rtt: best[0].rtt };
}

export class ServerClock {
  /** Follows `socket` (a socket.io-client Socket): bursts on connect, refreshes while up. */
  constructor(socket, { now = localNow, onSync = () => {} } = {}) {
    this.socket = socket;
    this.localNow = now;
    this.onSync = onSync;
    this.samples = [];
    this.offsetMs = 0;
    this.rttMs = null;
    this.synced = false; // an estimate exists since the last (re)connect
    this.everSynced = false; // an estimate exists at all (kept, marked stale, while down)
    this.generation = 0; // bumped by every (re)connect and disconnect: stale bursts stop
    this.timer = null;
    socket.on("connect", () => this.restart());
    socket.on("disconnect", () => this.stop());
    if (socket.connected) this.restart();
  }

  /** The server's time now, in epoch ms. */
  now() {
    return this.localNow() + this.offsetMs;
  }

  /** Forgets the samples (the new connection may be another worker) and bursts. */
  restart() {
    this.stop();
    this.samples = [];
    this.synced = false;
    this.run(BURST);
  }

  /** Stops pinging: nothing is sent while the socket is down (it would be buffered). */
  stop() {
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
  }

  async run(count) {
    const generation = this.generation;
    for (let i = 0; i < count; i += 1) {
      if (generation !== this.generation || !this.socket.connected) return;
      const sample = await this.sample();
      if (generation !== this.generation) return;
      if (sample) this.samples = [...this.samples, sample].slice(-KEEP);
    }
    const found = estimate(this.samples);
    if (found) {
      this.offsetMs = found.offset;
      this.rttMs = found.rtt;
      this.synced = true;
      this.everSynced = true;
      this.onSync(this);
    }
    // Jittered, so screens that connected together do not ping together for ever.
    const wait = found ? REFRESH_MS * (0.8 + 0.4 * Math.random()) : 1_000;
    this.timer = setTimeout(() => this.run(found ? REFRESH_SAMPLES : BURST), wait);
  }

  /** One round trip: {offset, rtt}, or null when no ack came in time. */
  sample() {
    return new Promise((resolve) => {
      const t0 = this.localNow();
      this.socket.timeout(PING_TIMEOUT_MS).emit("ping", (err, ack) => {
        const t1 = this.localNow();
        if (err || !ack || typeof ack.serverTime !== "number") return resolve(null);
        resolve({ offset: ack.serverTime - (t0 + t1) / 2, rtt: t1 - t0 });
      });
    });
  }
}
