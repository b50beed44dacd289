//! PyCharter's names for the schema functions: the free functions over a bare sqlx pool, and
//! `get_schema_info` on a store.

mod common;

use common::{manual, TestDb};
use pycharter_core::{SchemaManager, SchemaState};
use pycharter_sqlite::{initialize_schema, validate_schema, SqliteMetadataStore};

#[tokio::test]
async fn initialize_then_validate_on_a_bare_pool() {
    let db = TestDb::new();
    let pool = db.raw().await;
    let before = validate_schema(&pool).await.unwrap();
    assert_eq!(before.state, SchemaState::Uninitialized);
    assert!(
        before.message.contains(&db.path.display().to_string()),
        "{}",
        before.message
    );

    let report = initialize_schema(&pool).await.unwrap();
    assert_eq!(report.steps.len(), pycharter_core::MIGRATIONS.len());
    assert!(validate_schema(&pool).await.unwrap().valid);
    // Idempotent.
    assert!(initialize_schema(&pool).await.unwrap().steps.is_empty());
}

#[tokio::test]
async fn get_schema_info_is_validate_under_pycharters_name() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .unwrap();
    let info = store.get_schema_info().await.unwrap();
    assert_eq!(info.state, SchemaState::Uninitialized);
    assert_eq!(info, store.validate().await.unwrap());

    store.initialize(Default::default()).await.unwrap();
    let info = store.get_schema_info().await.unwrap();
    assert!(info.valid, "{info:?}");
    assert_eq!(info, store.validate().await.unwrap());
}
