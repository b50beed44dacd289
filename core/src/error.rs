//! The one error type of pycharter-rs. Every message says what happened and the command or
//! action that fixes it; `target` fields always hold a URL whose password is redacted.

use crate::artifact::ArtifactKind;
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
    /// The database was migrated by a newer pycharter build; this build refuses to write.
    #[error(
        "Schema version mismatch: database is at {found}, newer than this build ({expected}); writes are refused — use a pycharter release that ships {found}, or with it run: pycharter db downgrade {target} --to {expected}"
    )]
    SchemaNewer {
        /// Version recorded in the database.
        found: String,
        /// Version this build expects.
        expected: String,
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
    #[error(
        "Invalid database URL {url}: {reason} — use sqlite://PATH, sqlite::memory:, postgres://USER:PASSWORD@HOST:PORT/DATABASE or memory://"
    )]
    InvalidUrl {
        /// Redacted URL.
        url: String,
        /// Why it was rejected.
        reason: String,
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
    /// Any other database failure.
    #[error("Database error on {target}: {reason} — run: pycharter db check {target} to diagnose")]
    Database {
        /// Redacted database URL.
        target: String,
        /// Driver's reason.
        reason: String,
    },
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

    /// True for errors that mean the database could not be reached or logged into.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::ConnectTimeout { .. }
                | Error::AuthenticationFailed { .. }
        )
    }
}
