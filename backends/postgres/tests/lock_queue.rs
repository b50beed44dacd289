//! Lock-queue safety on a real PostgreSQL. A migration statement that needs ACCESS EXCLUSIVE
//! (a test migration 1.3.0: `ALTER TABLE schemas ADD COLUMN`) while a long-running reader
//! holds ACCESS SHARE on `schemas` waits in the table's lock queue, and every query of the
//! application queues behind it: without a bound, for as long as the reader runs. With the
//! DDL lock timeout the statement gives up after it, the migration is rolled back and
//! retried, so the application's queries are never delayed by much more than that timeout;
//! the migration completes once the reader ends, or fails cleanly at the retry bound.
//!
//! The three tests run one at a time (they measure latencies).

mod common;

use common::{admin, database_at_1_0_0, manual, version_rows};
use pycharter_core::prelude::*;
use pycharter_core::{BundledMigration, ConnectOptions, Error, UpgradeOptions};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::load::{Load, Shape, Stats};
use sqlx::Executor as _;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DDL_LOCK_TIMEOUT: Duration = Duration::from_millis(200);
/// What an application query may take beyond the DDL lock timeout it may have queued for:
/// its own work, the retry's backoff overlap, a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(300);

/// Async: each test holds it across its awaits (each test has its own runtime; tokio's
/// mutex works across them).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// This build's migrations and a 1.3.0 whose statement needs ACCESS EXCLUSIVE on `schemas`.
fn with_alter_table() -> Vec<BundledMigration> {
    let mut migrations = PostgresMetadataStore::migrations();
    migrations.push(
        BundledMigration::custom("1.3.0", "add a column")
            .expect("version")
            .with_sql(
                "ALTER TABLE schemas ADD COLUMN IF NOT EXISTS note text;",
                "ALTER TABLE schemas DROP COLUMN IF EXISTS note;",
            ),
    );
    migrations
}

/// A database at this build's version with a few rows.
async fn database_migrated() -> String {
    let url = database_at_1_0_0(1_000).await;
    let store = PostgresMetadataStore::connect(&url, manual())
        .await
        .expect("connect");
    store
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade to this build's version");
    store.close().await;
    url
}

/// A long-running reader: a transaction that read `schemas` and stays open, holding ACCESS
/// SHARE on it.
async fn long_reader(url: &str) -> sqlx::PgConnection {
    let mut conn = admin(url).await;
    conn.execute("BEGIN; SELECT count(*) FROM schemas")
        .await
        .expect("start the long reader");
    conn
}

/// The application: this build's store (validated before the migration starts), writing and
/// reading throughout.
async fn application(url: &str) -> Load {
    let options = ConnectOptions {
        max_connections: 6,
        ..ConnectOptions::default()
    };
    let store = PostgresMetadataStore::connect(url, options)
        .await
        .expect("application connects");
    let shape = Shape {
        pause: Duration::from_millis(5),
        ..Shape::default()
    };
    Load::start(Arc::new(store), shape)
}

async fn migrator(
    url: &str,
    ddl_lock_timeout: Option<Duration>,
    retry_for: Duration,
) -> PostgresMetadataStore {
    let options = ConnectOptions {
        ddl_lock_timeout,
        ddl_lock_retry_for: retry_for,
        ..manual()
    };
    PostgresMetadataStore::connect_with_migrations(url, options, with_alter_table())
        .await
        .expect("connect")
}

/// Waits until the server has shown `attempts` distinct executions of the 1.3.0 statement
/// waiting for its lock (each retry is a new execution).
async fn wait_for_attempts(url: &str, attempts: usize) {
    let mut conn = admin(url).await;
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < attempts {
        let waiting: Vec<(i32, String)> = sqlx::query_as(
            "SELECT pid, query_start::text FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
             AND query LIKE 'ALTER TABLE schemas ADD COLUMN%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("pg_stat_activity");
        seen.extend(waiting);
        assert!(Instant::now() < deadline, "saw {} attempts", seen.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn has_note_column(url: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
         WHERE table_name = 'schemas' AND column_name = 'note')",
    )
    .fetch_one(&mut admin(url).await)
    .await
    .expect("columns")
}

fn assert_bounded(stats: &Stats) {
    println!(
        "{} writes, {} reads; worst write {:?}, worst read {:?}",
        stats.writes, stats.reads, stats.worst_write, stats.worst_read
    );
    assert!(stats.failures.is_empty(), "{:?}", stats.failures);
    assert!(stats.writes > 10 && stats.reads > 10, "{stats:?}");
    let bound = DDL_LOCK_TIMEOUT + MARGIN;
    assert!(
        stats.worst_write <= bound && stats.worst_read <= bound,
        "worst write {:?}, worst read {:?}, bound {bound:?}",
        stats.worst_write,
        stats.worst_read
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_gives_way_to_the_application_then_completes_after_the_reader_ends() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let url = database_migrated().await;
    let mut reader = long_reader(&url).await;
    let app = application(&url).await;
    let migrator = migrator(&url, Some(DDL_LOCK_TIMEOUT), Duration::from_secs(60)).await;
    let upgrade = tokio::spawn(async move { migrator.upgrade(UpgradeOptions::default()).await });

    // Several attempts, each giving up after the DDL lock timeout, while the app runs.
    wait_for_attempts(&url, 4).await;
    assert!(!upgrade.is_finished());
    reader.execute("COMMIT").await.expect("the reader ends");
    let report = upgrade.await.expect("task").expect("upgrade");
    let stats = app.stop().await;

    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].version, "1.3.0");
    assert!(has_note_column(&url).await);
    assert_eq!(
        version_rows(&url).await,
        vec!["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    );
    assert_bounded(&stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_retry_bound_the_migration_fails_cleanly_and_nothing_is_applied() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let url = database_migrated().await;
    let mut reader = long_reader(&url).await;
    let app = application(&url).await;
    let retry_for = Duration::from_millis(1_500);
    let migrator = migrator(&url, Some(DDL_LOCK_TIMEOUT), retry_for).await;
    let started = Instant::now();
    let err = migrator
        .upgrade(UpgradeOptions::default())
        .await
        .expect_err("the reader outlasts the retry bound");
    let took = started.elapsed();
    let stats = app.stop().await;
    reader.execute("COMMIT").await.expect("the reader ends");

    let Error::TableLockTimeout {
        attempts, waited, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(*attempts >= 3, "{err}");
    assert!(
        *waited >= retry_for && took < retry_for * 3,
        "{err} after {took:?}"
    );
    assert!(err.to_string().contains("pg_stat_activity"), "{err}");
    // Nothing half-applied.
    assert!(!has_note_column(&url).await);
    assert_eq!(version_rows(&url).await, vec!["1.0.0", "1.1.0", "1.2.0"]);
    assert_bounded(&stats);
}

/// The control: what the DDL lock timeout prevents. Without it, the statement waits for the
/// whole reader, and so do the application's queries queued behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ddl_lock_timeout_the_application_queues_behind_the_waiting_statement() {
    let _serial = ONE_AT_A_TIME.lock().await;
    const READER_HOLDS: Duration = Duration::from_millis(1_500);
    let url = database_migrated().await;
    let mut reader = long_reader(&url).await;
    let app = application(&url).await;
    let migrator = migrator(&url, None, Duration::from_secs(60)).await;
    let upgrade = tokio::spawn(async move { migrator.upgrade(UpgradeOptions::default()).await });
    wait_for_attempts(&url, 1).await;
    tokio::time::sleep(READER_HOLDS).await;
    reader.execute("COMMIT").await.expect("the reader ends");
    upgrade.await.expect("task").expect("upgrade");
    let stats = app.stop().await;
    assert!(stats.failures.is_empty(), "{:?}", stats.failures);
    let worst = stats.worst_write.max(stats.worst_read);
    println!("without a DDL lock timeout: worst {worst:?}");
    assert!(
        worst >= READER_HOLDS * 3 / 4,
        "the application should have queued behind the statement: worst {worst:?}"
    );
}
