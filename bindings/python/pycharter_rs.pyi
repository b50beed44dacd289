"""PyCharter's documented schema-managed metadata stores, implemented in Rust.

Every call is synchronous and releases the GIL while it waits on the database; a store may
be shared by any number of threads.
"""

from types import TracebackType
from typing import Any, Literal, Optional, TypedDict, Union, final

from typing_extensions import Self, disjoint_base

__all__ = [
    "SCHEMA_VERSION",
    "__version__",
    "MetadataStore",
    "PostgresMetadataStore",
    "SqliteMetadataStore",
    "InMemoryMetadataStore",
    "initialize_schema",
    "validate_schema",
    "PycharterError",
    "SchemaError",
    "SchemaNotInitialized",
    "SchemaVersionMismatch",
    "SchemaOutdated",
    "SchemaNewer",
    "UnknownMigration",
    "MissingTables",
    "MissingIndexes",
    "ChecksumDrift",
    "NotFound",
    "VersionConflict",
    "InvalidInput",
    "InvalidDocument",
    "InvalidVersion",
    "InvalidName",
    "InvalidUrl",
    "ConnectionFailed",
    "Unreachable",
    "ConnectTimeout",
    "AuthenticationFailed",
    "DatabaseMissing",
    "TlsError",
    "InsufficientPrivilege",
    "ReadOnlyServer",
    "LockTimeout",
    "TableLockTimeout",
    "MigrationFailed",
    "DataLoss",
    "InvalidRequest",
    "DatabaseError",
    "NotConnected",
]

# The TypedDicts and aliases below exist for type checkers only (import them under
# `typing.TYPE_CHECKING`); at runtime the values are plain dicts.

__version__: str
SCHEMA_VERSION: str
"""The schema version (database layout) this build expects, e.g. ``"1.1.0"``."""

JSON = Any
"""A document: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` or ``None``, nested."""

SchemaState = Literal[
    "valid",
    "uninitialized",
    "unknown_migration",
    "newer",
    "missing_tables",
    "outdated",
    "missing_indexes",
    "checksum_drift",
]

ArtifactKind = Literal[
    "schema",
    "coercion_rules",
    "validation_rules",
    "metadata",
    "ownership",
    "governance_rules",
]

class SchemaInfo(TypedDict):
    """What ``get_schema_info()`` and ``validate_schema()`` return."""

    valid: bool
    """True only when the schema matches this build exactly."""
    version: Optional[str]
    """Highest schema version recorded in the database (None: uninitialized)."""
    message: str
    """One sentence: what is wrong and the command that fixes it."""
    state: SchemaState
    expected_version: str
    missing_tables: list[str]
    missing_indexes: list[str]
    pending: list[str]
    drifted: list[str]
    database: str
    """The database URL, password redacted."""

class StepReport(TypedDict):
    version: str
    description: str
    direction: Literal["up", "down", "repair"]
    sql: Optional[str]
    duration_ms: Optional[int]

class Postcondition(TypedDict):
    """The check after a migration command (in a dry run: what it would find)."""

    sound: bool
    """True when the database is sound at ``version``: a command that leaves it unsound raises."""
    version: Optional[str]
    """The version the command was asked to reach (None: base)."""
    state: SchemaState
    message: str

# Functional form: one key is ``from``, a keyword.
MigrationReport = TypedDict(
    "MigrationReport",
    {
        "action": str,
        "database": str,
        "from": Optional[str],
        "to": Optional[str],
        "dry_run": bool,
        "steps": list[StepReport],
        "message": str,
        "postcondition": Optional[Postcondition],
    },
)
"""What ``initialize_schema()`` returns: ``message`` says what was applied."""

class ArtifactRecord(TypedDict):
    """What ``get_artifact()`` returns."""

    id: int
    kind: ArtifactKind
    name: str
    version: str
    document: JSON
    created_at: str
    """ISO 8601, UTC."""

@disjoint_base
class MetadataStore:
    """The methods every store has. Create one of the subclasses."""

    @property
    def database(self) -> str:
        """The database URL, password redacted."""

    def connect(
        self,
        auto_initialize: bool = True,
        validate_schema_on_connect: bool = True,
        wait_for_schema: Optional[float] = None,
        *,
        connect_timeout: float = 10.0,
        statement_timeout: Optional[float] = None,
        lock_timeout: Optional[float] = None,
        namespace: Optional[str] = None,
        max_connections: int = 10,
    ) -> None:
        """Connect, then validate the schema; apply pending migrations when
        ``auto_initialize``; raise a ``SchemaError`` unless valid when
        ``validate_schema_on_connect``. ``wait_for_schema`` (seconds) keeps retrying while the
        server is unreachable or the schema not migrated yet."""

    def close(self) -> None:
        """Close the connections (idempotent)."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    def get_schema_info(self) -> SchemaInfo:
        """The schema's state (PyCharter's ``valid``, ``version``, ``message``, and more)."""

    def store_schema(self, schema_name: str, schema: JSON, version: str) -> int:
        """Store a JSON Schema; the same document again returns the same id."""

    def get_schema(self, schema_name: str, version: Optional[str] = None) -> Optional[JSON]:
        """The JSON Schema at ``version`` (None: the latest by semver), or None."""

    def store_coercion_rules(self, schema_name: str, coercion_rules: JSON, version: str) -> int: ...
    def get_coercion_rules(
        self, schema_name: str, version: Optional[str] = None
    ) -> Optional[JSON]: ...
    def store_validation_rules(
        self, schema_name: str, validation_rules: JSON, version: str
    ) -> int: ...
    def get_validation_rules(
        self, schema_name: str, version: Optional[str] = None
    ) -> Optional[JSON]: ...
    def store_metadata(self, schema_name: str, metadata: JSON, version: str) -> int: ...
    def get_metadata(self, schema_name: str, version: Optional[str] = None) -> Optional[JSON]: ...
    def store_ownership(self, schema_name: str, ownership: JSON, version: str) -> int: ...
    def get_ownership(self, schema_name: str, version: Optional[str] = None) -> Optional[JSON]: ...
    def store_governance_rules(
        self, schema_name: str, governance_rules: JSON, version: str
    ) -> int: ...
    def get_governance_rules(
        self, schema_name: str, version: Optional[str] = None
    ) -> Optional[JSON]: ...
    def get_artifact(
        self, kind: ArtifactKind, schema_name: str, version: Optional[str] = None
    ) -> Optional[ArtifactRecord]:
        """The whole record (id, version, created_at, document), or None."""

    def list_schemas(self) -> list[str]: ...
    def list_versions(self, schema_name: str) -> list[str]:
        """Ascending by semver precedence."""

    def delete_schema(self, schema_name: str, version: str) -> None:
        """Delete the version and everything attached to it (``NotFound`` if absent)."""

@final
class PostgresMetadataStore(MetadataStore):
    def __new__(cls, url: str) -> Self:
        """``postgresql://user:pass@host:5432/db`` (``sslmode`` and other parameters accepted)."""

@final
class SqliteMetadataStore(MetadataStore):
    def __new__(cls, url: str) -> Self:
        """``sqlite://path.db``, ``sqlite:///abs/path.db`` or ``sqlite::memory:``."""

@final
class InMemoryMetadataStore(MetadataStore):
    def __new__(cls) -> Self:
        """One private database, kept across ``connect()`` calls of this object."""

DatabaseConnection = Any
"""An open psycopg2 or psycopg connection (its ``info`` names the database)."""

def initialize_schema(
    conn: Union[str, DatabaseConnection], force: bool = False
) -> MigrationReport:
    """Apply pending migrations (idempotent); ``force`` also recreates missing tables and
    indexes, never dropping anything."""

def validate_schema(conn: Union[str, DatabaseConnection]) -> SchemaInfo:
    """The schema's state; an invalid schema is a result, not an exception."""

class PycharterError(Exception): ...
class SchemaError(PycharterError):
    database: str

class SchemaNotInitialized(SchemaError): ...

class SchemaVersionMismatch(SchemaError):
    found: str
    expected: str

class SchemaOutdated(SchemaVersionMismatch): ...
class SchemaNewer(SchemaVersionMismatch): ...

class UnknownMigration(SchemaError):
    found: str

class MissingTables(SchemaError):
    tables: list[str]

class MissingIndexes(SchemaError):
    indexes: list[str]

class ChecksumDrift(SchemaError):
    versions: list[str]

class NotFound(PycharterError):
    kind: ArtifactKind
    name: str
    version: str

class VersionConflict(PycharterError):
    kind: ArtifactKind
    name: str
    version: str

class InvalidInput(PycharterError): ...
class InvalidDocument(InvalidInput): ...
class InvalidVersion(InvalidInput): ...
class InvalidName(InvalidInput): ...
class InvalidUrl(InvalidInput): ...

class ConnectionFailed(PycharterError):
    database: str

class Unreachable(ConnectionFailed): ...
class ConnectTimeout(Unreachable): ...
class AuthenticationFailed(ConnectionFailed): ...
class DatabaseMissing(ConnectionFailed): ...
class TlsError(ConnectionFailed): ...

class InsufficientPrivilege(PycharterError):
    role: str
    database: str

class ReadOnlyServer(PycharterError):
    database: str

class LockTimeout(PycharterError):
    database: str

class TableLockTimeout(LockTimeout): ...

class MigrationFailed(PycharterError):
    database: str

class DataLoss(PycharterError):
    database: str

class InvalidRequest(PycharterError):
    database: str

class DatabaseError(PycharterError):
    database: str

class NotConnected(PycharterError): ...
