"""One store shared by many threads; the GIL released while a call waits on the database;
Ctrl-C answered during such a wait; a forked child told, not hung."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable, Iterator

import pytest

import pycharter_rs

THREADS = 8


@pytest.fixture(params=["postgres", "sqlite", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[pycharter_rs.MetadataStore]:
    if request.param == "postgres":
        made: pycharter_rs.MetadataStore = pycharter_rs.PostgresMetadataStore(
            request.getfixturevalue("postgres_url")
        )
    elif request.param == "sqlite":
        made = pycharter_rs.SqliteMetadataStore(request.getfixturevalue("sqlite_url"))
    else:
        made = pycharter_rs.InMemoryMetadataStore()
    with made:
        yield made


def run_threads(work: Callable[[int], Any]) -> list[Any]:
    """Runs work(0..THREADS) on as many threads, started together; returns each result or
    the exception it raised."""
    start = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def body(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as err:  # noqa: BLE001 — the test inspects it
            results[i] = err

    threads = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread did not finish within 120 s"
    return results


def test_threads_share_one_store(store: pycharter_rs.MetadataStore) -> None:
    versions = [f"1.{minor}.0" for minor in range(15)]

    def writer(i: int) -> list[Any]:
        latest_seen = []
        for version in versions:
            store.store_schema(f"schema-{i}", {"title": f"{i} {version}"}, version)
            store.store_ownership(f"schema-{i}", {"owner": f"team-{i}"}, version)
            latest_seen.append(store.get_schema(f"schema-{i}"))
        return latest_seen

    results = run_threads(writer)

    for i, seen in enumerate(results):
        assert not isinstance(seen, Exception), seen
        assert seen == [{"title": f"{i} {version}"} for version in versions]
        assert store.list_versions(f"schema-{i}") == versions
        assert store.get_ownership(f"schema-{i}") == {"owner": f"team-{i}"}


def test_concurrent_writers_of_one_version_exactly_one_wins(store: pycharter_rs.MetadataStore) -> None:
    results = run_threads(lambda i: store.store_schema("orders", {"title": f"writer {i}"}, "1.0.0"))

    winners = [i for i, r in enumerate(results) if isinstance(r, int)]
    assert len(winners) == 1, results
    losers = [r for r in results if not isinstance(r, int)]
    assert all(isinstance(r, pycharter_rs.VersionConflict) for r in losers), losers
    assert store.get_schema("orders") == {"title": f"writer {winners[0]}"}


def test_concurrent_writers_of_the_same_document_all_get_its_id(
    store: pycharter_rs.MetadataStore,
) -> None:
    results = run_threads(lambda _: store.store_schema("orders", {"type": "object"}, "1.0.0"))
    assert len(set(results)) == 1 and isinstance(results[0], int), results


# --- waiting on PostgreSQL -------------------------------------------------------------


class TableLock:
    """Holds ACCESS EXCLUSIVE on `schemas` from a psycopg2 session, and observes sessions
    of pycharter (application_name 'pycharter') waiting for a lock in pg_locks."""

    def __init__(self, url: str) -> None:
        import psycopg2

        self.holder = psycopg2.connect(url)
        self.holder.cursor().execute("LOCK TABLE schemas IN ACCESS EXCLUSIVE MODE")
        self.observer = psycopg2.connect(url)
        self.observer.autocommit = True

    def pycharter_waiting(self) -> bool:
        with self.observer.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.application_name = 'pycharter' "
                "AND a.datname = current_database()"
            )
            (count,) = cur.fetchone()
        return count > 0

    def wait_until_pycharter_waits(self, bound: float = 20.0) -> int:
        """Polls pg_locks (this thread runs Python meanwhile); returns the number of polls."""
        deadline = time.monotonic() + bound
        polls = 0
        while not self.pycharter_waiting():
            assert time.monotonic() < deadline, "no pycharter session ever waited in pg_locks"
            polls += 1
            time.sleep(0.01)  # backoff between polls, not the signal itself
        return polls

    def release(self) -> None:
        self.holder.rollback()
        self.holder.close()
        self.observer.close()


def test_a_call_waiting_on_the_database_releases_the_gil(postgres_url: str) -> None:
    store = pycharter_rs.PostgresMetadataStore(postgres_url)
    # The bound if the GIL were held: the blocked call would fail after 30 s, and only then
    # could this thread observe anything (and find nothing waiting).
    store.connect(statement_timeout=30)
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    lock = TableLock(postgres_url)
    results: list[Any] = []
    reader = threading.Thread(target=lambda: results.append(store.get_schema("orders")))

    reader.start()
    # This thread runs Python (psycopg2 queries) while the reader waits inside pycharter_rs.
    lock.wait_until_pycharter_waits()
    assert reader.is_alive()
    lock.release()
    reader.join(timeout=30)

    assert results == [{"type": "object"}]


def test_ctrl_c_interrupts_a_call_waiting_on_the_database(postgres_url: str) -> None:
    store = pycharter_rs.PostgresMetadataStore(postgres_url)
    store.connect(statement_timeout=60)
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    lock = TableLock(postgres_url)
    main = threading.main_thread().ident
    assert main == threading.get_ident(), "signals are delivered to the main thread"

    def press_ctrl_c() -> None:
        lock.wait_until_pycharter_waits()
        signal.pthread_kill(main, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            store.get_schema("orders")
        interrupted_after = time.monotonic() - started
    finally:
        presser.join(timeout=30)
        lock.release()

    assert interrupted_after < 30, "answered Ctrl-C long before the statement timeout"
    assert store.get_schema("orders") == {"type": "object"}, "the store is still usable"


def test_a_forked_child_gets_an_error_naming_the_fix_instead_of_hanging() -> None:
    store = pycharter_rs.InMemoryMetadataStore()
    store.connect()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's exit handlers
        try:
            store.get_schema("orders")
            outcome = "no error"
        except pycharter_rs.PycharterError as err:
            outcome = str(err)
        os.write(write_end, outcome.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        outcome = pipe.read()
    os.waitpid(pid, 0)

    assert "before this process was forked" in outcome, outcome
    assert "'spawn'" in outcome
    assert store.get_schema("orders") is None, "the parent is unaffected"
