#!/usr/bin/env bash
# Load benchmark of Healing Space on this machine.
#
# Builds the release binary into its own target folder (never the
# project's target/, where a release build would hold the lock that every
# debug build waits for), serves it on 127.0.0.1 with a throwaway data
# folder, prepares one patient with 100 days of history, then drives it
# with wrk for a bounded time per scenario. Prints a Markdown summary and
# keeps it, with wrk's raw output, beside the build (bench-results/).
#
# Usage: bench/run.sh            (BENCH_DURATION=10s BENCH_THREADS=2 BENCH_CONNECTIONS=32)
set -euo pipefail

HOST=127.0.0.1 # the only address this script ever sends traffic to
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
TARGET_DIR=${BENCH_TARGET_DIR:-/work/bench-target}
DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
OUT="$TARGET_DIR/bench-results"

if [[ "$(realpath -m "$TARGET_DIR")" == "$(realpath -m "$ROOT/target")" ]]; then
    echo "bench: refusing to build release into $ROOT/target (it would block debug builds)" >&2
    exit 1
fi
# wrk's duration must be short and bounded: digits and a unit, at most 60 s.
if ! [[ "$DURATION" =~ ^[0-9]+s$ ]] || (( ${DURATION%s} < 1 || ${DURATION%s} > 60 )); then
    echo "bench: BENCH_DURATION must be 1s to 60s, got $DURATION" >&2
    exit 1
fi

if ! command -v wrk >/dev/null; then
    echo "bench: installing wrk from Debian" >&2
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update && apt-get install -y wrk
    else
        sudo apt-get update && sudo apt-get install -y wrk
    fi
fi

echo "bench: building release into $TARGET_DIR" >&2
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --locked --bin healing-space)
BIN="$TARGET_DIR/release/healing-space"

DATA=$(mktemp -d /tmp/hs-bench-XXXXXX)
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            kill -KILL "$SERVER_PID"
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -d "$OUT" && -f "$DATA/server.log" ]]; then
        cp "$DATA/server.log" "$OUT/server.log"
    fi
    rm -rf "$DATA"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://$HOST:$PORT"

# Rate limits raised so the limiter, not the handlers, is never what answers.
"$BIN" --data-dir "$DATA" --log-format json serve --listen "$HOST:$PORT" \
    --rate-general-per-minute 1000000000 --rate-login-per-minute 1000000000 \
    >"$DATA/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 100); do
    if curl -fsS "$BASE/api/health" >/dev/null 2>&1; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$BASE/api/health" >/dev/null

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

sleep 1
RSS_IDLE=$(rss_kib)
# Other work on the machine skews every number; the summary shows how much.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

eval "$(python3 "$HERE/prepare.py" "$PORT" "$DATA")"
export HS_BENCH_SESSION HS_BENCH_CSRF HS_BENCH_BODY HS_BENCH_LOGIN_BODY

rm -rf "$OUT"
mkdir -p "$OUT"
ROWS=()

# run NAME EXPECTED_STATUS URL [LUA]
run() {
    local name=$1 expected=$2 url=$3 script=${4:-}
    local args=(-t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --timeout 10s --latency)
    [[ -n "$script" ]] && args+=(-s "$HERE/wrk/$script")
    echo "bench: $name" >&2
    wrk "${args[@]}" "$url" >"$OUT/$name.txt"
    local rps p50 p99 total non2xx errors
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/$name.txt")
    p50=$(awk '$1 == "50%" { print $2 }' "$OUT/$name.txt")
    p99=$(awk '$1 == "99%" { print $2 }' "$OUT/$name.txt")
    total=$(awk '/requests in/ { print $1 }' "$OUT/$name.txt")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$OUT/$name.txt")
    errors=$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$OUT/$name.txt")
    ROWS+=("| $name | $expected | $rps | $p50 | $p99 | $total | ${non2xx:-0} | ${errors:-none} |")
}

run health 200 "$BASE/api/health"
run history 200 "$BASE$HS_BENCH_HISTORY_PATH" history.lua
run update 200 "$BASE/api/mood/$HS_BENCH_ENTRY_ID" update.lua
run create_conflict 409 "$BASE/api/mood" create_conflict.lua
sleep 1
RSS_AFTER_API=$(rss_kib)
run login 200 "$BASE/api/auth/login" login.lua
sleep 1
RSS_AFTER_LOGIN=$(rss_kib)
HWM=$(hwm_kib)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# The server must still be the one we started, and healthy.
kill -0 "$SERVER_PID"
curl -fsS "$BASE/api/health" >/dev/null

{
    echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) at commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD -- src migrations Cargo.toml Cargo.lock 2>/dev/null || echo ' (with uncommitted changes)')"
    echo
    echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr), $(df -T "$DATA" | awk 'NR == 2 { print $2 }') data folder, $(rustc --version)"
    echo
    echo "wrk $THREADS threads, $CONNECTIONS connections, $DURATION per scenario, on the same machine as the server."
    echo "Load average (1, 5, 15 min) before the runs: $LOAD_BEFORE; after: $LOAD_AFTER."
    echo
    echo "| scenario | expected status | requests/s | p50 | p99 | requests | non-2xx | socket errors |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "| server memory | MiB |"
    echo "|---|---|"
    echo "| VmRSS idle, 1 s after start | $(mib "$RSS_IDLE") |"
    echo "| VmRSS after health, history, update and create runs | $(mib "$RSS_AFTER_API") |"
    echo "| VmRSS after the login run | $(mib "$RSS_AFTER_LOGIN") |"
    echo "| VmHWM (peak) | $(mib "$HWM") |"
    echo
    echo "Answers the server logged (health checks are logged at debug, so absent):"
    echo
    python3 "$HERE/statuses.py" "$DATA/server.log"
} | tee "$OUT/summary.md"
