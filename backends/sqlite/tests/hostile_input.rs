//! Hostile and malformed input on SQLite: the same cases as PostgreSQL
//! (`pycharter_conformance::hostile`), each answered by a typed error with nothing written.

mod common;

use common::TestDb;
use pycharter_conformance::hostile;
use pycharter_sqlite::SqliteMetadataStore;
use sqlx::SqlitePool;

async fn total_rows(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar(hostile::TOTAL_ROWS_SQL)
        .fetch_one(pool)
        .await
        .expect("count rows")
}

#[tokio::test]
async fn hostile_input_gets_typed_errors_and_writes_nothing() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::new(&db.url()).await.expect("connect");
    let raw = db.raw().await;
    let tried = hostile::run_all(&store, async || total_rows(&raw).await).await;
    assert!(tried.total() >= 50, "{tried:?}");
    assert!(
        pycharter_core::SchemaManager::validate(&store)
            .await
            .unwrap()
            .valid
    );
}
