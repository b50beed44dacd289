//! URL forms: every documented one opens, malformed ones are `InvalidUrl`, and a file that
//! cannot be created is `Unreachable` naming its path.

mod common;

use common::TestDb;
use pycharter_core::{Error, MetadataStore, MetadataStoreExt, SchemaManager};
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;

#[tokio::test]
async fn malformed_urls_are_invalid_url() {
    for url in [
        "postgres://u:secret@h/db",
        "pycharter.db",
        "sqlite://",
        "sqlite:x.db?nope=1",
    ] {
        let err = SqliteMetadataStore::new(url).await.unwrap_err();
        assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

#[tokio::test]
async fn unwritable_path_is_unreachable_with_the_path() {
    let db = TestDb::new();
    let missing_dir = db.dir.path().join("no-such-dir").join("p.db");
    let url = format!("sqlite://{}", missing_dir.display());
    let err = SqliteMetadataStore::new(&url).await.unwrap_err();
    match &err {
        Error::Unreachable { target, reason } => {
            assert_eq!(target, &url);
            assert!(
                reason.contains(&missing_dir.display().to_string()),
                "{reason}"
            );
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.is_connection());
}

#[tokio::test]
async fn every_documented_form_opens() {
    let db = TestDb::new();
    let abs = db.dir.path().join("abs.db");
    // sqlite:///abs/path.db: the third slash starts the absolute path.
    let triple = format!("sqlite://{}", abs.display());
    assert!(triple.starts_with("sqlite:///"));
    SqliteMetadataStore::new(&triple).await.unwrap();
    assert!(abs.exists());

    let short = db.dir.path().join("short.db");
    SqliteMetadataStore::new(&format!("sqlite:{}", short.display()))
        .await
        .unwrap();
    assert!(short.exists());
}

#[tokio::test]
async fn in_memory_database_works_and_is_private_to_the_store() {
    let store = SqliteMetadataStore::new("sqlite::memory:").await.unwrap();
    assert!(store.validate().await.unwrap().valid);
    store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .unwrap();
    assert_eq!(store.list_schemas().await.unwrap(), vec!["orders"]);
    // The clone shares the database; a second store gets its own.
    assert_eq!(store.clone().list_schemas().await.unwrap().len(), 1);
    let other = SqliteMetadataStore::new("sqlite::memory:").await.unwrap();
    assert!(other.list_schemas().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_unreachable_with_the_path() {
    let db = TestDb::new();
    std::fs::write(
        &db.path,
        b"this is a text file, not a SQLite database, padded out to more than one header of length",
    )
    .unwrap();
    let err = SqliteMetadataStore::new(&db.url()).await.unwrap_err();
    match &err {
        Error::Unreachable { reason, .. } => {
            assert!(reason.contains("is not a SQLite database"), "{reason}");
            assert!(reason.contains(&db.path.display().to_string()), "{reason}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}
