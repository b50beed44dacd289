"""Every case of the documentation's Troubleshooting section ("Schema not initialized",
"Schema version mismatch", "Missing tables") raises its exception on PostgreSQL and SQLite;
the message is the one the `pycharter` CLI prints for the same database (the fix included,
the password redacted); and running the documented solution fixes it.
"""

from __future__ import annotations

import json

import pytest

import pycharter_rs
from conftest import pycharter_cli, run_sql


def store_for(url: str) -> pycharter_rs.MetadataStore:
    if url.startswith("sqlite:"):
        return pycharter_rs.SqliteMetadataStore(url)
    return pycharter_rs.PostgresMetadataStore(url)


def cli_message(url: str) -> str:
    """What `pycharter db check --json` says about the database."""
    checked = pycharter_cli("db", "check", url, "--json")
    assert checked.returncode == 1, checked
    return json.loads(checked.stdout)["message"]


def cli_ok(*args: str) -> str:
    done = pycharter_cli(*args)
    assert done.returncode == 0, done
    return done.stdout


def assert_connects(url: str) -> None:
    store = store_for(url)
    store.connect(auto_initialize=False, validate_schema_on_connect=True)
    assert store.get_schema_info()["valid"] is True
    store.close()


def test_schema_not_initialized(database_url: str) -> None:
    store = store_for(database_url)
    with pytest.raises(pycharter_rs.SchemaNotInitialized) as caught:
        store.connect(auto_initialize=False, validate_schema_on_connect=True)

    message = str(caught.value)
    assert message.startswith("Schema not initialized")
    assert message == cli_message(database_url)
    assert message.endswith(f"run: pycharter db init {caught.value.database}")
    assert isinstance(caught.value, pycharter_rs.SchemaError)

    # Solution: Initialize schema using CLI
    cli_ok("db", "init", database_url)
    assert_connects(database_url)


def test_schema_version_mismatch_older(database_url: str) -> None:
    pycharter_rs.initialize_schema(database_url)
    cli_ok("db", "downgrade", database_url, "--to", "1.0.0")

    store = store_for(database_url)
    with pytest.raises(pycharter_rs.SchemaVersionMismatch) as caught:
        store.connect(auto_initialize=False, validate_schema_on_connect=True)

    err = caught.value
    assert isinstance(err, pycharter_rs.SchemaOutdated)
    assert str(err).startswith("Schema version mismatch: database is at 1.0.0")
    assert (err.found, err.expected) == ("1.0.0", pycharter_rs.SCHEMA_VERSION)
    assert str(err) == cli_message(database_url)
    assert "run: pycharter db upgrade" in str(err)

    # Solution: Check current version and upgrade
    assert "1.0.0" in cli_ok("db", "current", database_url)
    cli_ok("db", "upgrade", database_url)
    assert_connects(database_url)


def test_schema_version_mismatch_newer(database_url: str) -> None:
    """A database migrated by a newer build (a version row this build does not ship), whose
    migration is breaking: compatible with itself only, as a 9.0.0 would be."""
    pycharter_rs.initialize_schema(database_url)
    run_sql(
        database_url,
        "CREATE TEMP TABLE newer AS SELECT * FROM pycharter_schema_version "
        f"WHERE version = '{pycharter_rs.SCHEMA_VERSION}'",
        "UPDATE newer SET version = '9.0.0', description = 'from a newer build', "
        "compatible_with = '9.0.0'",
        "INSERT INTO pycharter_schema_version SELECT * FROM newer",
    )

    store = store_for(database_url)
    with pytest.raises(pycharter_rs.SchemaVersionMismatch) as caught:
        store.connect()

    err = caught.value
    assert isinstance(err, pycharter_rs.SchemaNewer)
    assert (err.found, err.expected) == ("9.0.0", pycharter_rs.SCHEMA_VERSION)
    assert "newer than this build" in str(err)
    assert str(err) == cli_message(database_url)


def test_missing_tables(database_url: str) -> None:
    pycharter_rs.initialize_schema(database_url)
    run_sql(database_url, "DROP TABLE governance_rules")

    store = store_for(database_url)
    # auto_initialize applies pending migrations; it never repairs: still refused.
    with pytest.raises(pycharter_rs.MissingTables) as caught:
        store.connect()

    err = caught.value
    assert err.tables == ["governance_rules"]
    assert str(err).startswith("Missing tables: governance_rules")
    assert str(err).endswith(f"run: pycharter db init {err.database} --force")
    assert str(err) == cli_message(database_url)

    # Solution: Re-initialize (--force never drops anything)
    cli_ok("db", "init", database_url, "--force")
    assert_connects(database_url)


def test_missing_tables_repaired_from_python(database_url: str) -> None:
    """initialize_schema(conn, force=True) is `pycharter db init --force`."""
    pycharter_rs.initialize_schema(database_url)
    store = store_for(database_url)
    store.connect()
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    store.close()
    run_sql(database_url, "DROP TABLE ownership")
    assert pycharter_rs.validate_schema(database_url)["missing_tables"] == ["ownership"]

    report = pycharter_rs.initialize_schema(database_url, force=True)

    assert [step["direction"] for step in report["steps"]] == ["repair"]
    assert_connects(database_url)
    store.connect()
    assert store.get_schema("orders", "1.0.0") == {"type": "object"}, "nothing dropped"


def test_missing_indexes(database_url: str) -> None:
    pycharter_rs.initialize_schema(database_url)
    run_sql(database_url, "DROP INDEX idx_schemas_name_sort_key")

    with pytest.raises(pycharter_rs.MissingIndexes) as caught:
        store_for(database_url).connect()

    assert caught.value.indexes == ["idx_schemas_name_sort_key"]
    assert str(caught.value) == cli_message(database_url)


def test_store_calls_on_a_damaged_database_raise_the_schema_error(database_url: str) -> None:
    """A store connected without validation still refuses to write into a damaged schema,
    with the typed error, never a raw SQL error."""
    pycharter_rs.initialize_schema(database_url)
    run_sql(database_url, "DROP TABLE metadata")
    store = store_for(database_url)
    store.connect(auto_initialize=False, validate_schema_on_connect=False)

    with pytest.raises(pycharter_rs.MissingTables):
        store.store_schema("orders", {"type": "object"}, "1.0.0")
