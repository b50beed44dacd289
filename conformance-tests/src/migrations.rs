//! Migration commands: downgrade guarding data, dry runs, history.

use crate::support::{all_versions, first_version, fresh, open_raw, schema_doc};
use crate::BackendHarness;
use pycharter_core::{
    ArtifactKind, Direction, DowngradeOptions, DowngradeTarget, Error, InitializeOptions,
    MetadataStore, MetadataStoreExt, MigrationState, SchemaManager, SchemaState, UpgradeOptions,
    SCHEMA_VERSION,
};
use serde_json::json;

fn to_base(allow_data_loss: bool, dry_run: bool) -> DowngradeOptions {
    DowngradeOptions {
        to: DowngradeTarget::Base,
        dry_run,
        allow_data_loss,
    }
}

/// A downgrade to base would drop tables holding rows: refused with `DataLoss` (naming the
/// tables and the flag that allows it), nothing changed; with `allow_data_loss` it runs.
pub async fn downgrade_to_base_refuses_data_loss<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    store
        .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
        .await
        .expect("attach");

    let err = store
        .downgrade(to_base(false, false))
        .await
        .expect_err("tables hold rows");
    let Error::DataLoss { ref tables, .. } = err else {
        panic!("expected DataLoss, got {err:?}");
    };
    for table in [
        ArtifactKind::Schema.table(),
        ArtifactKind::Ownership.table(),
    ] {
        assert!(
            tables.iter().any(|(t, rows)| t == table && *rows == 1),
            "{table} missing from {tables:?}"
        );
    }
    assert!(
        !tables
            .iter()
            .any(|(t, _)| t == ArtifactKind::Metadata.table()),
        "empty tables are not reported: {tables:?}"
    );
    let message = err.to_string();
    assert!(message.contains("run: pycharter db downgrade"), "{message}");
    assert!(message.contains("--allow-data-loss"), "{message}");
    assert!(
        store.validate().await.expect("validate").valid,
        "nothing changed"
    );
    let kept = store.get_schema("orders", None).await.expect("get");
    assert_eq!(
        kept.map(|r| (*r.document).clone()),
        Some(schema_doc("kept"))
    );

    let report = store
        .downgrade(to_base(true, false))
        .await
        .expect("downgrade with allow_data_loss");
    assert_eq!(report.to, None);
    assert!(report.steps.iter().all(|s| s.direction == Direction::Down));
    let err = store
        .get_schema("orders", None)
        .await
        .expect_err("this handle must not trust what it validated before the downgrade");
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Uninitialized);
    assert_eq!(store.current().await.expect("current"), None);

    store
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize again");
    assert!(
        store.list_schemas().await.expect("list").is_empty(),
        "the tables were dropped"
    );
}

/// Dry runs report the plan (with its SQL) and change nothing: not on an empty database,
/// not on a valid one, not on an older one.
pub async fn dry_runs_change_nothing<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let store = open_raw(h, &database).await;
    let report = store
        .initialize(InitializeOptions {
            force: false,
            dry_run: true,
        })
        .await
        .expect("dry-run init");
    assert!(report.dry_run);
    let planned: Vec<_> = report.steps.iter().map(|s| s.version.clone()).collect();
    assert_eq!(planned, all_versions());
    assert!(report.steps.iter().all(|s| s.sql.is_some()));
    // The report's wording is core's; what a backend owes is that nothing happened.
    let info = store.validate().await.expect("validate");
    assert_eq!(
        info.state,
        SchemaState::Uninitialized,
        "dry run created nothing"
    );
    assert_eq!(store.current().await.expect("current"), None);

    store
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize");
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let report = store
        .downgrade(to_base(false, true))
        .await
        .expect("dry-run downgrade (data loss is checked when it really runs)");
    assert_eq!(report.steps.len(), all_versions().len());
    assert!(store.validate().await.expect("validate").valid);
    assert!(store
        .get_schema("orders", None)
        .await
        .expect("get")
        .is_some());

    store
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(first_version()),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("downgrade to the first version keeps the tables");
    let report = store
        .upgrade(UpgradeOptions {
            to: None,
            dry_run: true,
        })
        .await
        .expect("dry-run upgrade");
    assert_eq!(report.steps.len(), all_versions().len() - 1);
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Outdated, "dry run applied nothing");
}

/// `history` marks bundled migrations applied (with when and a matching checksum) or
/// pending; `current` is the highest applied.
pub async fn history_marks_applied_and_pending<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let store = open_raw(h, &database).await;
    let history = store.history().await.expect("history");
    let versions: Vec<_> = history.iter().map(|m| m.version.clone()).collect();
    assert_eq!(versions, all_versions());
    assert!(history
        .iter()
        .all(|m| m.state == MigrationState::Pending && m.applied_at.is_none()));

    let first = first_version();
    let report = store
        .upgrade(UpgradeOptions {
            to: Some(first.clone()),
            dry_run: false,
        })
        .await
        .expect("upgrade to the first version");
    assert_eq!(report.steps.len(), 1);
    let history = store.history().await.expect("history");
    assert_eq!(history[0].state, MigrationState::Applied);
    assert_eq!(history[0].checksum_ok, Some(true));
    assert!(history[0].applied_at.is_some());
    assert!(history[1..]
        .iter()
        .all(|m| m.state == MigrationState::Pending && m.checksum_ok.is_none()));
    let current = store.current().await.expect("current").expect("recorded");
    assert_eq!(current.version, first.to_string());

    store
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade");
    let history = store.history().await.expect("history");
    assert!(history.iter().all(|m| m.state == MigrationState::Applied));
    let current = store.current().await.expect("current").expect("recorded");
    assert_eq!(current.version, SCHEMA_VERSION);
}
