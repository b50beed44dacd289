//! One Python exception class per kind of [`pycharter_core::Error`], under one base,
//! [`PycharterError`]. A message is the core error's `Display`, the very text the `pycharter`
//! CLI prints (the fix included, the password redacted); the fields worth matching on
//! (missing tables, versions, …) are also attributes of the exception.
//!
//! ```text
//! PycharterError
//! ├── SchemaError                 the database's schema is not what this build expects
//! │   ├── SchemaNotInitialized
//! │   ├── SchemaVersionMismatch
//! │   │   ├── SchemaOutdated      older: run pycharter db upgrade
//! │   │   └── SchemaNewer         migrated by a newer build
//! │   ├── UnknownMigration
//! │   ├── MissingTables
//! │   ├── MissingIndexes
//! │   └── ChecksumDrift
//! ├── NotFound
//! ├── VersionConflict
//! ├── InvalidInput
//! │   ├── InvalidDocument
//! │   ├── InvalidVersion
//! │   ├── InvalidName
//! │   └── InvalidUrl
//! ├── ConnectionFailed
//! │   ├── Unreachable
//! │   │   └── ConnectTimeout
//! │   ├── AuthenticationFailed
//! │   ├── DatabaseMissing     the server has no database of that name
//! │   └── TlsError            TLS refused: wrong CA, wrong host name, expired, not offered
//! ├── ReadOnlyServer          a standby (or read-only server): migrate on the primary
//! ├── InsufficientPrivilege   the role lacks a right (migrate with the deploy role)
//! ├── LockTimeout
//! │   └── TableLockTimeout    a migration statement kept waiting for a table lock
//! ├── MigrationFailed
//! ├── DataLoss
//! ├── InvalidRequest
//! ├── DatabaseError
//! └── NotConnected                a store method called before connect() or after close()
//! ```

use pycharter_core::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    pycharter_rs,
    PycharterError,
    PyException,
    "Base class of every error pycharter_rs raises."
);
create_exception!(
    pycharter_rs,
    SchemaError,
    PycharterError,
    "The database's schema is not the one this build expects; the message names the fix."
);
create_exception!(
    pycharter_rs,
    SchemaNotInitialized,
    SchemaError,
    "The database has no pycharter schema: run pycharter db init."
);
create_exception!(
    pycharter_rs,
    SchemaVersionMismatch,
    SchemaError,
    "The database's schema version differs from the one this build expects."
);
create_exception!(
    pycharter_rs,
    SchemaOutdated,
    SchemaVersionMismatch,
    "The database is at an older schema version: run pycharter db upgrade."
);
create_exception!(
    pycharter_rs,
    SchemaNewer,
    SchemaVersionMismatch,
    "The database was migrated by a newer build; this build refuses to write."
);
create_exception!(
    pycharter_rs,
    UnknownMigration,
    SchemaError,
    "The version table records a migration this build does not ship."
);
create_exception!(
    pycharter_rs,
    MissingTables,
    SchemaError,
    "Tables the recorded migrations created are missing: run pycharter db init --force."
);
create_exception!(
    pycharter_rs,
    MissingIndexes,
    SchemaError,
    "Indexes the recorded migrations created are missing: run pycharter db init --force."
);
create_exception!(
    pycharter_rs,
    ChecksumDrift,
    SchemaError,
    "An applied migration's SQL differs from the one this build ships."
);
create_exception!(
    pycharter_rs,
    NotFound,
    PycharterError,
    "The schema version does not exist (attaching to it, or deleting it)."
);
create_exception!(
    pycharter_rs,
    VersionConflict,
    PycharterError,
    "(kind, name, version) already holds a different document; versions are immutable."
);
create_exception!(
    pycharter_rs,
    InvalidInput,
    PycharterError,
    "An argument was rejected before anything was sent to the database."
);
create_exception!(
    pycharter_rs,
    InvalidDocument,
    InvalidInput,
    "A document is not acceptable (not JSON, not a JSON Schema, too large, too deep)."
);
create_exception!(
    pycharter_rs,
    InvalidVersion,
    InvalidInput,
    "A version is not a semantic version pycharter accepts."
);
create_exception!(
    pycharter_rs,
    InvalidName,
    InvalidInput,
    "A schema name is not acceptable."
);
create_exception!(
    pycharter_rs,
    InvalidUrl,
    InvalidInput,
    "A database URL cannot be parsed or names an unsupported backend."
);
create_exception!(
    pycharter_rs,
    ConnectionFailed,
    PycharterError,
    "The database could not be reached or logged into."
);
create_exception!(
    pycharter_rs,
    Unreachable,
    ConnectionFailed,
    "The server could not be reached."
);
create_exception!(
    pycharter_rs,
    ConnectTimeout,
    Unreachable,
    "Connecting took longer than the connect timeout."
);
create_exception!(
    pycharter_rs,
    AuthenticationFailed,
    ConnectionFailed,
    "The server rejected the credentials."
);
create_exception!(
    pycharter_rs,
    DatabaseMissing,
    ConnectionFailed,
    "The server is reachable but has no database of that name: create it first."
);
create_exception!(
    pycharter_rs,
    TlsError,
    ConnectionFailed,
    "The TLS handshake was refused: the message says why (CA, host name, expiry, not offered)."
);
create_exception!(
    pycharter_rs,
    InsufficientPrivilege,
    PycharterError,
    "The role lacks a right: run migrations with the deploy role, or grant the data rights."
);
create_exception!(
    pycharter_rs,
    ReadOnlyServer,
    PycharterError,
    "The server accepts no writes (a standby): run migrations and writes on the primary."
);
create_exception!(
    pycharter_rs,
    LockTimeout,
    PycharterError,
    "Another deployer held the migration lock for longer than the lock timeout."
);
create_exception!(
    pycharter_rs,
    TableLockTimeout,
    LockTimeout,
    "A migration statement gave up waiting for a table lock until the retry bound."
);
create_exception!(
    pycharter_rs,
    MigrationFailed,
    PycharterError,
    "A migration step failed and was rolled back."
);
create_exception!(
    pycharter_rs,
    DataLoss,
    PycharterError,
    "A downgrade would drop tables holding rows."
);
create_exception!(
    pycharter_rs,
    InvalidRequest,
    PycharterError,
    "A migration request cannot be satisfied."
);
create_exception!(
    pycharter_rs,
    DatabaseError,
    PycharterError,
    "Any other database failure."
);
create_exception!(
    pycharter_rs,
    NotConnected,
    PycharterError,
    "A store method was called before connect() or after close()."
);

/// Adds every exception class to the module.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    macro_rules! add {
        ($($class:ident),* $(,)?) => {$(
            module.add(stringify!($class), py.get_type::<$class>())?;
        )*};
    }
    add!(
        PycharterError,
        SchemaError,
        SchemaNotInitialized,
        SchemaVersionMismatch,
        SchemaOutdated,
        SchemaNewer,
        UnknownMigration,
        MissingTables,
        MissingIndexes,
        ChecksumDrift,
        NotFound,
        VersionConflict,
        InvalidInput,
        InvalidDocument,
        InvalidVersion,
        InvalidName,
        InvalidUrl,
        ConnectionFailed,
        Unreachable,
        ConnectTimeout,
        AuthenticationFailed,
        DatabaseMissing,
        TlsError,
        InsufficientPrivilege,
        ReadOnlyServer,
        LockTimeout,
        TableLockTimeout,
        MigrationFailed,
        DataLoss,
        InvalidRequest,
        DatabaseError,
        NotConnected,
    );
    Ok(())
}

/// The Python exception for `err`: its class, the core message, and its fields as attributes.
pub(crate) fn map_error(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    // A migration that ran but left the database unsound raises the class of what the
    // check after it found (MissingTables, …), with the whole message: what was done, then
    // the fix.
    let err = match err {
        Error::PostconditionFailed { cause, .. } => *cause,
        other => other,
    };
    let (exception, attributes): (PyErr, Vec<(&str, Py<PyAny>)>) = match err {
        Error::NotInitialized { target } => (
            SchemaNotInitialized::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::SchemaOutdated {
            found,
            expected,
            target,
        } => (
            SchemaOutdated::new_err(message),
            attrs(
                py,
                [
                    ("found", found),
                    ("expected", expected),
                    ("database", target),
                ],
            ),
        ),
        Error::SchemaNewer {
            found,
            expected,
            target,
            ..
        } => (
            SchemaNewer::new_err(message),
            attrs(
                py,
                [
                    ("found", found),
                    ("expected", expected),
                    ("database", target),
                ],
            ),
        ),
        Error::UnknownMigration { version, target } => (
            UnknownMigration::new_err(message),
            attrs(py, [("found", version), ("database", target)]),
        ),
        Error::MissingTables { tables, target } => (
            MissingTables::new_err(message),
            with_list(py, "tables", tables, target),
        ),
        Error::MissingIndexes { indexes, target } => (
            MissingIndexes::new_err(message),
            with_list(py, "indexes", indexes, target),
        ),
        Error::ChecksumDrift { versions, target } => (
            ChecksumDrift::new_err(message),
            with_list(py, "versions", versions, target),
        ),
        Error::NotFound {
            kind,
            name,
            version,
        } => (
            NotFound::new_err(message),
            attrs(
                py,
                [
                    ("kind", kind_name(kind)),
                    ("name", name),
                    ("version", version.to_string()),
                ],
            ),
        ),
        Error::VersionConflict {
            kind,
            name,
            version,
        } => (
            VersionConflict::new_err(message),
            attrs(
                py,
                [
                    ("kind", kind_name(kind)),
                    ("name", name),
                    ("version", version.to_string()),
                ],
            ),
        ),
        Error::InvalidDocument { .. } => (InvalidDocument::new_err(message), Vec::new()),
        Error::InvalidVersion { .. } => (InvalidVersion::new_err(message), Vec::new()),
        Error::InvalidName { .. } => (InvalidName::new_err(message), Vec::new()),
        Error::InvalidUrl { .. } => (InvalidUrl::new_err(message), Vec::new()),
        Error::Unreachable { target, .. } => (
            Unreachable::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::ConnectTimeout { target, .. } => (
            ConnectTimeout::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::AuthenticationFailed { target, .. } => (
            AuthenticationFailed::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::DatabaseMissing { target, .. } => (
            DatabaseMissing::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::Tls { target, .. } => (
            TlsError::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::InsufficientPrivilege { role, target, .. } => (
            InsufficientPrivilege::new_err(message),
            attrs(py, [("role", role), ("database", target)]),
        ),
        Error::ReadOnlyServer { target, .. } => (
            ReadOnlyServer::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::LockTimeout { target, .. } => (
            LockTimeout::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::TableLockTimeout { target, .. } => (
            TableLockTimeout::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::MigrationFailed { target, .. } => (
            MigrationFailed::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::DataLoss { target, .. } => (
            DataLoss::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::InvalidRequest { target, .. } => (
            InvalidRequest::new_err(message),
            attrs(py, [("database", target)]),
        ),
        Error::Database { target, .. } => (
            DatabaseError::new_err(message),
            attrs(py, [("database", target)]),
        ),
        // `Error` is non-exhaustive: a variant added later is still a PycharterError.
        _ => (PycharterError::new_err(message), Vec::new()),
    };
    let value = exception.value(py);
    for (name, attribute) in attributes {
        // Setting an attribute on a fresh exception instance cannot fail short of memory
        // exhaustion; the exception is still worth raising without it.
        let _ = value.setattr(name, attribute);
    }
    exception
}

/// The name of a kind as core serializes it (`"schema"`, `"coercion_rules"`, …): what
/// `get_artifact` takes and records carry.
pub(crate) fn kind_name(kind: pycharter_core::ArtifactKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        // Unreachable (a unit variant serializes to its name); the table name is close.
        _ => kind.table().to_string(),
    }
}

fn attrs<const N: usize>(
    py: Python<'_>,
    pairs: [(&'static str, String); N],
) -> Vec<(&'static str, Py<PyAny>)> {
    pairs
        .into_iter()
        .map(|(name, value)| {
            (
                name,
                value
                    .into_pyobject(py)
                    .map_or_else(|_| py.None(), |v| v.into_any().unbind()),
            )
        })
        .collect()
}

fn with_list(
    py: Python<'_>,
    name: &'static str,
    items: Vec<String>,
    target: String,
) -> Vec<(&'static str, Py<PyAny>)> {
    let list = items
        .into_pyobject(py)
        .map_or_else(|_| py.None(), |v| v.into_any().unbind());
    let mut out = attrs(py, [("database", target)]);
    out.push((name, list));
    out
}
