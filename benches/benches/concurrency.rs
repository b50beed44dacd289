//! Postgres `get_schema` (latest) throughput with 1, 4 and 16 concurrent tasks sharing one
//! store (one pool of 16 connections), on a multi-thread runtime (one worker per core).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pycharter_benches::mode::Timing;
use pycharter_benches::multi_thread_runtime;
use pycharter_benches::workload::{self, READ_NAME};
use pycharter_core::{ConnectOptions, MetadataStoreExt};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::fresh_database;
use std::hint::black_box;
use std::time::Instant;
use tokio::task::JoinSet;

/// Concurrent tasks measured.
const TASKS: [u64; 3] = [1, 4, 16];

fn concurrency(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let store = rt.block_on(async {
        let url = fresh_database().await.url;
        let options = ConnectOptions {
            max_connections: 16,
            ..ConnectOptions::default()
        };
        let store = PostgresMetadataStore::connect(&url, options)
            .await
            .expect("connect to the PostgreSQL bench database");
        workload::seed(&store).await;
        store
    });

    let mut group = c.benchmark_group("concurrency/postgres");
    Timing::FAST.apply(&mut group);
    group.throughput(Throughput::Elements(1));
    for tasks in TASKS {
        group.bench_with_input(
            BenchmarkId::new("get_schema_latest", tasks),
            &tasks,
            |b, &tasks| {
                b.to_async(&rt).iter_custom(|iters| {
                    let store = store.clone();
                    async move {
                        let started = Instant::now();
                        let mut set = JoinSet::new();
                        for t in 0..tasks {
                            // `iters` operations in all, shared out as evenly as possible.
                            let share = iters / tasks + u64::from(t < iters % tasks);
                            let store = store.clone();
                            set.spawn(async move {
                                for _ in 0..share {
                                    let found = store.get_schema(READ_NAME, None).await;
                                    black_box(found.expect("get_schema").expect("seeded"));
                                }
                            });
                        }
                        while let Some(done) = set.join_next().await {
                            done.expect("a benchmark task panicked");
                        }
                        started.elapsed()
                    }
                })
            },
        );
    }
    group.finish();
    rt.block_on(store.close());
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = concurrency
}
criterion_main!(benches);
