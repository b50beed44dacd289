//! The `table` migration lock strategy (`?migration_lock=table`, for Postgres-wire engines
//! without advisory locks): the shared suite's locking and concurrency cases run with the
//! default advisory lock; these run the same promises with the lock row instead.

mod common;

use futures::future::join_all;
use pycharter_core::{ConnectOptions, Error, InitializeOptions, SchemaManager, SchemaState};
use pycharter_postgres::{LockStrategy, PostgresMetadataStore};
use sqlx::Connection as _;
use std::time::{Duration, Instant};

const DEPLOYERS: usize = 16;
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// 16 deployers, each with its own pool, race to create the lock table and to initialize:
/// exactly one applies the migrations, the others wait, re-read, and find nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_initializations_with_the_table_lock_apply_each_migration_once() {
    sixteen_concurrent_initializations(LockStrategy::Table).await;
}

async fn sixteen_concurrent_initializations(lock: LockStrategy) {
    let mut url = common::fresh_url().await;
    if lock == LockStrategy::Table {
        url.push_str("?migration_lock=table");
    }
    let options = ConnectOptions {
        max_connections: 1,
        ..common::manual()
    };
    let stores: Vec<PostgresMetadataStore> =
        join_all((0..DEPLOYERS).map(|_| PostgresMetadataStore::connect(&url, options.clone())))
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("every deployer connects");
    assert!(stores.iter().all(|s| s.lock_strategy() == lock));

    let reports = join_all(
        stores
            .iter()
            .map(|store| store.initialize(InitializeOptions::default())),
    )
    .await;

    let mut applied_by = Vec::new();
    for (deployer, report) in reports.into_iter().enumerate() {
        let report = report.unwrap_or_else(|e| panic!("deployer {deployer} failed: {e}"));
        if !report.steps.is_empty() {
            applied_by.push((deployer, report.steps.len()));
        }
    }
    let bundled = PostgresMetadataStore::migrations();
    assert_eq!(
        applied_by.len(),
        1,
        "exactly one deployer applies the migrations, the others find nothing to do: {applied_by:?}"
    );
    assert_eq!(applied_by[0].1, bundled.len());

    let expected: Vec<String> = bundled.iter().map(|m| m.version.to_string()).collect();
    assert_eq!(common::version_rows(&url).await, expected);
    for store in &stores {
        assert_eq!(
            store.validate().await.expect("validate").state,
            SchemaState::Valid
        );
    }
}

/// The `table` strategy: a DBA holding the lock row (`SELECT … FOR UPDATE`) keeps deployers
/// out for `lock_timeout`, exactly like the advisory lock.
#[tokio::test]
async fn the_table_lock_held_elsewhere_times_out_and_changes_nothing() {
    let url = format!("{}?migration_lock=table", common::fresh_url().await);
    let options = ConnectOptions {
        lock_timeout: Some(LOCK_TIMEOUT),
        ..common::manual()
    };
    let store = PostgresMetadataStore::connect(&url, options)
        .await
        .expect("connect");
    store
        .upgrade(pycharter_core::UpgradeOptions {
            to: Some(semver::Version::new(1, 0, 0)),
            dry_run: false,
        })
        .await
        .expect("upgrade to 1.0.0 creates the lock table");
    assert!(common::tables_in(&url, "public")
        .await
        .contains(&pycharter_postgres::LOCK_TABLE.to_string()));

    let mut holder = common::admin(&url).await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT id FROM pycharter_migration_lock WHERE id = 1 FOR UPDATE")
        .execute(&mut *held)
        .await
        .expect("hold the lock row");
    let started = Instant::now();
    let err = store
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the lock row is held");
    let waited = started.elapsed();
    assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");
    assert!(
        waited >= LOCK_TIMEOUT && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(common::version_rows(&url).await, vec!["1.0.0"]);

    held.rollback().await.expect("release the row");
    store
        .initialize(InitializeOptions::default())
        .await
        .expect("lock free again");
    assert!(store.validate().await.expect("validate").valid);
    assert_eq!(common::version_rows(&url).await, common::all_versions());
}
