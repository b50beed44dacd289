//! A migration whose second statement fails is rolled back whole: the file stays at its
//! previous version with none of the failed step's objects, and the good list then succeeds.

mod common;

use common::{manual, object_exists, version_rows, TestDb};
use pycharter_core::{BundledMigration, Error, InitializeOptions, SchemaManager};
use pycharter_sqlite::SqliteMetadataStore;

/// This build's 1.0.0, then a 1.1.0 whose first statement works and second fails.
fn failing_list() -> Vec<BundledMigration> {
    let good = SqliteMetadataStore::migrations();
    let broken = BundledMigration::custom("1.1.0", "creates a table, then fails")
        .expect("valid version")
        .with_table("partial_table")
        .with_sql(
            "CREATE TABLE partial_table (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
            "DROP TABLE IF EXISTS partial_table;",
        );
    vec![good[0].clone(), broken]
}

#[tokio::test]
async fn failed_step_rolls_back_to_the_previous_version() {
    let db = TestDb::new();
    let only_first = SqliteMetadataStore::migrations()[..1].to_vec();
    let store = SqliteMetadataStore::connect_with_migrations(&db.url(), manual(), only_first)
        .await
        .unwrap();
    store
        .initialize(InitializeOptions::default())
        .await
        .unwrap();

    let failing = SqliteMetadataStore::connect_with_migrations(&db.url(), manual(), failing_list())
        .await
        .unwrap();
    let err = failing
        .initialize(InitializeOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::MigrationFailed {
            version,
            previous,
            reason,
            ..
        } => {
            assert_eq!(version, "1.1.0");
            assert_eq!(previous, "1.0.0");
            assert!(reason.contains("no_such_table"), "{reason}");
        }
        other => panic!("expected MigrationFailed, got {other:?}"),
    }

    let raw = db.raw().await;
    let versions: Vec<String> = version_rows(&raw).await.into_iter().map(|r| r.0).collect();
    assert_eq!(versions, vec!["1.0.0".to_string()]);
    assert!(
        !object_exists(&raw, "partial_table").await,
        "partial table rolled back"
    );
    // The lock was released: the good list migrates the same file right away.
    let good = SqliteMetadataStore::new(&db.url()).await.unwrap();
    assert!(good.validate().await.unwrap().valid);
    assert_eq!(
        version_rows(&raw).await.len(),
        SqliteMetadataStore::migrations().len()
    );
}

#[tokio::test]
async fn failure_on_a_fresh_file_leaves_it_uninitialized() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::connect_with_migrations(&db.url(), manual(), failing_list())
        .await
        .unwrap();
    let err = store
        .initialize(InitializeOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MigrationFailed { previous, .. } if previous == "none"),
        "{err:?}"
    );
    // 1.0.0 and the version table were created in the same transaction as the failed
    // 1.1.0: they are gone too.
    let raw = db.raw().await;
    assert!(!object_exists(&raw, "schemas").await);
    assert!(!object_exists(&raw, "partial_table").await);
    assert!(!object_exists(&raw, "pycharter_schema_version").await);

    let retry = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .unwrap();
    let report = retry
        .initialize(InitializeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.steps.len(), SqliteMetadataStore::migrations().len());
    assert!(retry.validate().await.unwrap().valid);
}
