//! `connect` (the harness's `open`) honouring `auto_initialize` and
//! `validate_schema_on_connect`.

use crate::support::{assert_fix, first_version, fresh_at, open_error, open_raw, raw, schema_doc};
use crate::{BackendHarness, Damage};
use pycharter_core::{
    ArtifactKind, ConnectOptions, DowngradeOptions, DowngradeTarget, Error, MetadataStore,
    MetadataStoreExt, SchemaManager, SchemaState, MIGRATIONS, SCHEMA_VERSION,
};
use std::collections::BTreeSet;

fn validate_only() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        ..ConnectOptions::default()
    }
}

/// With the defaults, `connect` initializes a new database and validates it; a second
/// connection to it finds it valid and sees the data.
pub async fn connect_defaults_initialize_and_validate<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    let info = store.validate().await.expect("validate");
    assert!(info.valid, "{info:?}");
    assert_eq!(info.version.as_deref(), Some(SCHEMA_VERSION));
    store
        .store_schema("orders", "1.0.0", &schema_doc("x"))
        .await
        .expect("store");
    let second = h
        .open(&database, ConnectOptions::default())
        .await
        .expect("connect again");
    assert_eq!(second.list_schemas().await.expect("list"), ["orders"]);
    assert_eq!(
        second.history().await.expect("history").len(),
        MIGRATIONS.len(),
        "connecting again applied nothing twice"
    );
}

/// `auto_initialize: false` with validation on an empty database fails with
/// `NotInitialized` (naming `pycharter db init`) and creates nothing.
pub async fn connect_validate_without_auto_initialize_fails_on_empty_database<H: BackendHarness>(
    h: &H,
) {
    let database = h.new_database().await;
    let err = open_error(
        h,
        &database,
        validate_only(),
        "an empty database is not valid",
    )
    .await;
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    assert_fix(&err, "init");
    let store = open_raw(h, &database).await;
    assert_eq!(
        store.validate().await.expect("validate").state,
        SchemaState::Uninitialized
    );
    assert_eq!(store.current().await.expect("current"), None);
}

/// With both options off, `connect` opens an empty database and creates nothing in it.
pub async fn connect_without_either_option_creates_nothing<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    for _ in 0..2 {
        let store = h.open(&database, raw()).await.expect("open");
        let info = store.validate().await.expect("validate");
        assert_eq!(info.state, SchemaState::Uninitialized);
        let every_table: BTreeSet<&str> = MIGRATIONS
            .iter()
            .flat_map(|m| m.tables.iter().copied())
            .collect();
        let missing: BTreeSet<&str> = info.missing_tables.iter().map(String::as_str).collect();
        assert_eq!(missing, every_table, "no table was created");
        assert_eq!(store.current().await.expect("current"), None);
        let objects = h.objects(&database).await;
        assert!(objects.is_empty(), "connect created {objects:?}");
    }
}

/// With the defaults, `connect` upgrades a database at an older layout; with validation
/// only, it refuses it with `SchemaOutdated`.
pub async fn connect_auto_initialize_upgrades_an_older_schema<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(first_version()),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("downgrade");
    let err = open_error(h, &database, validate_only(), "outdated").await;
    assert!(matches!(err, Error::SchemaOutdated { .. }), "{err:?}");
    assert_fix(&err, "upgrade");

    let upgraded = h
        .open(&database, ConnectOptions::default())
        .await
        .expect("connect upgrades");
    assert!(upgraded.validate().await.expect("validate").valid);
    let current = upgraded
        .current()
        .await
        .expect("current")
        .expect("recorded");
    assert_eq!(current.version, SCHEMA_VERSION);
}

/// `connect` never repairs damage on its own: a missing table fails `connect` (with the
/// `--force` fix), even with `auto_initialize`; without validation it opens.
pub async fn connect_refuses_a_damaged_schema<H: BackendHarness>(h: &H) {
    let (database, _store) = fresh_at(h).await;
    let table = ArtifactKind::GovernanceRules.table();
    h.damage(&database, Damage::DropTable(table)).await;
    let err = open_error(h, &database, ConnectOptions::default(), "damaged").await;
    assert!(
        matches!(err, Error::MissingTables { ref tables, .. } if tables == &[table]),
        "{err:?}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    let store = open_raw(h, &database).await;
    assert_eq!(
        store.validate().await.expect("validate").state,
        SchemaState::MissingTables,
        "connect did not repair it behind the user's back"
    );
}
