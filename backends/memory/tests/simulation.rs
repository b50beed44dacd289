//! The memory backend's own behaviour: transactions, simulation methods, gates, handles.

use pycharter_core::{
    spec, ArtifactKind, BundledMigration, ConnectOptions, Error, InitializeOptions, MetadataStore,
    MetadataStoreExt, SchemaManager, SchemaState, UpgradeOptions, MIGRATIONS, SCHEMA_VERSION,
    VERSION_TABLE,
};
use pycharter_memory::MemoryMetadataStore;
use serde_json::json;

#[tokio::test]
async fn new_is_valid_with_every_table_index_and_version_row() {
    let store = MemoryMetadataStore::new();
    let info = store.validate().await.expect("validate");
    assert!(info.valid, "{info:?}");
    assert_eq!(info.version.as_deref(), Some(SCHEMA_VERSION));
    let catalog = store.catalog();
    assert_eq!(catalog.applied.len(), MIGRATIONS.len());
    assert!(catalog.tables.contains(VERSION_TABLE));
    for kind in ArtifactKind::ALL {
        assert!(catalog.tables.contains(kind.table()), "{kind}");
    }
    let indexes = MIGRATIONS.iter().flat_map(|m| m.indexes.iter());
    assert!(indexes.clone().all(|i| catalog.indexes.contains(i.name)));
    assert_eq!(catalog.indexes.len(), indexes.count());
}

#[tokio::test]
async fn a_failing_step_rolls_back_everything_including_earlier_steps() {
    let bundled = spec::bundle_logical("memory");
    let first = bundled[0].clone();
    // 1.1.0 indexes `audit_log` before 1.2.0 creates it: the step fails like real DDL would.
    let broken = BundledMigration::custom("1.1.0", "index a table too early")
        .expect("valid version")
        .with_index("idx_audit_log_at", "audit_log")
        .with_sql(
            "create index idx_audit_log_at",
            "drop index idx_audit_log_at",
        );
    let later = BundledMigration::custom("1.2.0", "create audit_log")
        .expect("valid version")
        .with_table("audit_log")
        .with_sql("create table audit_log", "drop table audit_log");
    let store = MemoryMetadataStore::with_migrations(vec![first, broken, later]);

    let err = store
        .initialize(InitializeOptions::default())
        .await
        .expect_err("1.1.0 fails");
    assert!(
        matches!(err, Error::MigrationFailed { ref version, ref previous, .. } if version == "1.1.0" && previous == "none"),
        "{err}"
    );
    let catalog = store.catalog();
    assert!(!catalog.version_table_exists, "1.0.0 was rolled back too");
    assert!(catalog.tables.is_empty() && catalog.indexes.is_empty());

    let to_first = UpgradeOptions {
        to: Some(semver::Version::new(1, 0, 0)),
        dry_run: false,
    };
    store.upgrade(to_first).await.expect("1.0.0 applies");
    let before = store.catalog();
    store
        .upgrade(UpgradeOptions::default())
        .await
        .expect_err("1.1.0 still fails");
    assert_eq!(store.catalog(), before, "a failed upgrade changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_during_migrations_are_not_lost() {
    let store = MemoryMetadataStore::new();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let writer = store.clone();
        tasks.push(tokio::spawn(async move {
            let version = format!("1.0.{i}");
            writer.store_schema("orders", &version, &json!({})).await
        }));
        // Each initialize copies the database and swaps the copy in on commit.
        let migrator = store.clone();
        tasks.push(tokio::spawn(async move {
            migrator
                .initialize(InitializeOptions {
                    force: true,
                    dry_run: false,
                })
                .await
                .map(|_| pycharter_core::ArtifactId(0))
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("operation");
    }
    let versions = store.list_versions("orders").await.expect("list");
    assert_eq!(versions.len(), 200);
}

#[tokio::test]
async fn simulation_resets_the_gate_of_its_own_handle_only() {
    let store = MemoryMetadataStore::new();
    let other = store
        .reopen(ConnectOptions::default())
        .await
        .expect("reopen");
    store
        .store_schema("orders", "1.0.0", &json!({}))
        .await
        .expect("valid schema admits writes");
    // A newer build that records no compatibility: this build must refuse writes.
    store.record_newer_migration("9.0.0", None).await;
    let err = store
        .store_schema("orders", "2.0.0", &json!({}))
        .await
        .expect_err("this handle re-validates");
    assert!(matches!(err, Error::SchemaNewer { .. }), "{err}");
    let read = store
        .get_schema("orders", None)
        .await
        .expect("reads allowed");
    assert!(read.is_some());
    // Another handle validated before the change and, like another process, still trusts it.
    other
        .store_schema("orders", "3.0.0", &json!({}))
        .await
        .expect("stale gate on another handle");
}

#[tokio::test]
async fn a_newer_build_leaves_the_database_compatible_or_not_as_it_declares() {
    let store = MemoryMetadataStore::new();
    store.record_newer_migration("1.3.0", Some("1.1.0")).await;
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::NewerCompatible, "{}", info.message);
    assert!(info.valid);
    store
        .store_schema("orders", "1.0.0", &json!({}))
        .await
        .expect("a compatible newer schema admits writes");
    let current = store
        .current()
        .await
        .expect("current")
        .expect("initialized");
    assert_eq!(current.version, "1.3.0");
    assert_eq!(current.compatible_with.as_deref(), Some("1.1.0"));

    // The next migration needs at least 1.3.0: not this build (1.2.0).
    store.record_newer_migration("1.4.0", Some("1.3.0")).await;
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Newer);
    assert_eq!(info.incompatible.as_deref(), Some("1.4.0"));
    let err = store
        .store_schema("orders", "1.1.0", &json!({}))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, Error::SchemaNewer { incompatible, .. } if incompatible == "1.4.0"),
        "{err}"
    );
    assert_eq!(store.list_versions("orders").await.expect("reads").len(), 1);
}

#[tokio::test]
async fn dropping_the_version_table_keeps_data_and_initialize_adopts_it() {
    let store = MemoryMetadataStore::new();
    store
        .store_schema("orders", "1.0.0", &json!({}))
        .await
        .expect("store");
    assert!(store.drop_table(VERSION_TABLE).await);
    assert!(!store.drop_table("no_such_table").await);
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Uninitialized);
    let err = store.list_schemas().await.expect_err("uninitialized");
    assert!(matches!(err, Error::NotInitialized { .. }), "{err}");
    let report = store
        .initialize(InitializeOptions::default())
        .await
        .expect("init");
    assert_eq!(report.steps.len(), MIGRATIONS.len());
    assert_eq!(
        store.list_schemas().await.expect("valid again"),
        ["orders"],
        "up DDL is IF NOT EXISTS: existing rows survive"
    );
}

#[tokio::test]
async fn forgetting_a_migration_makes_it_pending_and_upgrade_reapplies_it() {
    let store = MemoryMetadataStore::new();
    assert!(store.forget_migration(SCHEMA_VERSION).await);
    assert!(!store.forget_migration("7.7.7").await);
    assert!(!store.set_recorded_checksum("7.7.7", "x").await);
    assert!(!store.drop_index("no_such_index").await);
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Outdated);
    assert_eq!(info.pending, [SCHEMA_VERSION]);
    let report = store
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade");
    assert_eq!(report.steps.len(), 1);
    assert!(store.validate().await.expect("validate").valid);
}

#[tokio::test]
async fn clones_share_the_database_and_connect_gives_a_new_one() {
    let store = MemoryMetadataStore::new();
    let clone = store.clone();
    clone
        .store_schema("orders", "1.0.0", &json!({}))
        .await
        .expect("store");
    assert_eq!(store.list_schemas().await.expect("list"), ["orders"]);
    let other = MemoryMetadataStore::connect(ConnectOptions::default())
        .await
        .expect("connect");
    assert!(other.list_schemas().await.expect("list").is_empty());
}

#[test]
fn new_works_without_a_runtime() {
    let store = MemoryMetadataStore::new();
    assert_eq!(store.catalog().applied.len(), MIGRATIONS.len());
}
