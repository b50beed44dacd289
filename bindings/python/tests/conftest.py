"""Fixtures: real PostgreSQL databases, real SQLite files, and the `pycharter` CLI.

PostgreSQL comes from the Rust test harness, through its `pycharter-test-postgres` binary:
`PYCHARTER_TEST_DATABASE_URL` if set, else a private throwaway cluster, one fresh database
per test. `scripts/test-python.sh` builds both binaries and names them in the environment.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest


def _binary(variable: str) -> str:
    path = os.environ.get(variable, "")
    if not path or not Path(path).is_file():
        raise RuntimeError(
            f"${variable} does not name a built binary ({path!r}) — run the Python tests "
            "with scripts/test-python.sh, which builds it"
        )
    return path


class PostgresServer:
    """The harness process: one `database` line in, one fresh database URL out."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [_binary("PYCHARTER_TEST_POSTGRES")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()

    def _ask(self, command: str) -> str:
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline().strip()
        if not answer or answer.startswith("error:"):
            raise RuntimeError(
                f"the PostgreSQL test server gave no {command} (exit code "
                f"{self._process.poll()}; its reason is on stderr above): {answer!r}"
            )
        return answer

    def fresh_database(self) -> str:
        return self._ask("database")

    def admin_url(self) -> str:
        return self._ask("admin")

    def stop(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=120)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty PostgreSQL database of its own."""
    return postgres_server.fresh_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of its own (not created yet)."""
    return f"sqlite://{tmp_path / 'pycharter.db'}"


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database on each real backend."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return request.getfixturevalue("sqlite_url")


def pycharter_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs the `pycharter` CLI of this build (the fix commands the messages name)."""
    return subprocess.run(
        [_binary("PYCHARTER_CLI"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_sql(url: str, *statements: str) -> None:
    """Runs `statements` on the database of `url` outside pycharter (psycopg2 or sqlite3):
    what an operator, another tool or a damaged disk does to a database."""
    if url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite://") :]) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()
