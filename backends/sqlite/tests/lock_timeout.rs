//! A migration waits for another process's write lock up to the lock timeout, then fails
//! with `LockTimeout`; once the lock is free it proceeds.

mod common;

use common::{manual, TestDb};
use pycharter_core::{ConnectOptions, Error, InitializeOptions, SchemaManager};
use pycharter_sqlite::SqliteMetadataStore;
use std::time::{Duration, Instant};

#[tokio::test]
async fn held_write_lock_times_out_then_clears() {
    let db = TestDb::new();
    let options = ConnectOptions {
        lock_timeout: Some(Duration::from_millis(300)),
        ..manual()
    };
    let store = SqliteMetadataStore::connect(&db.url(), options)
        .await
        .unwrap();

    // Another "process" holds SQLite's write lock.
    let raw = db.raw().await;
    let mut holder = raw.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();

    let started = Instant::now();
    let err = store
        .initialize(InitializeOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::LockTimeout { waited, .. } => {
            assert!(*waited >= Duration::from_millis(250), "{waited:?}");
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains("migration lock"), "{err}");

    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    drop(holder);
    let report = store
        .initialize(InitializeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.steps.len(), pycharter_core::MIGRATIONS.len());
}
