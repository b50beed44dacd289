//! The logical database layout: the ordered migrations, the tables and indexes each adds,
//! and [`SCHEMA_VERSION`]. Backends pair each entry with their own SQL
//! ([`BundledMigration::new`]); core validates and plans against the logical part.

use crate::error::{Error, Result};
use crate::version::semver_reason;
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
    /// Indexes it creates (dropped again by its downgrade), each with its table.
    pub indexes: &'static [IndexSpec],
}

/// An index of the logical layout and the table it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// Index name (the same on every backend).
    pub name: &'static str,
    /// The table it indexes.
    pub table: &'static str,
}

/// An index a migration creates: its name and its table (what a backend needs to know to
/// create it, and what a simulated catalog needs to refuse it on a missing table).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// The table it indexes.
    pub table: String,
}

impl From<&IndexSpec> for Index {
    fn from(spec: &IndexSpec) -> Self {
        Index {
            name: spec.name.to_string(),
            table: spec.table.to_string(),
        }
    }
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
            index("idx_schemas_name", "schemas"),
            index("idx_schemas_version", "schemas"),
            index("idx_schemas_name_version", "schemas"),
            index("idx_coercion_rules_schema_id", "coercion_rules"),
            index("idx_validation_rules_schema_id", "validation_rules"),
            index("idx_metadata_schema_id", "metadata"),
            index("idx_ownership_schema_id", "ownership"),
            index("idx_governance_rules_schema_id", "governance_rules"),
        ],
    },
    MigrationSpec {
        version: "1.1.0",
        description: "Index (name, version_sort_key) so the latest version is an index lookup",
        tables: &[],
        indexes: &[index("idx_schemas_name_sort_key", "schemas")],
    },
];

const fn index(name: &'static str, table: &'static str) -> IndexSpec {
    IndexSpec { name, table }
}

/// A right on a table, as the application role needs it ([`application_rights`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TableRight {
    /// Read rows.
    Select,
    /// Add rows.
    Insert,
    /// Remove rows (`delete_version`; attached rows go by the foreign keys' cascade).
    Delete,
}

impl TableRight {
    /// The SQL keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            TableRight::Select => "SELECT",
            TableRight::Insert => "INSERT",
            TableRight::Delete => "DELETE",
        }
    }
}

/// What the application role needs on one table of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRights {
    /// The table.
    pub table: String,
    /// The rights on it, ascending.
    pub rights: Vec<TableRight>,
    /// True when rows are added with generated ids (the backend's id sequence must be
    /// usable too).
    pub generated_ids: bool,
}

/// The least rights of the *application role* — the one that reads and writes metadata but
/// never changes the layout (that is the deploy role's job, `pycharter db upgrade`): read
/// the version table (to validate the schema), and read, add and remove rows of every table
/// of [`MIGRATIONS`]. Derived from the layout, so a migration that adds a table extends it;
/// backends render it as their statements (`pycharter db grants`).
///
/// ```
/// use pycharter_core::spec::{application_rights, TableRight, VERSION_TABLE};
/// let rights = application_rights();
/// assert_eq!(rights[0].table, VERSION_TABLE);
/// assert_eq!(rights[0].rights, [TableRight::Select]);
/// assert!(rights[1..].iter().all(|t| t.rights.contains(&TableRight::Delete)));
/// ```
pub fn application_rights() -> Vec<TableRights> {
    let version_table = TableRights {
        table: VERSION_TABLE.to_string(),
        rights: vec![TableRight::Select],
        generated_ids: false,
    };
    let layout = MIGRATIONS
        .iter()
        .flat_map(|m| m.tables.iter())
        .map(|table| TableRights {
            table: table.to_string(),
            rights: vec![TableRight::Select, TableRight::Insert, TableRight::Delete],
            generated_ids: true,
        });
    std::iter::once(version_table).chain(layout).collect()
}

/// A migration as shipped by one backend: the logical spec plus that backend's SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundledMigration {
    /// Layout version after this migration.
    pub version: Version,
    /// One line saying what it does.
    pub description: String,
    /// Tables it creates.
    pub tables: Vec<String>,
    /// Indexes it creates, each with its table.
    pub indexes: Vec<Index>,
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
        let mut migration = Self::custom(spec.version, spec.description)?;
        migration.tables = spec.tables.iter().map(|t| t.to_string()).collect();
        migration.indexes = spec.indexes.iter().map(Index::from).collect();
        Ok(migration.with_sql(up_sql, down_sql))
    }

    /// A migration outside [`MIGRATIONS`], built step by step (tests use this to build
    /// failing, slow or newer layouts). It starts with no tables, no indexes and empty SQL.
    ///
    /// ```
    /// use pycharter_core::BundledMigration;
    /// let future = BundledMigration::custom("9.0.0", "a table from the future")?
    ///     .with_table("future")
    ///     .with_index("idx_future_id", "future")
    ///     .with_sql("CREATE TABLE IF NOT EXISTS future (id INTEGER);", "DROP TABLE IF EXISTS future;");
    /// assert_eq!(future.indexes[0].table, "future");
    /// # Ok::<(), pycharter_core::Error>(())
    /// ```
    pub fn custom(version: &str, description: &str) -> Result<Self> {
        let parsed = Version::parse(version).map_err(|e| Error::InvalidVersion {
            input: version.to_string(),
            reason: semver_reason(version, &e),
        })?;
        Ok(BundledMigration {
            version: parsed,
            description: description.to_string(),
            tables: Vec::new(),
            indexes: Vec::new(),
            up_sql: String::new(),
            down_sql: String::new(),
            checksum: checksum(""),
        })
    }

    /// Declares a table this migration creates.
    pub fn with_table(mut self, table: &str) -> Self {
        self.tables.push(table.to_string());
        self
    }

    /// Declares an index this migration creates on `table`.
    pub fn with_index(mut self, name: &str, table: &str) -> Self {
        self.indexes.push(Index {
            name: name.to_string(),
            table: table.to_string(),
        });
        self
    }

    /// Sets the SQL that applies and reverts it (the checksum follows the up SQL).
    pub fn with_sql(mut self, up_sql: &str, down_sql: &str) -> Self {
        self.up_sql = up_sql.to_string();
        self.down_sql = down_sql.to_string();
        self.checksum = checksum(up_sql);
        self
    }

    /// Names of the indexes it creates.
    pub fn index_names(&self) -> impl Iterator<Item = &str> {
        self.indexes.iter().map(|i| i.name.as_str())
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
                index_list(spec)
            );
            let down = format!(
                "-- {backend}: drop indexes [{}] and tables [{}]",
                index_list(spec),
                spec.tables.join(", ")
            );
            // The specs are constants whose versions are tested to parse.
            BundledMigration::new(spec, &up, &down).expect("MIGRATIONS hold valid versions")
        })
        .collect()
}

fn index_list(spec: &MigrationSpec) -> String {
    spec.indexes
        .iter()
        .map(|i| i.name)
        .collect::<Vec<_>>()
        .join(", ")
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
    fn every_index_is_on_a_table_of_the_layout() {
        let tables: Vec<&str> = MIGRATIONS
            .iter()
            .flat_map(|m| m.tables.iter().copied())
            .collect();
        for index in MIGRATIONS.iter().flat_map(|m| m.indexes) {
            assert!(tables.contains(&index.table), "{index:?}");
        }
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
