//! `statement_timeout` on PostgreSQL: it bounds each migration step but not the wait for the
//! migration lock. (Lock timeout semantics on every backend: the conformance suite's
//! `locking` cases.)

mod common;

use pycharter_core::{ConnectOptions, Error, InitializeOptions, SchemaManager};
use pycharter_postgres::{PostgresMetadataStore, MIGRATION_LOCK_KEY};
use sqlx::Connection as _;
use std::time::Duration;

const STATEMENT_TIMEOUT: Duration = Duration::from_millis(200);

/// Sessions waiting for an advisory lock they have not been granted.
async fn advisory_waiters(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        .fetch_one(conn)
        .await
        .expect("read pg_locks")
}

/// Waits (bounded) until `n` sessions wait for an advisory lock.
async fn wait_for_advisory_waiters(conn: &mut sqlx::PgConnection, n: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while advisory_waiters(conn).await < n {
        assert!(
            std::time::Instant::now() < deadline,
            "no session started waiting for the migration lock within 10s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A short statement_timeout (meant for queries) must not cancel the wait for the lock
/// (`lock_timeout: None` means wait), but still bounds the migration steps themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_bounds_steps_but_not_the_lock_wait() {
    let url = common::fresh_url().await;
    let options = ConnectOptions {
        statement_timeout: Some(STATEMENT_TIMEOUT),
        ..common::manual()
    };
    let store = PostgresMetadataStore::connect(&url, options.clone())
        .await
        .expect("connect");

    let mut holder = common::admin(&url).await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *held)
        .await
        .expect("hold the migration lock");
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.initialize(InitializeOptions::default()).await }
    });
    // The signal that it waits: its lock request, not granted, in pg_locks. Then it must
    // outlive several statement timeouts there (the wait is bounded by lock_timeout only).
    let mut observer = common::admin(&url).await;
    wait_for_advisory_waiters(&mut observer, 1).await;
    tokio::time::sleep(STATEMENT_TIMEOUT * 3).await;
    assert_eq!(
        advisory_waiters(&mut observer).await,
        1,
        "the lock wait was cancelled by the statement timeout"
    );
    assert!(!waiting.is_finished(), "initialize waits for the lock");
    held.rollback().await.expect("release the lock");
    let report = waiting
        .await
        .expect("task")
        .expect("initialize after the wait");
    assert_eq!(report.steps.len(), pycharter_core::MIGRATIONS.len());

    // A step slower than the statement timeout is cancelled, and rolled back.
    let mut slow = PostgresMetadataStore::migrations();
    slow.push(
        pycharter_core::BundledMigration::custom("1.3.0", "slow")
            .expect("valid version")
            .with_sql("SELECT pg_sleep(1);", ""),
    );
    let slow_store = PostgresMetadataStore::connect_with_migrations(&url, options, slow)
        .await
        .expect("connect");
    let err = slow_store
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the step outlives the statement timeout");
    assert!(
        matches!(&err, Error::MigrationFailed { reason, .. } if reason.contains("statement timeout")),
        "{err:?}"
    );
    assert_eq!(common::version_rows(&url).await, common::all_versions());
}
