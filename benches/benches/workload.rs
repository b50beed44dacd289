//! The workload of [`pycharter_benches::workload`] on every backend, plus the references
//! each is judged against (`<backend>/reference/...`): for Postgres `SELECT 1`, one network
//! round trip; for SQLite and Postgres the backend's SQL on differently configured pools; for
//! the in-memory backend the parts of a read that are not a lookup.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pycharter_benches::backends::{Backend, Memory, Postgres, Sqlite};
use pycharter_benches::current_thread_runtime;
use pycharter_benches::mode::Timing;
use pycharter_benches::workload::{self, READ_NAME};
use pycharter_core::{ArtifactKind, ContractVersion, SchemaManager};
use pycharter_sqlite::sql::statements;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, PgConnection};
use std::hint::black_box;
use std::time::{Duration, Instant};

// Every backend runs on a current-thread runtime: criterion drives each iteration with
// `block_on`, and on a multi-thread runtime every I/O wake-up would then hop from a worker
// thread to the bench thread, adding ~30 µs to a Postgres round trip on 2 cores. (The
// concurrency bench spawns its tasks on a multi-thread runtime instead.)

/// In-memory: every figure is one core's.
fn memory(c: &mut Criterion) {
    let rt = current_thread_runtime();
    workload::run(c, &rt, &Memory::new());
    memory_references(c);
}

/// The parts of an in-memory `get_schema` that are not a map lookup: the deep copy of the
/// returned document (the store hands out an owned `ArtifactRecord`) and version parsing.
fn memory_references(c: &mut Criterion) {
    let document = workload::schema_document(1);
    let version = workload::exact_read_version();
    let mut group = c.benchmark_group("memory/reference");
    Timing::FAST.apply(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("clone_schema_document", |b| {
        b.iter(|| black_box(black_box(&document).clone()))
    });
    group.bench_function("contract_version_parse", |b| {
        b.iter(|| black_box(ContractVersion::parse(black_box(&version)).expect("valid")))
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let backend = rt.block_on(Sqlite::new());
    workload::run(c, &rt, &backend);
    sqlite_references(c, &rt, &backend);
}

/// What a SQLite `get_schema` / `store_schema` is made of: the backend's SQL on an sqlx pool
/// with its defaults (a liveness ping, i.e. a round trip to the connection's worker thread,
/// before every statement) and without that ping; and the insert with `synchronous = FULL`
/// (SQLite's default, which sqlx keeps: an fsync per commit) and `NORMAL` (WAL's usual).
fn sqlite_references(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: &Sqlite) {
    let store = rt.block_on(async {
        let store = backend.initialized().await;
        workload::seed(&store).await;
        store
    });
    let options = (*store.pool().connect_options()).clone();
    let (default_pool, unpinged_pool, normal_sync_pool) = rt.block_on(async {
        let default_pool = SqlitePoolOptions::new()
            .connect_with(options.clone())
            .await
            .expect("a pool with sqlx's defaults");
        let unpinged_pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .expect("a pool without the acquire ping");
        let normal_sync_pool = SqlitePoolOptions::new()
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await
            .expect("a pool with synchronous = NORMAL");
        (default_pool, unpinged_pool, normal_sync_pool)
    });
    let settings: (String, i64) = rt.block_on(async {
        let mode = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .expect("journal_mode");
        let sync = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .expect("synchronous");
        (mode, sync)
    });
    eprintln!(
        "sqlite: the store's connections use journal_mode={} synchronous={} (0 OFF, 1 NORMAL, 2 FULL)",
        settings.0, settings.1
    );

    let mut group = c.benchmark_group("sqlite/reference");
    Timing::FAST.apply(&mut group);
    group.throughput(Throughput::Elements(1));
    for (label, pool) in [
        ("pool_defaults", &default_pool),
        ("pool_without_acquire_ping", &unpinged_pool),
    ] {
        group.bench_function(format!("latest_sql/{label}"), |b| {
            b.to_async(rt).iter(|| async {
                let row = sqlx::query(statements(ArtifactKind::Schema).latest.as_str())
                    .bind(READ_NAME)
                    .fetch_one(pool)
                    .await
                    .expect("latest SQL");
                black_box(row)
            })
        });
    }
    let mut next = 0u64;
    for (label, pool) in [
        ("synchronous_full", &default_pool),
        ("synchronous_normal", &normal_sync_pool),
    ] {
        let document = workload::schema_document(1).to_string();
        group.bench_function(format!("insert_sql/{label}"), |b| {
            b.to_async(rt).iter(|| {
                let version =
                    ContractVersion::parse(&workload::fresh_version(next)).expect("valid version");
                next += 1;
                let document = &document;
                async move {
                    // The backend's own statement: name, version, document, created_at, sort key.
                    let done = sqlx::query(statements(ArtifactKind::Schema).insert.as_str())
                        .bind("reference_insert")
                        .bind(version.to_string())
                        .bind(document)
                        .bind("2026-01-01T00:00:00.000000Z")
                        .bind(version.sort_key())
                        .execute(pool)
                        .await
                        .expect("insert SQL");
                    black_box(done)
                }
            })
        });
    }
    group.finish();

    rt.block_on(async {
        default_pool.close().await;
        unpinged_pool.close().await;
        normal_sync_pool.close().await;
        backend.close(store).await;
    });
}

fn postgres(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let backend = rt.block_on(Postgres::new());
    workload::run(c, &rt, &backend);
    postgres_references(c, &rt, &backend);
}

/// What a Postgres `get_schema` is compared with: `SELECT 1` on a bare connection (one
/// network round trip, the floor), `SELECT 1` on an sqlx pool with its defaults (as the
/// backend builds it), and the backend's own latest-version SQL on a pool that does not ping
/// connections before handing them out (`test_before_acquire(false)`).
fn postgres_references(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: &Postgres) {
    let store = rt.block_on(async {
        let store = backend.initialized().await;
        workload::seed(&store).await;
        store
    });
    let options = (*store.pool().connect_options()).clone();
    // A mutex only so the benchmark closure can lend it out (uncontended: tens of ns).
    let connection = tokio::sync::Mutex::new(
        rt.block_on(PgConnection::connect_with(&options))
            .expect("a bare connection"),
    );
    let default_pool = rt
        .block_on(PgPoolOptions::new().connect_with(options.clone()))
        .expect("a pool with sqlx's defaults");
    let unpinged_pool = rt
        .block_on(
            PgPoolOptions::new()
                .test_before_acquire(false)
                .connect_with(options),
        )
        .expect("a pool without the acquire ping");
    let latest_sql = pycharter_postgres::sql::statements(ArtifactKind::Schema)
        .latest
        .as_str();

    let mut group = c.benchmark_group("postgres/reference");
    Timing::FAST.apply(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("select_1/connection", |b| {
        b.to_async(rt).iter(|| async {
            let mut connection = connection.lock().await;
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut *connection)
                .await
                .expect("SELECT 1");
            black_box(one)
        })
    });
    group.bench_function("select_1/pool_defaults", |b| {
        b.to_async(rt).iter(|| async {
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&default_pool)
                .await
                .expect("SELECT 1");
            black_box(one)
        })
    });
    group.bench_function("latest_sql/pool_defaults", |b| {
        b.to_async(rt).iter(|| async {
            let row = sqlx::query(latest_sql)
                .bind(READ_NAME)
                .fetch_one(&default_pool)
                .await
                .expect("latest SQL");
            black_box(row)
        })
    });
    group.bench_function("latest_sql/pool_without_acquire_ping", |b| {
        b.to_async(rt).iter(|| async {
            let row = sqlx::query(latest_sql)
                .bind(READ_NAME)
                .fetch_one(&unpinged_pool)
                .await
                .expect("latest SQL");
            black_box(row)
        })
    });
    group.bench_function("validate/store", |b| {
        b.to_async(rt).iter(|| async {
            let info = store.validate().await.expect("validate");
            black_box(info)
        })
    });
    group.finish();

    // What `connect()` is made of: opening one connection (TCP + SCRAM authentication).
    let mut group = c.benchmark_group("postgres/reference/lifecycle");
    Timing::SLOW.apply(&mut group);
    group.throughput(Throughput::Elements(1));
    let connect_options = (*store.pool().connect_options()).clone();
    group.bench_function("open_one_connection", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let connect_options = connect_options.clone();
            async move {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let connection = PgConnection::connect_with(&connect_options)
                        .await
                        .expect("open a connection");
                    timed += started.elapsed();
                    let _ = connection.close().await;
                }
                timed
            }
        })
    });
    group.finish();

    rt.block_on(async {
        let _ = connection.into_inner().close().await;
        default_pool.close().await;
        unpinged_pool.close().await;
        backend.close(store).await;
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = memory, sqlite, postgres
}
criterion_main!(benches);
