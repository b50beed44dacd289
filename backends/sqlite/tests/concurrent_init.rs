//! Sixteen stores, each with its own pool, initializing one fresh file at the same time: the
//! first takes SQLite's write lock (BEGIN IMMEDIATE) and migrates, the others wait, re-read
//! and find nothing to do.

mod common;

use common::{version_rows, TestDb};
use pycharter_core::{InitializeOptions, SchemaManager};
use pycharter_sqlite::SqliteMetadataStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_concurrent_initializations_apply_each_migration_once() {
    let db = TestDb::new();
    let url = db.url();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let store = SqliteMetadataStore::connect(&url, common::manual()).await?;
                store.initialize(InitializeOptions::default()).await
            })
        })
        .collect();
    let mut applied_steps = 0;
    for task in futures::future::join_all(tasks).await {
        let report = task.expect("task panicked").expect("initialize failed");
        applied_steps += report.steps.len();
    }
    let bundled = SqliteMetadataStore::migrations();
    // Exactly one of the sixteen applied anything, and it applied everything.
    assert_eq!(applied_steps, bundled.len());

    let rows = version_rows(&db.raw().await).await;
    let expected: Vec<(String, String)> = bundled
        .iter()
        .map(|m| (m.version.to_string(), m.checksum.clone()))
        .collect();
    assert_eq!(rows, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_connects_with_auto_initialize_all_succeed() {
    let db = TestDb::new();
    let url = db.url();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { SqliteMetadataStore::new(&url).await })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        let store = task.expect("task panicked").expect("connect failed");
        assert!(store.validate().await.unwrap().valid);
    }
    assert_eq!(
        version_rows(&db.raw().await).await.len(),
        SqliteMetadataStore::migrations().len()
    );
}
