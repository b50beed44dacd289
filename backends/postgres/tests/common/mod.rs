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

/// Every bundled migration version, in order: what `version_rows` shows once fully migrated.
pub fn all_versions() -> Vec<String> {
    pycharter_core::MIGRATIONS
        .iter()
        .map(|m| m.version.to_string())
        .collect()
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

/// The index 1.1.0 creates.
pub const INDEX_1_1_0: &str = "idx_schemas_name_sort_key";

/// A fresh database migrated to 1.0.0 holding `rows` schema versions (name `seed`), seeded in
/// one statement.
pub async fn database_at_1_0_0(rows: u64) -> String {
    let url = fresh_url().await;
    let store = pycharter_postgres::PostgresMetadataStore::connect(&url, manual())
        .await
        .expect("connect");
    pycharter_core::SchemaManager::upgrade(
        &store,
        pycharter_core::UpgradeOptions {
            to: Some(semver::Version::new(1, 0, 0)),
            dry_run: false,
        },
    )
    .await
    .expect("upgrade to 1.0.0");
    store.close().await;
    seed(&url, rows).await;
    url
}

/// Inserts `rows` versions `0.0.<i>` of the schema `seed` (with the sort key the backend
/// writes), then analyzes the table.
pub async fn seed(url: &str, rows: u64) {
    let mut conn = admin(url).await;
    sqlx::query(
        "INSERT INTO schemas (name, version, version_sort_key, document) \
         SELECT 'seed', '0.0.' || i, \
                repeat('0', 20) || '.' || repeat('0', 20) || '.' || lpad(i::text, 20, '0') || '~', \
                '{\"type\": \"object\"}'::jsonb \
         FROM generate_series(0, $1 - 1) AS i",
    )
    .bind(i64::try_from(rows).expect("rows fit in i64"))
    .execute(&mut conn)
    .await
    .expect("seed schemas");
    sqlx::query("ANALYZE schemas")
        .execute(&mut conn)
        .await
        .expect("analyze");
}

/// The index's oid and whether it is valid (None: no such index in `public`).
pub async fn index_state(url: &str, index: &str) -> Option<(u32, bool)> {
    let mut conn = admin(url).await;
    let row: Option<(i64, bool)> = sqlx::query_as(
        "SELECT c.oid::bigint, x.indisvalid FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relname = $1",
    )
    .bind(index)
    .fetch_optional(&mut conn)
    .await
    .expect("index state");
    row.map(|(oid, valid)| (u32::try_from(oid).expect("an oid"), valid))
}

/// Polls (every 10 ms, up to 60 s) until `sql` (one boolean) is true on a connection of its
/// own; the signal a test waits on, observed on the server.
pub async fn wait_for(url: &str, what: &str, sql: &str) {
    let mut conn = admin(url).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let holds: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        if holds {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// SQL that is true once a `CREATE INDEX CONCURRENTLY` waits on a lock in this database.
pub const BUILD_WAITING: &str = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
     WHERE datname = current_database() AND wait_event_type = 'Lock' \
     AND query LIKE '%CREATE INDEX CONCURRENTLY%')";
