//! Latest-version and exact lookups as the number of stored schema versions grows: 1k, 100k,
//! 1M (capped by `PYCHARTER_BENCH_MAX_SCALE`; 1k only in `--test` mode), on SQLite and
//! PostgreSQL. One database per backend, grown in bulk between levels
//! ([`pycharter_benches::seed`]); 90% of the rows belong to the measured name.
//!
//! At each level the plans of the backend's lookups are printed to stderr (Postgres
//! `EXPLAIN (ANALYZE, BUFFERS)`, SQLite `EXPLAIN QUERY PLAN`).

use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use pycharter_benches::backends::{Backend, Postgres, Sqlite};
use pycharter_benches::current_thread_runtime;
use pycharter_benches::mode::{self, Timing};
use pycharter_benches::seed::{self, HOT};
use pycharter_benches::workload::schema_document;
use pycharter_core::{ArtifactKind, MetadataStore, MetadataStoreExt};
use sqlx::AssertSqlSafe;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Rows whose sort keys are checked against the Rust function after each seeding step.
const VERIFY_SAMPLES: u64 = 2_000;
/// Distinct versions the exact lookups cycle through.
const EXACT_VERSIONS: u64 = 1_024;

fn sqlite(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let backend = rt.block_on(Sqlite::new());
    let store = rt.block_on(backend.initialized());
    let document = schema_document(0);
    let mut group = c.benchmark_group("scale/sqlite");
    Timing::FAST.apply(&mut group);
    let mut seeded = 0;
    for n in mode::scales() {
        let started = Instant::now();
        rt.block_on(async {
            seed::seed_sqlite(store.pool(), seeded, n, &document)
                .await
                .expect("seed SQLite");
            seed::verify_sqlite(store.pool(), n, VERIFY_SAMPLES).await;
        });
        eprintln!("scale/sqlite: {n} rows seeded in {:.1?}", started.elapsed());
        seeded = n;
        rt.block_on(explain_sqlite(store.pool(), n));
        bench_level(&mut group, &rt, &store, n);
    }
    group.finish();
    rt.block_on(backend.close(store));
}

fn postgres(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let backend = rt.block_on(Postgres::new());
    let store = rt.block_on(backend.initialized());
    let document = schema_document(0);
    let mut group = c.benchmark_group("scale/postgres");
    Timing::FAST.apply(&mut group);
    let mut seeded = 0;
    for n in mode::scales() {
        let started = Instant::now();
        rt.block_on(async {
            seed::seed_postgres(store.pool(), seeded, n, &document)
                .await
                .expect("seed PostgreSQL");
            seed::verify_postgres(store.pool(), n, VERIFY_SAMPLES).await;
        });
        eprintln!(
            "scale/postgres: {n} rows seeded in {:.1?}",
            started.elapsed()
        );
        seeded = n;
        rt.block_on(explain_postgres(store.pool(), n));
        bench_level(&mut group, &rt, &store, n);
    }
    group.finish();
    rt.block_on(backend.close(store));
}

/// `latest/<n>` and `exact/<n>` of the hot name, through the store's API.
fn bench_level<M, S>(group: &mut BenchmarkGroup<'_, M>, rt: &Runtime, store: &S, n: u64)
where
    M: criterion::measurement::Measurement<Value = Duration>,
    S: MetadataStore,
{
    let latest = seed::latest_hot(n);
    group.bench_with_input(BenchmarkId::new("latest", n), &n, |b, _| {
        b.to_async(rt).iter(|| async {
            let found = store.get_schema(HOT, None).await;
            let record = found.expect("get_schema").expect("seeded");
            debug_assert_eq!(record.version.to_string(), latest);
            black_box(record)
        })
    });
    let versions = seed::spread_hot_versions(n, EXACT_VERSIONS);
    let mut next = 0usize;
    group.bench_with_input(BenchmarkId::new("exact", n), &n, |b, _| {
        b.to_async(rt).iter(|| {
            let version = &versions[next % versions.len()];
            next += 1;
            async move {
                let found = store.get_schema(HOT, version).await;
                black_box(found.expect("get_schema").expect("seeded"))
            }
        })
    });
}

async fn explain_sqlite(pool: &sqlx::SqlitePool, n: u64) {
    let exact = seed::latest_hot(n);
    let sqlite_statements = pycharter_sqlite::sql::statements(ArtifactKind::Schema);
    for (what, sql, with_version) in [
        ("latest", &sqlite_statements.latest, false),
        ("exact", &sqlite_statements.exact, true),
    ] {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(explain))
            .persistent(false)
            .bind(HOT);
        if with_version {
            query = query.bind(&exact);
        }
        let rows = query.fetch_all(pool).await.expect("EXPLAIN QUERY PLAN");
        let plan: Vec<String> = rows.into_iter().map(|r| r.3).collect();
        eprintln!("scale/sqlite {what} @ {n}: {}", plan.join(" | "));
    }
}

async fn explain_postgres(pool: &sqlx::PgPool, n: u64) {
    let statements = pycharter_postgres::sql::statements(ArtifactKind::Schema);
    let exact = seed::latest_hot(n);
    for (what, sql, with_version) in [
        ("latest", &statements.latest, false),
        ("exact", &statements.exact, true),
    ] {
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) {sql}");
        let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(explain)).bind(HOT);
        if with_version {
            query = query.bind(&exact);
        }
        let plan = query.fetch_all(pool).await.expect("EXPLAIN");
        let plan: Vec<&str> = plan.iter().map(|l| l.trim()).collect();
        eprintln!("scale/postgres {what} @ {n}: {}", plan.join(" | "));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = sqlite, postgres
}
criterion_main!(benches);
