//! What a backend reports about its database: the raw facts core validates and plans from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One row of the version table, as found (the version is a string: the table may have been
/// edited by hand, and core must be able to say so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMigration {
    /// Version string as stored.
    pub version: String,
    /// Description as stored.
    pub description: String,
    /// Checksum recorded when it was applied.
    pub checksum: String,
    /// When it was applied.
    pub applied_at: DateTime<Utc>,
    /// How long applying it took, in milliseconds.
    pub execution_ms: i64,
    /// The oldest layout whose binaries keep working with it applied, as recorded (None for
    /// rows written before the version table had the column, i.e. before 1.2.0: core then
    /// takes it from the bundled migration of that version).
    #[serde(default)]
    pub compatible_with: Option<String>,
}

impl AppliedMigration {
    /// The recorded version as semver; surrounding whitespace (a hand-edited row) is ignored,
    /// anything else that does not parse is `None` (core reports it as an unknown migration).
    pub fn parsed_version(&self) -> Option<semver::Version> {
        semver::Version::parse(self.version.trim()).ok()
    }
}

/// A backend's report of its catalog, taken in one round trip where the database allows.
///
/// ```
/// use pycharter_core::CatalogSnapshot;
/// let empty = CatalogSnapshot::default();
/// assert!(!empty.version_table_exists);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSnapshot {
    /// Whether the version table exists.
    pub version_table_exists: bool,
    /// Names of the tables that exist (in the backend's namespace).
    pub tables: BTreeSet<String>,
    /// Names of the indexes that exist and are valid (usable by queries).
    pub indexes: BTreeSet<String>,
    /// Names of the indexes that exist but are not valid: a concurrent build that was
    /// interrupted (Postgres `pg_index.indisvalid = false`) or is still running. Backends
    /// without concurrent builds report none.
    #[serde(default)]
    pub invalid_indexes: BTreeSet<String>,
    /// Rows of the version table.
    pub applied: Vec<AppliedMigration>,
    /// Whether the server accepts writes (a backend that cannot tell reports `Primary`).
    #[serde(default)]
    pub server_role: ServerRole,
}

/// Whether the server a store reads from accepts writes: what `db check` reports, so that a
/// deployer pointed at a standby learns it before a migration is refused.
///
/// ```
/// use pycharter_core::ServerRole;
/// assert!(ServerRole::Standby.is_read_only());
/// assert!(!ServerRole::default().is_read_only());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerRole {
    /// Accepts writes: a Postgres primary, every SQLite file and in-memory store.
    #[default]
    Primary,
    /// A hot standby in recovery (`pg_is_in_recovery()`): reads only.
    Standby,
    /// Not in recovery, but its sessions are read-only (`default_transaction_read_only`).
    ReadOnly,
}

impl ServerRole {
    /// True when writes and migrations are refused ([`crate::Error::ReadOnlyServer`]).
    pub fn is_read_only(self) -> bool {
        self != ServerRole::Primary
    }

    /// What a message says about it.
    pub fn describe(self) -> &'static str {
        match self {
            ServerRole::Primary => "primary",
            ServerRole::Standby => "read-only standby (in recovery)",
            ServerRole::ReadOnly => "read-only server (default_transaction_read_only is on)",
        }
    }
}

/// Test fixtures shared by core's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::AppliedMigration;
    use crate::spec::{records_compatibility, BundledMigration};

    /// The row the migration driver records when it applies `m`.
    pub(crate) fn recorded(m: &BundledMigration) -> AppliedMigration {
        AppliedMigration {
            version: m.version.to_string(),
            description: m.description.clone(),
            checksum: m.checksum.clone(),
            applied_at: chrono::Utc::now(),
            execution_ms: 0,
            compatible_with: records_compatibility(&m.version)
                .then(|| m.compatible_with.to_string()),
        }
    }

    /// The rows recorded after the first `n` of `bundled` were applied.
    pub(crate) fn recorded_rows(bundled: &[BundledMigration], n: usize) -> Vec<AppliedMigration> {
        bundled[..n].iter().map(recorded).collect()
    }
}
