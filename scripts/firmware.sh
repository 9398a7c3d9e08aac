#!/usr/bin/env bash
# The firmware (firmware/: the vending machine for a Cortex-M4F, run in QEMU's mps2-an386).
#
#   bash scripts/firmware.sh build    build both images (release: opt-level z, LTO); last line:
#                                     the directory holding them (`vending`, `deputy`)
#   bash scripts/firmware.sh qemu     install qemu-system-arm if missing; last line: its path
#   bash scripts/firmware.sh test     both, then the QEMU suites with their figures (JSON lines)
#
# Needs the thumbv7em-none-eabihf rustup target (added if missing), gcc-arm-none-eabi (for
# micro-ecc's C, vendored in firmware/vendor; installed if missing) and qemu-system-arm
# (installed if missing): root for apt-get on a cold run. Everything but the last line goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET=thumbv7em-none-eabihf
OUT="$ROOT/firmware/target/$TARGET/release"

log() { printf '[firmware] %s\n' "$*" >&2; }
die() { printf '[firmware] ERROR: %s\n' "$*" >&2; exit 1; }

build() {
    rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" >&2
    # micro-ecc (the vending image's signature check, ADR 0021) is C: it needs the
    # bare-metal ARM compiler and newlib's headers.
    if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
        log "installing gcc-arm-none-eabi and libnewlib-arm-none-eabi (Debian)"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Use-Pty=0 gcc-arm-none-eabi libnewlib-arm-none-eabi >&2
    fi
    log "cargo fmt --check, clippy, build --release (firmware/)"
    local lint=(true)
    if cargo clippy --version >/dev/null 2>&1; then
        lint=(cargo clippy --release --locked -- -D warnings)
    else
        log "no clippy on this toolchain: lints skipped"
    fi
    (cd "$ROOT/firmware" && cargo fmt -- --check >&2 && "${lint[@]}" >&2 \
        && cargo build --release --locked >&2) \
        || die "the firmware does not build"
    for mode in vending deputy; do [[ -f "$OUT/$mode" ]] || die "no image at $OUT/$mode"; done
    echo "$OUT"
}

qemu() {
    if ! command -v qemu-system-arm >/dev/null 2>&1; then
        log "installing qemu-system-arm (Debian)"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Use-Pty=0 qemu-system-arm >&2
    fi
    qemu-system-arm -machine help | grep -q '^mps2-an386' \
        || die "this qemu-system-arm has no mps2-an386 machine"
    command -v qemu-system-arm
}

case "${1:-}" in
    build) build ;;
    qemu) qemu ;;
    test)
        LNEDGE_FIRMWARE_DIR="$(build | tail -n1)"
        QEMU_SYSTEM_ARM="$(qemu | tail -n1)"
        export LNEDGE_FIRMWARE_DIR QEMU_SYSTEM_ARM
        cd "$ROOT"
        cargo test -p lnedge-device --test it firmware -- --ignored --nocapture --test-threads=1
        ;;
    *) die "usage: $0 build|qemu|test" ;;
esac
