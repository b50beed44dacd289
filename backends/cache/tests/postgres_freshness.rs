//! Cross-instance freshness on a real PostgreSQL server: a writer (one store, or another
//! process) stores 1,000 new versions and deletes every fifth one; a reader on another pool,
//! behind the cache, loops over `latest` and exact versions. Every change must be seen, no
//! answer may be staler than `max_staleness`, and with the feed a change is seen in a fraction
//! of it (not when it expires).

mod common;

use common::{read, write, Probe};
use pycharter_cache::{CacheOptions, CachedMetadataStore, FeedStatus};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::fresh_database;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Changes measured per run.
const CHANGES: usize = 1_000;
/// The default `max_staleness`: the bound every answer is held to.
const BOUND: Duration = Duration::from_secs(1);
/// With the feed, a change reaches the reader in milliseconds; expiry alone would spread
/// latencies evenly up to the bound (a median of half of it). A tenth of the bound tells the
/// two apart, with room for a busy machine.
const FEED_P50: Duration = Duration::from_millis(100);

const CHILD_ENV: &str = "PYCHARTER_CACHE_WRITER_URL";
const TWO_PROCESSES: &str = "a_writer_process_and_a_reader_process_agree_within_the_bound";

async fn cached_reader(url: &str) -> CachedMetadataStore<PostgresMetadataStore> {
    let store = PostgresMetadataStore::new(url)
        .await
        .expect("reader connects");
    let reader = CachedMetadataStore::with_options(store, CacheOptions::default());
    assert_eq!(reader.options().max_staleness, BOUND);
    let mut status = reader.feed_status();
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| matches!(s, FeedStatus::Live { .. })),
    )
    .await
    .expect("the feed goes live within 30 s")
    .expect("the cache is alive");
    reader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_on_another_pool_sees_every_change_within_the_bound() {
    let db = fresh_database().await;
    let writer = PostgresMetadataStore::new(&db.url)
        .await
        .expect("writer connects");
    let reader = cached_reader(&db.url).await;
    let probe = Probe::default();
    let (_, report) = tokio::join!(
        write(&writer, &probe, CHANGES, |_| async {}),
        read(&reader, &probe, BOUND)
    );
    eprintln!("two pools, with the feed: {}", report.summary());
    report.assert_within(BOUND, CHANGES);
    let p50 = report.put_quantile(0.5);
    assert!(
        p50 <= FEED_P50,
        "p50 {p50:?}: the feed did not deliver: {}",
        report.summary()
    );
    assert!(
        matches!(*reader.feed_status().borrow(), FeedStatus::Live { .. }),
        "the feed stayed up"
    );
}

/// The writer is this test's own binary, re-run as a child with [`CHILD_ENV`] set; it reports
/// each change on stdout, which the parent replays into its probe while it reads.
#[test]
fn a_writer_process_and_a_reader_process_agree_within_the_bound() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(url) = std::env::var(CHILD_ENV) {
        runtime.block_on(async {
            let writer = PostgresMetadataStore::new(&url)
                .await
                .expect("child connects");
            write(&writer, &Probe::echoing(), CHANGES, |_| async {}).await;
        });
        return;
    }
    let url = runtime.block_on(fresh_database()).url;
    let reader = runtime.block_on(async {
        // The schema exists before the child writes (both would initialize it otherwise).
        PostgresMetadataStore::new(&url).await.expect("initialize");
        cached_reader(&url).await
    });
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", TWO_PROCESSES, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the writer process");
    let probe = Arc::new(Probe::default());
    let stdout = child.stdout.take().expect("piped stdout");
    let replay = {
        let probe = Arc::clone(&probe);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                probe.replay(&line.expect("a line from the writer"));
            }
            // A writer that died without finishing must not keep the reader waiting.
            probe.finish();
        })
    };
    let report = runtime.block_on(read(&reader, &probe, BOUND));
    let output = child.wait_with_output().expect("the writer exits");
    replay.join().expect("replaying the writer's records");
    assert!(
        output.status.success(),
        "writer process failed (its stderr is above)"
    );
    eprintln!("two processes, with the feed: {}", report.summary());
    report.assert_within(BOUND, CHANGES);
    let p50 = report.put_quantile(0.5);
    assert!(
        p50 <= FEED_P50,
        "p50 {p50:?}: the feed did not deliver: {}",
        report.summary()
    );
}
