#!/usr/bin/env bash
# py-spy profile of one fanout.js run against a fresh roomtimer (embedded default):
# one profile of the join phase, one of the rounds (the broadcast path), then the top
# frames of each (bench/stacks.py). py-spy is not a project dependency:
#   python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy
#   PYSPY=/tmp/pyspy/bin/py-spy bash bench/profile.sh [VIEWERS (5000)] [ROUNDS (20)] [fanout.js args]
# Collapsed stacks are kept in $OUT (default: a new directory under /tmp).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gen="$(cd "${BENCH_SHARED:-$root/../shared}/bench" && pwd)"
pyspy="${PYSPY:-$(command -v py-spy || echo /tmp/pyspy/bin/py-spy)}"
[ -x "$pyspy" ] || { echo "profile: py-spy not found (set PYSPY)" >&2; exit 2; }
viewers="${1:-5000}"
rounds="${2:-20}"
shift $(($# < 2 ? $# : 2))
out="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/roomtimer-profile.XXXXXX")}"
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)"
export JWT_SECRET="${BENCH_JWT_SECRET:-bench-secret}"
modules="$gen/node_modules"
[ -d "$modules/ws" ] || modules="$(find "${BENCH_DEPS_DIR:-${TMPDIR:-/tmp}/roomtimer-bench-deps}" \
  -maxdepth 3 -type d -path '*/node_modules/ws' 2>/dev/null | head -n 1 | xargs -r dirname)"
[ -n "$modules" ] || { echo "profile: no ws module; run bench/run.sh once first" >&2; exit 2; }

port="$("$root/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
HOST=127.0.0.1 ROOMTIMER_DATA_DIR="$out" RATE_LIMIT_MAX_REQUESTS=1000000 DATABASE_URL="sqlite:///$out/bench.db" \
  "$root/.venv/bin/roomtimer" serve --port "$port" >"$out/server.log" 2>&1 &
server=$!
spy=""
gen_pid=""
stop() {
  local pid
  for pid in $spy $gen_pid $server; do
    kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null || true
  done
  for pid in $spy $gen_pid $server; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap stop EXIT
for _ in $(seq 300); do curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done

# spy FILE: samples the server (100 Hz, without pausing it) until SIGINT.
spy() { "$pyspy" record --nonblocking --format raw --rate 100 -o "$1" --pid "$server" >"$1.log" 2>&1 & spy=$!; }

spy "$out/joins.txt"
NODE_PATH="$modules" timeout 900 node "$gen/fanout.js" --url "http://127.0.0.1:$port" --pid "$server" \
  --viewers "$viewers" --rounds "$rounds" "$@" >"$out/fanout.json" 2>"$out/fanout.err" &
gen_pid=$!
# The first timer command in the server log marks the end of the join phase.
until grep -q 'POST /api/timers/' "$out/server.log"; do
  kill -0 "$gen_pid" 2>/dev/null || break
  sleep 0.05
done
kill -INT "$spy"; wait "$spy" || true
phases=joins
if kill -0 "$gen_pid" 2>/dev/null; then
  spy "$out/rounds.txt"
  phases="joins rounds"
fi
rc=0
wait "$gen_pid" || rc=$?
gen_pid=""
[ "$rc" -eq 0 ] || { echo "profile: fanout.js exited $rc:" >&2; tail -n 3 "$out/fanout.err" >&2; }
[ "$phases" = joins ] || { kill -INT "$spy"; wait "$spy" || true; }
spy=""

cat "$out/fanout.json"
echo
echo "## joins"
"$root/.venv/bin/python" "$root/bench/stacks.py" "$out/joins.txt"
if [ "$phases" != joins ]; then
  echo
  echo "## rounds (without the viewers' disconnects at the end)"
  "$root/.venv/bin/python" "$root/bench/stacks.py" "$out/rounds.txt" --drop 'disconnect|Presence._announce'
fi
echo
echo "profile: collapsed stacks in $out" >&2
