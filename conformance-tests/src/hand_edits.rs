//! A version table edited behind the library's back: a drifted checksum, a deleted row, the
//! table dropped. Each is reported; a drifted history is refused, the others are repaired by
//! the ordinary commands without losing a row.

use crate::support::{
    all_versions, assert_fix, first_version, fresh_at, open_error, open_raw, schema_doc, strings,
};
use crate::{BackendHarness, Damage};
use pycharter_core::{
    ConnectOptions, Error, InitializeOptions, MetadataStore, MetadataStoreExt, MigrationState,
    SchemaManager, SchemaState, UpgradeOptions, MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE,
};
use serde_json::json;

/// A checksum no migration has.
const BOGUS_CHECKSUM: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A recorded checksum that differs from the bundled migration is `ChecksumDrift`; store
/// calls, `initialize` and `connect` refuse with it; `history` marks the migration drifted.
pub async fn drifted_checksum_is_reported<H: BackendHarness>(h: &H) {
    let (database, _store) = fresh_at(h).await;
    let first = first_version().to_string();
    h.damage(
        &database,
        Damage::SetChecksum {
            version: &first,
            checksum: BOGUS_CHECKSUM,
        },
    )
    .await;

    let other = open_raw(h, &database).await;
    let info = other.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::ChecksumDrift);
    assert_eq!(info.drifted, [first.as_str()]);
    assert!(
        info.message.contains("run: pycharter db history"),
        "{}",
        info.message
    );
    let history = other.history().await.expect("history");
    let entry = history.iter().find(|m| m.version == first).expect("listed");
    assert_eq!(entry.state, MigrationState::Drifted);
    assert_eq!(entry.checksum_ok, Some(false));

    let err = other
        .store_schema("orders", "1.0.0", &schema_doc("x"))
        .await
        .expect_err("drift");
    assert!(
        matches!(err, Error::ChecksumDrift { ref versions, .. } if strings(versions) == [first.clone()]),
        "{err:?}"
    );
    assert_fix(&err, "history");
    let err = other
        .initialize(InitializeOptions::default())
        .await
        .expect_err("no migration on a drifted history");
    assert!(matches!(err, Error::ChecksumDrift { .. }), "{err:?}");
    let err = open_error(h, &database, ConnectOptions::default(), "connect validates").await;
    assert!(matches!(err, Error::ChecksumDrift { .. }), "{err:?}");
}

/// A dropped version table (the record of every migration gone, the tables kept) is
/// `Uninitialized`: store calls get `NotInitialized`; `initialize` records every migration
/// again without losing a row (the layout's DDL is idempotent).
pub async fn dropped_version_table_is_uninitialized_and_initialize_keeps_the_rows<
    H: BackendHarness,
>(
    h: &H,
) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    store
        .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
        .await
        .expect("attach");
    h.damage(&database, Damage::DropTable(VERSION_TABLE)).await;

    let other = open_raw(h, &database).await;
    let info = other.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Uninitialized);
    assert_eq!(info.pending, all_versions());
    let err = other.list_schemas().await.expect_err("uninitialized");
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    assert_fix(&err, "init");

    let report = other
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize adopts the existing tables");
    assert_eq!(report.steps.len(), MIGRATIONS.len());
    assert!(other.validate().await.expect("validate").valid);
    assert_eq!(h.row_count(&database).await, 2, "every row kept");
    let kept = other.get_schema("orders", None).await.expect("get");
    assert_eq!(
        kept.map(|r| (*r.document).clone()),
        Some(schema_doc("kept"))
    );
}

/// A migration whose version row was deleted by hand (its tables kept) is pending: the
/// database is `Outdated` at the version below it, and `upgrade` re-applies just that one
/// (idempotent DDL), rows kept.
pub async fn forgotten_migration_is_pending_and_upgrade_reapplies_it<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    h.damage(&database, Damage::ForgetVersion(SCHEMA_VERSION))
        .await;

    let other = open_raw(h, &database).await;
    let info = other.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Outdated);
    assert_eq!(info.pending, [SCHEMA_VERSION]);
    let err = other
        .store_schema("orders", "2.0.0", &schema_doc("x"))
        .await
        .expect_err("outdated");
    assert!(matches!(err, Error::SchemaOutdated { .. }), "{err:?}");

    let report = other
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade");
    let applied: Vec<_> = report.steps.iter().map(|s| s.version.clone()).collect();
    assert_eq!(applied, [SCHEMA_VERSION]);
    assert!(other.validate().await.expect("validate").valid);
    assert_eq!(h.row_count(&database).await, 1, "the row is kept");
}
