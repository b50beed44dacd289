//! The shared conformance suite, run unchanged on PostgreSQL (one fresh database per case on
//! the test server of `pycharter_test_postgres`).

use async_trait::async_trait;
use pycharter_conformance::{BackendHarness, Damage};
use pycharter_core::{ConnectOptions, Result};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::fresh_database;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection as _};

struct PostgresHarness;

/// `name` as a quoted identifier: DDL takes no parameters.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl BackendHarness for PostgresHarness {
    type Store = PostgresMetadataStore;

    async fn new_database(&self) -> String {
        fresh_database().await.url
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<Self::Store> {
        PostgresMetadataStore::connect(database, options).await
    }

    async fn damage(&self, database: &str, damage: Damage<'_>) {
        let mut conn = PgConnection::connect(database)
            .await
            .expect("connect to damage the database");
        let done = match damage {
            // CASCADE: dropping `schemas` must not be refused because of the attached
            // tables' foreign keys (only those constraints go; the tables stay).
            Damage::DropTable(table) => {
                let sql = format!("DROP TABLE {} CASCADE", ident(table));
                sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await
            }
            Damage::DropIndex(index) => {
                let sql = format!("DROP INDEX {}", ident(index));
                sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await
            }
            Damage::RecordVersion { version, checksum } => {
                sqlx::query(
                    "INSERT INTO pycharter_schema_version \
                 (version, description, applied_at, checksum, execution_ms) \
                 VALUES ($1, 'recorded by a newer build', now(), $2, 0)",
                )
                .bind(version)
                .bind(checksum)
                .execute(&mut conn)
                .await
            }
            Damage::SetChecksum { version, checksum } => {
                sqlx::query("UPDATE pycharter_schema_version SET checksum = $2 WHERE version = $1")
                    .bind(version)
                    .bind(checksum)
                    .execute(&mut conn)
                    .await
            }
        };
        let done = done.unwrap_or_else(|e| panic!("cannot apply {damage:?}: {e}"));
        if matches!(damage, Damage::SetChecksum { .. }) {
            assert_eq!(
                done.rows_affected(),
                1,
                "no version row to edit: {damage:?}"
            );
        }
        conn.close().await.expect("close the damaging connection");
    }
}

pycharter_conformance::conformance_suite!(PostgresHarness);

/// The same suite on the cache layer over this backend: caching must not change an answer,
/// nor hide a schema state from its typed error.
mod cached {
    pycharter_conformance::conformance_suite!(pycharter_conformance::Layered::new(
        super::PostgresHarness,
        pycharter_cache::CachedMetadataStore::new,
    ));
}
