#!/usr/bin/env bash
# Where a benchmark's CPU goes, by category, and how many fsyncs and futex calls it makes
# (issue #17 item 1). Samples with perf's software clock (these machines expose no hardware
# counters), then counts syscalls with strace in a second run.
#
#   cargo build --release -p lnedge-cli
#   scripts/profile.sh                          # the sandbox payment bench
#   scripts/profile.sh --deputy --wallets 64    # deputy sales
#   scripts/profile.sh --gateway                # device syncs and the sales report
#
# Needs perf (Debian's linux-perf) and strace. Prints the bench's own JSON first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/lnedge
[ -x "$BIN" ] || { echo "profile: build it first: cargo build --release -p lnedge-cli" >&2; exit 2; }
OUT=$(mktemp -d)
perf record -q -e cpu-clock -F 999 -g -o "$OUT/perf.data" "$BIN" bench "$@" --json 2>/dev/null
echo "== CPU samples by category (perf, cpu-clock)"
perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null \
  | grep -E "^\s+[0-9.]+%" | awk '{p=$1; sub("%","",p); s=$0; cat="other";
 if (s ~ /rustsecp256k1/) cat="secp256k1 (libsecp256k1: LDK, invoices)";
 else if (s ~ /k256|elliptic_curve|subtle::/) cat="k256 (RustCrypto: pool and sync signatures)";
 else if (s ~ /\[k\]/) cat="kernel (scheduling, syscalls, fsync, loopback TCP)";
 else if (s ~ /sqlite|Vdbe|btree|pager|Pager|Btree/) cat="SQLite";
 else if (s ~ /Writeable|ser::|write_chanmon|Readable|consensus/) cat="LDK serialization";
 else if (s ~ /serde|json|Serialize|Deserialize|ryu|itoa/) cat="JSON (serde)";
 else if (s ~ /sha256|chacha|poly1305|hashes|hmac|Hmac|aes|Aes/) cat="hashing, MAC, ciphers";
 else if (s ~ /malloc|free|memmove|memset|memcpy|memcmp|alloc|realloc/) cat="allocation, memcpy";
 else if (s ~ /tokio|futex|parking|mio/) cat="tokio runtime";
 else if (s ~ /hyper|http|axum|tower|httparse/) cat="HTTP (hyper, axum)";
 else if (s ~ /lightning_invoice|bech32|Bolt11/) cat="BOLT 11 encoding";
 t[cat]+=p} END {for (c in t) printf "%6.1f%%  %s\n", t[c], c}' | sort -rn
echo "== syscalls (strace -f -c, a second run)"
strace -f -c -e trace=fsync,fdatasync,futex -o "$OUT/strace.txt" "$BIN" bench "$@" --json >/dev/null 2>&1
grep -E "fsync|fdatasync|futex|total" "$OUT/strace.txt"
rm -rf "$OUT"
