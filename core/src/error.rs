//! The one error type of pycharter-rs. Every message says what happened and the command or
//! action that fixes it; `target` fields always hold a URL whose password is redacted.

use crate::artifact::ArtifactKind;
use crate::report::MigrationReport;
use crate::version::ContractVersion;
use std::time::Duration;

/// Result alias used across pycharter-rs.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure a pycharter-rs library call can report.
///
/// ```
/// use pycharter_core::Error;
/// let err = Error::NotInitialized { target: "sqlite://pycharter.db".into() };
/// assert_eq!(
///     err.to_string(),
///     "Schema not initialized in sqlite://pycharter.db — run: pycharter db init sqlite://pycharter.db"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database has no pycharter schema (no version table or no applied migration).
    #[error("Schema not initialized in {target} — run: pycharter db init {target}")]
    NotInitialized {
        /// Redacted database URL.
        target: String,
    },
    /// The database is at an older layout than this build expects.
    #[error(
        "Schema version mismatch: database is at {found}, this build expects {expected} — run: pycharter db upgrade {target}"
    )]
    SchemaOutdated {
        /// Version recorded in the database.
        found: String,
        /// [`crate::SCHEMA_VERSION`] of this build (or of the bundled migrations).
        expected: String,
        /// Redacted database URL.
        target: String,
    },
    /// The database was migrated by a newer pycharter build with a migration that does not
    /// keep this build working; this build refuses to write.
    #[error(
        "Schema version mismatch: database is at {found}, newer than this build ({expected}), and migration {incompatible} does not keep {expected} working; writes are refused — use a pycharter release that ships {found}, or with it run: pycharter db downgrade {target} --to {expected}"
    )]
    SchemaNewer {
        /// Version recorded in the database.
        found: String,
        /// Version this build expects.
        expected: String,
        /// The first migration above this build that does not declare it keeps this build
        /// working.
        incompatible: String,
        /// Redacted database URL.
        target: String,
    },
    /// The version table records a migration this build does not ship and that is not newer.
    #[error(
        "Database records migration {version}, which this build does not ship (hand-edited version table?) — run: pycharter db history {target}, then restore the version table or the database from a backup"
    )]
    UnknownMigration {
        /// The unknown version string as found.
        version: String,
        /// Redacted database URL.
        target: String,
    },
    /// Tables required by the recorded version are missing.
    #[error("Missing tables: {} — run: pycharter db init {target} --force", tables.join(", "))]
    MissingTables {
        /// Names of the missing tables.
        tables: Vec<String>,
        /// Redacted database URL.
        target: String,
    },
    /// Indexes required by the recorded version are missing.
    #[error("Missing indexes: {} — run: pycharter db init {target} --force", indexes.join(", "))]
    MissingIndexes {
        /// Names of the missing indexes.
        indexes: Vec<String>,
        /// Redacted database URL.
        target: String,
    },
    /// An applied migration's recorded checksum differs from the bundled migration.
    #[error(
        "Checksum drift: migration {} was applied with different SQL than this build ships — run: pycharter db history {target} to compare, then use the pycharter release that applied it or restore the database from a backup", versions.join(", ")
    )]
    ChecksumDrift {
        /// Versions whose checksum differs.
        versions: Vec<String>,
        /// Redacted database URL.
        target: String,
    },
    /// The requested artifact does not exist (e.g. attaching rules to a schema version
    /// that was never stored, or deleting one that is gone).
    #[error(
        "{kind} {name:?} version {version} not found — list what exists with MetadataStore::list_schemas / list_versions"
    )]
    NotFound {
        /// What was looked for ([`ArtifactKind::Schema`] when the schema version is missing).
        kind: ArtifactKind,
        /// Schema name.
        name: String,
        /// Schema version.
        version: ContractVersion,
    },
    /// `(kind, name, version)` already holds a different document; versions are immutable.
    #[error(
        "{kind} for {name} {version} already exists with a different document; versions are immutable — store the change as a new version"
    )]
    VersionConflict {
        /// What was being stored.
        kind: ArtifactKind,
        /// Schema name.
        name: String,
        /// Schema version.
        version: ContractVersion,
    },
    /// A document is not acceptable (not a JSON Schema, too large, too deep, …).
    #[error("Invalid document: {reason} — fix the document and store it again")]
    InvalidDocument {
        /// Why it was rejected.
        reason: String,
    },
    /// A version string is not a semantic version pycharter accepts.
    #[error(
        "Invalid version {input:?}: {reason} — use a semantic version such as 1.2.3 or 1.2.3-rc.1"
    )]
    InvalidVersion {
        /// The rejected input.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A schema name is not acceptable.
    #[error(
        "Invalid name {name:?}: {reason} — use 1 to 255 bytes of UTF-8 with no control characters and no leading or trailing whitespace"
    )]
    InvalidName {
        /// The rejected name (escaped by `Debug` formatting).
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A database URL could not be parsed or names an unsupported backend.
    #[error("Invalid database URL {url}: {reason} — use {accepted}")]
    InvalidUrl {
        /// Redacted URL.
        url: String,
        /// Why it was rejected.
        reason: String,
        /// The forms the caller accepts (a backend lists only its own).
        accepted: UrlForms,
    },
    /// The server is there, but the database named in the URL is not (Postgres SQLSTATE
    /// `3D000`). The `createdb` line names host, port and user, never the password.
    #[error(
        "Database {database:?} does not exist on {target} — create it, e.g. createdb{} {}", create_options(host, *port, user), shell_word(database)
    )]
    DatabaseMissing {
        /// Name of the missing database.
        database: String,
        /// Redacted database URL.
        target: String,
        /// Server host (or Unix socket directory).
        host: String,
        /// Server port.
        port: u16,
        /// User name of the URL.
        user: String,
    },
    /// The server could not be reached.
    #[error(
        "Cannot connect to {target}: {reason} — check that the server is running and reachable at that host and port"
    )]
    Unreachable {
        /// Redacted database URL.
        target: String,
        /// Driver's reason (never contains the password).
        reason: String,
    },
    /// Connecting took longer than the connect timeout.
    #[error(
        "Connecting to {target} timed out after {}s — check that the server is running and reachable, or raise the connect timeout", timeout.as_secs_f64()
    )]
    ConnectTimeout {
        /// Redacted database URL.
        target: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The server rejected the credentials.
    #[error("Authentication failed for {target}: {reason} — check the user name and password in the URL")]
    AuthenticationFailed {
        /// Redacted database URL.
        target: String,
        /// Server's reason.
        reason: String,
    },
    /// Another process held the migration lock for longer than the lock timeout.
    #[error(
        "Timed out after {}s waiting for the migration lock on {target}: another deployer is migrating — retry when it finishes, or raise --lock-timeout", waited.as_secs_f64()
    )]
    LockTimeout {
        /// Redacted database URL.
        target: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The server accepts no writes: a hot standby in recovery, or a server whose sessions
    /// are read-only (`default_transaction_read_only`). Nothing was changed.
    #[error(
        "{target} is a read-only standby ({reason}) — run migrations and writes against the primary, e.g. list every host in the URL with target_session_attrs=read-write"
    )]
    ReadOnlyServer {
        /// Redacted database URL.
        target: String,
        /// What the server said (e.g. `cannot execute INSERT in a read-only transaction`).
        reason: String,
    },
    /// Migration statements that need a table lock kept giving up after the DDL lock timeout
    /// (so that they never queued in front of the application's queries for longer), until
    /// the retry bound: something holds the table. What those attempts did was rolled back.
    #[error(
        "Gave up migrating {target} after {attempts} attempts over {}s: {reason}; a long-running query or transaction holds the table (see pg_stat_activity) — end it or wait for it, then run: pycharter db upgrade {target} (or raise --ddl-lock-retry-for)", waited.as_secs_f64()
    )]
    TableLockTimeout {
        /// Redacted database URL.
        target: String,
        /// The last attempt's reason (the statement and the lock it waited for).
        reason: String,
        /// How many times the migration tried.
        attempts: u32,
        /// How long it kept trying.
        waited: Duration,
    },
    /// A migration step failed; its transaction was rolled back.
    #[error(
        "Migration {version} failed and was rolled back; the database is still at {previous}: {reason} — fix the cause, then run: pycharter db upgrade {target}"
    )]
    MigrationFailed {
        /// The failing migration.
        version: String,
        /// The version the database stayed at (`none` when uninitialized).
        previous: String,
        /// Database's reason.
        reason: String,
        /// Redacted database URL.
        target: String,
    },
    /// A downgrade would drop tables that hold rows.
    #[error(
        "Downgrade to {to} would drop tables holding rows ({}) — back the data up, then run: pycharter db downgrade {target} --to {to} --allow-data-loss", tables.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
    )]
    DataLoss {
        /// The downgrade target.
        to: String,
        /// Tables with their row counts.
        tables: Vec<(String, u64)>,
        /// Redacted database URL.
        target: String,
    },
    /// A migration request that cannot be satisfied (unknown target version, wrong direction, …).
    #[error("Cannot {action}: {reason} — run: pycharter db history {target} to see the versions")]
    InvalidRequest {
        /// What was asked, e.g. `upgrade to 9.0.0`.
        action: String,
        /// Why it cannot be done.
        reason: String,
        /// Redacted database URL.
        target: String,
    },
    /// A migration command ran, but the database it left is not sound at the version it
    /// was asked to reach (see [`crate::report::Postcondition`]): `report` says what was
    /// done (committed), `cause` is the validator's error for the state found, with its fix.
    #[error("{}, but the database is not sound: {cause}", report.message)]
    PostconditionFailed {
        /// What the command did.
        report: Box<MigrationReport>,
        /// The validator's error for the state the command left.
        cause: Box<Error>,
    },
    /// Any other database failure.
    #[error("Database error on {target}: {reason} — run: pycharter db check {target} to diagnose")]
    Database {
        /// Redacted database URL.
        target: String,
        /// Driver's reason.
        reason: String,
    },
}

/// The URL forms a caller accepts, listed by [`Error::InvalidUrl`]: a backend's constructor
/// names only the forms it can open, the `pycharter` CLI every backend it ships.
///
/// ```
/// use pycharter_core::{Error, UrlForms};
/// let err = Error::InvalidUrl {
///     url: "mysql://app:***@db/contracts".into(),
///     reason: "scheme \"mysql\" is not postgres:// or postgresql://".into(),
///     accepted: UrlForms::Postgres,
/// };
/// assert!(err.to_string().ends_with("— use postgres://USER:PASSWORD@HOST:PORT/DATABASE or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"));
/// assert!(!err.to_string().contains("sqlite"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlForms {
    /// What `PostgresMetadataStore` opens.
    Postgres,
    /// What `SqliteMetadataStore` opens.
    Sqlite,
    /// What the `pycharter` CLI opens: every backend of this workspace.
    Any,
}

impl std::fmt::Display for UrlForms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlForms::Postgres => {
                "postgres://USER:PASSWORD@HOST:PORT/DATABASE or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            }
            UrlForms::Sqlite => "sqlite://PATH, sqlite:///ABSOLUTE/PATH or sqlite::memory:",
            UrlForms::Any => {
                "sqlite://PATH, sqlite::memory:, postgres://USER:PASSWORD@HOST:PORT/DATABASE or memory://"
            }
        })
    }
}

/// ` -h HOST -p PORT -U USER` for the `createdb` hint (empty parts left out).
fn create_options(host: &str, port: u16, user: &str) -> String {
    let mut options = String::new();
    if !host.is_empty() {
        options.push_str(&format!(" -h {}", shell_word(host)));
    }
    options.push_str(&format!(" -p {port}"));
    if !user.is_empty() {
        options.push_str(&format!(" -U {}", shell_word(user)));
    }
    options
}

/// `word` as one POSIX shell word: as is when it is plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b':'));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl Error {
    /// `NotFound` for a schema version.
    pub fn schema_version_not_found(name: &str, version: &ContractVersion) -> Self {
        Error::NotFound {
            kind: ArtifactKind::Schema,
            name: name.to_string(),
            version: version.clone(),
        }
    }

    /// True for errors that describe the state of the database schema (not I/O, not input):
    /// these are what [`crate::SchemaInfo::to_error`] produces.
    pub fn is_schema_state(&self) -> bool {
        if let Error::PostconditionFailed { cause, .. } = self {
            return cause.is_schema_state();
        }
        matches!(
            self,
            Error::NotInitialized { .. }
                | Error::SchemaOutdated { .. }
                | Error::SchemaNewer { .. }
                | Error::UnknownMigration { .. }
                | Error::MissingTables { .. }
                | Error::MissingIndexes { .. }
                | Error::ChecksumDrift { .. }
        )
    }

    /// True for errors that mean the database could not be reached or logged into (or is not
    /// there at all).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::ConnectTimeout { .. }
                | Error::AuthenticationFailed { .. }
                | Error::DatabaseMissing { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_missing_names_the_createdb_command_without_a_password() {
        let err = Error::DatabaseMissing {
            database: "contracts".into(),
            target: "postgres://app:***@db:5432/contracts".into(),
            host: "db".into(),
            port: 5432,
            user: "app".into(),
        };
        assert_eq!(
            err.to_string(),
            "Database \"contracts\" does not exist on postgres://app:***@db:5432/contracts \
             — create it, e.g. createdb -h db -p 5432 -U app contracts"
        );
        assert!(err.is_connection());
    }

    #[test]
    fn database_missing_quotes_names_for_the_shell() {
        let err = Error::DatabaseMissing {
            database: "it's; rm".into(),
            target: "postgres://localhost/x".into(),
            host: "/var/run/postgresql".into(),
            port: 5433,
            user: String::new(),
        };
        assert!(
            err.to_string()
                .ends_with(r"createdb -h /var/run/postgresql -p 5433 'it'\''s; rm'"),
            "{err}"
        );
    }

    #[test]
    fn each_caller_lists_only_the_url_forms_it_accepts() {
        let invalid = |accepted| {
            Error::InvalidUrl {
                url: "mysql://h/db".into(),
                reason: "unsupported scheme".into(),
                accepted,
            }
            .to_string()
        };
        let postgres = invalid(UrlForms::Postgres);
        assert!(postgres.contains("use postgres://USER:PASSWORD@HOST:PORT/DATABASE"));
        assert!(!postgres.contains("sqlite") && !postgres.contains("memory://"));
        let sqlite = invalid(UrlForms::Sqlite);
        assert!(sqlite.contains("use sqlite://PATH"));
        assert!(!sqlite.contains("postgres") && !sqlite.contains("memory://"));
        let any = invalid(UrlForms::Any);
        for form in ["sqlite://PATH", "postgres://", "memory://"] {
            assert!(any.contains(form), "{any}");
        }
    }
}
