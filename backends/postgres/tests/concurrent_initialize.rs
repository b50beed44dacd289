//! 16 deployers initialize one fresh database at once, each with its own pool: the migration
//! lock lets exactly one apply the migrations; the others wait, re-read, and find nothing.
//! With the advisory lock (the default) and with the `table` strategy, whose lock table the
//! deployers race to create.

mod common;

use futures::future::join_all;
use pycharter_core::{ConnectOptions, InitializeOptions, SchemaManager, SchemaState};
use pycharter_postgres::{LockStrategy, PostgresMetadataStore};

const DEPLOYERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_initializations_apply_each_migration_once() {
    sixteen_concurrent_initializations(LockStrategy::Advisory).await;
}

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
