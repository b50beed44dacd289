//! The change feed killed mid-run: `pg_terminate_backend` on the listening session while a
//! writer stores and deletes versions and a cached reader reads them. No answer may be staler
//! than `max_staleness` while the feed is down, and the feed must come back by itself (a new
//! connection, listening since after the kill).

mod common;

use common::{read, write, Probe};
use pycharter_cache::{CacheOptions, CachedMetadataStore, FeedStatus};
use pycharter_postgres::{PostgresMetadataStore, FEED_APPLICATION_NAME};
use pycharter_test_postgres::fresh_database;
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHANGES: usize = 1_000;
const BOUND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_listening_session_mid_run_serves_nothing_stale_and_the_feed_comes_back() {
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
    let admin = PgPool::connect(&db.url).await.expect("admin pool");
    let killed_at = Arc::new(Mutex::new(None));

    let probe = Probe::default();
    let kill = |i: usize| {
        let (admin, killed_at) = (admin.clone(), Arc::clone(&killed_at));
        async move {
            if i != CHANGES / 3 {
                return;
            }
            // In the select list, so that only the rows the filter kept are terminated.
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND datname = current_database()",
            )
            .bind(FEED_APPLICATION_NAME)
            .fetch_all(&admin)
            .await
            .expect("terminate the listening session");
            assert_eq!(killed, [true], "exactly the reader's listening session");
            *killed_at.lock().unwrap() = Some(Instant::now());
        }
    };
    let (_, report) = tokio::join!(
        write(&writer, &probe, CHANGES, kill),
        read(&reader, &probe, BOUND)
    );
    eprintln!("feed killed mid-run: {}", report.summary());
    report.assert_within(BOUND, CHANGES);

    let killed_at = killed_at.lock().unwrap().expect("the hook ran");
    let back = tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| matches!(s, FeedStatus::Live { since } if *since > killed_at)),
    )
    .await
    .expect("the feed reconnects by itself within 30 s")
    .expect("the cache is alive")
    .clone();
    eprintln!("feed back: {back:?}, killed at {killed_at:?}");
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(FEED_APPLICATION_NAME)
    .fetch_one(&admin)
    .await
    .expect("count listening sessions");
    assert_eq!(
        listening, 1,
        "one new listening session, the killed one gone"
    );
}
