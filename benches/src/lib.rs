//! # pycharter-benches
//!
//! Criterion benchmarks of pycharter-rs: **one workload definition** ([`workload`]), generic
//! over [`MetadataStore`](pycharter_core::MetadataStore) +
//! [`SchemaManager`](pycharter_core::SchemaManager), run on every backend ([`backends`]):
//! in-memory, SQLite (a file in a temporary directory) and PostgreSQL (the test harness's
//! server: `PYCHARTER_TEST_DATABASE_URL`, else a private throwaway cluster).
//!
//! | bench target | what it measures |
//! |---|---|
//! | `workload` | store / get (exact, latest) / list / each attached kind, `connect()` with validation, `initialize` on an empty database, a no-op `upgrade`, per backend; `SELECT 1` references for Postgres |
//! | `scale` | latest and exact lookup with 1k, 100k and 1M stored versions (SQLite, Postgres), seeded in bulk ([`seed`]) |
//! | `concurrency` | Postgres `get_schema` throughput with 1, 4 and 16 tasks on one pool |
//! | `round_trips` | statements and round trips of `connect()` and `store_schema` on Postgres, counted by a protocol proxy ([`proxy`]) |
//! | `online_upgrade` | worst write latency of an application running through the 1.1.0 upgrade of a Postgres database holding 1M schema versions: online (`CREATE INDEX CONCURRENTLY`) vs the plain `CREATE INDEX` 1.1.0 first shipped ([`online`]) |
//! | `cache` | `pycharter-cache` over SQLite and Postgres: cached `get_schema` exact and latest (one core, 16 tasks) against the uncached store, and how long a change takes to reach a cached reader on another pool (with the `LISTEN/NOTIFY` feed, and by expiry alone) |
//! | `cache_memory` | bytes held by the cache per 10,000 cached contracts (a counting allocator; not criterion) |
//!
//! ```text
//! cargo bench -p pycharter-benches                    # everything (< 10 min on 2 cores)
//! cargo bench -p pycharter-benches -- --test          # each benchmark once (CI)
//! PYCHARTER_BENCH_MAX_SCALE=100000 cargo bench -p pycharter-benches --bench scale
//! benches/cli.sh                                      # the CLI as whole processes (hyperfine)
//! ```

pub mod backends;
pub mod mode;
pub mod online;
pub mod proxy;
pub mod round_trips;
pub mod seed;
pub mod workload;

/// A tokio runtime for the SQL backends: multi-threaded (one worker per core), as an
/// application would run them.
///
/// # Panics
///
/// When the runtime cannot be built.
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build a multi-thread tokio runtime")
}

/// A single-threaded tokio runtime: everything the benchmark does runs on one core.
///
/// # Panics
///
/// When the runtime cannot be built.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread tokio runtime")
}
