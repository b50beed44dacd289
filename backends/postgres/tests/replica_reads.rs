//! Read replicas with read-your-writes on a real, lagging standby: with WAL replay paused
//! (`pg_wal_replay_pause()`), a reader that only asks the standby sees nothing new, while the
//! writing store's own reads stay correct — they wait (bounded) for the standby, then ask
//! the primary. Once replay resumes, reads go back to the standby.

use pycharter_core::prelude::*;
use pycharter_core::{ConnectOptions, ReplicaStats};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::replication::{PairOptions, ReplicaPair};
use serde_json::json;
use sqlx::Connection as _;
use std::time::{Duration, Instant};

/// The configured bound on waiting for the standby after a write.
const WAIT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_are_read_back_through_a_lagging_standby_within_the_bound() {
    let pair = ReplicaPair::start_async(PairOptions::default()).await;
    pair.create_database("meta").await;
    let primary_url = pair.node_url(pair.primary(), "meta");
    let standby_url = pair.node_url(pair.standby(), "meta");
    let store = PostgresMetadataStore::builder(&primary_url)
        .options(ConnectOptions {
            max_connections: 4,
            ..ConnectOptions::default()
        })
        .read_replicas([standby_url.clone()])
        .replica_wait(WAIT)
        .connect()
        .await
        .expect("primary initialized, replica connected");

    // Caught up: a read after a write is the standby's.
    store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("write");
    let found = store.get_schema("orders", None).await.expect("read");
    assert_eq!(found.expect("own write").version.to_string(), "1.0.0");
    assert_eq!(
        store.stats(),
        ReplicaStats {
            replica_reads: 1,
            primary_fallbacks: 0
        }
    );

    // The standby stops replaying: it lags from now on.
    let mut standby = pair.connect(pair.standby(), "meta").await;
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut standby)
        .await
        .expect("pause replay");
    store
        .store_schema("orders", "1.1.0", &json!({"type": "object"}))
        .await
        .expect("write while the standby lags");

    let started = Instant::now();
    let latest = store.get_schema("orders", None).await.expect("read");
    let waited = started.elapsed();
    assert_eq!(
        latest.expect("own write").version.to_string(),
        "1.1.0",
        "the writer reads its own write"
    );
    assert!(waited >= WAIT, "waited for the standby first: {waited:?}");
    assert!(
        waited < WAIT * 4,
        "bounded wait, then the primary: {waited:?}"
    );
    assert_eq!(store.stats().primary_fallbacks, 1);
    println!("replica-read wait before falling back to the primary: {waited:?} (bound {WAIT:?})");

    // Really lagging: the standby alone still has the old latest version.
    let on_standby: Vec<String> =
        sqlx::query_scalar("SELECT version FROM schemas WHERE name = 'orders' ORDER BY version")
            .fetch_all(&mut standby)
            .await
            .expect("read the standby directly");
    assert_eq!(on_standby, ["1.0.0"]);

    // Replay resumes: the next read waits until the standby has the write, and is its.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut standby)
        .await
        .expect("resume replay");
    let _ = standby.close().await;
    let before = store.stats();
    let versions = store.list_versions("orders").await.expect("list");
    assert_eq!(versions.len(), 2);
    let after = store.stats();
    assert_eq!(after.replica_reads, before.replica_reads + 1, "{after:?}");
    assert_eq!(after.primary_fallbacks, before.primary_fallbacks);
}
