"""connect(wait_for_schema=SECONDS): an application started before the deploy step keeps
waiting for the schema; at the deadline it raises what it was waiting for; a schema that
waiting cannot fix fails at once."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterator

import pytest

import pycharter_rs
from conftest import run_sql


class WaitingLog(logging.Handler):
    """Collects the `pycharter_rs` logger's "waiting for the schema" records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.first = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.first.set()


@pytest.fixture
def waiting_log() -> Iterator[WaitingLog]:
    logger = logging.getLogger("pycharter_rs")
    handler = WaitingLog()
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_an_application_waits_for_the_deploy_step(database_url: str, waiting_log: WaitingLog) -> None:
    store = (
        pycharter_rs.SqliteMetadataStore(database_url)
        if database_url.startswith("sqlite:")
        else pycharter_rs.PostgresMetadataStore(database_url)
    )
    outcome: list[Any] = []

    def application() -> None:
        try:
            store.connect(auto_initialize=False, wait_for_schema=60)
            outcome.append(store.get_schema_info())
        except Exception as err:  # noqa: BLE001 — the test inspects it
            outcome.append(err)

    app = threading.Thread(target=application)
    app.start()
    assert waiting_log.first.wait(timeout=30), "the application never reported waiting"
    assert outcome == [], "still waiting, not failed"

    pycharter_rs.initialize_schema(database_url)  # the deploy step
    app.join(timeout=30)

    assert not app.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], dict), outcome
    assert outcome[0]["valid"] is True
    assert "Schema not initialized" in waiting_log.messages[0]


def test_at_the_deadline_it_raises_what_it_waited_for(postgres_url: str, waiting_log: WaitingLog) -> None:
    store = pycharter_rs.PostgresMetadataStore(postgres_url)
    started = time.monotonic()

    with pytest.raises(pycharter_rs.SchemaNotInitialized):
        store.connect(auto_initialize=False, wait_for_schema=1.0)

    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 15.0, elapsed
    assert len(waiting_log.messages) >= 2, waiting_log.messages


def test_an_unreachable_server_is_waited_for_then_reported() -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    store = pycharter_rs.PostgresMetadataStore("postgresql://app:secret@127.0.0.1:1/pycharter")
    started = time.monotonic()

    with pytest.raises(pycharter_rs.Unreachable) as caught:
        store.connect(wait_for_schema=0.5)

    assert time.monotonic() - started >= 0.5
    assert "secret" not in str(caught.value)


def test_a_damaged_schema_fails_at_once(database_url: str, waiting_log: WaitingLog) -> None:
    pycharter_rs.initialize_schema(database_url)
    run_sql(database_url, "DROP TABLE ownership")
    store = (
        pycharter_rs.SqliteMetadataStore(database_url)
        if database_url.startswith("sqlite:")
        else pycharter_rs.PostgresMetadataStore(database_url)
    )
    started = time.monotonic()

    with pytest.raises(pycharter_rs.MissingTables):
        store.connect(wait_for_schema=60)

    assert time.monotonic() - started < 10, "did not wait out the 60 s"
    assert waiting_log.messages == []
