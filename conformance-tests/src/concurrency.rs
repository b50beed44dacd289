//! Concurrent deployers and writers, each on its own task (the runtime has 2 workers, so
//! they really run in parallel).

use crate::support::{fresh, open_raw, schema_doc};
use crate::BackendHarness;
use pycharter_core::{
    Error, InitializeOptions, MetadataStore, MetadataStoreExt, MigrationState, SchemaManager,
    MIGRATIONS,
};
use std::sync::Arc;
use tokio::sync::Barrier;

const TASKS: usize = 8;

/// Eight handles on one new database initialize at once: all succeed, exactly one applies
/// every migration (once, in order), and the others wait for the lock and find nothing to do.
pub async fn concurrent_initialize_applies_each_migration_once<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = open_raw(h, &database).await;
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.initialize(InitializeOptions::default()).await
        }));
    }
    let mut applied_per_task = Vec::new();
    for task in tasks {
        let report = task
            .await
            .expect("task")
            .expect("every concurrent initialize succeeds");
        let steps: Vec<String> = report.steps.into_iter().map(|s| s.version).collect();
        if !steps.is_empty() {
            applied_per_task.push(steps);
        }
    }
    let bundled: Vec<String> = MIGRATIONS.iter().map(|m| m.version.to_string()).collect();
    assert_eq!(
        applied_per_task,
        vec![bundled],
        "one initializer applies every migration, the others none"
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
