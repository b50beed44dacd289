//! The server restarted mid-run (`pg_ctl restart -m fast` of the harness's private cluster):
//! every session, the feed's included, is dropped. Writes and reads fail while the server is
//! down; no answer may be staler than `max_staleness`, and the feed must come back by itself.
//! A test binary of its own: the restart would disturb any other test of the process.

mod common;

use common::{read, write, Probe};
use pycharter_cache::{CacheOptions, CachedMetadataStore, FeedStatus};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::{fresh_database, restart_test_server};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHANGES: usize = 1_000;
const BOUND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_run_serves_nothing_stale_and_the_feed_comes_back() {
    let db = fresh_database().await;
    let writer = PostgresMetadataStore::new(&db.url)
        .await
        .expect("writer connects");
    let store = PostgresMetadataStore::new(&db.url)
        .await
        .expect("reader connects");
    let reader = CachedMetadataStore::with_options(store, CacheOptions::default());
    let mut status = reader.feed_status();
    status
        .wait_for(|s| matches!(s, FeedStatus::Live { .. }))
        .await
        .expect("the feed goes live");
    let restarted_at = Arc::new(Mutex::new(None));

    let probe = Probe::default();
    let restart = |i: usize| {
        let restarted_at = Arc::clone(&restarted_at);
        async move {
            if i == CHANGES / 3 {
                // Taken before the restart: the feed may well be live again before
                // `restart_test_server` returns, and that counts as coming back.
                *restarted_at.lock().unwrap() = Some(Instant::now());
                tokio::task::spawn_blocking(restart_test_server)
                    .await
                    .expect("restart the server");
            }
        }
    };
    let (retried, report) = tokio::join!(
        write(&writer, &probe, CHANGES, restart),
        read(&reader, &probe, BOUND)
    );
    eprintln!(
        "server restarted mid-run ({retried} writes retried): {}",
        report.summary()
    );
    // Puts that waited for the server are late by the restart itself, not by the cache:
    // what is asserted is that no answer was stale.
    report.assert_fresh(CHANGES);
    assert!(
        report.failed_reads > 0 || retried > 0,
        "the restart was felt"
    );

    let restarted_at = restarted_at.lock().unwrap().expect("the hook ran");
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| matches!(s, FeedStatus::Live { since } if *since > restarted_at)),
    )
    .await
    .expect("the feed reconnects by itself within 30 s")
    .expect("the cache is alive");
}
