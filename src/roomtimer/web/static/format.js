// What a timer shows at an instant: pure functions of the timer and the (server) time.
//
// Rounding: counting down, the digits show the remaining time rounded UP to whole seconds,
// so a 10 s timer shows 0:10 when it starts and 0:00 only at zero (every second is shown
// for a whole second, and "0:01" means "less than a second left"). In overtime they show
// the whole seconds elapsed since zero, rounded down (+0:00 for the first second, then
// +0:01…), the way a stopwatch counts.

/** `H:MM:SS`, or `M:SS` under an hour, of whole non-negative seconds. */
export function formatSeconds(total) {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The digits of a remaining time in ms (negative in overtime, shown as `+M:SS`). */
export function formatRemaining(remainingMs) {
  if (remainingMs >= 0) return formatSeconds(Math.ceil(remainingMs / 1000));
  return `+${formatSeconds(Math.floor(-remainingMs / 1000))}`;
}

/** Remaining ms of a timer at `nowMs` (server clock): negative once past zero. */
export function remainingAt(timer, nowMs) {
  if (timer.status === "running" && timer.endsAt != null) return timer.endsAt - nowMs;
  if (timer.status === "finished") {
    const zero = timer.finishedAt ?? timer.endsAt;
    // Never positive: with ?delay or a fresh estimate, "now" may sit just before finishedAt.
    return zero == null ? 0 : Math.min(0, zero - nowMs);
  }
  return timer.remainingMs;
}

/** The phase a running timer is in with `remainingMs` left, from its thresholds. */
function runningPhase(timer, remainingMs) {
  if (remainingMs <= 0) return "overtime";
  if (timer.dangerAtMs != null && remainingMs <= timer.dangerAtMs) return "danger";
  if (timer.warnAtMs != null && remainingMs <= timer.warnAtMs) return "warning";
  return "running";
}

/** {id, label, remainingMs, phase, text}: what the screen shows of `timer` at `nowMs`. */
export function timerView(timer, nowMs) {
  let remainingMs = remainingAt(timer, nowMs);
  let phase;
  if (timer.status === "idle") phase = "idle";
  else if (timer.status === "paused") phase = "paused";
  else phase = runningPhase(timer, remainingMs);
  let text = formatRemaining(remainingMs);
  if (phase === "overtime" && timer.onEnd === "stop") {
    // A timer told to stop at zero holds 0:00 instead of counting overtime.
    [phase, remainingMs, text] = ["finished", 0, "0:00"];
  }
  return { id: timer.id, label: timer.label, remainingMs, phase, text };
}

/** The widest text `timer` will show in normal use: sizes stay put while it counts. */
export function longestText(timer, text) {
  const full = formatRemaining(Math.max(timer.durationMs ?? 0, 0));
  return full.length > text.length ? full : text;
}

/** Time of day, 24 h `HH:MM:SS`, of epoch ms in this device's time zone. */
export function timeOfDay(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()]
    .map((n) => String(n).padStart(2, "0"))
    .join(":");
}
