"""10⁵ get calls (hits, misses, raised errors) leave the process's resident memory bounded:
no document, record or exception is leaked per call."""

from __future__ import annotations

from pathlib import Path

import pytest

import pycharter_rs

CALLS = 100_000
# A leak of one document per call would be ~2 KiB × 10⁵ ≈ 200 MiB; allocator noise and
# the interpreter's own caches stay far below this bound.
BOUND_BYTES = 16 * 1024 * 1024


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def document() -> dict[str, object]:
    return {
        "type": "object",
        "properties": {f"field_{i}": {"type": "string", "maxLength": i} for i in range(40)},
    }


def exercise(store: pycharter_rs.MetadataStore, calls: int) -> None:
    for i in range(calls // 4):
        assert store.get_schema("orders") is not None
        assert store.get_ownership("orders", "1.0.0") is not None
        assert store.get_schema("missing") is None
        try:
            store.get_schema("orders", "not-a-version")
        except pycharter_rs.InvalidVersion:
            pass
        else:
            raise AssertionError("expected InvalidVersion")


@pytest.mark.parametrize("backend", ["memory", "postgres"])
def test_get_calls_do_not_grow_resident_memory(backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "postgres":
        store: pycharter_rs.MetadataStore = pycharter_rs.PostgresMetadataStore(
            request.getfixturevalue("postgres_url")
        )
    else:
        store = pycharter_rs.InMemoryMetadataStore()
    store.connect()
    store.store_schema("orders", document(), "1.0.0")
    store.store_ownership("orders", {"owner": "team-orders", "notes": "x" * 1024}, "1.0.0")
    exercise(store, 10_000)  # warm up: pools, caches, allocator arenas
    before = rss_bytes()

    exercise(store, CALLS)

    grown = rss_bytes() - before
    store.close()
    assert grown < BOUND_BYTES, f"resident memory grew by {grown / 2**20:.1f} MiB over {CALLS} calls"
