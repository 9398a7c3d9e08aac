#!/usr/bin/env bash
# LNbits beside lnedge, driven by the same load generator (wrk) in the same run (issue #17,
# item 6). Installs LNbits from PyPI into a venv (once), starts it on 127.0.0.1 with its
# FakeWallet, and measures, alternating, ROUNDS times at each of CONNS concurrent connections,
# DURATION seconds each:
#   lnbits     LNbits' POST /api/v1/payments (create an invoice; FakeWallet: no Lightning work)
#   deputy     lnedge's deputy sale round trip: LNURL fetch, then callback (a real LDK invoice)
#   provision  lnedge's POST /v1/devices/{id}/pools, ENTRIES real LDK invoices per request
# lnedge's side is `lnedge bench --deputy --serve-for-load DIR` (the deputy bench's gateway on the
# sandbox owner node, SQLite), started afresh for each measurement pair. wrk runs one thread per
# connection; a deputy "request" is a whole round trip (two HTTP requests), timed in wrk's Lua.
#
# Prints one JSON line per measurement, then the ratios (lnedge / LNbits, same round and
# concurrency). Needs wrk (`apt-get install wrk`) and a release build of lnedge.
#
# Usage: scripts/bench-vs-lnbits.sh [--quick]
# Environment: ROUNDS (3), CONNS ("1 16 64"), DURATION (10), ENTRIES (50),
#   LNEDGE (target/release/lnedge), LNBITS_VENV (~/.cache/lnedge/lnbits-1.6.2), LNBITS_PORT (5056)
set -euo pipefail
trap 'echo "bench-vs-lnbits: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-"1 16 64"}
DURATION=${DURATION:-10}
ENTRIES=${ENTRIES:-50}
if [[ "${1:-}" == "--quick" ]]; then
    ROUNDS=1 CONNS="16" DURATION=3
elif [[ -n "${1:-}" ]]; then
    echo "usage: $0 [--quick]" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LNEDGE=${LNEDGE:-$ROOT/target/release/lnedge}
VENV=${LNBITS_VENV:-$HOME/.cache/lnedge/lnbits-1.6.2}
PORT=${LNBITS_PORT:-5056}
WRK_DIR=$ROOT/scripts/wrk

for tool in wrk curl python3; do
    command -v "$tool" > /dev/null || { echo "bench-vs-lnbits: $tool is missing" >&2; exit 1; }
done
[[ -x "$LNEDGE" ]] || {
    echo "bench-vs-lnbits: no lnedge at $LNEDGE (cargo build --release -p lnedge-cli)" >&2
    exit 1
}

WORK=$(mktemp -d)
LNBITS_PID=""
LNEDGE_PID=""
# Each server runs in its own session (setsid), so its whole process group can be stopped:
# LNbits starts a worker process of its own.
stop_group() {
    local pid=$1
    [[ -n "$pid" ]] || return 0
    kill -s TERM -- "-$pid" 2> /dev/null || true
    for _ in $(seq 50); do
        kill -0 -- "-$pid" 2> /dev/null || return 0
        sleep 0.1
    done
    kill -s KILL -- "-$pid" 2> /dev/null || true
}
cleanup() {
    stop_group "$LNEDGE_PID"
    stop_group "$LNBITS_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

# Waits up to $2 seconds for command $1 to succeed.
wait_for() {
    local deadline=$((SECONDS + $2))
    until eval "$1" > /dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            echo "bench-vs-lnbits: timed out waiting for: $1" >&2
            return 1
        fi
        sleep 0.2
    done
}

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# --- LNbits -------------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/lnbits" ]]; then
    echo "installing LNbits 1.6.2 into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'lnbits==1.6.2' 'bitstring<5' >&2
fi
# LNbits serves its static files relative to the working directory.
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$WORK/lnbits-data"
(
    cd "$SITE"
    # Its rate limit (200 a minute) would answer most of the load with refusals.
    exec setsid env LNBITS_BACKEND_WALLET_CLASS=FakeWallet LNBITS_DATA_FOLDER="$WORK/lnbits-data" \
        LNBITS_ADMIN_UI=false LNBITS_RATE_LIMIT_NO=100000000 LNBITS_RATE_LIMIT_UNIT=minute \
        "$VENV/bin/lnbits" --host 127.0.0.1 --port "$PORT"
) > "$WORK/lnbits.log" 2>&1 &
LNBITS_PID=$!
wait_for "curl -s -o /dev/null http://127.0.0.1:$PORT/" 120 \
    || { tail -20 "$WORK/lnbits.log" >&2; exit 1; }
account=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/account" \
    -H 'Content-Type: application/json' -d '{"name":"bench"}')
ADMINKEY=$(json_field adminkey <<< "$account")
INKEY=$(json_field inkey <<< "$account")
# With a fiat currency set, every invoice asks exchanges for a price (unreachable here): off.
curl -sf -o /dev/null -X PATCH "http://127.0.0.1:$PORT/api/v1/wallet" \
    -H 'Content-Type: application/json' -H "X-Api-Key: $ADMINKEY" -d '{"currency": ""}'

# --- the runs -----------------------------------------------------------------------------
# Prints wrk's LNEDGE_RESULT line as JSON with the run's labels; fails if wrk reported none.
run_wrk() {
    local label=$1 round=$2 conns=$3
    shift 3
    local out
    out=$(timeout $((DURATION + 120)) wrk -t"$conns" -c"$conns" -d"${DURATION}s" --timeout 30s "$@")
    local result
    result=$(sed -n 's/^LNEDGE_RESULT //p' <<< "$out")
    [[ -n "$result" ]] || { echo "bench-vs-lnbits: no result from wrk: $out" >&2; return 1; }
    python3 -c 'import json,sys
r = json.loads(sys.argv[4]); r.update(target=sys.argv[1], round=int(sys.argv[2]), conns=int(sys.argv[3]))
print(json.dumps(r))' "$label" "$round" "$conns" "$result"
}

RESULTS=$WORK/results.jsonl
for round in $(seq "$ROUNDS"); do
    for conns in $CONNS; do
        LNEDGE_BODY='{"out": false, "amount": 10, "memo": "bench"}' LNEDGE_HEADER="X-Api-Key: $INKEY" \
            run_wrk lnbits "$round" "$conns" -s "$WRK_DIR/post.lua" \
            "http://127.0.0.1:$PORT/api/v1/payments" | tee -a "$RESULTS"
        # lnedge: a fresh gateway with enough sale URLs for the fastest rate seen here (8,000
        # round trips a second) for the whole run.
        target=$WORK/lnedge-$round-$conns
        per_wallet=$((8000 * DURATION / conns + 100))
        (exec setsid "$LNEDGE" bench --deputy --wallets "$conns" --sales-per-wallet "$per_wallet" \
            --serve-for-load "$target") > "$WORK/lnedge.log" 2>&1 &
        LNEDGE_PID=$!
        wait_for "grep -q '^ready' '$WORK/lnedge.log'" 300 || { tail -20 "$WORK/lnedge.log" >&2; exit 1; }
        # shellcheck disable=SC1091
        source "$target/target.env"
        LNEDGE_SALES_DIR=$target run_wrk deputy "$round" "$conns" -s "$WRK_DIR/deputy.lua" \
            "$BASE_URL" | tee -a "$RESULTS"
        LNEDGE_BODY="{\"entries_per_product\": $ENTRIES, \"expiry_days\": 1}" \
            LNEDGE_HEADER="Authorization: Bearer $ADMIN_TOKEN" \
            run_wrk provision "$round" "$conns" -s "$WRK_DIR/post.lua" "$BASE_URL$PROVISION_PATH" \
            | tee -a "$RESULTS"
        stop_group "$LNEDGE_PID"
        LNEDGE_PID=""
        rm -rf "$target"
    done
done

python3 - "$RESULTS" "$ENTRIES" << 'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
entries = int(sys.argv[2])
by = {(r["target"], r["round"], r["conns"]): r for r in rows}
void = [r for r in rows if r.get("exhausted_threads") or r.get("errors") or r.get("socket_errors")]
print()
print("| conns | round | LNbits invoices/s (p99 ms) | deputy round trips/s (p99 ms) | ratio | p99 ratio "
      "| provisioned invoices/s (p99 ms per pool) | ratio |")
print("|---|---|---|---|---|---|---|---|")
for (target, rnd, conns), l in sorted(by.items(), key=lambda kv: (kv[0][2], kv[0][1])):
    if target != "lnbits":
        continue
    d, p = by[("deputy", rnd, conns)], by[("provision", rnd, conns)]
    inv = p["per_sec"] * entries
    ratio = lambda x: f"{x / l['per_sec']:.1f}x" if l["per_sec"] else "n/a"
    p99 = f"1/{l['p99_ms'] / d['p99_ms']:.0f}" if d["p99_ms"] else "n/a"
    print(f"| {conns} | {rnd} | {l['per_sec']:.1f} ({l['p99_ms']:.0f}) | {d['per_sec']:.0f} "
          f"({d['p99_ms']:.1f}) | **{ratio(d['per_sec'])}** | {p99} | {inv:.0f} ({p['p99_ms']:.0f}) "
          f"| **{ratio(inv)}** |")
if void:
    print(f"\nWARNING: {len(void)} measurement(s) had errors or ran out of sale URLs:", file=sys.stderr)
    for r in void:
        print("  " + json.dumps(r), file=sys.stderr)
    sys.exit(1)
EOF
