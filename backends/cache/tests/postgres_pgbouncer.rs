//! Behind a real PgBouncer in transaction pooling mode, where `LISTEN` cannot work (the
//! listening server connection would go back to the pool, and hand the notifications to its
//! next client): with `statement-cache-capacity=0`, the URL setting for that mode, the store
//! has no feed, and the cache asks again once an answer is `max_staleness` old — no answer
//! staler than that, and no other client's query disturbed.

mod common;

use common::{read, write, Probe};
use pycharter_cache::{CacheOptions, CachedMetadataStore, FeedStatus};
use pycharter_core::ConnectOptions;
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::fresh_database;
use pycharter_test_postgres::pgbouncer::PgBouncer;
use std::time::Duration;

/// Changes measured (each visible only once the reader's answer expires, so fewer than the
/// feed tests need to cover the whole range of latencies many times).
const CHANGES: usize = 300;
/// A short bound, to keep the test short.
const BOUND: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_pgbouncer_transaction_pooling_answers_stay_within_the_bound() {
    let db = fresh_database().await;
    let bouncer = PgBouncer::start(4);
    let url = bouncer.url(&db.name, "?statement-cache-capacity=0");
    let options = ConnectOptions {
        max_connections: 2,
        ..ConnectOptions::default()
    };
    let writer = PostgresMetadataStore::connect(&url, options.clone())
        .await
        .expect("writer connects through PgBouncer");
    let store = PostgresMetadataStore::connect(&url, options)
        .await
        .expect("reader connects through PgBouncer");
    let reader =
        CachedMetadataStore::with_options(store, CacheOptions::default().max_staleness(BOUND));
    let mut status = reader.feed_status();
    let watch_status = tokio::spawn(async move {
        let mut seen = vec![status.borrow_and_update().clone()];
        while status.changed().await.is_ok() {
            seen.push(status.borrow_and_update().clone());
        }
        seen
    });

    let probe = Probe::default();
    let (_, report) = tokio::join!(
        write(&writer, &probe, CHANGES, |_| async {}),
        read(&reader, &probe, BOUND)
    );
    eprintln!(
        "behind PgBouncer (transaction mode), by expiry: {}",
        report.summary()
    );
    report.assert_within(BOUND * 2, CHANGES);
    assert_eq!(report.failed_reads, 0, "{}", report.summary());

    drop(reader);
    let seen = watch_status.await.expect("status watcher");
    assert!(
        !seen.iter().any(|s| matches!(s, FeedStatus::Live { .. })),
        "LISTEN cannot work through transaction pooling, the feed must never vouch: {seen:?}"
    );
    assert!(
        matches!(&seen[0], FeedStatus::Lost(reason) if reason.contains("statement-cache-capacity=0")),
        "the cache is told at once that there is no feed, and why: {seen:?}"
    );
}
