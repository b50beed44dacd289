#!/usr/bin/env bash
# The README's test command: every test of the workspace, on real SQLite files, a throwaway
# PostgreSQL cluster and a real PgBouncer that the tests start themselves; then the Python
# binding's pytest suite (scripts/test-python.sh).
#
# A fresh Debian machine (Rust and nothing else, or Rust and PostgreSQL) lacks some of the
# programs those tests run, so this installs the missing ones first, with apt-get:
#   - the PostgreSQL server binaries (`postgresql`): the test harness runs a private cluster
#     with initdb/pg_ctl (not needed when PYCHARTER_TEST_DATABASE_URL names a server);
#   - PgBouncer (`pgbouncer`): the transaction-pooling tests;
#   - Python 3 with its venv module (`python3-venv`): the Python tests' virtualenv (their
#     packages then come from PyPI, pinned in bindings/python/requirements-test.txt).
#   - OpenSSL's command (`openssl`): the TLS tests generate their certificate chain with it.
# A failed install stops here with the package named; nothing is ever skipped.
#
# Arguments are passed to `cargo test` (e.g. `scripts/test.sh -p pycharter-sqlite`); the
# Python tests run either way. `.ci/run` calls this after fmt and clippy, with the same
# target dir.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s ==\n' "$*"; }

# Debian puts both outside a non-root PATH, hence the explicit fallbacks (the same places
# the harnesses look: conformance-tests/src/postgres_harness, pgbouncer_harness.rs).
have_initdb() {
    command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
have_openssl() {
    command -v openssl >/dev/null 2>&1
}
have_pgbouncer() {
    command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]
}
have_python_venv() {
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1
}

apt_updated=no
ensure() { # ensure CHECK PACKAGE
    local check=$1 package=$2
    "$check" && return 0
    log "installing $package ($check failed)"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "error: $package is missing and this is not root (no sudo either) — install it: apt-get install -y $package" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || {
        echo "error: $package is missing and there is no apt-get — install $package with your package manager" >&2
        exit 1
    }
    if [ "$apt_updated" = no ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update ||
            { echo "error: apt-get update failed; $package cannot be installed" >&2; exit 1; }
        apt_updated=yes
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" ||
        { echo "error: apt-get install $package failed" >&2; exit 1; }
    "$check" || { echo "error: $package still missing after apt-get install $package" >&2; exit 1; }
}

if [ -z "${PYCHARTER_TEST_DATABASE_URL:-}" ]; then
    ensure have_initdb postgresql
fi
ensure have_pgbouncer pgbouncer
ensure have_python_venv python3-venv
ensure have_openssl openssl

# Also runs every criterion benchmark once in test mode (benches/Cargo.toml: `test = true`),
# so the benches cannot rot, without a release build.
log "cargo test --workspace --locked${*:+ $*}"
cargo test --workspace --locked "$@"

scripts/test-python.sh
