//! Every pooled connection runs with foreign keys on, the file is in WAL mode, and deleting a
//! schema version therefore cascades to what is attached to it.

mod common;

use common::TestDb;
use pycharter_core::prelude::*;
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;

#[tokio::test]
async fn file_is_in_wal_mode_with_foreign_keys_on() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::new(&db.url()).await.unwrap();
    assert!(db.path.exists(), "the file is created when missing");

    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // WAL is a property of the file: a connection that did not ask for it sees it too.
    let raw = db.raw().await;
    let raw_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(raw_mode, "wal");

    // Check several pooled connections at once, not just the first one.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut conns {
        let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(on, 1);
    }
}

#[tokio::test]
async fn deleting_a_schema_version_cascades_to_attached_rows() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::new(&db.url()).await.unwrap();
    store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .unwrap();
    store
        .store_ownership("orders", "1.0.0", &json!({"owner": "team-a"}))
        .await
        .unwrap();
    store.delete_schema("orders", "1.0.0").await.unwrap();

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM ownership")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
