#!/usr/bin/env bash
# Times the release `pycharter` binary as whole processes (start-up, connect, validate, print,
# exit): `pycharter db current` and `pycharter db check` against an initialized SQLite file
# and an initialized PostgreSQL database, with hyperfine. Prints the median wall times.
#
#   benches/cli.sh                   # RUNS=50 WARMUP=5 by default
#
# PostgreSQL: the server of PYCHARTER_TEST_DATABASE_URL (a fresh database is created there
# with psql and dropped afterwards; the user needs CREATEDB), else a throwaway cluster started
# here with initdb/pg_ctl (as the `postgres` user when run as root), password authentication
# (scram-sha-256) on 127.0.0.1, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-50}"
WARMUP="${WARMUP:-5}"
log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# --- tools ------------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null; then
    [ "$(id -u)" = 0 ] || die "hyperfine is missing: apt-get install -y hyperfine (as root)"
    log "installing hyperfine (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends hyperfine >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends hyperfine >/dev/null; }
fi
command -v jq >/dev/null || die "jq is needed to read hyperfine's JSON: apt-get install -y jq"

log "building the release binary"
cargo build --release -p pycharter-cli --quiet
bin="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release/pycharter"
[ -x "$bin" ] || die "no binary at $bin"

work="$(mktemp -d /tmp/pycharter-cli-bench.XXXXXX)"
cleanup_steps=()
cleanup() {
    local step
    for step in "${cleanup_steps[@]}"; do eval "$step" || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# --- SQLite -----------------------------------------------------------------------------
sqlite_url="sqlite://$work/cli.db"
"$bin" db init "$sqlite_url" >/dev/null

# --- PostgreSQL -------------------------------------------------------------------------
find_pg_bin() {
    if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + RANDOM % 40000))
}

if [ -n "${PYCHARTER_TEST_DATABASE_URL:-}" ]; then
    command -v psql >/dev/null || die "psql is needed to create a database on PYCHARTER_TEST_DATABASE_URL"
    db="pycharter_cli_bench_$$"
    psql "$PYCHARTER_TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
    cleanup_steps+=("psql \"\$PYCHARTER_TEST_DATABASE_URL\" -qc 'DROP DATABASE IF EXISTS $db' >/dev/null")
    # Same server and credentials, another database.
    pg_url="$(printf '%s' "$PYCHARTER_TEST_DATABASE_URL" | sed -E "s#^(postgres(ql)?://[^/]+)/[^?]*#\1/$db#")"
    log "PostgreSQL: database $db on PYCHARTER_TEST_DATABASE_URL's server"
else
    pg_bin="$(find_pg_bin)" || die "PostgreSQL server binaries not found: apt-get install -y postgresql, or set PYCHARTER_TEST_DATABASE_URL"
    as_pg=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' system user (apt-get install -y postgresql creates it)"
        as_pg=(runuser -u postgres --)
        chown postgres "$work"
    fi
    password="bench-$RANDOM$RANDOM"
    printf '%s\n' "$password" >"$work/pwfile"
    [ "${#as_pg[@]}" = 0 ] || chown postgres "$work/pwfile"
    "${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg" -U pycharter --auth=scram-sha-256 \
        --pwfile="$work/pwfile" >/dev/null
    port="$(free_port)"
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 30 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c fsync=off -c synchronous_commit=off" >/dev/null
    cleanup_steps+=("${as_pg[*]} $pg_bin/pg_ctl -D $work/pg -m immediate -w stop >/dev/null")
    pg_url="postgres://pycharter:$password@127.0.0.1:$port/postgres"
    log "PostgreSQL: throwaway cluster $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
fi
"$bin" db init "$pg_url" >/dev/null

# --- measure ----------------------------------------------------------------------------
log "hyperfine: $RUNS runs each after $WARMUP warm-up runs"
hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/cli.json" \
    -n "sqlite db current" "$bin db current $sqlite_url" \
    -n "sqlite db check" "$bin db check $sqlite_url" \
    -n "postgres db current" "$bin db current $pg_url" \
    -n "postgres db check" "$bin db check $pg_url" >&2

printf '\n%s cores, %s memory, %s\n\n' "$(nproc)" "$(free -h | awk '/^Mem:/ {print $2}')" "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf '| backend | command (whole process) | median | min | max |\n|---|---|---:|---:|---:|\n'
jq -r '.results[] | [.command, .median, .min, .max] | @tsv' "$work/cli.json" \
    | awk -F'\t' '{
        backend = substr($1, 1, index($1, " ") - 1); command = substr($1, index($1, " ") + 1)
        printf "| %s | `pycharter %s` | %.1f ms | %.1f ms | %.1f ms |\n", backend, command, $2 * 1000, $3 * 1000, $4 * 1000
    }'
