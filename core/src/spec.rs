//! The logical database layout: the ordered migrations, the tables and indexes each adds,
//! and [`SCHEMA_VERSION`]. Backends pair each entry with their own SQL
//! ([`BundledMigration::new`]); core validates and plans against the logical part.

use crate::error::{Error, Result};
use crate::online::Script;
use crate::version::semver_reason;
use semver::Version;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The table that records applied migrations (one row per migration).
pub const VERSION_TABLE: &str = "pycharter_schema_version";

/// The database layout version this build expects: the last entry of [`MIGRATIONS`].
pub const SCHEMA_VERSION: &str = "1.2.0";

/// The first layout whose version table records each migration's `compatible_with`
/// (migration 1.2.0 adds the column). Rows of earlier migrations hold no value: core reads
/// their compatibility from the bundled migrations.
pub const COMPATIBILITY_RECORDED_SINCE: &str = "1.2.0";

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
    /// The oldest layout whose binaries keep working once this migration is applied.
    /// Additive (a new table, index or nullable column): the previous layout. Breaking (a
    /// drop, a rename, a new NOT NULL column without default, a changed meaning): this very
    /// version, and then its major version is higher than the previous migration's (semver;
    /// enforced by a unit test over [`MIGRATIONS`]).
    pub compatible_with: &'static str,
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
        compatible_with: "1.0.0",
    },
    MigrationSpec {
        version: "1.1.0",
        description: "Index (name, version_sort_key) so the latest version is an index lookup",
        tables: &[],
        indexes: &[index("idx_schemas_name_sort_key", "schemas")],
        compatible_with: "1.0.0",
    },
    MigrationSpec {
        version: "1.2.0",
        description: "Record in the version table the oldest layout each migration keeps working",
        tables: &[],
        indexes: &[],
        compatible_with: "1.1.0",
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
    /// SQL that applies it, as shipped: a transactional part, then any online statements
    /// (see [`crate::online`]). Must be idempotent DDL (`IF NOT EXISTS`), so that repair and
    /// a migration interrupted between its parts can rerun it.
    pub up_sql: String,
    /// SQL that reverts it (same format).
    pub down_sql: String,
    /// `up_sql` split into what runs inside the migration transaction and what runs outside.
    pub up: Script,
    /// `down_sql`, split the same way.
    pub down: Script,
    /// Hex SHA-256 of `up_sql`, recorded when applied and compared on validation.
    pub checksum: String,
    /// The oldest layout whose binaries keep working once it is applied (see
    /// [`MigrationSpec::compatible_with`]); recorded in the version table from
    /// [`COMPATIBILITY_RECORDED_SINCE`] on, so that older binaries can read it.
    pub compatible_with: Version,
    /// Checksums of SQL this migration shipped earlier and that a database may have been
    /// migrated with: accepted as equivalent, so such a database keeps validating (no
    /// checksum drift) after the SQL was re-expressed (e.g. the same index, now built online).
    pub accepted_checksums: Vec<String>,
}

impl BundledMigration {
    /// Pairs a logical spec with a backend's SQL.
    ///
    /// Fails on a malformed online directive (see [`Script::parse`]).
    pub fn new(spec: &MigrationSpec, up_sql: &str, down_sql: &str) -> Result<Self> {
        let mut migration = Self::custom(spec.version, spec.description)?
            .with_compatibility(spec.compatible_with)?;
        migration.tables = spec.tables.iter().map(|t| t.to_string()).collect();
        migration.indexes = spec.indexes.iter().map(Index::from).collect();
        migration.try_with_sql(up_sql, down_sql)
    }

    /// A migration outside [`MIGRATIONS`], built step by step (tests use this to build
    /// failing, slow or newer layouts). It starts with no tables, no indexes, empty SQL,
    /// and declared breaking (compatible with itself only) until
    /// [`BundledMigration::with_compatibility`] says otherwise.
    ///
    /// ```
    /// use pycharter_core::BundledMigration;
    /// let future = BundledMigration::custom("9.0.0", "a table from the future")?
    ///     .with_compatibility("1.2.0")?
    ///     .with_table("future")
    ///     .with_index("idx_future_id", "future")
    ///     .with_sql("CREATE TABLE IF NOT EXISTS future (id INTEGER);", "DROP TABLE IF EXISTS future;");
    /// assert_eq!(future.indexes[0].table, "future");
    /// assert_eq!(future.compatible_with.to_string(), "1.2.0");
    /// # Ok::<(), pycharter_core::Error>(())
    /// ```
    pub fn custom(version: &str, description: &str) -> Result<Self> {
        let parsed = parse_version(version)?;
        Ok(BundledMigration {
            compatible_with: parsed.clone(),
            version: parsed,
            description: description.to_string(),
            tables: Vec::new(),
            indexes: Vec::new(),
            up_sql: String::new(),
            down_sql: String::new(),
            up: Script::default(),
            down: Script::default(),
            checksum: checksum(""),
            accepted_checksums: Vec::new(),
        })
    }

    /// Declares the oldest layout whose binaries keep working once this migration is
    /// applied: the previous layout for an additive change, the migration's own version
    /// for a breaking one. A version above the migration's own is refused.
    pub fn with_compatibility(mut self, oldest_working_layout: &str) -> Result<Self> {
        let compatible_with = parse_version(oldest_working_layout)?;
        if compatible_with > self.version {
            return Err(Error::InvalidVersion {
                input: oldest_working_layout.to_string(),
                reason: format!(
                    "migration {} cannot keep a later layout working; use {} or earlier",
                    self.version, self.version
                ),
            });
        }
        self.compatible_with = compatible_with;
        Ok(self)
    }

    /// True when the binaries of layout `build` (the newest migration they ship) keep
    /// working with this migration applied.
    pub fn keeps_working(&self, build: &Version) -> bool {
        self.compatible_with <= *build
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
    ///
    /// # Panics
    ///
    /// On a malformed online directive (a defect of the constant SQL a test passes); use
    /// [`BundledMigration::try_with_sql`] to get the error instead.
    pub fn with_sql(self, up_sql: &str, down_sql: &str) -> Self {
        match self.try_with_sql(up_sql, down_sql) {
            Ok(migration) => migration,
            Err(err) => panic!("{err}"),
        }
    }

    /// [`BundledMigration::with_sql`], failing on a malformed online directive.
    pub fn try_with_sql(mut self, up_sql: &str, down_sql: &str) -> Result<Self> {
        self.up = Script::parse(up_sql)?;
        self.down = Script::parse(down_sql)?;
        self.up_sql = up_sql.to_string();
        self.down_sql = down_sql.to_string();
        self.checksum = checksum(up_sql);
        Ok(self)
    }

    /// Also accepts databases migrated with `earlier_up_sql`, SQL this migration shipped
    /// before (see [`BundledMigration::accepted_checksums`]).
    pub fn accepting_earlier_sql(mut self, earlier_up_sql: &str) -> Self {
        self.accepted_checksums.push(checksum(earlier_up_sql));
        self
    }

    /// Whether a database that recorded `recorded` applied this migration's SQL (the current
    /// one or an accepted earlier one).
    pub fn accepts(&self, recorded: &str) -> bool {
        self.checksum == recorded || self.accepted_checksums.iter().any(|c| c == recorded)
    }

    /// Names of the indexes it creates.
    pub fn index_names(&self) -> impl Iterator<Item = &str> {
        self.indexes.iter().map(|i| i.name.as_str())
    }
}

fn parse_version(version: &str) -> Result<Version> {
    Version::parse(version).map_err(|e| Error::InvalidVersion {
        input: version.to_string(),
        reason: semver_reason(version, &e),
    })
}

/// Checks the compatibility declarations of an ordered migration list against semver: each
/// migration keeps working at most the layouts from the last breaking migration on, and a
/// breaking migration (compatible with itself only) bumps the major version.
///
/// ```
/// use pycharter_core::{spec, BundledMigration};
/// let mut list = spec::bundle_logical("m");
/// assert!(spec::check_semver_rule(&list).is_ok());
/// list.push(BundledMigration::custom("1.9.0", "drops a column: breaking, so 2.0.0")?);
/// assert!(spec::check_semver_rule(&list).is_err());
/// # Ok::<(), pycharter_core::Error>(())
/// ```
pub fn check_semver_rule(migrations: &[BundledMigration]) -> Result<()> {
    let broken = |m: &BundledMigration, reason: String| Error::InvalidVersion {
        input: m.version.to_string(),
        reason,
    };
    let mut last_breaking: Option<&Version> = None;
    let mut previous: Option<&BundledMigration> = None;
    for m in migrations {
        if m.compatible_with > m.version {
            return Err(broken(
                m,
                format!(
                    "declares compatibility with a later layout ({})",
                    m.compatible_with
                ),
            ));
        }
        let breaking = m.compatible_with == m.version;
        if breaking {
            if let Some(previous) = previous {
                if m.version.major <= previous.version.major {
                    return Err(broken(m, format!(
                        "is breaking (compatible with itself only) but keeps the major version of {}; a breaking migration must be {}.0.0 or later",
                        previous.version, previous.version.major + 1
                    )));
                }
            }
            last_breaking = Some(&m.version);
        } else {
            if !migrations
                .iter()
                .any(|earlier| earlier.version == m.compatible_with && earlier.version < m.version)
            {
                return Err(broken(m, format!("declares compatibility with {}, which is not an earlier layout of this list", m.compatible_with)));
            }
            if last_breaking.is_some_and(|b| m.compatible_with < *b) {
                return Err(broken(
                    m,
                    format!(
                        "declares compatibility with {}, across the breaking migration {}",
                        m.compatible_with,
                        last_breaking.map(ToString::to_string).unwrap_or_default()
                    ),
                ));
            }
        }
        previous = Some(m);
    }
    Ok(())
}

/// Whether the version table has the `compatible_with` column once migration `version` is
/// applied (see [`COMPATIBILITY_RECORDED_SINCE`]).
pub fn records_compatibility(version: &Version) -> bool {
    // A constant of this file, tested to parse.
    Version::parse(COMPATIBILITY_RECORDED_SINCE).is_ok_and(|since| *version >= since)
}

/// The table of `index`, as the migrations of `bundled` declare it.
pub fn index_table<'a>(bundled: &'a [BundledMigration], index: &str) -> Option<&'a str> {
    bundled
        .iter()
        .flat_map(|m| m.indexes.iter())
        .find(|i| i.name == index)
        .map(|i| i.table.as_str())
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
    let bundled: Vec<BundledMigration> = MIGRATIONS
        .iter()
        .zip(sql)
        .map(|(spec, (up, down))| BundledMigration::new(spec, up, down))
        .collect::<Result<_>>()?;
    check_online_indexes(&bundled)?;
    Ok(bundled)
}

/// Every index an online statement builds or drops must be declared by a migration of the
/// list: its table is what the driver claims, and what tells whether the statement may run
/// inside the transaction (see [`crate::online`]).
pub fn check_online_indexes(bundled: &[BundledMigration]) -> Result<()> {
    for m in bundled {
        for step in m.up.online.iter().chain(&m.down.online) {
            if index_table(bundled, &step.index).is_none() {
                return Err(Error::InvalidRequest {
                    action: format!("bundle migration {}", m.version),
                    reason: format!(
                        "its online statement names index {}, which no migration declares",
                        step.index
                    ),
                    target: "this build".into(),
                });
            }
        }
    }
    Ok(())
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
    fn bundled_migrations_follow_the_semver_rule() {
        check_semver_rule(&bundle_logical("t")).expect("MIGRATIONS follow semver");
        for spec in MIGRATIONS {
            let m = BundledMigration::new(spec, "", "").unwrap();
            assert!(m.compatible_with <= m.version, "{spec:?}");
        }
    }

    #[test]
    fn semver_rule_refuses_a_breaking_minor_and_compatibility_across_a_break() {
        let base = bundle_logical("t");
        let breaking_minor = BundledMigration::custom("1.3.0", "drops a column").unwrap();
        let err = check_semver_rule(&[base.clone(), vec![breaking_minor]].concat()).unwrap_err();
        assert!(err.to_string().contains("2.0.0 or later"), "{err}");

        let breaking_major = BundledMigration::custom("2.0.0", "drops a column").unwrap();
        let across = BundledMigration::custom("2.1.0", "adds an index")
            .unwrap()
            .with_compatibility("1.2.0")
            .unwrap();
        let list = [base.clone(), vec![breaking_major.clone()]].concat();
        assert!(check_semver_rule(&list).is_ok());
        let err = check_semver_rule(&[list, vec![across]].concat()).unwrap_err();
        assert!(
            err.to_string()
                .contains("across the breaking migration 2.0.0"),
            "{err}"
        );

        let unknown_layout = BundledMigration::custom("1.3.0", "adds a table")
            .unwrap()
            .with_compatibility("1.1.5")
            .unwrap();
        assert!(check_semver_rule(&[base, vec![unknown_layout]].concat()).is_err());
    }

    #[test]
    fn compatibility_cannot_name_a_later_layout() {
        let err = BundledMigration::custom("1.3.0", "x")
            .unwrap()
            .with_compatibility("1.4.0")
            .unwrap_err();
        assert!(matches!(err, Error::InvalidVersion { .. }), "{err}");
    }

    #[test]
    fn compatibility_is_recorded_from_the_migration_that_adds_the_column() {
        assert!(MIGRATIONS
            .iter()
            .any(|m| m.version == COMPATIBILITY_RECORDED_SINCE));
        assert!(!records_compatibility(&Version::new(1, 1, 0)));
        assert!(records_compatibility(&Version::new(1, 2, 0)));
        assert!(records_compatibility(&Version::new(2, 0, 0)));
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

    #[test]
    fn earlier_sql_is_accepted_and_other_sql_is_not() {
        let m = BundledMigration::custom("1.1.0", "index")
            .unwrap()
            .with_sql("new sql", "")
            .accepting_earlier_sql("old sql");
        assert!(m.accepts(&checksum("new sql")));
        assert!(m.accepts(&checksum("old sql")));
        assert!(!m.accepts(&checksum("other sql")));
        assert_eq!(
            m.checksum,
            checksum("new sql"),
            "what is recorded from now on"
        );
    }

    #[test]
    fn an_online_statement_must_name_a_declared_index() {
        let online =
            "-- pycharter:online builds idx_t_a\nCREATE INDEX CONCURRENTLY idx_t_a ON t (a);";
        let undeclared = BundledMigration::custom("1.0.0", "t")
            .unwrap()
            .with_sql(online, "");
        let err = check_online_indexes(std::slice::from_ref(&undeclared)).unwrap_err();
        assert!(err.to_string().contains("idx_t_a"), "{err}");
        let declared = undeclared.with_index("idx_t_a", "t");
        check_online_indexes(&[declared]).unwrap();
    }
}
