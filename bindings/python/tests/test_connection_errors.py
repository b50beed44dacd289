"""Bad URLs, unreachable servers and wrong passwords: the typed exception, the CLI's message
word for word, and never the password."""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import pytest

import pycharter_rs
from conftest import PostgresServer, pycharter_cli


def cli_error(url: str) -> dict[str, str]:
    """What `pycharter db check --json` reports for a database it cannot check."""
    checked = pycharter_cli("db", "check", url, "--json")
    assert checked.returncode == 2, checked
    return json.loads(checked.stdout)


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def test_wrong_password_is_authentication_failed(postgres_server: PostgresServer) -> None:
    url = with_password(postgres_server.fresh_database(), "wrong-Secret-42")
    store = pycharter_rs.PostgresMetadataStore(url)

    with pytest.raises(pycharter_rs.AuthenticationFailed) as caught:
        store.connect()

    message = str(caught.value)
    assert "check the user name and password in the URL" in message
    assert "wrong-Secret-42" not in message and "wrong-Secret-42" not in repr(store)
    assert isinstance(caught.value, pycharter_rs.ConnectionFailed)
    assert cli_error(url) == {"error": message, "kind": "authentication_failed"}


def test_missing_database_is_database_missing(postgres_server: PostgresServer) -> None:
    parts = urlsplit(postgres_server.fresh_database())
    url = urlunsplit(parts._replace(path="/no_such_database_here"))
    store = pycharter_rs.PostgresMetadataStore(url)

    with pytest.raises(pycharter_rs.DatabaseMissing) as caught:
        store.connect()

    message = str(caught.value)
    assert "createdb" in message, message
    assert isinstance(caught.value, pycharter_rs.ConnectionFailed)
    assert cli_error(url) == {"error": message, "kind": "database_missing"}


def test_unreachable_server() -> None:
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/pycharter"
    store = pycharter_rs.PostgresMetadataStore(url)

    with pytest.raises(pycharter_rs.Unreachable) as caught:
        store.connect(connect_timeout=5)

    message = str(caught.value)
    assert message.startswith("Cannot connect to postgresql://app:***@127.0.0.1:1/pycharter")
    assert "s3cret-pw" not in message
    assert caught.value.database == "postgresql://app:***@127.0.0.1:1/pycharter"
    assert cli_error(url) == {"error": message, "kind": "unreachable"}


@pytest.mark.parametrize(
    "url",
    ["mysql://u:hunter2@h/db", "pycharter.db", "postgres:h/db", "u:hunter2@h/db"],
)
def test_module_functions_refuse_urls_the_cli_refuses_with_its_words(url: str) -> None:
    with pytest.raises(pycharter_rs.InvalidUrl) as caught:
        pycharter_rs.validate_schema(url)
    with pytest.raises(pycharter_rs.InvalidUrl):
        pycharter_rs.initialize_schema(url)

    message = str(caught.value)
    assert "hunter2" not in message
    assert "use sqlite://PATH, sqlite::memory:, postgres://USER:PASSWORD@HOST:PORT/DATABASE" in message
    assert cli_error(url) == {"error": message, "kind": "invalid_url"}


def test_a_store_class_refuses_another_backends_url() -> None:
    store = pycharter_rs.PostgresMetadataStore("sqlite://pycharter.db")
    with pytest.raises(pycharter_rs.InvalidUrl, match="is not postgres:// or postgresql://"):
        store.connect()


def test_the_password_never_reaches_repr_or_schema_info(postgres_url: str) -> None:
    password = urlsplit(postgres_url).password
    assert password
    store = pycharter_rs.PostgresMetadataStore(postgres_url)
    store.connect()
    shown = [repr(store), store.database, repr(store.get_schema_info())]
    shown.append(repr(pycharter_rs.initialize_schema(postgres_url)))
    assert all(password not in text for text in shown), shown
    assert ":***@" in store.database


def test_bad_timeouts_are_value_errors(sqlite_url: str) -> None:
    store = pycharter_rs.SqliteMetadataStore(sqlite_url)
    with pytest.raises(ValueError, match="connect_timeout must be a finite number of seconds"):
        store.connect(connect_timeout=-1)
    with pytest.raises(ValueError, match="wait_for_schema"):
        store.connect(wait_for_schema=float("nan"))


def test_initialize_schema_takes_only_urls_and_connections() -> None:
    with pytest.raises(TypeError, match="expected a database URL \\(str\\) or a psycopg2/psycopg connection, got int"):
        pycharter_rs.validate_schema(42)  # type: ignore[arg-type]
