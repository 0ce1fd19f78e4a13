#!/usr/bin/env bash
# roomtimer against the Node reference peer, side by side, in one run; prints one
# markdown table of medians (bench/compare.py) and appends the raw JSON lines to
# bench/results/<UTC date>.jsonl.
#
#   bash bench/run.sh [--quick] [--repeat R]   # fanout 1000 + 5000 viewers (20 rounds) and
#                                              # finish 1000 timers x 10 viewers, R times
#                                              # (default 3, --quick 1), alternating servers,
#                                              # 500 viewer-page-shaped viewers on roomtimer
#                                              # (bench/viewer_page.js), 1000 viewers' delivery
#                                              # without and with one client flooding, on
#                                              # roomtimer (bench/flood.js), and both floors
#                                              # (bench/floor.js)
#   bash bench/run.sh --soak MINUTES           # 2000 viewers, 10 commands/s for MINUTES on
#                                              # roomtimer (bench/soak.js): RSS slope after
#                                              # warm-up, every delivery counted
#   bash bench/run.sh --cluster [--viewers N]  # two roomtimer workers on PostgreSQL + Redis,
#                                              # N (20000) viewers in one room split over them
#   bash bench/run.sh --before DIR             # also an earlier roomtimer (a checkout with its
#                                              # own .venv, e.g. a git worktree), in the same run:
#                                              # compare.py adds a before/after table
#
# Env: BENCH_SHARED (default <repo>/../shared), BENCH_DATABASE_URL, BENCH_REDIS_URL (cluster),
# BENCH_DEPS_DIR (where npm deps go when shared/ has none; default /tmp/roomtimer-bench-deps),
# BENCH_OUT (the JSON-lines file to append to), BENCH_KEEP=1 (keep server logs).
# Everything listens on 127.0.0.1; every server is a fresh process, killed by PID afterwards.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/bench"
shared="$(cd "${BENCH_SHARED:-$root/../shared}" 2>/dev/null && pwd)" || {
  echo "bench: no shared/ beside the repo (set BENCH_SHARED)" >&2
  exit 2
}
gen="$shared/bench"
peer="$gen/node-peer"
py="$root/.venv/bin/python"
roomtimer="$root/.venv/bin/roomtimer"

repeat=3
mode=standard
before=""
cluster_viewers=20000
rounds=20
soak_minutes=10
gen_timeout=900 # seconds a load generator may run
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) repeat=1 ;;
    --repeat) repeat="${2:?--repeat needs a number}"; shift ;;
    --cluster) mode=cluster ;;
    --soak) mode=soak; soak_minutes="${2:?--soak needs minutes}"; shift ;;
    --viewers) cluster_viewers="${2:?--viewers needs a number}"; shift ;;
    --before) before="$(cd "${2:?--before needs a checkout}" && pwd)"; shift ;;
    -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

for f in "$gen/fanout.js" "$gen/finish.js" "$peer/server.js" "$roomtimer" \
  ${before:+"$before/.venv/bin/roomtimer"}; do
  [ -e "$f" ] || { echo "bench: missing $f" >&2; exit 2; }
done
command -v node >/dev/null || { echo "bench: node is not on PATH" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench: curl is not on PATH" >&2; exit 2; }

ulimit -n "$(ulimit -Hn)"
export JWT_SECRET="${BENCH_JWT_SECRET:-bench-secret}"

# npm deps: use shared/'s node_modules when present; otherwise install into a copy under
# /tmp (shared/ may be read-only or shared by several checkouts) and point NODE_PATH at it.
deps_for() { # dir package -> prints a node_modules directory holding package
  local dir="$1" pkg="$2"
  if [ -d "$dir/node_modules/$pkg" ]; then
    echo "$dir/node_modules"
    return
  fi
  local key
  key="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-16)"
  local copy="${BENCH_DEPS_DIR:-${TMPDIR:-/tmp}/roomtimer-bench-deps}/$key"
  if [ ! -d "$copy/node_modules/$pkg" ]; then
    mkdir -p "$copy"
    cp "$dir/package.json" "$dir/package-lock.json" "$copy/"
    echo "bench: npm ci for $dir into $copy" >&2
    (cd "$copy" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  echo "$copy/node_modules"
}
gen_modules="$(deps_for "$gen" ws)"
peer_modules="$(deps_for "$peer" socket.io)"
client_modules="$(deps_for "$root/tests/js" socket.io-client)" # the stock client (viewer_page.js)

date_utc="$(date -u +%Y-%m-%d)"
run_id="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "$here/results"
out="${BENCH_OUT:-$here/results/$date_utc.jsonl}"
work="$(mktemp -d "${TMPDIR:-/tmp}/roomtimer-bench.XXXXXX")"
failures=0
rc=0 # the last generator's exit status (generate)

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
on_exit() {
  cleanup
  if [ "$failures" -eq 0 ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$work"; else echo "bench: logs kept in $work" >&2; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server KIND DIR PORT [ENV...]: starts roomtimer or the Node peer; sets $server_pid.
start_server() {
  local kind="$1" dir="$2" port="$3"
  shift 3
  mkdir -p "$dir"
  if [ "$kind" = roomtimer ] || [ "$kind" = before ]; then
    local program="$roomtimer"
    [ "$kind" = before ] && program="$before/.venv/bin/roomtimer"
    # Every viewer comes from 127.0.0.1: the per-address caps are not what is measured.
    env "$@" HOST=127.0.0.1 ROOMTIMER_DATA_DIR="$dir" RATE_LIMIT_MAX_REQUESTS=1000000 \
      SOCKET_MAX_CONNECTIONS_PER_ADDRESS=1000000 SHARE_TOKEN_MAX_MISSES=1000000 \
      HTTP_MAX_PENDING_PER_ADDRESS=1000000 "$program" serve --host 127.0.0.1 --port "$port" >"$dir/server.log" 2>&1 &
  else
    env "$@" PORT="$port" HOST=127.0.0.1 NODE_PATH="$peer_modules" \
      node "$peer/server.js" >"$dir/server.log" 2>&1 &
  fi
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 300); do
    curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: $kind did not start on port $port; its log:" >&2
  tail -n 30 "$dir/server.log" >&2
  exit 1
}

# record LABEL-FIELDS RC STDOUT-FILE LOGS...: appends one JSON line to $out.
record() {
  local fields="$1" rc="$2" stdout="$3"
  shift 3
  local result errors=0 warnings=0 log n
  result="$(grep -E '^\{' "$stdout" | tail -n 1 || true)"
  [ -n "$result" ] || result=null
  for log in "$@"; do
    n="$(grep -cE 'ERROR|CRITICAL|Traceback|Unhandled' "$log" || true)"
    errors=$((errors + n))
    n="$(grep -cE 'WARNING' "$log" || true)"
    warnings=$((warnings + n))
  done
  [ "$rc" -eq 0 ] && [ "$errors" -eq 0 ] || failures=$((failures + 1))
  printf '{"run":"%s",%s,"exit":%d,"serverLogErrors":%d,"serverLogWarnings":%d,"result":%s}\n' \
    "$run_id" "$fields" "$rc" "$errors" "$warnings" "$result" >>"$out"
}

meta() {
  local commit dirty
  commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  # Uncommitted changes but the results file this script appends to.
  dirty="$(git -C "$root" status --porcelain -- . ':!bench/results' 2>/dev/null | grep -q . && echo true || echo false)"
  local before_commit=""
  [ -n "$before" ] && before_commit="$(git -C "$before" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  printf '{"run":"%s","meta":{"mode":"%s","repeat":%s,"nproc":%s,"memMiB":%s,"cpu":"%s","kernel":"%s","python":"%s","node":"%s","commit":"%s","dirty":%s,"before":"%s"}}\n' \
    "$run_id" "$mode" "$repeat" "$(nproc)" "$(free -m | awk '/^Mem:/ {print $2}')" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')" "$(uname -r)" \
    "$("$py" -c 'import platform; print(platform.python_version())')" "$(node --version)" \
    "$commit" "$dirty" "$before_commit" >>"$out"
}

# generate DIR WHAT COMMAND...: runs one load generator, its JSON to DIR/out.json and its
# stderr to DIR/err.log; sets $rc, and shows the end of err.log when it failed.
generate() {
  local dir="$1" what="$2"
  shift 2
  rc=0
  "$@" >"$dir/out.json" 2>"$dir/err.log" || rc=$?
  [ "$rc" -eq 0 ] || { echo "bench: $what exited $rc:" >&2; tail -n 5 "$dir/err.log" >&2; }
}

# bench KIND REP NAME SCRIPT ARGS...: fresh server, one generator run, server stopped.
bench() {
  local kind="$1" rep="$2" name="$3" script="$4"
  shift 4
  local dir="$work/$rep-$name-$kind" port load
  load="$(cut -d' ' -f1 /proc/loadavg)" # 1-minute load before the server starts: noise hint
  port="$(free_port)"
  if [ "$kind" != node ]; then
    start_server "$kind" "$dir" "$port" DATABASE_URL="sqlite:///$dir/bench.db"
  else
    start_server node "$dir" "$port"
  fi
  echo "bench: rep $rep/$repeat  $name  $kind (pid $server_pid, port $port)" >&2
  case "$script" in */*) ;; *) script="$gen/$script" ;; esac # ours by path, else shared's
  generate "$dir" "$name on $kind" env NODE_PATH="$gen_modules:$client_modules" \
    BENCH_LIB="$gen/lib" timeout "$gen_timeout" \
    node "$script" --url "http://127.0.0.1:$port" --pid "$server_pid" "$@"
  cleanup
  record "\"server\":\"$kind\",\"rep\":$rep,\"bench\":\"$name\",\"loadBefore\":$load" \
    "$rc" "$dir/out.json" "$dir/server.log"
  sleep 1
}

# floor REP NAME ARGS...: a load generator's floor on this machine (bench/floor.js: the
# generator's own client against a server that only writes).
floor() {
  local rep="$1" name="$2" dir="$work/$1-$2" load
  shift 2
  mkdir -p "$dir"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  echo "bench: rep $rep/$repeat  $name  (a server that only writes)" >&2
  generate "$dir" "$name" env BENCH_PYTHON="$py" BENCH_SHARED="$shared" \
    NODE_PATH="$gen_modules" timeout 120 node "$here/floor.js" "$@"
  record "\"server\":\"floor\",\"rep\":$rep,\"bench\":\"$name\",\"loadBefore\":$load" \
    "$rc" "$dir/out.json"
}

standard() {
  meta
  local rep name kinds
  for rep in $(seq "$repeat"); do
    # Rotate which server goes first, so slow drift on a shared machine evens out.
    kinds=(roomtimer node ${before:+before})
    kinds=("${kinds[@]:$(((rep - 1) % ${#kinds[@]}))}" "${kinds[@]:0:$(((rep - 1) % ${#kinds[@]}))}")
    for name in fanout-1000 fanout-5000 finish-1000x10; do
      for kind in "${kinds[@]}"; do
        case "$name" in
          fanout-1000) bench "$kind" "$rep" "$name" fanout.js --viewers 1000 --rounds "$rounds" ;;
          fanout-5000) bench "$kind" "$rep" "$name" fanout.js --viewers 5000 --rounds "$rounds" ;;
          finish-1000x10) bench "$kind" "$rep" "$name" finish.js --timers 1000 --viewers 10 ;;
        esac
      done
    done
    # The viewer page's own connect, join and clock-sync burst (roomtimer serves the page).
    bench roomtimer "$rep" viewer-page-500 "$here/viewer_page.js" --viewers 500 --pings 8
    # Others' delivery with and without one client flooding events and joins (the Node
    # peer has no flood defence: it would answer every event, so it is not run here).
    bench roomtimer "$rep" flood-1000 "$here/flood.js" --viewers 1000 --seconds 10 --rate 10
    floor "$rep" fanout-floor --events 1 --viewers 5000
    floor "$rep" finish-floor --events 1000 --viewers 10
  done
}

cluster() {
  base_db="${BENCH_DATABASE_URL:-postgresql://roomtimer:roomtimer@127.0.0.1:5432/roomtimer_test}"
  local redis="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}"
  # A fresh database for this run (the role must be allowed to create databases); global,
  # so that the EXIT trap can drop it.
  db="$("$py" - "$base_db" <<'PY'
import asyncio, secrets, sys
from urllib.parse import urlsplit, urlunsplit
import asyncpg
base = sys.argv[1]
name = f"roomtimer_bench_{secrets.token_hex(4)}"
async def main():
    conn = await asyncpg.connect(base, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
asyncio.run(main())
print(urlunsplit(urlsplit(base)._replace(path=f"/{name}")))
PY
)"
  drop_db() {
    "$py" - "$base_db" "$db" <<'PY' || true
import asyncio, sys
from urllib.parse import urlsplit
import asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1], timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(sys.argv[2]).path[1:]}" WITH (FORCE)')
    finally:
        await conn.close()
asyncio.run(main())
PY
  }
  trap 'cleanup; drop_db; on_exit' EXIT
  meta
  local p1 p2 w1 w2 dir="$work/cluster"
  mkdir -p "$dir"
  p1="$(free_port)"
  # One after the other: both apply migrations at start.
  start_server roomtimer "$dir/w1" "$p1" DATABASE_URL="$db" REDIS_URL="$redis"
  w1=$server_pid
  p2="$(free_port)"
  start_server roomtimer "$dir/w2" "$p2" DATABASE_URL="$db" REDIS_URL="$redis"
  w2=$server_pid
  local load
  load="$(cut -d' ' -f1 /proc/loadavg)"
  echo "bench: cluster, $cluster_viewers viewers over workers $w1 (:$p1) and $w2 (:$p2)" >&2
  generate "$dir" fanout_cluster env BENCH_LIB="$gen/lib" NODE_PATH="$gen_modules" \
    timeout 1200 node "$here/fanout_cluster.js" \
    --urls "http://127.0.0.1:$p1,http://127.0.0.1:$p2" --pids "$w1,$w2" \
    --viewers "$cluster_viewers" --rounds "$rounds"
  cleanup
  record "\"server\":\"roomtimer\",\"rep\":1,\"bench\":\"fanout-cluster\",\"loadBefore\":$load" \
    "$rc" "$dir/out.json" \
    "$dir/w1/server.log" "$dir/w2/server.log"
}

soak() {
  repeat=1
  meta
  gen_timeout=$((soak_minutes * 60 + 600))
  bench roomtimer 1 soak-2000 "$here/soak.js" --viewers 2000 --rate 10 \
    --seconds $((soak_minutes * 60)) --sample 5
}

case "$mode" in
  cluster) cluster ;;
  soak) soak ;;
  *) standard ;;
esac
echo "bench: raw results appended to ${out#"$root"/} (run $run_id)" >&2
"$py" "$here/compare.py" "$out" --run "$run_id"
[ "$failures" -eq 0 ] || { echo "bench: $failures run(s) failed or logged errors (see above)" >&2; exit 1; }
