#!/usr/bin/env bash
# The Python binding's tests (bindings/python/tests, pytest): PyCharter's documented patterns,
# the troubleshooting errors, threads, leaks and the type stubs, on real SQLite files and the
# Rust test harness's PostgreSQL server (PYCHARTER_TEST_DATABASE_URL, else a private cluster).
#
# 1. creates a virtualenv in the cargo target dir (once) and installs the pinned test tools
#    from PyPI (bindings/python/requirements-test.txt: maturin, pytest, psycopg2, mypy);
# 2. `cargo test --workspace --no-run`, the command scripts/test.sh runs (so after it nothing
#    is compiled): it builds the `pycharter` CLI and the harness's `pycharter-test-postgres`
#    server for their own tests (`cargo build -p …` would resolve features for those packages
#    alone and compile much of the workspace a second time);
# 3. builds pycharter_rs into the virtualenv with `maturin develop`: the dev profile and the
#    workspace's target dir, reusing step 2's artifacts (bindings/python/Cargo.toml aligns
#    the features), so it compiles PyO3 and the binding only;
# 4. runs pytest (arguments are passed to it).
#
# Needs python3 >= 3.9 with the venv module (scripts/test.sh installs it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s ==\n' "$*"; }

python=${PYTHON:-python3}
target_dir=$(cargo metadata --format-version 1 --no-deps |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
venv="$target_dir/python-venv"

if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv ($("$python" --version))"
    "$python" -m venv "$venv"
fi
log "pip install -r bindings/python/requirements-test.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r bindings/python/requirements-test.txt

log "cargo test --workspace --no-run (the CLI and the PostgreSQL test server)"
cargo test --workspace --locked --no-run
export PYCHARTER_CLI="$target_dir/debug/pycharter"
export PYCHARTER_TEST_POSTGRES="$target_dir/debug/pycharter-test-postgres"

log "maturin develop (pycharter_rs)"
VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --locked \
    --manifest-path bindings/python/Cargo.toml

log "pytest${*:+ $*}"
cd bindings/python
"$venv/bin/python" -m pytest "$@"
