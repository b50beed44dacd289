//! The cache layer (`pycharter-cache`) over Postgres and SQLite, on the workload's data set:
//!
//! - `cache/<backend>/get_schema/{exact,latest}`: cached reads on one core (a current-thread
//!   runtime), `cache/<backend>/uncached/get_schema/{exact,latest}`: the same reads asked of
//!   the wrapped store (the baseline, measured in the same run), and `cache/<backend>/16_tasks/...`: 16 tasks sharing one cached store on a
//!   multi-thread runtime (one worker per core);
//! - `cache/freshness/postgres/{feed,expiry}`: from the start of a `store_schema` on one pool
//!   until a cached reader on another pool returns the new version as `latest` (the reader
//!   remembered the previous one first), with the `LISTEN/NOTIFY` feed, and without a feed
//!   (answers asked again once `max_staleness` old; 100 ms here). p50/p99 over a sample of
//!   changes are printed too (criterion reports medians).
//!
//! Each cached store is built on the runtime that drives its bench: its feed and schema check
//! are tasks of that runtime.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pycharter_benches::backends::{Postgres, Sqlite};
use pycharter_benches::mode::{test_mode, Timing};
use pycharter_benches::workload::{
    self, exact_read_version, latest_read_version, schema_document, READ_NAME,
};
use pycharter_benches::{current_thread_runtime, multi_thread_runtime};
use pycharter_cache::{CacheOptions, CachedMetadataStore, FeedStatus};
use pycharter_core::feed::ChangeFeed;
use pycharter_core::{ConnectOptions, MetadataStore, MetadataStoreExt, SchemaManager};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_sqlite::SqliteMetadataStore;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Tasks of the concurrent read benches.
const TASKS: u64 = 16;

/// Wraps `store` in a cache on the current runtime, waits for its feed, and warms the reads.
async fn cached<S>(store: S) -> CachedMetadataStore<S>
where
    S: MetadataStore + SchemaManager + ChangeFeed + 'static,
{
    let cached = CachedMetadataStore::new(store);
    cached
        .feed_status()
        .wait_for(|s| matches!(s, FeedStatus::Live { .. }))
        .await
        .expect("the cache's feed goes live");
    for version in [Some(exact_read_version()), None] {
        let found = cached.get_schema(READ_NAME, version.as_deref()).await;
        found.expect("warm-up read").expect("seeded");
    }
    cached
}

/// Cached reads of `open()`'s store, on one core and with [`TASKS`] tasks.
fn reads<S, F, Fut>(c: &mut Criterion, backend: &str, open: F)
where
    S: MetadataStore + SchemaManager + ChangeFeed + Clone + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let one_core = current_thread_runtime();
    let store = one_core.block_on(async { cached(open().await).await });
    let mut group = c.benchmark_group(format!("cache/{backend}"));
    Timing::FAST.apply(&mut group);
    group.throughput(Throughput::Elements(1));
    let exact = exact_read_version();
    let latest = latest_read_version();
    group.bench_function("get_schema/exact", |b| {
        b.to_async(&one_core).iter(|| async {
            let found = store.get_schema(READ_NAME, &exact).await;
            black_box(found.expect("get_schema").expect("seeded"))
        })
    });
    group.bench_function("get_schema/latest", |b| {
        b.to_async(&one_core).iter(|| async {
            let found = store.get_schema(READ_NAME, None).await;
            let record = found.expect("get_schema").expect("seeded");
            debug_assert_eq!(record.version.to_string(), latest);
            black_box(record)
        })
    });
    // The same reads asked of the wrapped store itself, in the same run: the baseline the
    // cached figures are compared with, on the machine as loaded as they were.
    let uncached = store.store();
    group.bench_function("uncached/get_schema/exact", |b| {
        b.to_async(&one_core).iter(|| async {
            let found = uncached.get_schema(READ_NAME, &exact).await;
            black_box(found.expect("get_schema").expect("seeded"))
        })
    });
    group.bench_function("uncached/get_schema/latest", |b| {
        b.to_async(&one_core).iter(|| async {
            let found = uncached.get_schema(READ_NAME, None).await;
            black_box(found.expect("get_schema").expect("seeded"))
        })
    });
    drop(store);

    let cores = multi_thread_runtime();
    let store = cores.block_on(async { cached(open().await).await });
    for (what, version) in [("exact", Some(exact_read_version())), ("latest", None)] {
        group.bench_with_input(
            BenchmarkId::new(format!("{TASKS}_tasks/get_schema"), what),
            &version,
            |b, version| {
                b.to_async(&cores).iter_custom(|iters| {
                    let (store, version) = (store.clone(), version.clone());
                    async move { spread(iters, store, version).await }
                })
            },
        );
    }
    group.finish();
}

/// `iters` cached reads shared out over [`TASKS`] spawned tasks; the wall time of all.
async fn spread<S>(iters: u64, store: S, version: Option<String>) -> Duration
where
    S: MetadataStore + Clone + 'static,
{
    let started = Instant::now();
    let mut set = JoinSet::new();
    for t in 0..TASKS {
        let share = iters / TASKS + u64::from(t < iters % TASKS);
        let (store, version) = (store.clone(), version.clone());
        set.spawn(async move {
            for _ in 0..share {
                let found = store.get_schema(READ_NAME, version.as_deref()).await;
                black_box(found.expect("get_schema").expect("seeded"));
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.expect("a benchmark task panicked");
    }
    started.elapsed()
}

fn postgres_reads(c: &mut Criterion) {
    let postgres = current_thread_runtime().block_on(Postgres::new());
    let url = postgres.url().to_string();
    current_thread_runtime().block_on(async {
        let store = PostgresMetadataStore::new(&url).await.expect("connect");
        workload::seed(&store).await;
        store.close().await;
    });
    reads(c, "postgres", || {
        let url = url.clone();
        async move {
            let options = ConnectOptions {
                max_connections: 16,
                ..ConnectOptions::default()
            };
            PostgresMetadataStore::connect(&url, options)
                .await
                .expect("connect to the bench database")
        }
    });
}

fn sqlite_reads(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let sqlite = rt.block_on(Sqlite::new());
    let url = sqlite.new_file_url();
    rt.block_on(async {
        let store = SqliteMetadataStore::new(&url).await.expect("create");
        workload::seed(&store).await;
        store.pool().close().await;
    });
    reads(c, "sqlite", || {
        let url = url.clone();
        async move {
            SqliteMetadataStore::new(&url)
                .await
                .expect("open the bench database")
        }
    });
}

/// From the start of a write on `writer` until `reader` (which remembered the previous
/// latest) returns it; the version counter makes every write new.
async fn one_change<S>(writer: &PostgresMetadataStore, reader: &S, next: &AtomicU64) -> Duration
where
    S: MetadataStore,
{
    let n = next.fetch_add(1, Ordering::Relaxed);
    let version = format!("1.0.{n}");
    reader.get_schema("fresh", None).await.expect("read");
    let started = Instant::now();
    writer
        .store_schema("fresh", &version, &schema_document(n))
        .await
        .expect("write");
    loop {
        let latest = reader.get_schema("fresh", None).await.expect("read");
        if latest.is_some_and(|r| r.version == version.as_str()) {
            return started.elapsed();
        }
        tokio::task::yield_now().await;
    }
}

fn freshness(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let url = rt.block_on(Postgres::new()).url().to_string();
    let (writer, with_feed, by_expiry) = rt.block_on(async {
        let connect = || async { PostgresMetadataStore::new(&url).await.expect("connect") };
        let with_feed = CachedMetadataStore::new(connect().await);
        with_feed
            .feed_status()
            .wait_for(|s| matches!(s, FeedStatus::Live { .. }))
            .await
            .expect("feed live");
        let expiry = CacheOptions::default().max_staleness(Duration::from_millis(100));
        let by_expiry = CachedMetadataStore::without_feed(connect().await, expiry);
        (connect().await, with_feed, by_expiry)
    });
    let next = AtomicU64::new(0);
    let (feed_sample, expiry_sample) = if test_mode() { (20, 5) } else { (1_000, 100) };
    for (label, sample) in [
        ("feed", feed_sample),
        ("expiry (max_staleness 100 ms)", expiry_sample),
    ] {
        let mut latencies: Vec<Duration> = rt.block_on(async {
            let mut all = Vec::new();
            for _ in 0..sample {
                let latency = if label == "feed" {
                    one_change(&writer, &with_feed, &next).await
                } else {
                    one_change(&writer, &by_expiry, &next).await
                };
                all.push(latency);
            }
            all
        });
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        eprintln!(
            "cache/freshness/postgres {label}: {} changes, p50 {:?} p99 {:?} max {:?}",
            latencies.len(),
            at(0.5),
            at(0.99),
            latencies[latencies.len() - 1]
        );
    }

    let mut group = c.benchmark_group("cache/freshness/postgres");
    Timing::FAST.apply(&mut group);
    group.bench_function("feed", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (writer, reader, next) = (&writer, &with_feed, &next);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += one_change(writer, reader, next).await;
                }
                total
            }
        })
    });
    Timing::SLOW.apply(&mut group);
    group.bench_function("expiry", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (writer, reader, next) = (&writer, &by_expiry, &next);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += one_change(writer, reader, next).await;
                }
                total
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = postgres_reads, sqlite_reads, freshness
}
criterion_main!(benches);
