#!/usr/bin/env bash
# pycharter_rs next to PyCharter 0.0.67 from Python: store / get ops/s on PostgreSQL and in
# memory, same contract shape (benches/python/bench.py; figures in the README's
# Performance section). Not part of CI: it builds pycharter_rs in release mode and installs
# PyCharter with its dependencies (pandas, SQLAlchemy, psycopg, …) from PyPI.
#
# PostgreSQL is the Rust test harness's (PYCHARTER_TEST_DATABASE_URL, else a private
# cluster), through its pycharter-test-postgres server: one fresh database per
# implementation. Arguments go to bench.py (e.g. --seconds 5).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s ==\n' "$*" >&2; }

python=${PYTHON:-python3}
target_dir=$(cargo metadata --format-version 1 --no-deps |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
venv="$target_dir/bench-venv"

if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    "$python" -m venv "$venv"
fi
log "pip install maturin, pycharter[postgres]==0.0.67"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    maturin==1.16.0 'pycharter[postgres]==0.0.67'

log "maturin develop --release (pycharter_rs)"
VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --release --locked \
    --manifest-path bindings/python/Cargo.toml >&2

log "PostgreSQL test server"
cargo build --locked -p pycharter-test-postgres --bin pycharter-test-postgres >&2
coproc SERVER { "$target_dir/debug/pycharter-test-postgres"; }
ask() { echo "$1" >&"${SERVER[1]}"; read -r answer <&"${SERVER[0]}"; echo "$answer"; }
rs_url=$(ask database)
pycharter_url=$(ask database)

log "bench.py"
"$venv/bin/python" benches/python/bench.py \
    --postgres-url "$rs_url" --pycharter-postgres-url "$pycharter_url" "$@"

# Closing its input stops the server (and removes a private cluster).
eval "exec ${SERVER[1]}>&-"
wait "$SERVER_PID"
