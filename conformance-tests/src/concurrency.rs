//! Concurrent deployers and writers in one process, each on its own task (the runtime has 2
//! workers, so they really run in parallel); separate processes are in `processes`.

use crate::support::{all_versions, fresh, open_raw, raw, schema_doc};
use crate::BackendHarness;
use pycharter_core::{
    ConnectOptions, Error, InitializeOptions, MetadataStore, MetadataStoreExt, MigrationState,
    SchemaManager, MIGRATIONS,
};
use std::sync::Arc;
use tokio::sync::Barrier;

const TASKS: usize = 8;

/// Deployers that start at once on one new database, each with its own handle (its own pool
/// on a server backend, one connection each, as separate application servers would have).
const DEPLOYERS: usize = 16;

/// Options of one deployer: one connection, nothing done on connect.
fn deployer() -> ConnectOptions {
    ConnectOptions {
        max_connections: 1,
        ..raw()
    }
}

/// Sixteen deployers initialize one new database at once: all succeed, exactly one applies
/// every migration (the others wait for the lock, re-read, and find nothing to do), and the
/// database ends valid with one applied row per migration.
pub async fn concurrent_initialize_one_deployer_applies_everything<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let barrier = Arc::new(Barrier::new(DEPLOYERS));
    let mut tasks = Vec::new();
    for _ in 0..DEPLOYERS {
        let store = h
            .open(&database, deployer())
            .await
            .expect("every deployer connects");
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.initialize(InitializeOptions::default()).await
        }));
    }
    let mut applied_by = Vec::new();
    for (deployer, task) in tasks.into_iter().enumerate() {
        let report = task
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("deployer {deployer} failed: {e}"));
        if !report.steps.is_empty() {
            let versions: Vec<String> = report.steps.into_iter().map(|s| s.version).collect();
            applied_by.push((deployer, versions));
        }
    }
    assert_eq!(
        applied_by.len(),
        1,
        "exactly one deployer applies the migrations, the others find nothing to do: {applied_by:?}"
    );
    assert_eq!(
        applied_by[0].1,
        all_versions(),
        "and it applies all of them"
    );

    let store = open_raw(h, &database).await;
    assert!(store.validate().await.expect("validate").valid);
    let history = store.history().await.expect("history");
    assert_eq!(
        history.len(),
        MIGRATIONS.len(),
        "no duplicate or unknown rows"
    );
    assert!(history.iter().all(|m| m.state == MigrationState::Applied));
    assert!(history.iter().all(|m| m.checksum_ok == Some(true)));
}

/// Sixteen applications start at once on one new database with the default options
/// (initialize, then validate, on connect): every `connect` succeeds with a valid schema.
pub async fn concurrent_connects_with_the_defaults_all_succeed<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let barrier = Arc::new(Barrier::new(DEPLOYERS));
    let connects = (0..DEPLOYERS).map(|i| {
        let barrier = Arc::clone(&barrier);
        let database = database.as_str();
        async move {
            barrier.wait().await;
            let options = ConnectOptions {
                max_connections: 1,
                ..ConnectOptions::default()
            };
            (i, h.open(database, options).await)
        }
    });
    for (i, connected) in futures::future::join_all(connects).await {
        let store = connected.unwrap_or_else(|e| panic!("connect {i} failed: {e}"));
        assert!(store.validate().await.expect("validate").valid, "{i}");
    }
    let history = open_raw(h, &database)
        .await
        .history()
        .await
        .expect("history");
    assert_eq!(history.len(), MIGRATIONS.len(), "each migration once");
    assert!(history.iter().all(|m| m.state == MigrationState::Applied));
}

/// Concurrent writers of the same `(name, version, document)` all succeed with one id.
pub async fn concurrent_writers_of_the_same_document_share_one_id<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (store, barrier) = (store.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .store_schema("orders", "1.0.0", &schema_doc("same"))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(
            task.await
                .expect("task")
                .expect("same document: no conflict"),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let record = store
        .get_schema("orders", Some("1.0.0"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record.id, ids[0]);
    assert_eq!(store.list_versions("orders").await.expect("list").len(), 1);
}

/// Concurrent writers of different documents for one `(name, version)`: exactly one wins,
/// every other gets `VersionConflict`, and the stored document is the winner's.
pub async fn concurrent_writers_of_different_documents_one_wins<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (store, barrier) = (store.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let doc = schema_doc(&format!("writer {i}"));
                (i, store.store_schema("orders", "1.0.0", &doc).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (i, Ok(id)) => winners.push((i, id)),
            (_, Err(Error::VersionConflict { .. })) => {}
            (i, Err(other)) => panic!("writer {i}: expected Ok or VersionConflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    let (winner, id) = winners[0];
    let record = store
        .get_schema("orders", Some("1.0.0"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record.id, id);
    assert_eq!(*record.document, schema_doc(&format!("writer {winner}")));
}
