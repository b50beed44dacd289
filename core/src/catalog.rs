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
}

/// Test fixtures shared by core's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::AppliedMigration;
    use crate::spec::BundledMigration;

    /// The row the migration driver records when it applies `m`.
    pub(crate) fn recorded(m: &BundledMigration) -> AppliedMigration {
        AppliedMigration {
            version: m.version.to_string(),
            description: m.description.clone(),
            checksum: m.checksum.clone(),
            applied_at: chrono::Utc::now(),
            execution_ms: 0,
        }
    }

    /// The rows recorded after the first `n` of `bundled` were applied.
    pub(crate) fn recorded_rows(bundled: &[BundledMigration], n: usize) -> Vec<AppliedMigration> {
        bundled[..n].iter().map(recorded).collect()
    }
}
