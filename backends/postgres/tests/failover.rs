//! Failover under load on a real primary and synchronous standby: writers and readers run
//! through a multi-host URL (`target_session_attrs=read-write`), the primary crashes
//! (`pg_ctl stop -m immediate`) and the standby is promoted. The store finds the new primary
//! by itself: writes succeed again within a bound after the promotion, and with
//! `synchronous_standby_names` set no acknowledged write is lost.
//!
//! Its own test binary: the bound is a latency, measured with nothing else running.

use pycharter_core::prelude::*;
use pycharter_core::ConnectOptions;
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::replication::{PairOptions, ReplicaPair};
use serde_json::json;
use sqlx::Connection as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 4;
const READERS: usize = 2;
/// Acknowledged writes before the crash, and after the promotion.
const WRITES_BEFORE: usize = 40;
const WRITES_AFTER: usize = 40;
/// The promise: writes succeed again within this long after the standby is promoted.
const RESUME_BOUND: Duration = Duration::from_secs(5);
/// Bound on waiting for the load to get somewhere (a hang fails instead of blocking CI).
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Load {
    stop: AtomicBool,
    /// (writer, version) of every acknowledged write.
    acknowledged: Mutex<Vec<(usize, String)>>,
    failed_writes: AtomicU64,
    reads: AtomicU64,
    failed_reads: AtomicU64,
    /// Set once the standby is promoted; then the first acknowledged write completes.
    promoted_at: Mutex<Option<Instant>>,
    first_write_after_promotion: Mutex<Option<Instant>>,
    acknowledged_after_promotion: AtomicU64,
}

async fn writer(store: PostgresMetadataStore, load: Arc<Load>, id: usize) {
    let mut n = 0u64;
    while !load.stop.load(Ordering::Acquire) {
        n += 1;
        let version = format!("1.0.{n}");
        let doc = json!({"type": "object", "title": format!("writer {id} write {n}")});
        match store
            .store_schema(&format!("w{id}"), version.as_str(), &doc)
            .await
        {
            Ok(_) => {
                let done = Instant::now();
                load.acknowledged.lock().unwrap().push((id, version));
                if load.promoted_at.lock().unwrap().is_some() {
                    load.first_write_after_promotion
                        .lock()
                        .unwrap()
                        .get_or_insert(done);
                    load.acknowledged_after_promotion
                        .fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(err) => {
                assert!(
                    err.is_connection() || matches!(err, pycharter_core::Error::Database { .. }),
                    "only connection errors while failing over: {err}"
                );
                load.failed_writes.fetch_add(1, Ordering::Relaxed);
                // Back off a little: the store is finding the new primary meanwhile.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn reader(store: PostgresMetadataStore, load: Arc<Load>) {
    while !load.stop.load(Ordering::Acquire) {
        match store.get_schema("w0", None).await {
            Ok(_) => load.reads.fetch_add(1, Ordering::Relaxed),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                load.failed_reads.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Polls `done` (a counter of the load) every 5 ms, at most [`PATIENCE`].
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_crash_and_promotion_writes_resume_within_5s_and_no_acknowledged_write_is_lost() {
    let pair = Arc::new(ReplicaPair::start_async(PairOptions { synchronous: true }).await);
    pair.create_database("meta").await;
    let hosts = [pair.primary().host_port(), pair.standby().host_port()];
    let url = pair.url(&hosts, "meta", "?target_session_attrs=read-write");
    let store = PostgresMetadataStore::connect(
        &url,
        ConnectOptions {
            connect_timeout: Duration::from_secs(2),
            max_connections: 8,
            ..ConnectOptions::default()
        },
    )
    .await
    .expect("connect and initialize through the multi-host URL");
    assert_eq!(store.connected_host(), pair.primary().host_port());

    let load = Arc::new(Load::default());
    let mut tasks = Vec::new();
    for id in 0..WRITERS {
        tasks.push(tokio::spawn(writer(store.clone(), Arc::clone(&load), id)));
    }
    for _ in 0..READERS {
        tasks.push(tokio::spawn(reader(store.clone(), Arc::clone(&load))));
    }
    wait_for("writes before the crash", || {
        load.acknowledged.lock().unwrap().len() >= WRITES_BEFORE
    })
    .await;

    let crash = Arc::clone(&pair);
    tokio::task::spawn_blocking(move || crash.stop_primary_immediately())
        .await
        .expect("stop the primary");
    let crashed_at = Instant::now();
    let promote = Arc::clone(&pair);
    tokio::task::spawn_blocking(move || promote.promote_standby())
        .await
        .expect("promote the standby");
    let promoted_at = Instant::now();
    *load.promoted_at.lock().unwrap() = Some(promoted_at);

    wait_for("writes after the promotion", || {
        load.acknowledged_after_promotion.load(Ordering::Acquire) >= WRITES_AFTER as u64
    })
    .await;
    load.stop.store(true, Ordering::Release);
    for task in tasks {
        task.await.expect("load task");
    }

    let first_after = load
        .first_write_after_promotion
        .lock()
        .unwrap()
        .expect("writes resumed");
    let resumed_after = first_after.saturating_duration_since(promoted_at);
    let acknowledged = load.acknowledged.lock().unwrap().clone();

    // Every acknowledged write is on the new primary.
    let mut new_primary = pair.connect(pair.standby(), "meta").await;
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT name, version FROM schemas")
        .fetch_all(&mut new_primary)
        .await
        .expect("read the new primary");
    let _ = new_primary.close().await;
    let stored: std::collections::HashSet<(String, String)> = stored.into_iter().collect();
    let lost: Vec<&(usize, String)> = acknowledged
        .iter()
        .filter(|(id, version)| !stored.contains(&(format!("w{id}"), version.clone())))
        .collect();

    println!(
        "failover: promotion took {:?} after the crash; first acknowledged write {:?} after the promotion; \
         {} writes acknowledged, {} lost; {} writes and {} reads failed while failing over, {} reads served",
        promoted_at - crashed_at,
        resumed_after,
        acknowledged.len(),
        lost.len(),
        load.failed_writes.load(Ordering::Relaxed),
        load.failed_reads.load(Ordering::Relaxed),
        load.reads.load(Ordering::Relaxed),
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(
        resumed_after <= RESUME_BOUND,
        "writes resumed {resumed_after:?} after the promotion (bound {RESUME_BOUND:?})"
    );
    assert_eq!(store.connected_host(), pair.standby().host_port());
    assert!(load.reads.load(Ordering::Relaxed) > 0);
}
