#!/usr/bin/env bash
# Smoke check of the regtest bitcoind used by the integration tests (handy for CI debugging):
# starts `bitcoind -regtest` in a temporary datadir on free ports, creates a wallet, mines
# 101 blocks, checks `getblockcount` = 101, then stops it and removes the datadir.
#
# Usage: scripts/check-bitcoind.sh [path/to/bitcoind]
#   bitcoind: $1, else $BITCOIND_EXE, else whatever scripts/install-bitcoind.sh installs.
#   bitcoin-cli is taken from the same directory as bitcoind.
set -euo pipefail

log() { printf '[check-bitcoind] %s\n' "$*" >&2; }
die() { printf '[check-bitcoind] ERROR: %s\n' "$*" >&2; exit 1; }

here="$(cd "$(dirname "$0")" && pwd)"
BITCOIND="${1:-${BITCOIND_EXE:-}}"
if [[ -z "$BITCOIND" ]]; then
    BITCOIND="$(bash "$here/install-bitcoind.sh" | tail -n1)"
fi
[[ -x "$BITCOIND" ]] || die "bitcoind not executable: $BITCOIND"
CLI_BIN="$(dirname "$BITCOIND")/bitcoin-cli"
[[ -x "$CLI_BIN" ]] || die "bitcoin-cli not found next to bitcoind: $CLI_BIN"
ver="$("$BITCOIND" -version 2>&1)" || die "$BITCOIND -version failed: $ver"
log "using $BITCOIND (${ver%%$'\n'*})"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
RPC_PORT="$(free_port)"
P2P_PORT="$(free_port)"
while [[ "$P2P_PORT" == "$RPC_PORT" ]]; do P2P_PORT="$(free_port)"; done

DATADIR="$(mktemp -d "${TMPDIR:-/tmp}/lnedge-bitcoind-check.XXXXXX")"
PID=""
cleanup() {
    local rc=$?
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        "$CLI_BIN" "${CLI_ARGS[@]}" stop >/dev/null 2>&1 || kill "$PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$PID" 2>/dev/null || true
    fi
    if ((rc != 0)) && [[ -f "$DATADIR/regtest/debug.log" ]]; then
        log "last lines of debug.log:"
        tail -n 30 "$DATADIR/regtest/debug.log" >&2 || true
    fi
    rm -rf "$DATADIR"
    exit "$rc"
}
trap cleanup EXIT

CLI_ARGS=(-regtest -datadir="$DATADIR" -rpcport="$RPC_PORT" -rpcuser=check -rpcpassword=check -rpcconnect=127.0.0.1)
CLI() { "$CLI_BIN" "${CLI_ARGS[@]}" "$@"; }

log "starting bitcoind -regtest (rpc 127.0.0.1:$RPC_PORT, p2p $P2P_PORT, datadir $DATADIR)"
"$BITCOIND" -regtest -daemon=0 -datadir="$DATADIR" -server=1 -listen=1 -bind=127.0.0.1:"$P2P_PORT" \
    -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 -rpcport="$RPC_PORT" -rpcuser=check -rpcpassword=check \
    -fallbackfee=0.0002 -dnsseed=0 -listenonion=0 -printtoconsole=0 &
PID=$!

ready=0
for _ in $(seq 1 150); do
    if CLI -rpcwait -rpcwaittimeout=1 getblockchaininfo >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$PID" 2>/dev/null || die "bitcoind exited during startup"
    sleep 0.2
done
((ready)) || die "bitcoind RPC not ready after ~30 s"

CLI createwallet check >/dev/null
ADDR="$(CLI -rpcwallet=check getnewaddress)"
CLI generatetoaddress 101 "$ADDR" >/dev/null
COUNT="$(CLI getblockcount)"
[[ "$COUNT" == 101 ]] || die "getblockcount = $COUNT, expected 101"
BAL="$(CLI -rpcwallet=check getbalance)"
log "getblockcount = $COUNT, wallet balance = $BAL BTC"

CLI stop >/dev/null
wait "$PID" || die "bitcoind exited with an error on stop"
PID=""
echo "bitcoind regtest check OK"
