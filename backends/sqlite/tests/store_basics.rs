//! Store semantics on a real file (the full conformance suite runs in conformance.rs).

mod common;

use common::TestDb;
use pycharter_core::{Error, MetadataStore, MetadataStoreExt};
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;

#[tokio::test]
async fn latest_is_semver_and_versions_are_immutable() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::new(&db.url()).await.unwrap();
    for v in ["1.9.0", "1.10.0", "1.10.0-rc.1"] {
        store
            .store_schema("orders", v, &json!({"type": "object", "title": v}))
            .await
            .unwrap();
    }
    let latest = store.get_schema("orders", None).await.unwrap().unwrap();
    assert_eq!(latest.version.to_string(), "1.10.0");
    let versions: Vec<String> = store
        .list_versions("orders")
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(versions, ["1.9.0", "1.10.0-rc.1", "1.10.0"]);

    let doc = json!({"type": "object", "title": "1.9.0"});
    let first = store
        .get_schema("orders", Some("1.9.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.store_schema("orders", "1.9.0", &doc).await.unwrap(),
        first.id
    );
    let err = store
        .store_schema("orders", "1.9.0", &json!({"type": "string"}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::VersionConflict { .. }), "{err:?}");
}

#[tokio::test]
async fn attached_artifacts_need_their_schema_and_follow_the_latest() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::new(&db.url()).await.unwrap();
    let err = store
        .store_metadata("orders", "1.0.0", &json!({"k": 1}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM metadata")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0);

    for v in ["1.0.0", "2.0.0"] {
        store
            .store_schema("orders", v, &json!({"type": "object"}))
            .await
            .unwrap();
    }
    store
        .store_metadata("orders", "1.0.0", &json!({"k": 1}))
        .await
        .unwrap();
    // Latest means "of the latest schema version", which has no metadata yet.
    assert!(store.get_metadata("orders", None).await.unwrap().is_none());
    store
        .store_metadata("orders", "2.0.0", &json!({"k": 2}))
        .await
        .unwrap();
    let latest = store.get_metadata("orders", None).await.unwrap().unwrap();
    assert_eq!(*latest.document, json!({"k": 2}));
    assert_eq!(latest.version.to_string(), "2.0.0");
}
