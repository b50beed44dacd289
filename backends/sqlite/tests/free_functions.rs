//! The seed's free functions over a bare sqlx pool.

mod common;

use common::TestDb;
use pycharter_core::SchemaState;
use pycharter_sqlite::{initialize_schema, validate_schema};

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
