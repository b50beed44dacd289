//! Unit tests of the planner.
use super::*;
use crate::catalog::fixtures::recorded_rows as rows;
use crate::report::MigrationReport;
use crate::spec::bundle_logical;

const T: &str = "memory://";

#[test]
fn upgrade_from_scratch_applies_everything_in_order() {
    let b = bundle_logical("t");
    let plan = plan_upgrade(&b, &[], None, T).unwrap();
    let versions: Vec<_> = plan.steps.iter().map(|s| s.version.to_string()).collect();
    assert_eq!(versions, vec!["1.0.0", "1.1.0", "1.2.0"]);
    assert_eq!(plan.from, None);
}

#[test]
fn upgrade_when_current_is_empty() {
    let b = bundle_logical("t");
    let plan = plan_upgrade(&b, &rows(&b, b.len()), None, T).unwrap();
    assert!(plan.is_empty());
    let report = MigrationReport::new("init", T, &plan, false, &[]);
    assert_eq!(
        report.message,
        "memory:// is already at 1.2.0, nothing to do"
    );
}

#[test]
fn upgrade_to_intermediate_version_stops_there() {
    let b = bundle_logical("t");
    let to = Version::new(1, 0, 0);
    let plan = plan_upgrade(&b, &[], Some(&to), T).unwrap();
    assert_eq!(plan.steps.len(), 1);
}

#[test]
fn upgrade_refuses_unshipped_target_and_downward_target() {
    let b = bundle_logical("t");
    let err = plan_upgrade(&b, &[], Some(&Version::new(9, 0, 0)), T).unwrap_err();
    assert!(
        err.to_string()
            .contains("this build ships migrations 1.0.0, 1.1.0, 1.2.0"),
        "{err}"
    );
    let err = plan_upgrade(&b, &rows(&b, b.len()), Some(&Version::new(1, 0, 0)), T).unwrap_err();
    assert!(err.to_string().contains("downgrade"), "{err}");
}

#[test]
fn upgrade_refuses_database_newer_than_build() {
    let b = bundle_logical("t");
    let mut applied = rows(&b, b.len());
    applied.push(AppliedMigration {
        version: "2.0.0".into(),
        ..applied[0].clone()
    });
    let err = plan_upgrade(&b, &applied, None, T).unwrap_err();
    assert!(
        matches!(err, Error::SchemaNewer { ref found, .. } if found == "2.0.0"),
        "{err}"
    );
}

#[test]
fn upgrade_refuses_drifted_checksum() {
    let b = bundle_logical("t");
    let mut applied = rows(&b, 1);
    applied[0].checksum = "edited".into();
    let err = plan_upgrade(&b, &applied, None, T).unwrap_err();
    assert!(matches!(err, Error::ChecksumDrift { ref versions, .. } if versions == &["1.0.0"]));
}

#[test]
fn downgrade_reverts_newest_first_and_lists_dropped_tables() {
    let b = bundle_logical("t");
    let plan = plan_downgrade(&b, &rows(&b, b.len()), &DowngradeTarget::Base, T).unwrap();
    let versions: Vec<_> = plan.steps.iter().map(|s| s.version.to_string()).collect();
    assert_eq!(versions, vec!["1.2.0", "1.1.0", "1.0.0"]);
    assert!(plan.dropped_tables().any(|t| t == "schemas"));
    assert_eq!(plan.to, None);
}

#[test]
fn downgrade_refuses_upward_target() {
    let b = bundle_logical("t");
    let to = DowngradeTarget::Version(Version::new(1, 1, 0));
    assert!(plan_downgrade(&b, &rows(&b, 1), &to, T).is_err());
}

#[test]
fn data_loss_is_refused_unless_allowed() {
    let b = bundle_logical("t");
    let plan = plan_downgrade(&b, &rows(&b, b.len()), &DowngradeTarget::Base, T).unwrap();
    let counts = vec![("schemas".to_string(), 3), ("metadata".to_string(), 0)];
    let err = check_data_loss(&plan, &counts, false, T).unwrap_err();
    assert!(err.to_string().contains("schemas: 3 rows"), "{err}");
    assert!(!err.to_string().contains("metadata"), "{err}");
    assert!(check_data_loss(&plan, &counts, true, T).is_ok());
    let keep_tables = plan_downgrade(&b, &rows(&b, b.len()), &"1.0.0".parse().unwrap(), T).unwrap();
    assert!(check_data_loss(&keep_tables, &counts, false, T).is_ok());
}

#[test]
fn repair_reruns_only_migrations_with_missing_objects() {
    let b = bundle_logical("t");
    let mut snap = CatalogSnapshot {
        version_table_exists: true,
        applied: rows(&b, b.len()),
        ..Default::default()
    };
    for m in &b {
        snap.tables.extend(m.tables.iter().cloned());
        snap.indexes.extend(m.index_names().map(String::from));
    }
    assert!(plan_repair(&b, &snap, T).unwrap().is_empty());
    snap.tables.remove("ownership");
    let plan = plan_repair(&b, &snap, T).unwrap();
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].direction, Direction::Repair);
    assert!(plan.steps[0].drops_tables.is_empty());
}

#[test]
fn downgrade_target_parses_base_and_versions() {
    assert_eq!(
        "base".parse::<DowngradeTarget>().unwrap(),
        DowngradeTarget::Base
    );
    assert!("1.0".parse::<DowngradeTarget>().is_err());
}

/// The rows of every bundled migration, then rows a newer build recorded: `(version,
/// compatible_with)`.
fn ahead(b: &[BundledMigration], newer: &[(&str, Option<&str>)]) -> Vec<AppliedMigration> {
    let mut applied = rows(b, b.len());
    for (version, compatible_with) in newer {
        applied.push(AppliedMigration {
            version: version.to_string(),
            compatible_with: compatible_with.map(String::from),
            ..applied[0].clone()
        });
    }
    applied
}

#[test]
fn up_steps_record_compatibility_from_the_migration_that_adds_the_column() {
    let b = bundle_logical("t");
    let plan = plan_upgrade(&b, &[], None, T).unwrap();
    let recorded: Vec<Option<String>> = plan
        .steps
        .iter()
        .map(|s| s.compatible_with.as_ref().map(ToString::to_string))
        .collect();
    assert_eq!(recorded, vec![None, None, Some("1.1.0".to_string())]);
}

#[test]
fn upgrade_and_init_of_a_compatible_newer_database_do_nothing_and_never_go_down() {
    let b = bundle_logical("t");
    let applied = ahead(&b, &[("1.3.0", Some("1.1.0")), ("1.4.0", Some("1.2.0"))]);
    let plan = plan_upgrade(&b, &applied, None, T).unwrap();
    assert!(plan.is_empty());
    assert_eq!(plan.from, Some(Version::new(1, 4, 0)));
    assert_eq!(plan.to, Some(Version::new(1, 4, 0)));
    let report = MigrationReport::new("upgrade", T, &plan, false, &[]);
    assert_eq!(
        report.message,
        "memory:// is already at 1.4.0, nothing to do"
    );
    // An explicit target below the database is a downgrade, refused as ever.
    let err = plan_upgrade(&b, &applied, Some(&Version::new(1, 2, 0)), T).unwrap_err();
    assert!(
        err.to_string().contains("use pycharter db downgrade"),
        "{err}"
    );
}

#[test]
fn repair_of_a_compatible_newer_database_recreates_this_builds_objects() {
    let b = bundle_logical("t");
    let mut snap = CatalogSnapshot {
        version_table_exists: true,
        applied: ahead(&b, &[("1.3.0", Some("1.2.0"))]),
        ..Default::default()
    };
    for m in &b {
        snap.tables.extend(m.tables.iter().cloned());
        snap.indexes.extend(m.index_names().map(String::from));
    }
    snap.indexes.remove("idx_schemas_name_sort_key");
    let plan = plan_repair(&b, &snap, T).unwrap();
    let versions: Vec<_> = plan.steps.iter().map(|s| s.version.to_string()).collect();
    assert_eq!(versions, vec!["1.1.0"]);
}

#[test]
fn downgrade_of_a_compatible_newer_database_needs_the_newer_build() {
    let b = bundle_logical("t");
    let applied = ahead(&b, &[("1.3.0", Some("1.2.0"))]);
    let err = plan_downgrade(&b, &applied, &DowngradeTarget::Base, T).unwrap_err();
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    assert!(
        err.to_string().contains("only a build that ships 1.3.0"),
        "{err}"
    );
}

#[test]
fn an_incompatible_newer_migration_is_refused_by_name() {
    let b = bundle_logical("t");
    let applied = ahead(
        &b,
        &[
            ("1.3.0", Some("1.2.0")),
            ("2.1.0", Some("2.0.0")),
            ("2.0.0", Some("2.0.0")),
        ],
    );
    let err = plan_upgrade(&b, &applied, None, T).unwrap_err();
    assert!(
        matches!(&err, Error::SchemaNewer { found, incompatible, .. } if found == "2.1.0" && incompatible == "2.0.0"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("migration 2.0.0 does not keep 1.2.0 working"),
        "{err}"
    );
}
