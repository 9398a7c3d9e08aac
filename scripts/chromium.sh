#!/usr/bin/env bash
# Headless Chromium + chromedriver for the browser (WebDriver) integration tests.
#
#   bash scripts/chromium.sh    install Debian's chromium and chromium-driver if chromedriver
#                               is missing, check both run; last line: the chromedriver path
#
# Debian's packages: /usr/bin/chromedriver, which starts /usr/lib/chromium/chromium itself (no
# goog:chromeOptions.binary needed), same version as the browser. Installing needs root for apt-get on a cold run.
# The tests run the browser with --headless=new --no-sandbox --disable-dev-shm-usage (root in
# a container). Everything but the last line goes to stderr.
set -euo pipefail

log() { printf '[chromium] %s\n' "$*" >&2; }
die() { printf '[chromium] ERROR: %s\n' "$*" >&2; exit 1; }

if ! command -v chromedriver >/dev/null 2>&1; then
    log "installing chromium and chromium-driver (Debian)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 chromium chromium-driver >&2
fi
command -v chromium >/dev/null 2>&1 || die "no chromium on PATH (apt-get install chromium)"
command -v chromedriver >/dev/null 2>&1 || die "no chromedriver on PATH (apt-get install chromium-driver)"

browser="$(chromium --version 2>/dev/null)" || die "chromium --version fails"
driver="$(chromedriver --version 2>/dev/null)" || die "chromedriver --version fails"
log "$browser ($(command -v chromium))"
log "$driver"

command -v chromedriver
