//! The cache over SQLite files: another store of this process on the same file is seen when
//! its write returns (in-process feed); another *process* is seen within a poll of
//! `PRAGMA data_version`, well inside `max_staleness`. The writer process is this test
//! binary, re-run with [`CHILD_ENV`] set.

use pycharter_cache::{CacheOptions, CachedMetadataStore, FeedStatus};
use pycharter_core::prelude::*;
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "PYCHARTER_CACHE_SQLITE_WRITER_URL";
const OTHER_PROCESS: &str = "another_process_s_write_is_seen_within_a_poll";
/// Versions the other process writes, one per line it reads on stdin.
const ROUNDS: usize = 20;

fn doc(n: usize) -> serde_json::Value {
    json!({"type": "object", "title": format!("v{n}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_store_of_this_process_is_seen_when_its_write_returns() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let writer = SqliteMetadataStore::new(&url).await.unwrap();
    // Another spelling of the same file: still one database.
    let other_url = format!("sqlite://{}/./c.db", dir.path().display());
    let cached = CachedMetadataStore::new(SqliteMetadataStore::new(&other_url).await.unwrap());
    writer
        .store_schema("orders", "1.0.0", &doc(0))
        .await
        .unwrap();
    for n in 1..30 {
        assert_eq!(
            cached
                .get_schema("orders", None)
                .await
                .unwrap()
                .unwrap()
                .version,
            format!("1.{}.0", n - 1).as_str()
        );
        writer
            .store_schema("orders", format!("1.{n}.0"), &doc(n))
            .await
            .unwrap();
    }
    writer.delete_schema("orders", "1.29.0").await.unwrap();
    assert_eq!(
        cached
            .get_schema("orders", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "1.28.0"
    );
}

#[test]
fn another_process_s_write_is_seen_within_a_poll() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(url) = std::env::var(CHILD_ENV) {
        // Child: one version per line read, acknowledged once committed.
        runtime.block_on(async {
            let writer = SqliteMetadataStore::new(&url).await.unwrap();
            let stdin = std::io::stdin();
            for (n, line) in stdin.lock().lines().enumerate() {
                line.unwrap();
                writer
                    .store_schema("orders", format!("2.{n}.0"), &doc(n))
                    .await
                    .unwrap();
                println!("committed {n}");
                std::io::stdout().flush().unwrap();
            }
        });
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let max_staleness = Duration::from_secs(1);
    let cached = runtime.block_on(async {
        let store = SqliteMetadataStore::new(&url).await.unwrap();
        store
            .store_schema("orders", "1.0.0", &doc(0))
            .await
            .unwrap();
        let cached = CachedMetadataStore::with_options(store, CacheOptions::default());
        let mut status = cached.feed_status();
        status
            .wait_for(|s| matches!(s, FeedStatus::Live { .. }))
            .await
            .unwrap();
        cached
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", OTHER_PROCESS, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    let mut from_child = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut latencies = Vec::new();
    for n in 0..ROUNDS {
        // Remembered first, so that only the feed (or expiry) can make the change visible.
        runtime.block_on(cached.get_schema("orders", None)).unwrap();
        writeln!(to_child, "write").unwrap();
        let ack = format!("committed {n}");
        let line = from_child
            .by_ref()
            .map(|l| l.unwrap())
            // The first one follows libtest's "test <name> ... " on the same line.
            .find(|l| l.ends_with(&ack))
            .expect("the writer acknowledges");
        assert!(line.ends_with(&ack));
        let committed = Instant::now();
        let expected = format!("2.{n}.0");
        loop {
            let age = committed.elapsed();
            let latest = runtime
                .block_on(cached.get_schema("orders", None))
                .unwrap()
                .unwrap();
            if latest.version == expected.as_str() {
                break;
            }
            assert!(age <= max_staleness, "stale {age:?} after the commit");
            std::thread::yield_now();
        }
        latencies.push(committed.elapsed());
    }
    drop(to_child);
    assert!(child.wait().unwrap().success(), "the writer process failed");
    latencies.sort();
    let (p50, max) = (latencies[ROUNDS / 2], latencies[ROUNDS - 1]);
    eprintln!("other process, by data_version polling: p50 {p50:?} max {max:?}");
    // A poll every max_staleness / 4: seen well before expiry would have shown it.
    assert!(max <= max_staleness / 2, "max {max:?}");
}
