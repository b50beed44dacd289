"""Python-side throughput of store/get: pycharter_rs next to PyCharter 0.0.67's own stores,
same contract shape, same machine, one thread.

    benches/python.sh            # builds both environments, starts PostgreSQL, runs this

Operations (each timed for --seconds after a warm-up; ops/s = calls / elapsed):
- store: a new version of one contract's JSON Schema per call
  (pycharter_rs `store_schema(name, schema, version)`, PyCharter `store_json_schema(name,
  version, schema)`);
- get exact: that schema at a given version (`get_schema(name, version)`,
  `get_json_schema(name, version)`);
- get latest: the highest version's schema (`get_schema(name)`;
  PyCharter has no latest getter for a schema, its users call
  `get_json_schema(name, latest_version(name))`).

Prints one JSON document per measurement on stdout, then a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any, Callable

VERSIONS = 200  # versions stored before the gets: "latest" must pick among many


def contract_schema(version: str) -> dict[str, Any]:
    """A realistic data-contract JSON Schema (~2 KiB): 16 typed, constrained properties."""
    properties: dict[str, Any] = {
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]{8}$"},
        "customer_id": {"type": "integer", "minimum": 1},
        "amount": {"type": "number", "minimum": 0, "maximum": 1_000_000},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP", "JPY"]},
        "status": {"type": "string", "enum": ["new", "paid", "shipped", "cancelled"]},
        "created_at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
    }
    for i in range(9):
        properties[f"attribute_{i}"] = {
            "type": ["string", "null"],
            "maxLength": 64,
            "description": f"Free-form attribute {i} of the order",
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "orders",
        "description": f"Orders contract {version}",
        "type": "object",
        "properties": properties,
        "required": ["order_id", "customer_id", "amount", "currency"],
        "additionalProperties": False,
    }


def rate(call: Callable[[int], Any], seconds: float) -> float:
    """Calls call(0), call(1), … for `seconds` after a short warm-up; returns calls/s."""
    warm_until = time.perf_counter() + min(0.5, seconds / 4)
    i = 0
    while time.perf_counter() < warm_until:
        call(i)
        i += 1
    start = time.perf_counter()
    end = start + seconds
    n = 0
    while True:
        call(i + n)
        n += 1
        if n % 16 == 0 and time.perf_counter() >= end:
            break
    return n / (time.perf_counter() - start)


class Rs:
    """pycharter_rs."""

    label = "pycharter_rs"

    def __init__(self, backend: str, url: str | None) -> None:
        import pycharter_rs

        if backend == "postgres":
            self.store: Any = pycharter_rs.PostgresMetadataStore(url)
        else:
            self.store = pycharter_rs.InMemoryMetadataStore()
        self.store.connect()

    def store_schema(self, name: str, version: str, schema: dict[str, Any]) -> None:
        self.store.store_schema(name, schema, version)

    def get_exact(self, name: str, version: str) -> Any:
        return self.store.get_schema(name, version)

    def get_latest(self, name: str) -> Any:
        return self.store.get_schema(name)


class PyCharter:
    """PyCharter 0.0.67's PostgresContractStore / InMemoryContractStore."""

    label = "PyCharter 0.0.67"

    def __init__(self, backend: str, url: str | None) -> None:
        from pycharter.contract_store.in_memory import InMemoryContractStore
        from pycharter.contract_store.postgres import PostgresContractStore

        if backend == "postgres":
            # `pycharter db init` 0.0.67 fails on PostgreSQL (its Alembic chain writes a
            # 35-character revision id into the 32-character alembic_version column), so this
            # does what it does first, create the `pycharter` schema, and lets the store
            # create its tables (`auto_initialize`, PyCharter's own create_all).
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute('CREATE SCHEMA IF NOT EXISTS "pycharter"')
            self.store: Any = PostgresContractStore(url)
            self.store.connect(auto_initialize=True)
        else:
            self.store = InMemoryContractStore()
            self.store.connect()

    def store_schema(self, name: str, version: str, schema: dict[str, Any]) -> None:
        self.store.store_json_schema(name, version, schema)

    def get_exact(self, name: str, version: str) -> Any:
        return self.store.get_json_schema(name, version)

    def get_latest(self, name: str) -> Any:
        return self.store.get_json_schema(name, self.store.latest_version(name))


def run(kind: type, backend: str, url: str | None, seconds: float, run_id: str) -> dict[str, float]:
    client = kind(backend, url)
    name = f"orders_{run_id}"  # PyCharter: [a-z0-9_] only
    for v in range(VERSIONS):
        version = f"1.{v}.0"
        client.store_schema(name, version, contract_schema(version))
    exact = f"1.{VERSIONS // 2}.0"
    assert client.get_exact(name, exact)["description"] == f"Orders contract {exact}"
    assert client.get_latest(name)["description"] == f"Orders contract 1.{VERSIONS - 1}.0"
    # Stores go to another contract, so the gets below see VERSIONS versions whatever the
    # store rate (PyCharter's latest lists and sorts every version).
    stored = f"{name}_stores"
    schemas = [contract_schema(f"2.{v}.0") for v in range(4096)]
    results = {
        "store": rate(
            lambda i: client.store_schema(stored, f"2.{i}.0", schemas[i % len(schemas)]), seconds
        ),
        "get exact": rate(lambda _: client.get_exact(name, exact), seconds),
        "get latest": rate(lambda _: client.get_latest(name), seconds),
    }
    for op, ops in results.items():
        print(json.dumps({"impl": kind.label, "backend": backend, "op": op, "ops_per_s": round(ops, 1)}))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", help="a PostgreSQL database for pycharter_rs")
    parser.add_argument(
        "--pycharter-postgres-url",
        help="another database on the same server for PyCharter (its tables differ)",
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per operation")
    parser.add_argument("--only", choices=["rs", "pycharter"], help="measure one implementation")
    args = parser.parse_args()

    backends = ["memory"] + (["postgres"] if args.postgres_url else [])
    kinds = {"rs": [Rs], "pycharter": [PyCharter], None: [Rs, PyCharter]}[args.only]
    print(f"# {platform.python_implementation()} {platform.python_version()} on {platform.machine()}",
          file=sys.stderr)
    table: dict[tuple[str, str], dict[str, float]] = {}
    run_id = str(int(time.time()))
    for backend in backends:
        for kind in kinds:
            url = args.pycharter_postgres_url if kind is PyCharter else args.postgres_url
            table[(backend, kind.label)] = run(kind, backend, url, args.seconds, run_id)

    print("\n| backend | operation | pycharter_rs | PyCharter 0.0.67 | ratio |")
    print("|---|---|---:|---:|---:|")
    for backend in backends:
        rs = table.get((backend, Rs.label), {})
        py = table.get((backend, PyCharter.label), {})
        for op in ["store", "get exact", "get latest"]:
            a, b = rs.get(op), py.get(op)
            ratio = f"{a / b:.0f}×" if a and b else "—"
            cell = lambda x: f"{x:,.0f}/s" if x else "—"  # noqa: E731
            print(f"| {backend} | {op} | {cell(a)} | {cell(b)} | {ratio} |")


if __name__ == "__main__":
    main()
