//! Helpers shared by this crate's integration tests (each test binary uses a subset).
#![allow(dead_code)]

use pycharter_core::ConnectOptions;
use pycharter_test_postgres::fresh_database;
use sqlx::postgres::PgConnection;
use sqlx::Connection as _;

/// URL of a fresh, empty database on the test server.
pub async fn fresh_url() -> String {
    fresh_database().await.url
}

/// Options that neither initialize nor validate on connect: the test drives the schema.
pub fn manual() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    }
}

/// A plain sqlx connection, to look at (or damage) the database behind the store's back.
pub async fn admin(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .expect("admin connection to the test database")
}

/// Rows of the version table, ascending (empty when the table does not exist).
pub async fn version_rows(url: &str) -> Vec<String> {
    let mut conn = admin(url).await;
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public.pycharter_schema_version') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .expect("catalog query");
    if !exists {
        return Vec::new();
    }
    sqlx::query_scalar("SELECT version FROM public.pycharter_schema_version ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("read the version table")
}

/// Tables of `namespace`, ascending.
pub async fn tables_in(url: &str, namespace: &str) -> Vec<String> {
    let mut conn = admin(url).await;
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
    )
    .bind(namespace)
    .fetch_all(&mut conn)
    .await
    .expect("list tables")
}

/// Indexes of `namespace`, ascending.
pub async fn indexes_in(url: &str, namespace: &str) -> Vec<String> {
    let mut conn = admin(url).await;
    sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
    )
    .bind(namespace)
    .fetch_all(&mut conn)
    .await
    .expect("list indexes")
}
