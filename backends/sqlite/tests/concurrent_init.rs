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
    let reports: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .enumerate()
        .map(|(n, task)| {
            task.expect("task panicked")
                .unwrap_or_else(|e| panic!("initializer {n} failed: {e}"))
        })
        .collect();
    let bundled = SqliteMetadataStore::migrations();
    let bundled_versions: Vec<String> = bundled.iter().map(|m| m.version.to_string()).collect();
    // Exactly one of the sixteen applied anything, and it applied every migration, in order;
    // the fifteen others waited, re-read and applied nothing.
    let appliers: Vec<(usize, Vec<String>)> = reports
        .iter()
        .enumerate()
        .filter(|(_, report)| !report.steps.is_empty())
        .map(|(n, report)| (n, report.steps.iter().map(|s| s.version.clone()).collect()))
        .collect();
    assert_eq!(
        appliers.len(),
        1,
        "initializers that applied steps: {appliers:?}"
    );
    assert_eq!(appliers[0].1, bundled_versions);
    // The applier started from an empty file; every other one planned inside the lock, after
    // the applier committed, so it found the file already at the latest version.
    let latest = bundled_versions.last().cloned();
    for (n, report) in reports.iter().enumerate() {
        let from = if n == appliers[0].0 {
            None
        } else {
            latest.clone()
        };
        assert_eq!(report.from, from, "initializer {n}: {report:?}");
        assert_eq!(report.to, latest, "initializer {n}: {report:?}");
    }

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
    // One row per migration: the bundled versions, each with its checksum.
    let expected: Vec<(String, String)> = SqliteMetadataStore::migrations()
        .iter()
        .map(|m| (m.version.to_string(), m.checksum.clone()))
        .collect();
    assert_eq!(version_rows(&db.raw().await).await, expected);
}
