#!/usr/bin/env bash
# Runs lnedge's backend conformance suite against YOUR node on regtest, for real.
#
#   scripts/check-backend.sh lnd
#   scripts/check-backend.sh cln
#
# lnedge's own CI can run neither LND nor Core Lightning; it runs the suite against
# lnedge-testnodes' LND server and lightningd stand-in, written from the daemons' published
# APIs (docs/backends.md). This script checks what only a real daemon can: run it against a
# regtest pair before trusting lnedge with yours.
#
# Needs (environment), for lnd:
#   LNEDGE_LND_REST_URL, LNEDGE_LND_TLS_CERT, LNEDGE_LND_MACAROON
#       the LND under test (https://host:8080, its tls.cert, admin.macaroon)
#   LNEDGE_LND_PAYER_REST_URL, LNEDGE_LND_PAYER_TLS_CERT, LNEDGE_LND_PAYER_MACAROON
#       a second LND with a channel to the first, liquidity on both sides
# for cln:
#   LNEDGE_CLN_RPC_FILE, LNEDGE_CLN_PAYER_RPC_FILE
#       the two lightningd's lightning-rpc sockets (a channel between them, liquidity on both
#       sides); BOTH run lnedge's plugin: important-plugin=$(pwd)/target/release/lnedge-cln-hold
#       after `cargo build --release -p lnedge-cln-plugin`
# for both:
#   LNEDGE_MINE
#       a command that mines N blocks when N is appended, e.g.
#       LNEDGE_MINE='bitcoin-cli -regtest -rpcuser=u -rpcpassword=p -generate'
#
# The scenarios mine blocks (up to ~300) and wait for hold-invoice deadlines: a regtest chain
# only. Exit status: 0 when every scenario passed.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  lnd)
    for v in LNEDGE_LND_REST_URL LNEDGE_LND_TLS_CERT LNEDGE_LND_MACAROON \
             LNEDGE_LND_PAYER_REST_URL LNEDGE_LND_PAYER_TLS_CERT LNEDGE_LND_PAYER_MACAROON LNEDGE_MINE; do
      [ -n "${!v:-}" ] || { echo "check-backend: $v is not set (see the top of $0)" >&2; exit 2; }
    done
    exec cargo test -p lnedge-node --features real-lnd --test it real_node::lnd -- --test-threads=1 --nocapture
    ;;
  cln)
    for v in LNEDGE_CLN_RPC_FILE LNEDGE_CLN_PAYER_RPC_FILE LNEDGE_MINE; do
      [ -n "${!v:-}" ] || { echo "check-backend: $v is not set (see the top of $0)" >&2; exit 2; }
    done
    exec cargo test -p lnedge-node --features real-cln --test it real_node::cln -- --test-threads=1 --nocapture
    ;;
  *)
    echo "usage: $0 lnd|cln" >&2
    exit 2
    ;;
esac
