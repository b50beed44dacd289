//! A migration that fails halfway (capability `failing_migrations`): its transaction is
//! rolled back whole, so the database stays at its previous version with none of the failed
//! step's objects, and the good migrations then apply.

use crate::support::{all_versions, open_raw, raw};
use crate::{BackendHarness, FailingMigration};
use pycharter_core::{
    BundledMigration, Error, InitializeOptions, MigrationState, SchemaManager, SchemaState,
    UpgradeOptions,
};

/// The table the failing step creates before it fails.
const PARTIAL_TABLE: &str = "partial_table";

/// This build's first migration, then the harness's failing one at the second version.
fn failing_list<H: BackendHarness>(
    h: &H,
    good: &[BundledMigration],
) -> (Vec<BundledMigration>, FailingMigration) {
    let failing = h.failing_migration(&all_versions()[1], PARTIAL_TABLE);
    (vec![good[0].clone(), failing.migration.clone()], failing)
}

/// Asserts `err` is `MigrationFailed` for the second version, from `previous`, carrying the
/// database's reason, and saying where the database still is.
fn assert_failed(err: &Error, previous: &str, failing: &FailingMigration) {
    let Error::MigrationFailed {
        version,
        previous: found,
        reason,
        ..
    } = err
    else {
        panic!("expected MigrationFailed, got {err:?}");
    };
    assert_eq!(
        (version.as_str(), found.as_str()),
        (all_versions()[1].as_str(), previous)
    );
    assert!(reason.contains(failing.reason), "{reason}");
    assert!(
        err.to_string().contains(&format!("still at {previous}")),
        "{err}"
    );
}

/// At the first version, an upgrade whose next step fails halfway leaves the database at the
/// first version: the same tables and indexes as before (no partial table), one applied
/// row; the lock is released, so the good migrations then apply at once.
pub async fn failing_upgrade_leaves_the_previous_version_and_a_rerun_succeeds<H: BackendHarness>(
    h: &H,
) {
    let database = h.new_database().await;
    let good = open_raw(h, &database).await;
    let first = all_versions()[0].clone();
    good.upgrade(UpgradeOptions {
        to: Some(first.parse().expect("a bundled version")),
        dry_run: false,
    })
    .await
    .expect("upgrade to the first version");
    let before = h.objects(&database).await;

    let (list, failing) = failing_list(h, good.bundled_migrations());
    let broken = h
        .open_with_migrations(&database, raw(), list)
        .await
        .expect("open with the failing migration list");
    let err = broken
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the second step fails");
    assert_failed(&err, &first, &failing);

    let after = h.objects(&database).await;
    assert!(
        !after.contains(PARTIAL_TABLE),
        "partial table left: {after:?}"
    );
    assert_eq!(after, before, "no object of the failed step is left");
    // One applied row (the first), the rest pending: no row of the failed step.
    let history = good.history().await.expect("history");
    let states: Vec<_> = history
        .iter()
        .map(|m| (m.version.clone(), m.state))
        .collect();
    let mut expected = vec![(first.clone(), MigrationState::Applied)];
    expected.extend(
        all_versions()[1..]
            .iter()
            .map(|v| (v.clone(), MigrationState::Pending)),
    );
    assert_eq!(states, expected, "still at the first version");
    assert_eq!(
        good.validate().await.expect("validate").state,
        SchemaState::Outdated
    );

    let rerun = good
        .initialize(InitializeOptions::default())
        .await
        .expect("rerun with the good migrations");
    assert_eq!(rerun.steps.len(), all_versions().len() - 1);
    assert!(good.validate().await.expect("validate").valid);
}

/// On a new database, a first `initialize` whose second step fails leaves it empty: the
/// first step and even the version table were in the same transaction. The good list then
/// initializes it.
pub async fn failing_first_initialize_leaves_an_empty_database<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let good = open_raw(h, &database).await;
    let (list, failing) = failing_list(h, good.bundled_migrations());
    let broken = h
        .open_with_migrations(&database, raw(), list)
        .await
        .expect("open with the failing migration list");
    let err = broken
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the second step fails");
    assert_failed(&err, "none", &failing);
    let left = h.objects(&database).await;
    assert!(left.is_empty(), "objects left behind: {left:?}");

    let report = good
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize with the good migrations");
    assert_eq!(report.steps.len(), all_versions().len());
    assert!(good.validate().await.expect("validate").valid);
}
