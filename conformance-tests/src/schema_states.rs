//! Every state a database schema can be in, the `SchemaInfo` it validates to, the typed
//! error a store call gets, and the command that fixes it.

use crate::support::{
    all_versions, assert_fix, expected, first_version, fresh, fresh_at, get_kind, open_error,
    open_raw, schema_doc, store_kind, strings,
};
use crate::{BackendHarness, Damage};
use pycharter_core::{
    ArtifactKind, ConnectOptions, Direction, DowngradeOptions, DowngradeTarget, Error,
    InitializeOptions, MetadataStore, MetadataStoreExt, MigrationState, SchemaManager, SchemaState,
    UpgradeOptions, MIGRATIONS, SCHEMA_VERSION,
};
use serde_json::json;

/// A checksum no migration has.
const BOGUS_CHECKSUM: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A new database is uninitialized: `validate` says so (and how to fix it), nothing is
/// recorded, and store calls fail with `NotInitialized`.
pub async fn fresh_database_is_uninitialized<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let store = open_raw(h, &database).await;
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Uninitialized);
    assert!(!info.valid);
    assert_eq!(info.version, None);
    assert_eq!(info.expected_version, SCHEMA_VERSION);
    assert_eq!(info.pending, all_versions());
    assert!(
        info.message.contains("run: pycharter db init"),
        "{}",
        info.message
    );
    assert_eq!(store.current().await.expect("current"), None);
    let history = store.history().await.expect("history");
    assert!(history.iter().all(|m| m.state == MigrationState::Pending));
    assert_eq!(history.len(), MIGRATIONS.len());

    let err = store
        .store_schema("orders", "1.0.0", &schema_doc("x"))
        .await
        .expect_err("uninitialized");
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    assert_fix(&err, "init");
    let err = store
        .get_schema("orders", None)
        .await
        .expect_err("uninitialized");
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    let err = store.list_schemas().await.expect_err("uninitialized");
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
}

/// `initialize` applies every migration: valid at `SCHEMA_VERSION`, no missing table or
/// index, every kind storable.
pub async fn initialize_creates_the_whole_schema<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let store = open_raw(h, &database).await;
    let report = store
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize");
    let applied: Vec<_> = report.steps.iter().map(|s| s.version.clone()).collect();
    assert_eq!(applied, all_versions());
    assert!(report.steps.iter().all(|s| s.direction == Direction::Up));
    assert_eq!(
        (report.from, report.to.as_deref()),
        (None, Some(SCHEMA_VERSION))
    );
    assert!(!report.dry_run);

    let info = store.validate().await.expect("validate");
    assert!(info.valid, "{info:?}");
    assert_eq!(info.state, SchemaState::Valid);
    assert_eq!(info.version.as_deref(), Some(SCHEMA_VERSION));
    assert!(info.missing_tables.is_empty() && info.missing_indexes.is_empty());
    assert!(info.pending.is_empty() && info.drifted.is_empty());
    let current = store.current().await.expect("current").expect("recorded");
    assert_eq!(current.version, SCHEMA_VERSION);
    let newest = store.bundled_migrations().last().expect("bundled");
    assert_eq!(current.checksum, newest.checksum);

    // Every table exists: each kind can be stored and read.
    store
        .store_schema("orders", "1.0.0", &schema_doc("x"))
        .await
        .expect("store schema");
    for kind in ArtifactKind::ATTACHED {
        let doc = json!({"kind": kind.label()});
        store_kind(&store, kind, "orders", "1.0.0", &doc)
            .await
            .expect("attach");
        let read = get_kind(&store, kind, "orders", Some("1.0.0"))
            .await
            .expect("read");
        assert_eq!(read.map(|r| (*r.document).clone()), Some(doc), "{kind}");
    }
}

/// A second `initialize` finds nothing to do and records nothing twice.
pub async fn initialize_is_idempotent<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let report = store
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize again");
    assert!(report.steps.is_empty(), "{report:?}");
    assert_eq!(report.from.as_deref(), Some(SCHEMA_VERSION));
    assert_eq!(report.to.as_deref(), Some(SCHEMA_VERSION));
    let history = store.history().await.expect("history");
    assert_eq!(
        history.len(),
        MIGRATIONS.len(),
        "no unknown or duplicate rows"
    );
    assert!(history.iter().all(|m| m.state == MigrationState::Applied));
    assert!(store.validate().await.expect("validate").valid);
}

/// At an older layout: `Outdated` with the pending migrations, store calls get
/// `SchemaOutdated` (reads too: the layout is not what this build queries), and `upgrade`
/// fixes it.
pub async fn older_schema_is_outdated_until_upgraded<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let first = first_version();
    let later = all_versions()[1..].to_vec();
    let report = store
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(first.clone()),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("downgrade an empty database");
    assert_eq!(report.steps.len(), later.len());

    // The handle that downgraded must not trust what it validated before (store call
    // first: `validate` would refresh its view anyway).
    let err = store
        .store_schema("orders", "1.0.0", &schema_doc("x"))
        .await
        .expect_err("outdated");
    assert!(
        matches!(err, Error::SchemaOutdated { ref found, ref expected, .. } if *found == first.to_string() && *expected == SCHEMA_VERSION),
        "{err:?}"
    );
    assert_fix(&err, "upgrade");
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Outdated);
    assert_eq!(info.version, Some(first.to_string()));
    assert_eq!(info.pending, later);
    assert!(
        info.message.contains("run: pycharter db upgrade"),
        "{}",
        info.message
    );
    let err = store.list_schemas().await.expect_err("outdated");
    assert!(matches!(err, Error::SchemaOutdated { .. }), "{err:?}");

    let report = store
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade");
    let applied: Vec<_> = report.steps.iter().map(|s| s.version.clone()).collect();
    assert_eq!(applied, later);
    assert!(store.validate().await.expect("validate").valid);
    store
        .store_schema("orders", "1.0.0", &schema_doc("x"))
        .await
        .expect("writes work again");
}

/// A database migrated by a newer build (`9.0.0` recorded) is `Newer`: `connect` with the
/// defaults refuses it, reads work, writes and migrations are refused with `SchemaNewer`.
pub async fn newer_schema_refuses_writes<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    h.damage(
        &database,
        Damage::RecordVersion {
            version: "9.0.0",
            checksum: BOGUS_CHECKSUM,
        },
    )
    .await;

    let err = open_error(
        h,
        &database,
        ConnectOptions::default(),
        "validation on connect refuses a newer schema",
    )
    .await;
    assert!(matches!(err, Error::SchemaNewer { .. }), "{err:?}");
    let reader = open_raw(h, &database).await;
    let info = reader.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Newer);
    assert_eq!(info.version.as_deref(), Some("9.0.0"));
    assert_eq!(info.expected_version, expected());
    for says in ["newer than this build", "writes are refused"] {
        assert!(info.message.contains(says), "{}", info.message);
    }

    let read = reader.get_schema("orders", None).await.expect("reads work");
    assert_eq!(
        read.map(|r| (*r.document).clone()),
        Some(schema_doc("kept"))
    );
    let err = reader
        .store_schema("orders", "2.0.0", &schema_doc("x"))
        .await
        .expect_err("writes are refused");
    assert!(
        matches!(err, Error::SchemaNewer { ref found, .. } if found == "9.0.0"),
        "{err:?}"
    );
    assert_fix(&err, "downgrade");
    let err = reader
        .initialize(InitializeOptions::default())
        .await
        .expect_err("this build cannot migrate a newer schema");
    assert!(matches!(err, Error::SchemaNewer { .. }), "{err:?}");
    let versions = reader
        .list_versions("orders")
        .await
        .expect("reads still work");
    assert_eq!(strings(&versions), ["1.0.0"]);
}

/// A dropped table is `MissingTables` naming it, for `validate` and for store calls on a
/// handle that had validated before; `initialize` without `force` refuses with the same
/// error (it does not repair, and must not succeed on a damaged database), with `force` it
/// recreates the table and keeps the rows of every other table.
pub async fn missing_table_is_reported_and_force_restores_it<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    store
        .store_metadata("orders", "1.0.0", &json!({"kept": true}))
        .await
        .expect("metadata");
    let table = ArtifactKind::Ownership.table();
    h.damage(&database, Damage::DropTable(table)).await;

    let err = store
        .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
        .await
        .expect_err("the table is gone");
    assert!(
        matches!(err, Error::MissingTables { ref tables, .. } if tables == &[table]),
        "{err:?}"
    );
    assert_fix(&err, "init");
    assert!(err.to_string().contains("--force"), "{err}");
    let err = store
        .get_ownership("orders", None)
        .await
        .expect_err("the table is gone");
    assert!(matches!(err, Error::MissingTables { .. }), "{err:?}");
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::MissingTables);
    assert_eq!(info.missing_tables, [table]);
    assert!(info.message.contains("--force"), "{}", info.message);

    let err = store
        .initialize(InitializeOptions::default())
        .await
        .expect_err("initialize without force refuses a damaged database");
    assert!(
        matches!(err, Error::MissingTables { ref tables, .. } if tables == &[table]),
        "only --force repairs: {err:?}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        store.validate().await.expect("validate").state,
        SchemaState::MissingTables
    );

    let report = store
        .initialize(InitializeOptions {
            force: true,
            dry_run: false,
        })
        .await
        .expect("initialize --force");
    assert!(report
        .steps
        .iter()
        .any(|s| s.direction == Direction::Repair));
    assert!(store.validate().await.expect("validate").valid);
    let kept = store.get_schema("orders", None).await.expect("get");
    assert_eq!(
        kept.map(|r| (*r.document).clone()),
        Some(schema_doc("kept"))
    );
    let kept = store.get_metadata("orders", None).await.expect("get");
    assert_eq!(
        kept.map(|r| (*r.document).clone()),
        Some(json!({"kept": true}))
    );
    assert!(store
        .get_ownership("orders", None)
        .await
        .expect("get")
        .is_none());
    store
        .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
        .await
        .expect("the table is back");
}

/// A dropped index is `MissingIndexes` naming it; store calls get `MissingIndexes`;
/// `initialize --force` recreates it, data kept.
pub async fn missing_index_is_reported_and_force_restores_it<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    // The newest index: a plain index that no constraint depends on.
    let index = MIGRATIONS
        .iter()
        .flat_map(|m| m.indexes.iter())
        .last()
        .expect("the layout has indexes")
        .name;
    h.damage(&database, Damage::DropIndex(index)).await;

    let other = open_raw(h, &database).await;
    let info = other.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::MissingIndexes);
    assert_eq!(info.missing_indexes, [index]);
    assert!(info.missing_tables.is_empty());
    for says in ["--force", index] {
        assert!(info.message.contains(says), "{}", info.message);
    }
    let err = other
        .store_schema("orders", "2.0.0", &schema_doc("x"))
        .await
        .expect_err("missing index");
    assert!(matches!(err, Error::MissingIndexes { .. }), "{err:?}");
    assert_fix(&err, "init");
    let err = open_error(h, &database, ConnectOptions::default(), "connect validates").await;
    assert!(matches!(err, Error::MissingIndexes { .. }), "{err:?}");

    let report = other
        .initialize(InitializeOptions {
            force: true,
            dry_run: false,
        })
        .await
        .expect("initialize --force");
    assert_eq!(report.steps.len(), 1, "one repair step: {report:?}");
    assert_eq!(report.steps[0].direction, Direction::Repair);
    assert!(other.validate().await.expect("validate").valid);
    let kept = other.get_schema("orders", None).await.expect("get");
    assert_eq!(
        kept.map(|r| (*r.document).clone()),
        Some(schema_doc("kept"))
    );
}
