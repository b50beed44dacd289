//! Rolling upgrades: pods of the old release keep running next to the new one while the new
//! release migrates the database. The old build here is this backend's store with the
//! migrations of layout 1.1.0 only; the new builds add a future release's migrations:
//! compatible ones (a table, an index, a nullable column) or a breaking 2.0.0.

mod load;

use crate::support::{raw, schema_doc};
use crate::BackendHarness;
use load::{ownership_doc, writer_doc, OldBuildLoad, OPS_PER_PHASE};
use pycharter_core::{
    BundledMigration, ConnectOptions, DowngradeOptions, DowngradeTarget, Error, InitializeOptions,
    MetadataStore, MetadataStoreExt, SchemaManager, SchemaState, UpgradeOptions,
};
use serde_json::json;

/// The layout the old build ships.
const OLD_LAYOUT: &str = "1.1.0";

/// The releases of one backend: the old build's migrations and two future ones.
struct Builds {
    /// Migrations up to [`OLD_LAYOUT`].
    old: Vec<BundledMigration>,
    /// This build's migrations plus 1.3.0: a table, an index on `schemas` and a nullable
    /// column on `schemas`, declared compatible with [`OLD_LAYOUT`].
    compatible: Vec<BundledMigration>,
    /// `compatible` plus 2.0.0, declared breaking (compatible with itself only).
    breaking: Vec<BundledMigration>,
}

async fn builds<H: BackendHarness>(h: &H, database: &str) -> Builds {
    let store = h
        .open(database, raw())
        .await
        .expect("open without touching");
    let current = store.bundled_migrations().to_vec();
    let old_layout = semver::Version::parse(OLD_LAYOUT).expect("a version");
    let old = current
        .iter()
        .filter(|m| m.version <= old_layout)
        .cloned()
        .collect();
    let additive = BundledMigration::custom("1.3.0", "contract reviews (a future release)")
        .and_then(|m| m.with_compatibility(OLD_LAYOUT))
        .expect("a valid custom migration")
        .with_table("contract_reviews")
        .with_index("idx_schemas_created_at", "schemas")
        .with_sql(
            "CREATE TABLE IF NOT EXISTS contract_reviews (id INTEGER PRIMARY KEY, schema_name TEXT NOT NULL, reviewer TEXT);\n\
             CREATE INDEX IF NOT EXISTS idx_schemas_created_at ON schemas (created_at);\n\
             ALTER TABLE schemas ADD COLUMN reviewed_at TEXT;",
            "ALTER TABLE schemas DROP COLUMN reviewed_at;\n\
             DROP INDEX IF EXISTS idx_schemas_created_at;\n\
             DROP TABLE IF EXISTS contract_reviews;",
        );
    let compatible: Vec<BundledMigration> = current.into_iter().chain([additive]).collect();
    let breaking_step = BundledMigration::custom("2.0.0", "rename reviewer (breaking)")
        .expect("a valid custom migration")
        .with_sql(
            "ALTER TABLE contract_reviews RENAME COLUMN reviewer TO reviewed_by;",
            "ALTER TABLE contract_reviews RENAME COLUMN reviewed_by TO reviewer;",
        );
    let breaking: Vec<BundledMigration> =
        compatible.iter().cloned().chain([breaking_step]).collect();
    for list in [&compatible, &breaking] {
        pycharter_core::spec::check_semver_rule(list).expect("future releases follow semver");
    }
    Builds {
        old,
        compatible,
        breaking,
    }
}

/// While a new build applies 1.2.0 and a compatible 1.3.0 (a table, an index and a nullable
/// column), the old build (layout 1.1.0) keeps writing, reading, validating and
/// reconnecting on the same database: not one operation fails; the old build then finds the
/// database `NewerCompatible`, and `initialize`/`upgrade` change nothing (never down); every
/// write is readable by both builds.
pub async fn old_build_reads_and_writes_through_a_compatible_upgrade<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let builds = builds(h, &database).await;
    let old = h
        .open_with_migrations(&database, ConnectOptions::default(), builds.old.clone())
        .await
        .expect("the old build initializes a new database to its layout");
    assert_eq!(
        old.validate().await.expect("validate").state,
        SchemaState::Valid
    );
    old.store_schema("seed", "1.0.0", &schema_doc("seed"))
        .await
        .expect("seed");

    let mut load = OldBuildLoad::start(&old);
    load.until_busy().await;

    // The upgrade, by the new build, while the old one is busy, and old pods restarting
    // (connect with the defaults, write, read) until it is over.
    let upgrader = h
        .open_with_migrations(&database, raw(), builds.compatible.clone())
        .await
        .expect("the new build opens the database");
    load.upgrade_started();
    let (report, ()) = tokio::join!(
        async {
            let report = upgrader.upgrade(UpgradeOptions::default()).await;
            load.upgrade_finished();
            report
        },
        async {
            // At least one restart, then as many as fit in the upgrade.
            for n in 0.. {
                if n > 0 && load.upgraded() {
                    break;
                }
                let version = format!("1.{n}.0");
                load.restart(h, &database, &builds.old, &version).await;
            }
        },
    );
    let report = report.expect("the new build upgrades under load");
    let applied: Vec<&str> = report.steps.iter().map(|s| s.version.as_str()).collect();
    assert_eq!(applied, ["1.2.0", "1.3.0"]);

    load.until_busy_after_the_upgrade().await;
    // Old pods restarting after the upgrade connect with the defaults too.
    for n in 0..3 {
        load.restart(h, &database, &builds.old, &format!("9.{n}.0"))
            .await;
    }
    let summary = load.stop().await;
    eprintln!(
        "rolling upgrade: {} old-build operations, {} of them while the upgrade ran, {} failed",
        summary.ops,
        summary.during_upgrade,
        summary.failures.len()
    );
    assert!(
        summary.failures.is_empty(),
        "failed operations: {:#?}",
        summary.failures
    );

    // The old build: ahead and compatible; its migration commands change nothing.
    let info = old.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::NewerCompatible, "{}", info.message);
    assert!(info.valid);
    assert_eq!(info.version.as_deref(), Some("1.3.0"));
    assert_eq!(info.expected_version, OLD_LAYOUT);
    assert!(
        info.message.contains("ahead and compatible"),
        "{}",
        info.message
    );
    let init = old
        .initialize(InitializeOptions::default())
        .await
        .expect("init on a newer compatible database");
    assert!(init.steps.is_empty(), "{init:?}");
    let up = old
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade on a newer compatible database");
    assert!(up.steps.is_empty(), "{up:?}");
    let current = old.current().await.expect("current").expect("initialized");
    assert_eq!(current.version, "1.3.0", "never downgraded");
    assert_eq!(current.compatible_with.as_deref(), Some(OLD_LAYOUT));

    // Every write, readable by both builds.
    let new = h
        .open_with_migrations(&database, ConnectOptions::default(), builds.compatible)
        .await
        .expect("the new build connects");
    assert_eq!(
        new.validate().await.expect("validate").state,
        SchemaState::Valid
    );
    let fresh_old = h
        .open_with_migrations(&database, ConnectOptions::default(), builds.old)
        .await
        .expect("the old build connects");
    for (name, version) in &summary.written {
        for reader in [&new, &fresh_old] {
            let schema = reader
                .get_schema(name, Some(version.as_str()))
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{name} {version} lost"));
            if name.starts_with("writer-") {
                assert_eq!(*schema.document, writer_doc(name, version));
                let owner = reader
                    .get_ownership(name, Some(version.as_str()))
                    .await
                    .expect("read")
                    .unwrap_or_else(|| panic!("ownership of {name} {version} lost"));
                assert_eq!(*owner.document, ownership_doc(name, version));
            }
        }
    }
    let restarts = summary
        .written
        .iter()
        .filter(|(name, _)| name == "restarted");
    assert!(
        restarts.count() >= 4,
        "one restart during the upgrade, three after"
    );
    let writes = summary
        .written
        .iter()
        .filter(|(n, _)| n.starts_with("writer-"));
    assert!(
        writes.count() as u64 >= OPS_PER_PHASE,
        "{:?}",
        summary.written
    );
}

/// After a breaking 2.0.0 (compatible with itself only), the old build is refused with
/// `SchemaNewer` naming 2.0.0: a restarting pod cannot connect, a running one is refused
/// on its next validation, its writes and its `initialize` are refused, reads still work,
/// and nothing it tried was written.
pub async fn breaking_migration_refuses_the_old_build_and_writes_nothing<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let builds = builds(h, &database).await;
    let old = h
        .open_with_migrations(&database, ConnectOptions::default(), builds.old.clone())
        .await
        .expect("the old build initializes");
    old.store_schema("kept", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let new = h
        .open_with_migrations(&database, raw(), builds.breaking.clone())
        .await
        .expect("the new build opens");
    let report = new
        .upgrade(UpgradeOptions::default())
        .await
        .expect("the new build applies its breaking migration");
    assert_eq!(report.to.as_deref(), Some("2.0.0"));

    let refused = |err: &Error| {
        matches!(err, Error::SchemaNewer { found, expected, incompatible, .. }
            if found == "2.0.0" && expected == OLD_LAYOUT && incompatible == "2.0.0")
    };
    let err = match h
        .open_with_migrations(&database, ConnectOptions::default(), builds.old.clone())
        .await
    {
        Ok(_) => panic!("an old pod must not connect after a breaking migration"),
        Err(err) => err,
    };
    assert!(refused(&err), "{err:?}");
    assert!(
        err.to_string()
            .contains("migration 2.0.0 does not keep 1.1.0 working"),
        "{err}"
    );

    let info = old.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Newer);
    assert!(!info.valid);
    assert_eq!(info.incompatible.as_deref(), Some("2.0.0"));
    let err = old
        .store_schema("refused", "1.0.0", &schema_doc("refused"))
        .await
        .expect_err("writes are refused");
    assert!(refused(&err), "{err:?}");
    let err = old
        .store_ownership("kept", "1.0.0", &json!({"owner": "nobody"}))
        .await
        .expect_err("writes are refused");
    assert!(refused(&err), "{err:?}");
    let err = old
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the old build does not migrate a newer incompatible database");
    assert!(refused(&err), "{err:?}");
    let kept = old.get_schema("kept", None).await.expect("reads work");
    assert_eq!(
        kept.map(|r| (*r.document).clone()),
        Some(schema_doc("kept"))
    );

    assert_eq!(new.get_schema("refused", None).await.expect("read"), None);
    assert_eq!(
        new.get_ownership("kept", Some("1.0.0"))
            .await
            .expect("read"),
        None
    );
    assert_eq!(new.list_schemas().await.expect("list"), ["kept"]);
    let current = new.current().await.expect("current").expect("initialized");
    assert_eq!(current.version, "2.0.0");
}

/// The new build (through its breaking 2.0.0) downgraded back to 1.1.0 leaves the old build
/// working: valid again, its writes accepted, and what either build wrote readable.
pub async fn new_build_downgraded_back_leaves_the_old_build_working<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let builds = builds(h, &database).await;
    let old = h
        .open_with_migrations(&database, ConnectOptions::default(), builds.old.clone())
        .await
        .expect("the old build initializes");
    old.store_schema("by-old", "1.0.0", &schema_doc("old"))
        .await
        .expect("store");
    let new = h
        .open_with_migrations(
            &database,
            ConnectOptions::default(),
            builds.breaking.clone(),
        )
        .await
        .expect("the new build connects and migrates");
    new.store_schema("by-new", "1.0.0", &schema_doc("new"))
        .await
        .expect("the new build writes");
    assert_eq!(
        old.validate().await.expect("validate").state,
        SchemaState::Newer
    );

    let report = new
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(semver::Version::new(1, 1, 0)),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("the new build downgrades (its own table is empty)");
    let reverted: Vec<&str> = report.steps.iter().map(|s| s.version.as_str()).collect();
    assert_eq!(reverted, ["2.0.0", "1.3.0", "1.2.0"]);

    let info = old.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Valid, "{}", info.message);
    assert_eq!(info.version.as_deref(), Some(OLD_LAYOUT));
    old.store_schema("by-old", "1.1.0", &schema_doc("old again"))
        .await
        .expect("the old build writes again");
    let restarted = h
        .open_with_migrations(&database, ConnectOptions::default(), builds.old)
        .await
        .expect("an old pod connects");
    for (name, doc) in [("by-old", "old"), ("by-new", "new")] {
        let record = restarted
            .get_schema(name, Some("1.0.0"))
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("{name} lost"));
        assert_eq!(*record.document, schema_doc(doc));
    }
    assert_eq!(
        restarted.list_versions("by-old").await.expect("list").len(),
        2
    );
}
