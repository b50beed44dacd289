//! The worst write latency of an application that keeps running while a PostgreSQL database
//! holding 1M schema versions (1k in `--test` mode; `PYCHARTER_BENCH_MAX_SCALE` caps it) is
//! upgraded from 1.0.0 to this build's version through the library: the 1.1.0 index built
//! online (`CREATE INDEX CONCURRENTLY`, this build) vs the plain `CREATE INDEX` 1.1.0 first
//! shipped.
//!
//! Each iteration takes the database back to 1.0.0 (not timed), starts the application
//! ([`pycharter_benches::online`]: two writers, two readers), upgrades, and returns the
//! slowest write that started during the upgrade: criterion's figures for these benchmarks
//! are that latency, not the upgrade's duration. Each iteration also prints the index build
//! time and the upgrade's wall time to stderr.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use pycharter_benches::backends::manual_options;
use pycharter_benches::mode;
use pycharter_benches::multi_thread_runtime;
use pycharter_benches::online::{
    back_to_1_0_0, database_at_1_0_0, measure, plain_index_migrations,
};
use pycharter_core::{BundledMigration, SchemaManager, UpgradeOptions};
use pycharter_postgres::PostgresMetadataStore;
use std::time::{Duration, Instant};

async fn upgrade(url: &str, migrations: Vec<BundledMigration>) {
    let store = PostgresMetadataStore::connect_with_migrations(url, manual_options(), migrations)
        .await
        .expect("connect");
    store
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade to 1.1.0");
    store.close().await;
}

fn online_upgrade(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let rows = mode::max_scale();
    let started = Instant::now();
    let db = rt.block_on(database_at_1_0_0(rows));
    eprintln!(
        "online_upgrade: {rows} rows seeded in {:.1?}",
        started.elapsed()
    );
    let mut group = c.benchmark_group(format!("online_upgrade/{rows}_rows"));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    let variants = [
        (
            "create_index_concurrently",
            PostgresMetadataStore::migrations(),
        ),
        ("plain_create_index", plain_index_migrations()),
    ];
    for (name, migrations) in variants {
        group.bench_function(BenchmarkId::new("worst_write", name), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let figures = rt.block_on(async {
                        let figures = measure(&db.url, upgrade(&db.url, migrations.clone())).await;
                        back_to_1_0_0(&db.url).await;
                        figures
                    });
                    assert!(
                        figures.stats.failures.is_empty(),
                        "{:?}",
                        figures.stats.failures
                    );
                    eprintln!(
                        "online_upgrade/{name}: build {} ms, upgrade {:.0?}, {} writes during it, worst {:.1?}, p99 overall {:.1?}",
                        figures.build_ms,
                        figures.upgrade,
                        figures.writes_during,
                        figures.worst_write_during,
                        figures.stats.write_percentile(99.0)
                    );
                    total += figures.worst_write_during;
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, online_upgrade);
criterion_main!(benches);
