//! Hostile and malformed input on PostgreSQL: the shared cases of `pycharter_conformance::hostile`
//! (names shaped like SQL injection or LIKE patterns, NUL bytes, 10 000-character strings,
//! non-ASCII; invalid semver and build metadata; huge, deep and non-JSON-Schema documents),
//! each answered by a typed error with nothing written.

use pycharter_conformance::hostile;
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::fresh_database;
use sqlx::PgPool;

async fn total_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar(hostile::TOTAL_ROWS_SQL)
        .fetch_one(pool)
        .await
        .expect("count rows")
}

#[tokio::test]
async fn hostile_input_gets_typed_errors_and_writes_nothing() {
    let db = fresh_database().await;
    let store = PostgresMetadataStore::new(&db.url).await.expect("connect");
    let raw = PgPool::connect(&db.url).await.expect("raw pool");
    let tried = hostile::run_all(&store, async || total_rows(&raw).await).await;
    assert!(tried.total() >= 50, "{tried:?}");
    // The injection-shaped names left the layout alone.
    assert!(
        pycharter_core::SchemaManager::validate(&store)
            .await
            .unwrap()
            .valid
    );
}
