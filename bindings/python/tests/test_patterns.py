"""PyCharter's three documented usage patterns ("Database Schema Management", Usage
Patterns), run as written: only the import line names pycharter_rs instead of pycharter,
and the documentation's example URL is the test's fresh database.

Each body below is the documentation's code block; the assertions after it check what it
printed and what it left in the database.
"""

from __future__ import annotations

import pytest

import pycharter_rs


def test_pattern_1_automatic_initialization(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pycharter_rs import PostgresMetadataStore

    # Schema is automatically initialized on connect()
    store = PostgresMetadataStore(postgres_url)
    store.connect()  # auto_initialize=True by default

    # Check schema status
    info = store.get_schema_info()
    print(f"Schema valid: {info['valid']}")
    print(f"Version: {info['version']}")

    assert capsys.readouterr().out == (
        f"Schema valid: True\nVersion: {pycharter_rs.SCHEMA_VERSION}\n"
    )
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    assert store.get_schema("orders") == {"type": "object"}


def test_pattern_2_manual_initialization(postgres_url: str) -> None:
    from pycharter_rs import PostgresMetadataStore, initialize_schema
    import psycopg2

    # Initialize schema manually (e.g., in deployment script)
    conn = psycopg2.connect(postgres_url)
    initialize_schema(conn)
    conn.close()

    # Then connect with validation only
    store = PostgresMetadataStore(postgres_url)
    store.connect(auto_initialize=False, validate_schema_on_connect=True)

    info = store.get_schema_info()
    assert info["valid"] is True
    assert info["version"] == pycharter_rs.SCHEMA_VERSION


def test_pattern_2_connect_without_the_manual_step_is_refused(postgres_url: str) -> None:
    """The pattern's point: with auto_initialize=False an uninitialized database is refused,
    not silently migrated."""
    store = pycharter_rs.PostgresMetadataStore(postgres_url)
    with pytest.raises(pycharter_rs.SchemaNotInitialized):
        store.connect(auto_initialize=False, validate_schema_on_connect=True)
    assert pycharter_rs.validate_schema(postgres_url)["state"] == "uninitialized"


def test_pattern_3_schema_validation_only(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pycharter_rs import validate_schema
    import psycopg2

    pycharter_rs.initialize_schema(postgres_url)

    conn = psycopg2.connect(postgres_url)
    result = validate_schema(conn)

    if result["valid"]:
        print("✓ Schema is valid")
    else:
        print(f"✗ Schema validation failed: {result['message']}")

    conn.close()
    assert capsys.readouterr().out == "✓ Schema is valid\n"


def test_pattern_3_reports_an_uninitialized_database_with_the_fix(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pycharter_rs import validate_schema
    import psycopg2

    conn = psycopg2.connect(postgres_url)
    result = validate_schema(conn)

    if result["valid"]:
        print("✓ Schema is valid")
    else:
        print(f"✗ Schema validation failed: {result['message']}")

    conn.close()
    out = capsys.readouterr().out
    assert out.startswith("✗ Schema validation failed: Schema not initialized in postgres")
    assert "run: pycharter db init postgres" in out


def test_manual_initialization_through_psycopg2_never_shows_the_password(
    postgres_url: str,
) -> None:
    """initialize_schema(conn) reads the connection's parameters, password included, to open
    its own connection; what it reports names the database without the password."""
    import psycopg2

    conn = psycopg2.connect(postgres_url)
    password = conn.info.password
    report = pycharter_rs.initialize_schema(conn)
    info = pycharter_rs.validate_schema(conn)
    conn.close()
    assert password, "the harness's server uses password authentication"
    applied = [step["version"] for step in report["steps"]]
    assert applied[0] == "1.0.0" and applied[-1] == pycharter_rs.SCHEMA_VERSION
    assert password not in repr(report) and password not in repr(info)
    assert ":***@" in info["database"]


@pytest.mark.parametrize(
    "make_store",
    [
        pytest.param(lambda url, _: pycharter_rs.PostgresMetadataStore(url), id="postgres"),
        pytest.param(lambda _, path: pycharter_rs.SqliteMetadataStore(path), id="sqlite"),
        pytest.param(lambda _url, _path: pycharter_rs.InMemoryMetadataStore(), id="memory"),
    ],
)
def test_pattern_1_holds_for_every_backend(make_store, postgres_url: str, sqlite_url: str) -> None:
    store = make_store(postgres_url, sqlite_url)
    store.connect()
    info = store.get_schema_info()
    assert (info["valid"], info["version"], info["state"]) == (
        True,
        pycharter_rs.SCHEMA_VERSION,
        "valid",
    )
    assert info["message"].startswith("Schema is valid")
    assert set(info) >= {
        "valid",
        "version",
        "message",
        "expected_version",
        "missing_tables",
        "missing_indexes",
        "pending",
        "state",
    }
    store.close()
