//! Migration 1.2.0 (the version table records compatibility) against binaries of 1.1.0 on a
//! real server: the exact statements pycharter 1.1.0 shipped still read and write a 1.2.0
//! version table, a store built from the 1.1.0 bundle works on a 1.2.0 database, and this
//! build reads and upgrades a database a 1.1.0 build created.

mod common;

use common::{admin, fresh_url, manual};
use pycharter_core::{ConnectOptions, MetadataStore, MetadataStoreExt, SchemaManager, SchemaState};
use pycharter_postgres::PostgresMetadataStore;
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection as _};

/// The version rows of pycharter 1.1.0's one-round-trip catalog query
/// (`backends/postgres/src/catalog.rs` at that release), verbatim, over the version table.
const VERSION_ROWS_VIA_XML_1_1_0: &str = r#"COALESCE((
        SELECT json_agg(json_build_object(
            'version', COALESCE(v.version, ''),
            'description', COALESCE(v.description, ''),
            'checksum', COALESCE(v.checksum, ''),
            'applied_at', COALESCE(v.applied_at, 'epoch'::timestamptz),
            'execution_ms', COALESCE(v.execution_ms, 0)
        ) ORDER BY v.version)
        FROM version_table t,
             XMLTABLE('/*/row' PASSING table_to_xml(t.reg, false, false, '')
                      COLUMNS version text PATH 'version',
                              description text PATH 'description',
                              checksum text PATH 'checksum',
                              applied_at timestamptz PATH 'applied_at',
                              execution_ms bigint PATH 'execution_ms') v
    ), '[]')"#;

/// The version rows of pycharter 1.1.0 without XML (and inside its migrations), verbatim.
const VERSION_ROWS_SQL_1_1_0: &str = r#"SELECT COALESCE(json_agg(json_build_object(
        'version', COALESCE(version, ''),
        'description', COALESCE(description, ''),
        'checksum', COALESCE(checksum, ''),
        'applied_at', COALESCE(applied_at, 'epoch'::timestamptz),
        'execution_ms', COALESCE(execution_ms, 0)
    ) ORDER BY version), '[]')::text
    FROM pycharter_schema_version"#;

/// The version-row insert of pycharter 1.1.0, verbatim.
const RECORD_APPLIED_1_1_0: &str = "INSERT INTO pycharter_schema_version (version, description, applied_at, checksum, execution_ms) \
             VALUES ($1, $2, clock_timestamp(), $3, $4)";

/// The migrations of layout 1.1.0 (this backend's 1.0.0 and 1.1.0).
fn bundle_1_1_0() -> Vec<pycharter_core::BundledMigration> {
    let mut migrations = PostgresMetadataStore::migrations();
    migrations.retain(|m| m.version <= semver::Version::new(1, 1, 0));
    assert_eq!(migrations.len(), 2);
    migrations
}

fn versions(json_rows: &str) -> Vec<String> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(json_rows).expect("json rows");
    rows.iter()
        .map(|r| r["version"].as_str().expect("version").to_string())
        .collect()
}

#[tokio::test]
async fn the_statements_of_1_1_0_still_read_and_write_a_1_2_0_version_table() {
    let url = fresh_url().await;
    PostgresMetadataStore::new(&url).await.expect("init");
    let mut conn = admin(&url).await;
    let via_xml = format!(
        "WITH version_table AS (SELECT 'pycharter_schema_version'::regclass AS reg) \
         SELECT ({VERSION_ROWS_VIA_XML_1_1_0})::text"
    );
    let rows: String = sqlx::query_scalar(AssertSqlSafe(via_xml))
        .fetch_one(&mut conn)
        .await
        .expect("the 1.1.0 XML catalog query runs on a 1.2.0 database");
    assert_eq!(versions(&rows), ["1.0.0", "1.1.0", "1.2.0"]);
    let rows: String = sqlx::query_scalar(VERSION_ROWS_SQL_1_1_0)
        .fetch_one(&mut conn)
        .await
        .expect("the 1.1.0 plain catalog query runs on a 1.2.0 database");
    assert_eq!(versions(&rows), ["1.0.0", "1.1.0", "1.2.0"]);

    sqlx::query(RECORD_APPLIED_1_1_0)
        .bind("1.3.0")
        .bind("written the 1.1.0 way")
        .bind("0".repeat(64))
        .bind(0_i64)
        .execute(&mut conn)
        .await
        .expect("the 1.1.0 insert runs on a 1.2.0 version table");
    let recorded: Option<String> = sqlx::query_scalar(
        "SELECT compatible_with FROM pycharter_schema_version WHERE version = '1.3.0'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("read back");
    assert_eq!(recorded, None, "the new column is nullable");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn a_store_built_for_1_1_0_works_on_a_1_2_0_database() {
    let url = fresh_url().await;
    let current = PostgresMetadataStore::new(&url).await.expect("init");
    current
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("store");
    let old = PostgresMetadataStore::connect_with_migrations(
        &url,
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
    let url = fresh_url().await;
    PostgresMetadataStore::connect_with_migrations(&url, ConnectOptions::default(), bundle_1_1_0())
        .await
        .expect("a 1.1.0 build initializes");
    let store = PostgresMetadataStore::connect(&url, manual())
        .await
        .expect("open");
    let info = store
        .validate()
        .await
        .expect("the version table without the column reads");
    assert_eq!(info.state, SchemaState::Outdated);
    assert_eq!(info.pending, ["1.2.0"]);

    store.upgrade(Default::default()).await.expect("upgrade");
    let mut conn = admin(&url).await;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT version, compatible_with FROM pycharter_schema_version ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await
    .expect("rows");
    let expected: Vec<(String, Option<String>)> = vec![
        ("1.0.0".into(), None),
        ("1.1.0".into(), None),
        ("1.2.0".into(), Some("1.1.0".into())),
    ];
    assert_eq!(rows, expected);
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
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_name = 'pycharter_schema_version' AND column_name = 'compatible_with'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("columns");
    assert_eq!(columns, 0);
    conn.close().await.expect("close");
    assert_eq!(
        store.validate().await.expect("validate").state,
        SchemaState::Outdated
    );
}
