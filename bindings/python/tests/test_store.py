"""The store methods on every backend (real PostgreSQL, real SQLite files, in-memory):
plain Python objects in and out, immutability, semver "latest", the other typed errors."""

from __future__ import annotations

import math
from typing import Any, Iterator

import pytest

import pycharter_rs

ATTACHED = ["coercion_rules", "validation_rules", "metadata", "ownership", "governance_rules"]


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


def store_attached(store: pycharter_rs.MetadataStore, kind: str, name: str, doc: Any, version: str) -> int:
    return getattr(store, f"store_{kind}")(name, doc, version)


def get_attached(store: pycharter_rs.MetadataStore, kind: str, name: str, version: Any = None) -> Any:
    return getattr(store, f"get_{kind}")(name, version)


def test_documents_round_trip_as_plain_python_objects(store: pycharter_rs.MetadataStore) -> None:
    schema = {
        "type": "object",
        "title": "Bestellung — 注文",
        "properties": {"id": {"type": "integer", "minimum": 0}, "price": {"type": "number"}},
        "required": ["id"],
        "examples": [{"id": 1, "price": 9.5, "gift": False, "note": None}],
        "x-limits": {"big": 2**63 - 1, "negative": -(2**63), "unsigned": 2**64 - 1, "ratio": 0.1},
    }
    store.store_schema("orders", schema, "1.0.0")
    assert store.get_schema("orders", "1.0.0") == schema
    assert store.get_schema("orders") == schema
    # A tuple is a JSON array.
    store.store_metadata("orders", {"tags": ("pii", "finance")}, "1.0.0")
    assert store.get_metadata("orders") == {"tags": ["pii", "finance"]}


def test_every_attached_kind_is_stored_and_read_back(store: pycharter_rs.MetadataStore) -> None:
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    for kind in ATTACHED:
        stored_id = store_attached(store, kind, "orders", {"kind": kind}, "1.0.0")
        assert get_attached(store, kind, "orders", "1.0.0") == {"kind": kind}
        assert get_attached(store, kind, "orders") == {"kind": kind}
        record = store.get_artifact(kind, "orders")
        assert record is not None
        assert (record["kind"], record["name"], record["version"]) == (kind, "orders", "1.0.0")
        assert record["document"] == {"kind": kind}
        assert record["id"] == stored_id
        assert record["created_at"].startswith("20")


def test_absent_documents_are_none(store: pycharter_rs.MetadataStore) -> None:
    assert store.get_schema("nothing") is None
    assert store.get_schema("nothing", "1.0.0") is None
    assert store.get_artifact("schema", "nothing") is None
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    assert store.get_ownership("orders") is None
    assert store.list_versions("nothing") == []


def test_versions_are_immutable(store: pycharter_rs.MetadataStore) -> None:
    first = store.store_schema("orders", {"type": "object"}, "1.0.0")
    assert store.store_schema("orders", {"type": "object"}, "1.0.0") == first, "same document: no-op"

    with pytest.raises(pycharter_rs.VersionConflict) as caught:
        store.store_schema("orders", {"type": "array"}, "1.0.0")

    err = caught.value
    assert (err.kind, err.name, err.version) == ("schema", "orders", "1.0.0")
    assert "versions are immutable — store the change as a new version" in str(err)
    assert store.get_schema("orders", "1.0.0") == {"type": "object"}, "nothing overwritten"

    store.store_ownership("orders", {"owner": "team-a"}, "1.0.0")
    with pytest.raises(pycharter_rs.VersionConflict):
        store.store_ownership("orders", {"owner": "team-b"}, "1.0.0")
    assert store.get_ownership("orders") == {"owner": "team-a"}


def test_latest_is_semver_precedence(store: pycharter_rs.MetadataStore) -> None:
    for version in ["1.10.0", "1.9.0", "1.10.0-rc.1", "1.2.0"]:
        store.store_schema("orders", {"title": version}, version)

    assert store.get_schema("orders") == {"title": "1.10.0"}
    assert store.list_versions("orders") == ["1.2.0", "1.9.0", "1.10.0-rc.1", "1.10.0"]

    # The latest schema version's ownership, never an older version's.
    store.store_ownership("orders", {"owner": "old"}, "1.9.0")
    assert store.get_ownership("orders") is None
    store.store_ownership("orders", {"owner": "new"}, "1.10.0")
    assert store.get_ownership("orders") == {"owner": "new"}
    assert store.get_ownership("orders", "1.9.0") == {"owner": "old"}


def test_list_and_delete(store: pycharter_rs.MetadataStore) -> None:
    store.store_schema("payments", {"type": "object"}, "1.0.0")
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    store.store_schema("orders", {"type": "object"}, "2.0.0")
    store.store_ownership("orders", {"owner": "a"}, "2.0.0")
    assert store.list_schemas() == ["orders", "payments"]

    store.delete_schema("orders", "2.0.0")

    assert store.list_versions("orders") == ["1.0.0"]
    assert store.get_ownership("orders", "2.0.0") is None
    assert store.get_schema("orders") == {"type": "object"}
    with pytest.raises(pycharter_rs.NotFound) as caught:
        store.delete_schema("orders", "2.0.0")
    assert (caught.value.kind, caught.value.version) == ("schema", "2.0.0")


def test_attaching_to_a_missing_schema_version_is_not_found(store: pycharter_rs.MetadataStore) -> None:
    with pytest.raises(pycharter_rs.NotFound) as caught:
        store.store_ownership("orders", {"owner": "a"}, "1.0.0")
    assert 'schema "orders" version 1.0.0 not found' in str(caught.value)
    assert store.list_schemas() == []


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda s: s.store_schema("orders", {"type": "object"}, "1.0"), pycharter_rs.InvalidVersion,
         "use a semantic version such as 1.2.3"),
        (lambda s: s.get_schema("orders", "latest"), pycharter_rs.InvalidVersion, '"latest"'),
        (lambda s: s.store_schema("orders", {"type": "nonsense"}, "1.0.0"),
         pycharter_rs.InvalidDocument, "fix the document and store it again"),
        (lambda s: s.store_schema(" orders", {"type": "object"}, "1.0.0"), pycharter_rs.InvalidName,
         "no leading or trailing whitespace"),
        (lambda s: s.store_schema("orders\x00", {"type": "object"}, "1.0.0"),
         pycharter_rs.InvalidName, "no control characters"),
    ],
    ids=["short-version", "word-version", "not-a-json-schema", "padded-name", "nul-in-name"],
)
def test_bad_input_gets_its_typed_error_and_writes_nothing(
    store: pycharter_rs.MetadataStore, call: Any, error: type, fragment: str
) -> None:
    with pytest.raises(error) as caught:
        call(store)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, pycharter_rs.InvalidInput)
    assert store.list_schemas() == []


def cyclic() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


def nested(depth: int) -> Any:
    doc: Any = {}
    for _ in range(depth):
        doc = {"a": doc}
    return doc


@pytest.mark.parametrize(
    "document, fragment",
    [
        ({"values": {1, 2}}, "a set is not JSON"),
        ({1: "one"}, "object keys must be str, not int"),
        ({"x": math.nan}, "NaN is not a JSON number"),
        ({"x": math.inf}, "inf is not a JSON number"),
        ({"x": 2**64}, "the integer 18446744073709551616 does not fit in 64 bits"),
        ({"x": b"bytes"}, "a bytes is not JSON"),
        (cyclic(), "contains itself"),
        (nested(100), "levels deep"),
    ],
    ids=["set", "int-key", "nan", "inf", "huge-int", "bytes", "cycle", "too-deep"],
)
def test_python_objects_that_are_not_json_are_invalid_documents(
    store: pycharter_rs.MetadataStore, document: Any, fragment: str
) -> None:
    with pytest.raises(pycharter_rs.InvalidDocument) as caught:
        store.store_metadata("orders", document, "1.0.0")
    assert fragment in str(caught.value)


def test_methods_before_connect_or_after_close_raise_not_connected() -> None:
    store = pycharter_rs.InMemoryMetadataStore()
    with pytest.raises(pycharter_rs.NotConnected, match=r"call connect\(\) first"):
        store.get_schema("orders")
    store.connect()
    store.store_schema("orders", {"type": "object"}, "1.0.0")
    store.close()
    store.close()  # idempotent
    with pytest.raises(pycharter_rs.NotConnected):
        store.list_schemas()
    # The in-memory database outlives a close: reconnecting finds what was stored.
    store.connect(auto_initialize=False)
    assert store.get_schema("orders") == {"type": "object"}


def test_context_manager_connects_and_closes(sqlite_url: str) -> None:
    with pycharter_rs.SqliteMetadataStore(sqlite_url) as store:
        assert "(connected)" in repr(store)
        store.store_schema("orders", {"type": "object"}, "1.0.0")
    assert "(not connected)" in repr(store)
    with pytest.raises(pycharter_rs.NotConnected):
        store.get_schema("orders")


def test_get_artifact_rejects_an_unknown_kind(store: pycharter_rs.MetadataStore) -> None:
    with pytest.raises(ValueError, match='unknown kind "schemas": use one of schema, coercion_rules'):
        store.get_artifact("schemas", "orders")  # type: ignore[arg-type]
