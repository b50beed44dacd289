//! The logical database layout: the ordered migrations, the tables and indexes each adds,
//! and [`SCHEMA_VERSION`]. Backends pair each entry with their own SQL
//! ([`BundledMigration::new`]); core validates and plans against the logical part.

use crate::error::{Error, Result};
use semver::Version;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The table that records applied migrations (one row per migration).
pub const VERSION_TABLE: &str = "pycharter_schema_version";

/// The database layout version this build expects: the last entry of [`MIGRATIONS`].
pub const SCHEMA_VERSION: &str = "1.1.0";

/// One migration of the logical layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationSpec {
    /// Semver of the layout after this migration.
    pub version: &'static str,
    /// One line saying what it does.
    pub description: &'static str,
    /// Tables it creates (dropped again by its downgrade).
    pub tables: &'static [&'static str],
    /// Indexes it creates (dropped again by its downgrade).
    pub indexes: &'static [&'static str],
}

/// The ordered migrations of this build. Appending one (and its SQL in every backend) is how
/// the layout changes; an applied entry is never edited (its checksum would drift).
pub const MIGRATIONS: &[MigrationSpec] = &[
    MigrationSpec {
        version: "1.0.0",
        description: "Create the metadata tables and their indexes",
        tables: &[
            "schemas",
            "coercion_rules",
            "validation_rules",
            "metadata",
            "ownership",
            "governance_rules",
        ],
        indexes: &[
            "idx_schemas_name",
            "idx_schemas_version",
            "idx_schemas_name_version",
            "idx_coercion_rules_schema_id",
            "idx_validation_rules_schema_id",
            "idx_metadata_schema_id",
            "idx_ownership_schema_id",
            "idx_governance_rules_schema_id",
        ],
    },
    MigrationSpec {
        version: "1.1.0",
        description: "Index (name, version_sort_key) so the latest version is an index lookup",
        tables: &[],
        indexes: &["idx_schemas_name_sort_key"],
    },
];

/// A migration as shipped by one backend: the logical spec plus that backend's SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundledMigration {
    /// Layout version after this migration.
    pub version: Version,
    /// One line saying what it does.
    pub description: String,
    /// Tables it creates.
    pub tables: Vec<String>,
    /// Indexes it creates.
    pub indexes: Vec<String>,
    /// SQL that applies it (must be idempotent DDL: `IF NOT EXISTS`, so repair can rerun it).
    pub up_sql: String,
    /// SQL that reverts it.
    pub down_sql: String,
    /// Hex SHA-256 of `up_sql`, recorded when applied and compared on validation.
    pub checksum: String,
}

impl BundledMigration {
    /// Pairs a logical spec with a backend's SQL.
    pub fn new(spec: &MigrationSpec, up_sql: &str, down_sql: &str) -> Result<Self> {
        Self::custom(
            spec.version,
            spec.description,
            spec.tables,
            spec.indexes,
            up_sql,
            down_sql,
        )
    }

    /// A migration outside [`MIGRATIONS`] (tests use this to build failing or slow lists).
    pub fn custom(
        version: &str,
        description: &str,
        tables: &[&str],
        indexes: &[&str],
        up_sql: &str,
        down_sql: &str,
    ) -> Result<Self> {
        let parsed = Version::parse(version).map_err(|e| Error::InvalidVersion {
            input: version.to_string(),
            reason: e.to_string(),
        })?;
        Ok(BundledMigration {
            version: parsed,
            description: description.to_string(),
            tables: tables.iter().map(|t| t.to_string()).collect(),
            indexes: indexes.iter().map(|i| i.to_string()).collect(),
            up_sql: up_sql.to_string(),
            down_sql: down_sql.to_string(),
            checksum: checksum(up_sql),
        })
    }
}

/// Hex SHA-256 of a migration's SQL.
pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Pairs [`MIGRATIONS`] with a backend's `(up, down)` SQL, in order.
///
/// Fails (a bug in the backend, caught by its tests) when the counts differ.
pub fn bundle(sql: &[(&str, &str)]) -> Result<Vec<BundledMigration>> {
    if sql.len() != MIGRATIONS.len() {
        return Err(Error::InvalidRequest {
            action: "bundle migrations".into(),
            reason: format!(
                "{} SQL pairs for {} migrations",
                sql.len(),
                MIGRATIONS.len()
            ),
            target: "this build".into(),
        });
    }
    MIGRATIONS
        .iter()
        .zip(sql)
        .map(|(spec, (up, down))| BundledMigration::new(spec, up, down))
        .collect()
}

/// [`MIGRATIONS`] with descriptive pseudo-SQL, for backends without SQL (the in-memory one).
pub fn bundle_logical(backend: &str) -> Vec<BundledMigration> {
    MIGRATIONS
        .iter()
        .map(|spec| {
            let up = format!(
                "-- {backend}: create tables [{}] and indexes [{}]",
                spec.tables.join(", "),
                spec.indexes.join(", ")
            );
            let down = format!(
                "-- {backend}: drop indexes [{}] and tables [{}]",
                spec.indexes.join(", "),
                spec.tables.join(", ")
            );
            // The specs are constants whose versions are tested to parse.
            BundledMigration::new(spec, &up, &down).expect("MIGRATIONS hold valid versions")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_strictly_ordered_and_end_at_schema_version() {
        let versions: Vec<Version> = MIGRATIONS
            .iter()
            .map(|m| Version::parse(m.version).unwrap())
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(versions.last().unwrap().to_string(), SCHEMA_VERSION);
    }

    #[test]
    fn bundle_rejects_wrong_count() {
        assert!(bundle(&[("a", "b")]).is_err());
    }

    #[test]
    fn checksum_is_sha256_hex() {
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
