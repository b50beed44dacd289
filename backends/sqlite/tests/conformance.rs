//! The whole pycharter conformance suite, unchanged, on SQLite files: each database is a
//! file in a tempdir that the harness (built per case) keeps alive until the case ends.

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use pycharter_conformance::{BackendHarness, Damage};
use pycharter_core::{ConnectOptions, Result};
use pycharter_sqlite::SqliteMetadataStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, SqliteConnection};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use tempfile::TempDir;

struct SqliteHarness {
    dir: TempDir,
    next: AtomicUsize,
}

impl SqliteHarness {
    fn new() -> Self {
        SqliteHarness {
            dir: tempfile::tempdir().expect("tempdir for the case's databases"),
            next: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl BackendHarness for SqliteHarness {
    type Store = SqliteMetadataStore;

    async fn new_database(&self) -> String {
        // A path only: "empty" is a file that does not exist yet, which connect creates.
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!(
            "sqlite://{}",
            self.dir.path().join(format!("db{n}.db")).display()
        )
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<SqliteMetadataStore> {
        SqliteMetadataStore::connect(database, options).await
    }

    async fn damage(&self, database: &str, damage: Damage<'_>) {
        // Foreign keys off: dropping `schemas` under attached rows is damage, not a
        // constraint the harness should trip over.
        let options = SqliteConnectOptions::from_str(database)
            .expect("harness URL")
            .foreign_keys(false);
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .expect("open the database to damage it");
        let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        // A DROP of something missing fails on its own; a row edit must touch one row.
        let (result, must_touch_a_row) = match damage {
            Damage::DropTable(table) => (
                sqlx::query(AssertSqlSafe(format!("DROP TABLE {}", quote(table))))
                    .execute(&mut conn)
                    .await,
                false,
            ),
            Damage::DropIndex(index) => (
                sqlx::query(AssertSqlSafe(format!("DROP INDEX {}", quote(index))))
                    .execute(&mut conn)
                    .await,
                false,
            ),
            Damage::RecordVersion { version, checksum } => (
                sqlx::query(
                    "INSERT INTO pycharter_schema_version
                         (version, description, applied_at, checksum, execution_ms)
                     VALUES (?, 'recorded by the conformance harness', ?, ?, 0)",
                )
                .bind(version)
                .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
                .bind(checksum)
                .execute(&mut conn)
                .await,
                true,
            ),
            Damage::SetChecksum { version, checksum } => (
                sqlx::query("UPDATE pycharter_schema_version SET checksum = ? WHERE version = ?")
                    .bind(checksum)
                    .bind(version)
                    .execute(&mut conn)
                    .await,
                true,
            ),
        };
        let done = result.unwrap_or_else(|e| panic!("damage {damage:?} failed: {e}"));
        if must_touch_a_row {
            assert_eq!(
                done.rows_affected(),
                1,
                "damage {damage:?} must touch one row"
            );
        }
        conn.close().await.expect("close the damaging connection");
    }
}

pycharter_conformance::conformance_suite!(SqliteHarness::new());

/// The same suite on the cache layer over this backend: caching must not change an answer,
/// nor hide a schema state from its typed error.
mod cached {
    pycharter_conformance::conformance_suite!(pycharter_conformance::Layered::new(
        super::SqliteHarness::new(),
        pycharter_cache::CachedMetadataStore::new,
    ));
}
