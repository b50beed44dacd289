//! A database this process may only read (the URL's `mode=ro`; a file or directory without
//! write permission makes SQLite open it read-only the same way) refuses changes with
//! `InsufficientPrivilege`, naming the fix for what was attempted — never a raw SQL error.

mod common;

use common::{manual, TestDb};
use pycharter_core::{
    ConnectOptions, Error, MetadataStore, MetadataStoreExt, Privilege, SchemaManager,
    UpgradeOptions,
};
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;

/// A database at the first migration, one behind this build (so connect's auto-initialize
/// has work to do).
async fn outdated(db: &TestDb) {
    let store = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .expect("open read-write");
    let first = SqliteMetadataStore::migrations()[0].version.clone();
    store
        .upgrade(UpgradeOptions {
            to: Some(first),
            dry_run: false,
        })
        .await
        .expect("migrate to the first version");
    store.pool().close().await;
}

#[tokio::test]
async fn connect_with_auto_initialize_on_a_read_only_file_names_the_deploy_role() {
    let db = TestDb::new();
    outdated(&db).await;
    let read_only = format!("{}?mode=ro", db.url());
    let err = SqliteMetadataStore::connect(&read_only, ConnectOptions::default())
        .await
        .expect_err("a read-only file cannot be migrated");
    assert!(
        matches!(
            &err,
            Error::InsufficientPrivilege {
                privilege: Privilege::Migrate,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("may not write the database")
            && message.ends_with(
                "run migrations with the deploy role: pycharter db upgrade <migration-role URL>"
            ),
        "{message}"
    );
    assert!(!message.contains("db check"), "{message}");

    // Nothing changed: still one migration behind.
    let store = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .expect("open read-write");
    let info = store.validate().await.expect("validate");
    assert_eq!(info.pending.len(), 1, "{info:?}");
}

#[tokio::test]
async fn writes_to_a_read_only_file_are_refused_with_the_file_fix() {
    let db = TestDb::new();
    let store = SqliteMetadataStore::connect(&db.url(), ConnectOptions::default())
        .await
        .expect("initialize read-write");
    store.pool().close().await;

    let read_only = format!("{}?mode=ro", db.url());
    let reader = SqliteMetadataStore::connect(&read_only, ConnectOptions::default())
        .await
        .expect("a valid database opens read-only: nothing to migrate");
    assert_eq!(
        reader.list_schemas().await.expect("reads work"),
        Vec::<String>::new()
    );
    let err = reader
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect_err("a read-only file takes no write");
    assert!(
        matches!(
            &err,
            Error::InsufficientPrivilege {
                privilege: Privilege::Data,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("open the database as a user who may write the file and its directory"),
        "{err}"
    );
}
