//! What validation and the store report on damaged or foreign layouts of a real file.

mod common;

use common::{manual, TestDb};
use pycharter_core::{
    BundledMigration, Error, InitializeOptions, MetadataStore, MetadataStoreExt, SchemaManager,
    SchemaState,
};
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;

#[tokio::test]
async fn dropped_index_is_named_and_force_restores_it() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::new(&db.url()).await.unwrap();
    sqlx::query("DROP INDEX idx_schemas_name_sort_key")
        .execute(&db.raw().await)
        .await
        .unwrap();

    let info = store.validate().await.unwrap();
    assert_eq!(info.state, SchemaState::MissingIndexes);
    assert_eq!(info.missing_indexes, vec!["idx_schemas_name_sort_key"]);
    assert!(info.message.contains("--force"), "{}", info.message);

    store
        .initialize(InitializeOptions {
            force: true,
            dry_run: false,
        })
        .await
        .unwrap();
    assert!(store.validate().await.unwrap().valid);
}

#[tokio::test]
async fn table_dropped_behind_the_stores_back_is_a_typed_error() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::new(&db.url()).await.unwrap();
    store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .unwrap();
    sqlx::query("DROP TABLE ownership")
        .execute(&db.raw().await)
        .await
        .unwrap();

    // The gate cached "valid"; the raw "no such table" is explained as the damage.
    let err = store
        .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingTables { tables, .. } if tables == &["ownership"]),
        "{err:?}"
    );
}

#[tokio::test]
async fn newer_database_validates_as_newer_and_refuses_writes() {
    let db = TestDb::new();
    let mut newer = SqliteMetadataStore::migrations();
    newer.push(
        BundledMigration::custom("9.0.0", "a layout from the future")
            .expect("valid version")
            .with_sql(
                "CREATE TABLE IF NOT EXISTS future (id INTEGER);",
                "DROP TABLE IF EXISTS future;",
            ),
    );
    let future = SqliteMetadataStore::connect_with_migrations(
        &db.url(),
        pycharter_core::ConnectOptions::default(),
        newer,
    )
    .await
    .unwrap();
    future
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .unwrap();

    // This build refuses on connect by default, with the typed error.
    let err = SqliteMetadataStore::new(&db.url()).await.unwrap_err();
    assert!(matches!(err, Error::SchemaNewer { .. }), "{err:?}");

    let store = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .unwrap();
    let info = store.validate().await.unwrap();
    assert_eq!(info.state, SchemaState::Newer);
    assert_eq!(info.version.as_deref(), Some("9.0.0"));
    // Reads still work, writes are refused.
    assert!(store.get_schema("orders", None).await.unwrap().is_some());
    let err = store
        .store_schema("orders", "2.0.0", &json!({"type": "object"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::SchemaNewer { found, .. } if found == "9.0.0"),
        "{err:?}"
    );
    let err = store
        .initialize(InitializeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SchemaNewer { .. }), "{err:?}");
}

#[tokio::test]
async fn uninitialized_file_refuses_store_operations() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .unwrap();
    let info = store.get_schema_info().await.unwrap();
    assert_eq!(info.state, SchemaState::Uninitialized);
    let err = store.list_schemas().await.unwrap_err();
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    assert!(store.current().await.unwrap().is_none());
}
