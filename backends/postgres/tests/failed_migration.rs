//! A migration that fails halfway (its second statement errors) is rolled back whole: the
//! database stays at its previous version, without partial tables, and a rerun with the
//! good migrations succeeds.

mod common;

use pycharter_core::{
    BundledMigration, Error, InitializeOptions, SchemaManager, SchemaState, UpgradeOptions,
};
use pycharter_postgres::PostgresMetadataStore;

/// This build's migrations with 1.1.0 replaced by one whose second statement fails.
fn failing_list() -> Vec<BundledMigration> {
    let mut list = PostgresMetadataStore::migrations();
    let broken = BundledMigration::custom("1.1.0", "fails halfway")
        .expect("valid version")
        .with_table("partial")
        .with_index("idx_schemas_name_sort_key", "schemas")
        .with_sql(
            "CREATE TABLE partial (id BIGINT);\n\
         SELECT 1 / 0;\n\
         CREATE INDEX IF NOT EXISTS idx_schemas_name_sort_key ON schemas (name, version_sort_key);",
            "DROP TABLE IF EXISTS partial;",
        );
    list[1] = broken;
    list
}

#[tokio::test]
async fn failing_upgrade_leaves_the_previous_version_and_rerun_succeeds() {
    let url = common::fresh_url().await;
    let good = PostgresMetadataStore::connect(&url, common::manual())
        .await
        .expect("connect");
    good.upgrade(UpgradeOptions {
        to: Some("1.0.0".parse().expect("version")),
        dry_run: false,
    })
    .await
    .expect("upgrade to 1.0.0");
    let tables_before = common::tables_in(&url, "public").await;
    let indexes_before = common::indexes_in(&url, "public").await;

    let broken =
        PostgresMetadataStore::connect_with_migrations(&url, common::manual(), failing_list())
            .await
            .expect("connect");
    let err = broken
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the 1.1.0 step fails");
    match &err {
        Error::MigrationFailed {
            version,
            previous,
            reason,
            ..
        } => {
            assert_eq!((version.as_str(), previous.as_str()), ("1.1.0", "1.0.0"));
            assert!(reason.contains("division by zero"), "{reason}");
        }
        other => panic!("expected MigrationFailed, got {other:?}"),
    }
    assert!(err.to_string().contains("still at 1.0.0"), "{err}");

    assert_eq!(common::version_rows(&url).await, vec!["1.0.0".to_string()]);
    assert_eq!(
        common::tables_in(&url, "public").await,
        tables_before,
        "no partial table"
    );
    assert_eq!(
        common::indexes_in(&url, "public").await,
        indexes_before,
        "no partial index"
    );
    assert_eq!(
        good.validate().await.expect("validate").state,
        SchemaState::Outdated
    );

    let rerun = good
        .initialize(InitializeOptions::default())
        .await
        .expect("rerun with the good migrations");
    // 1.1.0 and everything after it.
    assert_eq!(rerun.steps.len(), pycharter_core::MIGRATIONS.len() - 1);
    assert!(good.validate().await.expect("validate").valid);
}

#[tokio::test]
async fn failing_first_initialization_leaves_an_empty_database() {
    let url = common::fresh_url().await;
    let broken =
        PostgresMetadataStore::connect_with_migrations(&url, common::manual(), failing_list())
            .await
            .expect("connect");
    let err = broken
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the 1.1.0 step fails");
    assert!(
        matches!(&err, Error::MigrationFailed { previous, .. } if previous == "none"),
        "{err:?}"
    );
    // 1.0.0 and even the version table were in the same transaction.
    assert_eq!(
        common::tables_in(&url, "public").await,
        Vec::<String>::new()
    );

    let good = PostgresMetadataStore::connect(&url, common::manual())
        .await
        .expect("connect");
    let report = good
        .initialize(InitializeOptions::default())
        .await
        .expect("rerun with the good migrations");
    assert_eq!(report.steps.len(), pycharter_core::MIGRATIONS.len());
    assert!(good.validate().await.expect("validate").valid);
}
