//! Migration 1.2.0 (the version table records compatibility) against binaries of 1.1.0: the
//! exact statements pycharter 1.1.0 shipped still read and write a 1.2.0 version table, a
//! store built from the 1.1.0 bundle works on a 1.2.0 database, and this build reads and
//! upgrades a database a 1.1.0 build created.

mod common;

use common::{manual, TestDb};
use pycharter_core::{ConnectOptions, MetadataStore, MetadataStoreExt, SchemaManager, SchemaState};
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;
use sqlx::Row as _;

/// The catalog query of pycharter 1.1.0 (`backends/sqlite/src/catalog.rs` at that release),
/// verbatim: the version table's columns by name.
const SNAPSHOT_1_1_0: &str = r"SELECT
    (SELECT json_group_array(name) FROM sqlite_master
      WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\') AS tables,
    (SELECT json_group_array(name) FROM sqlite_master
      WHERE type = 'index' AND name NOT LIKE 'sqlite\_%' ESCAPE '\') AS indexes,
    (SELECT json_group_array(json_object(
        'version', version, 'description', description, 'applied_at', applied_at,
        'checksum', checksum, 'execution_ms', execution_ms))
       FROM pycharter_schema_version) AS applied";

/// The version-row insert of pycharter 1.1.0, verbatim.
const RECORD_APPLIED_1_1_0: &str = "INSERT INTO pycharter_schema_version \
     (version, description, applied_at, checksum, execution_ms) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The migrations of layout 1.1.0 (this backend's 1.0.0 and 1.1.0).
fn bundle_1_1_0() -> Vec<pycharter_core::BundledMigration> {
    let mut migrations = SqliteMetadataStore::migrations();
    migrations.retain(|m| m.version <= semver::Version::new(1, 1, 0));
    assert_eq!(migrations.len(), 2);
    migrations
}

#[tokio::test]
async fn the_statements_of_1_1_0_still_read_and_write_a_1_2_0_version_table() {
    let db = TestDb::new();
    SqliteMetadataStore::new(&db.url()).await.expect("init");
    let raw = db.raw().await;
    let row = sqlx::query(SNAPSHOT_1_1_0)
        .fetch_one(&raw)
        .await
        .expect("the 1.1.0 catalog query runs on a 1.2.0 database");
    let applied: serde_json::Value =
        serde_json::from_str(&row.get::<String, _>("applied")).expect("json");
    let versions: Vec<&str> = applied
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["version"].as_str().expect("version"))
        .collect();
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.2.0"]);

    sqlx::query(RECORD_APPLIED_1_1_0)
        .bind("1.3.0")
        .bind("written the 1.1.0 way")
        .bind("2026-01-01T00:00:00.000000Z")
        .bind("0".repeat(64))
        .bind(0_i64)
        .execute(&raw)
        .await
        .expect("the 1.1.0 insert runs on a 1.2.0 version table");
    let recorded: Option<String> = sqlx::query_scalar(
        "SELECT compatible_with FROM pycharter_schema_version WHERE version = '1.3.0'",
    )
    .fetch_one(&raw)
    .await
    .expect("read back");
    assert_eq!(recorded, None, "the new column is nullable");
}

#[tokio::test]
async fn a_store_built_for_1_1_0_works_on_a_1_2_0_database() {
    let db = TestDb::new();
    let current = SqliteMetadataStore::new(&db.url()).await.expect("init");
    current
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("store");
    let old = SqliteMetadataStore::connect_with_migrations(
        &db.url(),
        ConnectOptions::default(),
        bundle_1_1_0(),
    )
    .await
    .expect("the 1.1.0 build connects: 1.2.0 keeps 1.1.0 working");
    let info = old.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::NewerCompatible, "{}", info.message);
    assert_eq!(info.version.as_deref(), Some("1.2.0"));
    old.store_schema("orders", "1.1.0", &json!({"type": "object"}))
        .await
        .expect("the 1.1.0 build writes");
    assert_eq!(
        current.list_versions("orders").await.expect("list").len(),
        2
    );
}

#[tokio::test]
async fn this_build_reads_and_upgrades_a_database_of_a_1_1_0_build() {
    let db = TestDb::new();
    SqliteMetadataStore::connect_with_migrations(
        &db.url(),
        ConnectOptions::default(),
        bundle_1_1_0(),
    )
    .await
    .expect("a 1.1.0 build initializes");
    let store = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .expect("open");
    let info = store
        .validate()
        .await
        .expect("the version table without the column reads");
    assert_eq!(info.state, SchemaState::Outdated);
    assert_eq!(info.pending, ["1.2.0"]);

    store.upgrade(Default::default()).await.expect("upgrade");
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT version, compatible_with FROM pycharter_schema_version ORDER BY version",
    )
    .fetch_all(&db.raw().await)
    .await
    .expect("rows");
    let expected = [("1.0.0", None), ("1.1.0", None), ("1.2.0", Some("1.1.0"))];
    let expected: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(v, c)| (v.to_string(), c.map(String::from)))
        .collect();
    assert_eq!(rows, expected);
    // Rows from before the column: compatibility as the bundled migration declares it.
    let history = store.history().await.expect("history");
    let declared: Vec<Option<&str>> = history
        .iter()
        .map(|m| m.compatible_with.as_deref())
        .collect();
    assert_eq!(declared, [Some("1.0.0"), Some("1.0.0"), Some("1.1.0")]);

    store
        .downgrade(pycharter_core::DowngradeOptions {
            to: "1.1.0".parse().expect("target"),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("downgrade drops the column again");
    let columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pragma_table_info('pycharter_schema_version') WHERE name = 'compatible_with'",
    )
    .fetch_one(&db.raw().await)
    .await
    .expect("pragma");
    assert_eq!(columns, 0);
    assert_eq!(
        store.validate().await.expect("validate").state,
        SchemaState::Outdated
    );
}
