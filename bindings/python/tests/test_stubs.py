"""The type stubs (pycharter_rs.pyi, shipped with py.typed) describe the built module, and
mypy uses them: what the documentation writes type-checks, a wrong call does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pycharter_rs

HERE = Path(__file__).resolve().parent.parent


def mypy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def test_the_installed_package_is_typed() -> None:
    package = Path(pycharter_rs.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "__init__.pyi").read_text() == (HERE / "pycharter_rs.pyi").read_text()


def test_stubs_match_the_module(tmp_path: Path) -> None:
    done = mypy(
        "mypy.stubtest",
        "pycharter_rs",
        "--allowlist",
        str(HERE / "stubtest-allowlist.txt"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


USAGE = '''\
from typing import Optional, TYPE_CHECKING

from pycharter_rs import PostgresMetadataStore, MissingTables, initialize_schema, validate_schema

if TYPE_CHECKING:
    from pycharter_rs import SchemaInfo


def ok(url: str) -> Optional[str]:
    store = PostgresMetadataStore(url)
    store.connect(auto_initialize=False, validate_schema_on_connect=True, wait_for_schema=30)
    info: SchemaInfo = store.get_schema_info()
    valid: bool = info["valid"]
    version: Optional[str] = info["version"]
    store_id: int = store.store_schema("orders", {"type": "object"}, "1.0.0")
    versions: list[str] = store.list_versions("orders")
    report = initialize_schema(url, force=True)
    print(valid, store_id, versions, report["from"], validate_schema(url)["message"])
    try:
        store.get_ownership("orders", "1.0.0")
    except MissingTables as err:
        print(err.tables)
    return version


def wrong(url: str) -> None:
    store = PostgresMetadataStore(url)
    store.connect(auto_initialize="yes")  # expect-error
    store.get_schema(42)  # expect-error
    store.get_schema_info()["vaild"]  # expect-error
'''


def test_mypy_checks_calls_against_the_stubs(tmp_path: Path) -> None:
    (tmp_path / "usage.py").write_text(USAGE)

    done = mypy("mypy", "--strict", "--no-incremental", "usage.py", cwd=tmp_path)

    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    expected = [str(n) for n, line in enumerate(USAGE.splitlines(), 1) if "expect-error" in line]
    assert len(expected) == 3
    assert [line.split(":")[1] for line in errors] == expected, done.stdout
