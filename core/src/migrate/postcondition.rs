//! The post-condition of every migration command: exit 0 means the database is sound at
//! the version the command was asked to reach.
//!
//! Before a command changes anything it refuses to build on a damaged layout (tables or
//! indexes of the migrations it keeps are gone: only `init --force` recreates them, so the
//! result could not be sound). After a real run it re-reads the catalog and judges it with
//! the validator, as a build whose newest migration is the version asked for; a dry run
//! judges the catalog its plan would produce. "Sound" is what `db check` accepts at that
//! version: `Valid`, or `NewerCompatible` (issue 9's rolling upgrades); an invalid index
//! counts as missing.

use crate::catalog::{AppliedMigration, CatalogSnapshot};
use crate::error::{Error, Result};
use crate::plan::{Direction, MigrationPlan};
use crate::report::Postcondition;
use crate::spec::{BundledMigration, VERSION_TABLE};
use crate::validate::{missing_objects_error, validate_catalog, SchemaState};
use semver::Version;

/// The bundled migrations up to `reach` (all of them up to the newest; none for base): what
/// a database sound at `reach` has applied.
fn up_to<'a>(bundled: &'a [BundledMigration], reach: Option<&Version>) -> &'a [BundledMigration] {
    let kept = bundled
        .iter()
        .take_while(|m| reach.is_some_and(|r| m.version <= *r))
        .count();
    &bundled[..kept]
}

/// Refuses, before anything runs, a command that would keep recorded migrations whose
/// tables or indexes are gone (the validator's [`Error::MissingTables`] or
/// [`Error::MissingIndexes`], with its `init --force` fix).
pub(super) fn ensure_intact(
    snapshot: &CatalogSnapshot,
    bundled: &[BundledMigration],
    reach: Option<&Version>,
    target: &str,
) -> Result<()> {
    missing_objects_error(snapshot, up_to(bundled, reach), target).map_or(Ok(()), Err)
}

/// Judges `snapshot` at `reach`; the error is the validator's for the state found, when
/// not sound.
pub(super) fn judge(
    snapshot: &CatalogSnapshot,
    bundled: &[BundledMigration],
    reach: Option<&Version>,
    target: &str,
) -> (Postcondition, Option<Error>) {
    let Some(reach) = reach else {
        // Base: nothing may stay recorded.
        let left = snapshot.applied.first();
        let judged = Postcondition {
            sound: left.is_none(),
            version: None,
            state: SchemaState::Uninitialized,
            message: match left {
                None => format!("Nothing recorded in {target}: at base, as asked"),
                Some(row) => format!(
                    "{target} still records migration {} after reverting to base",
                    row.version
                ),
            },
        };
        let cause = left.map(|row| Error::UnknownMigration {
            version: row.version.clone(),
            target: target.to_string(),
        });
        return (judged, cause);
    };
    let info = validate_catalog(snapshot, up_to(bundled, Some(reach)), target);
    let judged = Postcondition {
        sound: info.valid,
        version: Some(reach.to_string()),
        state: info.state,
        message: info.message.clone(),
    };
    (judged, info.to_error())
}

/// The catalog `plan` would leave, from `snapshot`: each step's migration's tables and
/// indexes created (applied, repaired) or dropped (reverted), its row recorded or removed.
pub(super) fn predict(
    snapshot: &CatalogSnapshot,
    plan: &MigrationPlan,
    bundled: &[BundledMigration],
) -> CatalogSnapshot {
    let mut after = snapshot.clone();
    for step in &plan.steps {
        let Some(m) = bundled.iter().find(|m| m.version == step.version) else {
            continue;
        };
        let indexes = m.index_names().map(String::from);
        match step.direction {
            Direction::Up | Direction::Repair => {
                after.version_table_exists = true;
                after.tables.insert(VERSION_TABLE.into());
                after.tables.extend(m.tables.iter().cloned());
                for index in indexes {
                    after.invalid_indexes.remove(&index);
                    after.indexes.insert(index);
                }
            }
            Direction::Down => {
                for table in &m.tables {
                    after.tables.remove(table);
                }
                for index in indexes {
                    after.indexes.remove(&index);
                }
            }
        }
        match step.direction {
            Direction::Up => after.applied.push(AppliedMigration {
                version: step.version.to_string(),
                description: step.description.clone(),
                checksum: step.checksum.clone(),
                applied_at: chrono::Utc::now(),
                execution_ms: 0,
                compatible_with: step.compatible_with.as_ref().map(ToString::to_string),
            }),
            Direction::Down => {
                let recorded = step
                    .recorded_as
                    .clone()
                    .unwrap_or_else(|| step.version.to_string());
                after.applied.retain(|row| row.version != recorded);
            }
            Direction::Repair => {}
        }
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan_downgrade, plan_upgrade, DowngradeTarget};
    use crate::spec::bundle_logical;

    const T: &str = "memory://";

    fn at(bundled: &[BundledMigration], n: usize) -> CatalogSnapshot {
        let plan = plan_upgrade(bundled, &[], Some(&bundled[n - 1].version), T).unwrap();
        predict(&CatalogSnapshot::default(), &plan, bundled)
    }

    #[test]
    fn an_applied_plan_is_predicted_sound_at_its_target() {
        let b = bundle_logical("t");
        let after = at(&b, b.len());
        assert_eq!(after.applied.len(), b.len());
        let (judged, cause) = judge(&after, &b, b.last().map(|m| &m.version), T);
        assert!(judged.sound, "{judged:?}");
        assert_eq!(judged.state, SchemaState::Valid);
        assert!(cause.is_none());
    }

    #[test]
    fn a_downgraded_database_is_judged_at_the_version_asked_for() {
        let b = bundle_logical("t");
        let first = b[0].version.clone();
        let full = at(&b, b.len());
        let plan = plan_downgrade(
            &b,
            &full.applied,
            &DowngradeTarget::Version(first.clone()),
            T,
        )
        .unwrap();
        let after = predict(&full, &plan, &b);
        let (judged, _) = judge(&after, &b, Some(&first), T);
        assert!(judged.sound, "{judged:?}");
        // Judged at the newest version instead, it is outdated: the version matters.
        let (newest, cause) = judge(&after, &b, b.last().map(|m| &m.version), T);
        assert!(!newest.sound);
        assert!(
            matches!(cause, Some(Error::SchemaOutdated { .. })),
            "{cause:?}"
        );

        let plan = plan_downgrade(&b, &full.applied, &DowngradeTarget::Base, T).unwrap();
        let (base, cause) = judge(&predict(&full, &plan, &b), &b, None, T);
        assert!(base.sound && cause.is_none(), "{base:?}");
        let (left, cause) = judge(&full, &b, None, T);
        assert!(!left.sound);
        assert!(matches!(cause, Some(Error::UnknownMigration { .. })));
    }

    #[test]
    fn missing_objects_of_kept_migrations_are_refused_up_front() {
        let b = bundle_logical("t");
        let mut snap = at(&b, b.len());
        snap.tables.remove("ownership");
        let err = ensure_intact(&snap, &b, b.last().map(|m| &m.version), T).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Missing tables: ownership — run: pycharter db init memory:// --force"
        );
        let index = b[1].index_names().next().unwrap().to_string();
        let mut snap = at(&b, b.len());
        snap.indexes.remove(&index);
        snap.invalid_indexes.insert(index.clone());
        let err = ensure_intact(&snap, &b, b.last().map(|m| &m.version), T).unwrap_err();
        assert!(
            matches!(&err, Error::MissingIndexes { indexes, .. } if indexes == std::slice::from_ref(&index)),
            "{err:?}"
        );
        // Reverting the migration that owns the index: nothing kept is missing.
        ensure_intact(&snap, &b, Some(&b[0].version), T).expect("1.1.0 is reverted");
        // Uninitialized: nothing recorded, nothing to keep.
        ensure_intact(&CatalogSnapshot::default(), &b, None, T).expect("nothing recorded");
    }
}
