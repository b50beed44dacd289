//! The schema validator: a [`CatalogSnapshot`] and the bundled migrations in, a
//! [`SchemaInfo`] out. Pure; every backend's `validate()` is this function over its catalog.

use crate::catalog::{CatalogSnapshot, ServerRole};
use crate::error::Error;
use crate::plan::{Ahead, History};
use crate::spec::BundledMigration;
use serde::{Deserialize, Serialize};

/// The verdict on a database's schema, first failing check wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaState {
    /// Everything matches this build.
    Valid,
    /// No version table, or no migration recorded.
    Uninitialized,
    /// The version table records a version this build does not ship and that is not newer.
    UnknownMigration,
    /// Migrated by a newer build whose migrations do not all keep this build working:
    /// readable, but this build refuses writes.
    Newer,
    /// Migrated by a newer build whose every migration above this build declares it keeps
    /// this build working (a rolling upgrade): valid, reads and writes go on.
    NewerCompatible,
    /// Tables the recorded migrations created are gone.
    MissingTables,
    /// Older than this build: migrations are pending.
    Outdated,
    /// Indexes the recorded migrations created are gone.
    MissingIndexes,
    /// A recorded checksum differs from the bundled migration's.
    ChecksumDrift,
}

/// What `validate()`, `get_schema_info()` and `pycharter db check --json` return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaInfo {
    /// True when this build can use the schema: it matches exactly (`Valid`), or it is
    /// ahead and compatible (`NewerCompatible`).
    pub valid: bool,
    /// The first failing check (or `valid`).
    pub state: SchemaState,
    /// Highest version recorded in the database, if any.
    pub version: Option<String>,
    /// Version this build expects.
    pub expected_version: String,
    /// Tables the recorded migrations created that are missing.
    pub missing_tables: Vec<String>,
    /// Indexes the recorded migrations created that are missing (an invalid index counts
    /// as missing: queries cannot use it).
    pub missing_indexes: Vec<String>,
    /// Indexes of this build's layout that exist but are invalid: a concurrent build was
    /// interrupted (or is still running). The fix command of `message` drops and rebuilds
    /// them (`upgrade` when their migration is pending, `init --force` when it is recorded).
    #[serde(default)]
    pub invalid_indexes: Vec<String>,
    /// Bundled migrations not yet applied, in order.
    pub pending: Vec<String>,
    /// Applied migrations whose checksum differs from the bundled one.
    pub drifted: Vec<String>,
    /// (`Newer`) the first migration above this build that does not keep it working.
    #[serde(default)]
    pub incompatible: Option<String>,
    /// The database (URL with its password redacted).
    pub database: String,
    /// Whether that server accepts writes; on a standby reads work and the message says
    /// that writes and migrations need the primary.
    #[serde(default)]
    pub server_role: ServerRole,
    /// One sentence: what is wrong and the command that fixes it.
    pub message: String,
}

impl SchemaInfo {
    /// The typed error a store operation reports for this state (`None` when valid).
    ///
    /// ```
    /// use pycharter_core::{spec, validate::validate_catalog, CatalogSnapshot, Error};
    /// let info = validate_catalog(&CatalogSnapshot::default(), &spec::bundle_logical("m"), "memory://");
    /// assert!(matches!(info.to_error(), Some(Error::NotInitialized { .. })));
    /// ```
    pub fn to_error(&self) -> Option<Error> {
        let target = self.database.clone();
        let found = || self.version.clone().unwrap_or_else(|| "none".into());
        let expected = self.expected_version.clone();
        Some(match self.state {
            SchemaState::Valid | SchemaState::NewerCompatible => return None,
            SchemaState::Uninitialized => Error::NotInitialized { target },
            SchemaState::UnknownMigration => Error::UnknownMigration {
                version: found(),
                target,
            },
            SchemaState::Newer => Error::SchemaNewer {
                incompatible: self.incompatible.clone().unwrap_or_else(found),
                found: found(),
                expected,
                target,
            },
            SchemaState::MissingTables => Error::MissingTables {
                tables: self.missing_tables.clone(),
                target,
            },
            SchemaState::Outdated => Error::SchemaOutdated {
                found: found(),
                expected,
                target,
            },
            SchemaState::MissingIndexes => Error::MissingIndexes {
                indexes: self.missing_indexes.clone(),
                target,
            },
            SchemaState::ChecksumDrift => Error::ChecksumDrift {
                versions: self.drifted.clone(),
                target,
            },
        })
    }

    /// `Ok(())` when valid, else the typed error of [`SchemaInfo::to_error`].
    pub fn ensure_valid(&self) -> Result<(), Error> {
        self.to_error().map_or(Ok(()), Err)
    }
}

/// Validates a catalog against the bundled migrations. Checks, in order: version table
/// exists and records a migration → every recorded version is one this build ships (or a
/// newer layout: `Newer` unless every migration above this build keeps it working) → the
/// tables the recorded migrations created exist → the version is the expected one → their
/// indexes exist → recorded checksums match → `Valid`, or `NewerCompatible` when ahead.
/// The tables and indexes of a newer layout's own migrations are not checked: this build
/// does not know them.
///
/// `target` is the redacted URL used in the fix command of the message.
pub fn validate_catalog(
    snapshot: &CatalogSnapshot,
    bundled: &[BundledMigration],
    target: &str,
) -> SchemaInfo {
    let history = History::analyze(bundled, &snapshot.applied);
    let expected_version = bundled
        .last()
        .map(|m| m.version.to_string())
        .unwrap_or_default();

    let (mut missing_tables, missing_indexes) = missing_objects(&history, snapshot);
    if history.applied_known.is_empty() {
        // Uninitialized: everything this build would create is missing.
        missing_tables = bundled
            .iter()
            .flat_map(|m| m.tables.iter())
            .filter(|t| !snapshot.tables.contains(*t))
            .cloned()
            .collect();
    }

    let invalid_indexes: Vec<String> = bundled
        .iter()
        .flat_map(|m| m.index_names())
        .filter(|i| snapshot.invalid_indexes.contains(*i))
        .map(String::from)
        .collect();

    let state = if !snapshot.version_table_exists || snapshot.applied.is_empty() {
        SchemaState::Uninitialized
    } else if !history.unknown_older.is_empty() {
        SchemaState::UnknownMigration
    } else if matches!(history.ahead(), Ahead::Incompatible(_)) {
        SchemaState::Newer
    } else if !missing_tables.is_empty() {
        SchemaState::MissingTables
    } else if !history.pending.is_empty() {
        SchemaState::Outdated
    } else if !missing_indexes.is_empty() {
        SchemaState::MissingIndexes
    } else if !history.drifted.is_empty() {
        SchemaState::ChecksumDrift
    } else if history.ahead() == Ahead::Compatible {
        SchemaState::NewerCompatible
    } else {
        SchemaState::Valid
    };

    let version = match state {
        SchemaState::UnknownMigration => history.unknown_older.first().cloned(),
        _ => history.found.as_ref().map(ToString::to_string),
    };
    let mut info = SchemaInfo {
        valid: matches!(state, SchemaState::Valid | SchemaState::NewerCompatible),
        state,
        version,
        expected_version,
        missing_tables,
        missing_indexes,
        invalid_indexes,
        pending: history
            .pending
            .iter()
            .map(|m| m.version.to_string())
            .collect(),
        drifted: history.drifted.clone(),
        incompatible: history.incompatible.clone(),
        database: target.to_string(),
        server_role: snapshot.server_role,
        message: String::new(),
    };
    info.message = match (info.to_error(), state) {
        (Some(err), _) => err.to_string(),
        (None, SchemaState::NewerCompatible) => format!(
            "Schema is ahead and compatible: {target} is at {}, newer than this build ({}), and every migration above {} keeps this build working, so reads and writes go on — deploy the release that ships {} when you can",
            info.version.as_deref().unwrap_or("none"),
            info.expected_version,
            info.expected_version,
            info.version.as_deref().unwrap_or("none"),
        ),
        (None, _) => format!(
            "Schema is valid: {target} is at {}, as this build expects",
            info.expected_version
        ),
    };
    if info.server_role.is_read_only() {
        info.message += &format!(
            " (this server is a {}: reads work; writes and migrations need the primary, e.g. target_session_attrs=read-write)",
            info.server_role.describe()
        );
    }
    if !info.invalid_indexes.is_empty() && info.state != SchemaState::Valid {
        info.message.push_str(&format!(
            " ({} INVALID: a concurrent index build was interrupted or is still running; that command drops and rebuilds it)",
            info.invalid_indexes.join(", ")
        ));
    }
    info
}

/// The tables and the indexes of the recorded migrations that are gone (an invalid index
/// counts as gone: queries cannot use it).
fn missing_objects(
    history: &History<'_>,
    snapshot: &CatalogSnapshot,
) -> (Vec<String>, Vec<String>) {
    let tables = history
        .applied_known
        .iter()
        .flat_map(|m| m.tables.iter())
        .filter(|t| !snapshot.tables.contains(*t))
        .cloned()
        .collect();
    let indexes = history
        .applied_known
        .iter()
        .flat_map(|m| m.index_names())
        .filter(|i| !snapshot.indexes.contains(*i))
        .map(String::from)
        .collect();
    (tables, indexes)
}

/// The error of a catalog in which tables or indexes of recorded migrations are gone
/// ([`Error::MissingTables`] first, then [`Error::MissingIndexes`], as [`validate_catalog`]
/// words them); `None` when nothing recorded is missing. A migration command that keeps
/// those migrations refuses with it before changing anything: its result could not be sound
/// (only `init --force` recreates them).
pub fn missing_objects_error(
    snapshot: &CatalogSnapshot,
    bundled: &[BundledMigration],
    target: &str,
) -> Option<Error> {
    let history = History::analyze(bundled, &snapshot.applied);
    let (tables, indexes) = missing_objects(&history, snapshot);
    let target = target.to_string();
    if !tables.is_empty() {
        Some(Error::MissingTables { tables, target })
    } else if !indexes.is_empty() {
        Some(Error::MissingIndexes { indexes, target })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fixtures::recorded;
    use crate::catalog::AppliedMigration;
    use crate::spec::{bundle_logical, SCHEMA_VERSION, VERSION_TABLE};

    const TARGET: &str = "sqlite://t.db";

    /// A catalog in which the first `n` bundled migrations were applied correctly.
    fn catalog_at(bundled: &[BundledMigration], n: usize) -> CatalogSnapshot {
        let mut snap = CatalogSnapshot {
            version_table_exists: true,
            ..Default::default()
        };
        snap.tables.insert(VERSION_TABLE.into());
        for m in &bundled[..n] {
            snap.tables.extend(m.tables.iter().cloned());
            snap.indexes.extend(m.index_names().map(String::from));
            snap.applied.push(recorded(m));
        }
        snap
    }

    #[test]
    fn fully_migrated_catalog_is_valid() {
        let b = bundle_logical("t");
        let info = validate_catalog(&catalog_at(&b, b.len()), &b, TARGET);
        assert!(info.valid, "{info:?}");
        assert_eq!(info.version.as_deref(), Some(SCHEMA_VERSION));
        assert!(info.pending.is_empty());
        assert!(info.message.contains("valid"));
    }

    #[test]
    fn a_valid_standby_is_valid_and_says_writes_need_the_primary() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, b.len());
        snap.server_role = ServerRole::Standby;
        let info = validate_catalog(&snap, &b, TARGET);
        assert!(info.valid, "{info:?}");
        assert_eq!(info.server_role, ServerRole::Standby);
        assert!(
            info.message.contains("read-only standby"),
            "{}",
            info.message
        );
        assert!(info.message.contains("target_session_attrs=read-write"));
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["server_role"], "standby");
    }

    #[test]
    fn empty_catalog_is_uninitialized_with_init_command() {
        let b = bundle_logical("t");
        let info = validate_catalog(&CatalogSnapshot::default(), &b, TARGET);
        assert_eq!(info.state, SchemaState::Uninitialized);
        assert_eq!(info.pending.len(), b.len());
        assert_eq!(info.missing_tables.len(), 6);
        assert_eq!(
            info.message,
            "Schema not initialized in sqlite://t.db — run: pycharter db init sqlite://t.db"
        );
    }

    #[test]
    fn version_table_without_rows_is_uninitialized() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, 0);
        snap.version_table_exists = true;
        assert_eq!(
            validate_catalog(&snap, &b, TARGET).state,
            SchemaState::Uninitialized
        );
    }

    #[test]
    fn older_catalog_is_outdated_with_upgrade_command() {
        let b = bundle_logical("t");
        let info = validate_catalog(&catalog_at(&b, 1), &b, TARGET);
        assert_eq!(info.state, SchemaState::Outdated);
        assert_eq!(info.version.as_deref(), Some("1.0.0"));
        assert_eq!(info.pending, vec!["1.1.0".to_string(), "1.2.0".to_string()]);
        assert_eq!(info.message, "Schema version mismatch: database is at 1.0.0, this build expects 1.2.0 — run: pycharter db upgrade sqlite://t.db");
    }

    #[test]
    fn newer_catalog_refuses_writes() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, b.len());
        snap.applied.push(AppliedMigration {
            version: "9.0.0".into(),
            ..recorded(&b[0])
        });
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::Newer);
        assert_eq!(info.version.as_deref(), Some("9.0.0"));
        assert!(matches!(info.to_error(), Some(Error::SchemaNewer { .. })));
        assert!(
            info.message.contains("writes are refused"),
            "{}",
            info.message
        );
    }

    /// A catalog at this build's layout plus rows a newer build recorded:
    /// `(version, compatible_with)`.
    fn ahead(b: &[BundledMigration], newer: &[(&str, Option<&str>)]) -> CatalogSnapshot {
        let mut snap = catalog_at(b, b.len());
        for (version, compatible_with) in newer {
            snap.applied.push(AppliedMigration {
                version: version.to_string(),
                compatible_with: compatible_with.map(String::from),
                ..recorded(&b[0])
            });
        }
        snap
    }

    #[test]
    fn newer_catalog_whose_migrations_keep_this_build_working_is_valid() {
        let b = bundle_logical("t");
        let snap = ahead(&b, &[("1.4.0", Some("1.1.0")), ("1.3.0", Some("1.2.0"))]);
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::NewerCompatible);
        assert!(info.valid);
        assert_eq!(info.version.as_deref(), Some("1.4.0"));
        assert_eq!(info.expected_version, SCHEMA_VERSION);
        assert_eq!(info.incompatible, None);
        assert!(info.to_error().is_none());
        assert_eq!(
            info.message,
            "Schema is ahead and compatible: sqlite://t.db is at 1.4.0, newer than this build (1.2.0), and every migration above 1.2.0 keeps this build working, so reads and writes go on — deploy the release that ships 1.4.0 when you can"
        );
    }

    #[test]
    fn newer_catalog_names_the_first_migration_that_breaks_this_build() {
        let b = bundle_logical("t");
        for (newer, first) in [
            // Breaking: compatible with itself only.
            (
                vec![
                    ("1.3.0", Some("1.2.0")),
                    ("2.0.0", Some("2.0.0")),
                    ("2.1.0", Some("2.0.0")),
                ],
                "2.0.0",
            ),
            // Recorded without compatibility (a build from before 1.2.0 would do that).
            (vec![("1.3.0", None), ("1.4.0", Some("1.1.0"))], "1.3.0"),
            // Unreadable compatibility.
            (vec![("1.3.0", Some("soon"))], "1.3.0"),
        ] {
            let info = validate_catalog(&ahead(&b, &newer), &b, TARGET);
            assert_eq!(info.state, SchemaState::Newer, "{newer:?}");
            assert!(!info.valid);
            assert_eq!(info.incompatible.as_deref(), Some(first), "{newer:?}");
            let err = info.to_error().expect("refused");
            assert!(
                matches!(&err, Error::SchemaNewer { incompatible, .. } if incompatible == first),
                "{err:?}"
            );
            assert!(
                info.message
                    .contains(&format!("migration {first} does not keep 1.2.0 working")),
                "{}",
                info.message
            );
        }
    }

    #[test]
    fn newer_compatible_catalog_is_still_checked_for_damage() {
        let b = bundle_logical("t");
        let mut snap = ahead(&b, &[("1.3.0", Some("1.2.0"))]);
        snap.tables.remove("ownership");
        assert_eq!(
            validate_catalog(&snap, &b, TARGET).state,
            SchemaState::MissingTables
        );

        let mut snap = ahead(&b, &[("1.3.0", Some("1.2.0"))]);
        snap.indexes.remove("idx_schemas_name");
        assert_eq!(
            validate_catalog(&snap, &b, TARGET).state,
            SchemaState::MissingIndexes
        );

        let mut snap = ahead(&b, &[("1.3.0", Some("1.2.0"))]);
        snap.applied[1].checksum = "edited".into();
        assert_eq!(
            validate_catalog(&snap, &b, TARGET).state,
            SchemaState::ChecksumDrift
        );

        // One of this build's own migrations missing under a newer one: core cannot vouch.
        let mut snap = ahead(&b, &[("1.3.0", Some("1.2.0"))]);
        snap.applied.retain(|row| row.version != "1.2.0");
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::Newer);
        assert_eq!(info.incompatible.as_deref(), Some("1.3.0"));
    }

    #[test]
    fn hand_edited_unknown_version_is_reported() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, b.len());
        snap.applied.push(AppliedMigration {
            version: "not-a-version".into(),
            ..recorded(&b[0])
        });
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::UnknownMigration);
        assert!(info.message.contains("not-a-version"));
    }

    #[test]
    fn missing_table_is_named_with_force_command() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, b.len());
        snap.tables.remove("ownership");
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::MissingTables);
        assert_eq!(
            info.message,
            "Missing tables: ownership — run: pycharter db init sqlite://t.db --force"
        );
    }

    #[test]
    fn missing_index_is_named() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, b.len());
        snap.indexes.remove("idx_schemas_name_sort_key");
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::MissingIndexes);
        assert_eq!(
            info.missing_indexes,
            vec!["idx_schemas_name_sort_key".to_string()]
        );
    }

    #[test]
    fn an_invalid_index_is_missing_and_named() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, b.len());
        snap.indexes.remove("idx_schemas_name_sort_key");
        snap.invalid_indexes
            .insert("idx_schemas_name_sort_key".into());
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::MissingIndexes);
        assert_eq!(info.missing_indexes, vec!["idx_schemas_name_sort_key"]);
        assert_eq!(info.invalid_indexes, vec!["idx_schemas_name_sort_key"]);
        assert_eq!(
            info.message,
            "Missing indexes: idx_schemas_name_sort_key — run: pycharter db init sqlite://t.db --force \
             (idx_schemas_name_sort_key INVALID: a concurrent index build was interrupted or is still running; that command drops and rebuilds it)"
        );
    }

    #[test]
    fn an_invalid_index_of_a_pending_migration_names_the_upgrade() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, 1);
        snap.invalid_indexes
            .insert("idx_schemas_name_sort_key".into());
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::Outdated);
        assert!(info.missing_indexes.is_empty(), "not required at 1.0.0");
        assert_eq!(info.invalid_indexes, vec!["idx_schemas_name_sort_key"]);
        assert!(
            info.message.contains(
                "run: pycharter db upgrade sqlite://t.db (idx_schemas_name_sort_key INVALID"
            ),
            "{}",
            info.message
        );
    }

    #[test]
    fn a_checksum_of_accepted_earlier_sql_is_not_drift() {
        let mut b = bundle_logical("t");
        let old = "CREATE INDEX idx_schemas_name_sort_key ON schemas (name, version_sort_key);";
        let snap_with_old = |b: &[BundledMigration]| {
            let mut snap = catalog_at(b, b.len());
            snap.applied[1].checksum = crate::spec::checksum(old);
            snap
        };
        let drift = validate_catalog(&snap_with_old(&b), &b, TARGET);
        assert_eq!(drift.state, SchemaState::ChecksumDrift);
        b[1] = b[1].clone().accepting_earlier_sql(old);
        let info = validate_catalog(&snap_with_old(&b), &b, TARGET);
        assert!(info.valid, "{info:?}");
    }

    #[test]
    fn drifted_checksum_is_reported() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, b.len());
        snap.applied[0].checksum = "0000".into();
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::ChecksumDrift);
        assert_eq!(info.drifted, vec!["1.0.0".to_string()]);
        assert!(info.message.contains("Checksum drift"));
    }

    #[test]
    fn missing_tables_checked_before_version() {
        let b = bundle_logical("t");
        let mut snap = catalog_at(&b, 1);
        snap.tables.remove("schemas");
        let info = validate_catalog(&snap, &b, TARGET);
        assert_eq!(info.state, SchemaState::MissingTables);
        assert_eq!(info.pending, vec!["1.1.0".to_string(), "1.2.0".to_string()]);
    }

    #[test]
    fn schema_info_serialises_with_the_documented_fields() {
        let b = bundle_logical("t");
        let json = serde_json::to_value(validate_catalog(&catalog_at(&b, 1), &b, TARGET)).unwrap();
        for field in [
            "valid",
            "version",
            "expected_version",
            "missing_tables",
            "missing_indexes",
            "pending",
            "message",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
        assert_eq!(json["state"], "outdated");
    }
}
