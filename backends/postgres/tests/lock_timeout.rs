//! A deployer that cannot get the migration lock within `lock_timeout` gives up with
//! `LockTimeout` and changes nothing.

mod common;

use pycharter_core::{ConnectOptions, Error, InitializeOptions, SchemaManager, SchemaState};
use pycharter_postgres::{PostgresMetadataStore, MIGRATION_LOCK_KEY};
use sqlx::Connection as _;
use std::time::{Duration, Instant};

const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn initialize_gives_up_on_a_held_lock_and_changes_nothing() {
    let url = common::fresh_url().await;
    let mut holder = common::admin(&url).await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *held)
        .await
        .expect("hold the migration lock");

    let options = ConnectOptions {
        lock_timeout: Some(LOCK_TIMEOUT),
        ..common::manual()
    };
    let store = PostgresMetadataStore::connect(&url, options.clone())
        .await
        .expect("connect");
    let started = Instant::now();
    let err = store
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the lock is held");
    let waited = started.elapsed();
    assert!(
        matches!(err, Error::LockTimeout { waited, .. } if waited == LOCK_TIMEOUT),
        "{err:?}"
    );
    assert!(
        waited >= LOCK_TIMEOUT && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(
        err.to_string().contains("another deployer is migrating"),
        "{err}"
    );

    // Nothing was created, not even the version table.
    assert_eq!(
        common::tables_in(&url, "public").await,
        Vec::<String>::new()
    );
    assert_eq!(
        store.validate().await.expect("validate").state,
        SchemaState::Uninitialized
    );
    // connect() with auto-initialize hits the same wall.
    let auto = ConnectOptions {
        auto_initialize: true,
        ..options
    };
    let err = PostgresMetadataStore::connect(&url, auto)
        .await
        .expect_err("lock still held");
    assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");

    held.rollback().await.expect("release the lock");
    store
        .initialize(InitializeOptions::default())
        .await
        .expect("lock free again");
    assert!(store.validate().await.expect("validate").valid);
}

/// A short statement_timeout (meant for queries) must not cancel the wait for the lock
/// (`lock_timeout: None` means wait), but still bounds the migration steps themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_bounds_steps_but_not_the_lock_wait() {
    let url = common::fresh_url().await;
    let options = ConnectOptions {
        statement_timeout: Some(Duration::from_millis(200)),
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
    // The server shows initialize's session waiting on the advisory lock for five times the
    // statement timeout: the timeout did not cancel that wait.
    let mut observer = common::admin(&url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if waiting.is_finished() {
            let result = waiting.await;
            panic!("initialize stopped waiting for the lock: {result:?}");
        }
        let waited_secs: f64 = sqlx::query_scalar(
            "SELECT COALESCE(max(EXTRACT(EPOCH FROM clock_timestamp() - query_start)), 0)::float8 \
             FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
        )
        .fetch_one(&mut observer)
        .await
        .expect("pg_stat_activity");
        if waited_secs >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "initialize never waited a second on the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    assert_eq!(
        common::version_rows(&url).await,
        vec!["1.0.0", "1.1.0", "1.2.0"]
    );
}
