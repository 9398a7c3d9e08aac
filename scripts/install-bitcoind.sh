#!/usr/bin/env bash
# Install Bitcoin Knots (a Bitcoin Core fork: same RPC, `-regtest`) for the regtest
# integration tests, on Debian 12.
#
# Debian 12 has no bitcoind package. Debian sid ships `bitcoin-knots`, whose binaries need
# trixie's glibc/libstdc++, so we:
#   * keep a private apt state (sources, lists, cache) under $KNOTS_DIR/apt — the system's
#     apt sources are never touched;
#   * download bitcoin-knots (sid) + libc6/libstdc++6/libgcc-s1 (trixie) and unpack them
#     with `dpkg -x` into $KNOTS_DIR/root (nothing is installed system-wide from sid/trixie);
#   * install the few remaining shared libraries from the system's own (bookworm) apt;
#   * write wrappers $KNOTS_DIR/bin/{bitcoind,bitcoin-cli} that run the binaries through
#     trixie's dynamic loader.
#
# Idempotent and cached: if $KNOTS_DIR/bin/bitcoind exists and `bitcoind -version` works,
# it exits at once. The last line of stdout is the path of the bitcoind wrapper; everything
# else goes to stderr.
#
# Env: KNOTS_DIR (default /opt/knots). Needs root (apt-get install) on a cold run.
set -euo pipefail

D="${KNOTS_DIR:-/opt/knots}"
BIN="$D/bin"

log() { printf '[install-bitcoind] %s\n' "$*" >&2; }
die() { printf '[install-bitcoind] ERROR: %s\n' "$*" >&2; exit 1; }

# ---- fast path -------------------------------------------------------------------------
if [[ -x "$BIN/bitcoind" && -x "$BIN/bitcoin-cli" ]] && "$BIN/bitcoind" -version >/dev/null 2>&1 \
    && "$BIN/bitcoin-cli" -version >/dev/null 2>&1; then
    log "already installed: $("$BIN/bitcoind" -version | head -n1)"
    echo "$BIN/bitcoind"
    exit 0
fi

# ---- preconditions ---------------------------------------------------------------------
[[ "$(uname -m)" == "x86_64" ]] || die "only x86_64 is supported (got $(uname -m))"
command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian"
command -v dpkg >/dev/null || die "dpkg not found: this script needs Debian"
if [[ "$(id -u)" != 0 ]]; then
    die "a cold install needs root (apt-get install of runtime libraries); run as root or set KNOTS_DIR to an existing install"
fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r "$KEYRING" ]] || die "$KEYRING missing (package debian-archive-keyring)"

# ---- the mirror the system's apt already uses -----------------------------------------
mirror=""
if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    # deb822: first "URIs:" line (the main archive, listed before debian-security)
    mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
fi
if [[ -z "$mirror" && -r /etc/apt/sources.list ]]; then
    # one-line format: "deb [opts] URI suite comps"; skip security archives
    mirror="$(awk '$1=="deb" && $0 !~ /security/ {
                  for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
fi
[[ -n "$mirror" ]] || die "could not find the Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
mirror="${mirror%/}"
log "using mirror $mirror (private apt state in $D/apt)"

# ---- private apt state -----------------------------------------------------------------
mkdir -p "$D/apt/lists/partial" "$D/apt/cache/archives/partial" "$D/apt/sources.list.d" \
    "$D/apt/preferences.d" "$BIN"
{
    printf 'deb [signed-by=%s] %s sid main\n' "$KEYRING" "$mirror"
    printf 'deb [signed-by=%s] %s trixie main\n' "$KEYRING" "$mirror"
} >"$D/apt/sources.list"
# Empty parts dirs and preferences: only our two lines count, and system pins don't apply.
: >"$D/apt/preferences"
APT_OPTS=(
    -o "Dir::Etc::sourcelist=$D/apt/sources.list"
    -o "Dir::Etc::sourceparts=$D/apt/sources.list.d"
    -o "Dir::Etc::preferences=$D/apt/preferences"
    -o "Dir::Etc::preferencesparts=$D/apt/preferences.d"
    -o "Dir::State::Lists=$D/apt/lists"
    -o "Dir::Cache=$D/apt/cache"
    -o "APT::Sandbox::User=root"
    -o "Acquire::Retries=3"
)

retry() { # retry N cmd...: network hiccups on CI should not fail the build
    local n="$1"; shift
    local i
    for ((i = 1; i <= n; i++)); do
        if "$@"; then return 0; fi
        log "attempt $i/$n failed: $*"
        sleep $((i * 5))
    done
    return 1
}

log "apt-get update (sid + trixie, private lists)"
retry 3 apt-get "${APT_OPTS[@]}" -qq update >&2 || die "apt-get update of the private sid/trixie lists failed"

# Fresh download directory each cold run so stale versions are never mixed in.
rm -rf "$D/debs" && mkdir -p "$D/debs"
log "downloading bitcoin-knots (sid) and trixie's libc6, libstdc++6, libgcc-s1"
(cd "$D/debs" && retry 3 apt-get "${APT_OPTS[@]}" -qq download \
    bitcoin-knots libc6/trixie libstdc++6/trixie libgcc-s1/trixie) >&2 \
    || die "apt-get download failed (is bitcoin-knots still in sid?)"

log "unpacking into $D/root"
rm -rf "$D/root.new"
mkdir -p "$D/root.new"
for f in "$D"/debs/*.deb; do
    dpkg -x "$f" "$D/root.new"
done
rm -rf "$D/root"
mv "$D/root.new" "$D/root"

L="$D/root/usr/lib/x86_64-linux-gnu"
LOADER="$L/ld-linux-x86-64.so.2"
[[ -e "$LOADER" ]] || die "trixie's loader not found at $LOADER"
[[ -x "$D/root/usr/bin/bitcoind" ]] || die "bitcoind not found in the bitcoin-knots package"

# ---- runtime libraries from the system's own apt ---------------------------------------
# Those in REFERENCE.md, plus whatever else the binaries turn out to need (checked below).
SYS_PKGS=(libzmq5 libevent-2.1-7 libevent-extra-2.1-7 libevent-pthreads-2.1-7)
missing=()
for p in "${SYS_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    retry 3 apt-get -qq update >&2 || die "apt-get update failed"
    retry 3 apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
fi

# ---- wrappers ----------------------------------------------------------------------------
write_wrapper() { # name
    local name="$1" tmp
    tmp="$(mktemp "$BIN/.$name.XXXXXX")"
    cat >"$tmp" <<EOF
#!/bin/sh
# Generated by scripts/install-bitcoind.sh: run Bitcoin Knots' $name (Debian sid build)
# through trixie's dynamic loader, with trixie's glibc/libstdc++ first on the library path.
L='$L'
exec "\$L/ld-linux-x86-64.so.2" --library-path "\$L:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" '$D/root/usr/bin/$name' "\$@"
EOF
    chmod 755 "$tmp"
    mv -f "$tmp" "$BIN/$name"
}
write_wrapper bitcoind
write_wrapper bitcoin-cli

# ---- verify --------------------------------------------------------------------------------
check_libs() { # binary: list libraries the loader cannot resolve
    "$LOADER" --library-path "$L:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" --list "$1" 2>&1 \
        | awk '/not found/{print $1}'
}
for b in bitcoind bitcoin-cli; do
    nf="$(check_libs "$D/root/usr/bin/$b")"
    [[ -z "$nf" ]] || die "$b is missing shared libraries: $(echo "$nf" | tr '\n' ' ')"
done
out="$("$BIN/bitcoind" -version 2>&1)" || die "bitcoind -version failed: $out"
"$BIN/bitcoin-cli" -version >/dev/null 2>&1 || die "bitcoin-cli -version failed"
log "installed: $(head -n1 <<<"$out")"
rm -rf "$D/debs" "$D/apt/cache/archives"/*.deb
echo "$BIN/bitcoind"
