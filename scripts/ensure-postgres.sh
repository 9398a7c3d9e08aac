#!/usr/bin/env bash
# Make sure a PostgreSQL server listens on 127.0.0.1:5432 with trust auth for local TCP
# connections, for the PostgreSQL test suites. Idempotent.
#
#   1. `pg_isready -h 127.0.0.1 -p 5432` succeeds      -> nothing to do (fast path);
#   2. else a cluster exists under /etc/postgresql      -> configure trust auth and start it;
#   3. else apt-get install postgresql, create/start the cluster, configure trust auth.
# In cases 2 and 3 it also creates a database `test` if missing.
#
# The last line of stdout is `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`
# (a base URL: tests create their own uniquely named databases). Everything else goes to
# stderr. The slow paths need root.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
URL="postgres://postgres@$HOST:$PORT/postgres"

log() { printf '[ensure-postgres] %s\n' "$*" >&2; }
die() { printf '[ensure-postgres] ERROR: %s\n' "$*" >&2; exit 1; }

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PORT" -t 2; }

wait_ready() {
    local _
    for _ in $(seq 1 60); do
        ready && return 0
        sleep 0.5
    done
    return 1
}

can_login() { # trust auth over TCP as postgres?
    PGCONNECT_TIMEOUT=5 psql "$URL" -w -X -qtAc 'SELECT 1' >/dev/null 2>&1
}

done_ok() {
    if ! can_login; then
        log "WARNING: server is up but 'psql $URL' fails without a password (is pg_hba.conf trust for $HOST?)"
    fi
    echo "DATABASE_URL=$URL"
    exit 0
}

# ---- 1. fast path ----------------------------------------------------------------------
if ready; then
    log "PostgreSQL already accepting connections on $HOST:$PORT"
    done_ok
fi

[[ "$(id -u)" == 0 ]] || die "PostgreSQL is not running on $HOST:$PORT and starting/installing it needs root"

# Newest major version with a cluster config, if any.
newest_version() {
    [[ -d /etc/postgresql ]] || return 0
    find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n1
}

# Put trust rules for loopback TCP (and the local socket) at the top of pg_hba.conf
# (first match wins). Sets hba_changed=1 if the file was changed.
hba_changed=0
configure_hba() { # hba_file
    local hba="$1" marker='# lnedge ci: trust for local connections'
    [[ -f "$hba" ]] || die "pg_hba.conf not found at $hba"
    if grep -qF "$marker" "$hba"; then return 0; fi
    log "adding trust auth for $HOST and ::1 to $hba"
    local tmp
    tmp="$(mktemp)"
    {
        echo "$marker"
        echo "local   all   all                 trust"
        echo "host    all   all   127.0.0.1/32  trust"
        echo "host    all   all   ::1/128       trust"
        echo
        cat "$hba"
    } >"$tmp"
    cat "$tmp" >"$hba" # keep owner and mode of the original
    rm -f "$tmp"
    hba_changed=1
}

start_cluster() { # version cluster
    local ver="$1" name="$2" out
    log "starting cluster $ver/$name"
    if ! out="$(pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start 2>&1)"; then
        # exit code 2 = already running; anything else is a real error unless it is up now
        if ! grep -qi 'already running' <<<"$out"; then
            log "$out"
            log "last lines of /var/log/postgresql/postgresql-$ver-$name.log:"
            tail -n 20 "/var/log/postgresql/postgresql-$ver-$name.log" >&2 2>/dev/null || true
            die "pg_ctlcluster $ver $name start failed"
        fi
        # running but not answering on $HOST:$PORT (e.g. hba changed): reload it
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >&2 || true
    fi
}

create_test_db() {
    if [[ "$(psql "$URL" -w -X -qtAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]]; then
        log "creating database test"
        psql "$URL" -w -X -qc 'CREATE DATABASE test' >&2
    fi
}

ver="$(newest_version)"

# ---- 3. install --------------------------------------------------------------------------
if [[ -z "$ver" ]]; then
    log "no PostgreSQL cluster found: installing postgresql from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed"
    # policy-rc.d may stop the package from starting the service (containers); we start it below.
    apt-get install -y -qq -o Dpkg::Use-Pty=0 postgresql >&2 || die "apt-get install postgresql failed"
    ver="$(newest_version)"
    if [[ -z "$ver" ]]; then
        # the package did not create a cluster (createcluster.conf: create_main_cluster = false)
        ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n1)"
        [[ -n "$ver" ]] || die "postgresql installed but no server version found under /usr/lib/postgresql"
        log "creating cluster $ver/main on port $PORT"
        pg_createcluster --port "$PORT" "$ver" main >&2 || die "pg_createcluster $ver main failed"
    fi
fi

# ---- 2. start an existing cluster (also the end of 3) -------------------------------------
[[ -d "/etc/postgresql/$ver/main" ]] || die "cluster $ver/main not found (have: $(find "/etc/postgresql/$ver" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null))"
conf_port="$(awk -F'[=[:space:]#]+' '/^[[:space:]]*port[[:space:]]*=/{print $2; exit}' "/etc/postgresql/$ver/main/postgresql.conf" || true)"
if [[ -n "$conf_port" && "$conf_port" != "$PORT" ]]; then
    die "cluster $ver/main is configured for port $conf_port, not $PORT (/etc/postgresql/$ver/main/postgresql.conf)"
fi
configure_hba "/etc/postgresql/$ver/main/pg_hba.conf"
start_cluster "$ver" main
if ((hba_changed)); then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >&2 || true
fi
wait_ready || die "PostgreSQL $ver/main started but $HOST:$PORT is not accepting connections (see /var/log/postgresql/)"
can_login || die "cannot log in as postgres over TCP without a password: check /etc/postgresql/$ver/main/pg_hba.conf"
create_test_db
log "PostgreSQL $ver/main is up on $HOST:$PORT"
done_ok
