//! Damaged or foreign schemas, as validation and the store report them.

mod common;

use pycharter_core::{
    ConnectOptions, Error, InitializeOptions, MetadataStore, MetadataStoreExt, SchemaManager,
    SchemaState,
};
use pycharter_postgres::PostgresMetadataStore;
use serde_json::json;

#[tokio::test]
async fn database_newer_than_this_build_is_reported_and_refuses_writes() {
    let url = common::fresh_url().await;
    let first = PostgresMetadataStore::new(&url).await.expect("initialize");
    first
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("store");
    sqlx::query(
        "INSERT INTO pycharter_schema_version (version, description, checksum, execution_ms) \
         VALUES ('9.0.0', 'from a newer build', 'abc', 0)",
    )
    .execute(first.pool())
    .await
    .expect("record a newer migration");

    // The default options (initialize, then validate) refuse to start on it.
    let err = PostgresMetadataStore::new(&url).await.expect_err("newer");
    assert!(matches!(err, Error::SchemaNewer { .. }), "{err:?}");

    let store = PostgresMetadataStore::connect(&url, common::manual())
        .await
        .expect("connect without validation");
    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Newer);
    assert_eq!(info.version.as_deref(), Some("9.0.0"));
    assert!(
        info.message.contains("newer than this build"),
        "{}",
        info.message
    );

    let write = store
        .store_schema("orders", "2.0.0", &json!({"type": "object"}))
        .await
        .expect_err("writes are refused");
    assert!(matches!(write, Error::SchemaNewer { .. }), "{write:?}");
    let read = store
        .get_schema("orders", None)
        .await
        .expect("reads are allowed");
    assert_eq!(read.expect("stored").version.to_string(), "1.0.0");
    assert_eq!(store.list_versions("orders").await.expect("list").len(), 1);
    let init = store
        .initialize(InitializeOptions::default())
        .await
        .expect_err("this build does not migrate a newer database");
    assert!(matches!(init, Error::SchemaNewer { .. }), "{init:?}");
}

#[tokio::test]
async fn dropped_index_is_named_and_force_recreates_it() {
    let url = common::fresh_url().await;
    let store = PostgresMetadataStore::new(&url).await.expect("initialize");
    sqlx::query("DROP INDEX idx_schemas_name")
        .execute(store.pool())
        .await
        .expect("drop index");

    let info = store.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::MissingIndexes);
    assert_eq!(info.missing_indexes, vec!["idx_schemas_name".to_string()]);
    assert!(
        info.message.contains("idx_schemas_name"),
        "{}",
        info.message
    );
    let err = PostgresMetadataStore::connect(&url, ConnectOptions::default())
        .await
        .expect_err("connect validates");
    assert!(matches!(err, Error::MissingIndexes { .. }), "{err:?}");

    let report = store
        .initialize(InitializeOptions {
            force: true,
            dry_run: false,
        })
        .await
        .expect("repair");
    assert_eq!(report.steps.len(), 1, "{report:?}");
    assert!(store.validate().await.expect("validate").valid);
    assert!(common::indexes_in(&url, "public")
        .await
        .contains(&"idx_schemas_name".to_string()));
}

#[tokio::test]
async fn table_dropped_behind_a_connected_store_is_a_typed_error() {
    let url = common::fresh_url().await;
    let store = PostgresMetadataStore::new(&url).await.expect("initialize");
    sqlx::query("DROP TABLE ownership")
        .execute(store.pool())
        .await
        .expect("drop table");
    // The gate cached "valid" on connect; the failing statement is explained, not leaked.
    let err = store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .and(
            store
                .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
                .await,
        )
        .expect_err("ownership is gone");
    assert!(
        matches!(&err, Error::MissingTables { tables, .. } if tables == &["ownership".to_string()]),
        "{err:?}"
    );
}
