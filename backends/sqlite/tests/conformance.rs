//! The whole pycharter conformance suite, unchanged, on SQLite files: each database is a
//! file in a tempdir that the harness (built per case) keeps alive until the case ends.

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use pycharter_conformance::{BackendHarness, Damage, FailingMigration, HeldLock};
use pycharter_core::{ArtifactKind, BundledMigration, ConnectOptions, Result, VERSION_TABLE};
use pycharter_sqlite::SqliteMetadataStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, SqliteConnection};
use std::collections::BTreeSet;
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

    /// A connection of our own on the file (no pycharter logic). Foreign keys off: dropping
    /// `schemas` under attached rows is damage, not a constraint to trip over.
    async fn raw(database: &str) -> SqliteConnection {
        let options = SqliteConnectOptions::from_str(database)
            .expect("harness URL")
            .foreign_keys(false);
        SqliteConnection::connect_with(&options)
            .await
            .expect("open the database behind the library's back")
    }
}

/// `name` as a quoted identifier: DDL takes no parameters.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
        let mut conn = Self::raw(database).await;
        let version_table = quote(VERSION_TABLE);
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
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {version_table}
                         (version, description, applied_at, checksum, execution_ms)
                     VALUES (?, 'recorded by the conformance harness', ?, ?, 0)"
                )))
                .bind(version)
                .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
                .bind(checksum)
                .execute(&mut conn)
                .await,
                true,
            ),
            Damage::SetChecksum { version, checksum } => (
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE {version_table} SET checksum = ? WHERE version = ?"
                )))
                .bind(checksum)
                .bind(version)
                .execute(&mut conn)
                .await,
                true,
            ),
            Damage::ForgetVersion(version) => (
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {version_table} WHERE version = ?"
                )))
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

    async fn row_count(&self, database: &str) -> u64 {
        let counts: Vec<String> = ArtifactKind::ALL
            .iter()
            .map(|kind| format!("(SELECT count(*) FROM {})", quote(kind.table())))
            .collect();
        let sql = format!("SELECT {}", counts.join(" + "));
        let mut conn = Self::raw(database).await;
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .expect("count the rows of the artifact tables");
        conn.close().await.expect("close the counting connection");
        u64::try_from(rows).expect("a count is not negative")
    }

    async fn objects(&self, database: &str) -> BTreeSet<String> {
        let mut conn = Self::raw(database).await;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
                .fetch_all(&mut conn)
                .await
                .expect("read sqlite_master");
        conn.close().await.expect("close the inspecting connection");
        names.into_iter().collect()
    }

    async fn hold_migration_lock(&self, database: &str) -> HeldLock {
        // SQLite's migration lock is the database's write lock: another process holds it
        // with BEGIN IMMEDIATE, exactly as a migrating deployer does.
        let database = database.to_string();
        HeldLock::spawn(|lock| async move {
            let mut conn = Self::raw(&database).await;
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .expect("take the write lock");
            lock.hold_until_released().await;
            sqlx::query("ROLLBACK")
                .execute(&mut conn)
                .await
                .expect("release the write lock");
            conn.close().await.expect("close the holding connection");
        })
        .await
    }

    async fn open_with_migrations(
        &self,
        database: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<SqliteMetadataStore> {
        SqliteMetadataStore::connect_with_migrations(database, options, migrations).await
    }

    fn failing_migration(&self, version: &str, table: &str) -> FailingMigration {
        let migration = BundledMigration::custom(version, "creates a table, then fails")
            .expect("a valid version")
            .with_table(table)
            .with_sql(
                &format!(
                    "CREATE TABLE {} (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
                    quote(table)
                ),
                &format!("DROP TABLE IF EXISTS {};", quote(table)),
            );
        FailingMigration {
            migration,
            reason: "no such table: no_such_table",
        }
    }
}

/// The suite with what this backend lacks, for each harness below.
macro_rules! suite {
    ($harness:expr) => {
        pycharter_conformance::conformance_suite!($harness, lacks: [
            namespaces => "a database file has a single namespace; \
                           ConnectOptions::namespace is ignored (with a warning)",
        ]);
    };
}

suite!(SqliteHarness::new());

/// Core's read-replica layer over two handles of each file (a primary and a second store as
/// its replica), under the same suite.
mod through_read_replicas {
    use super::SqliteHarness;
    use pycharter_conformance::ReplicaHarness;

    suite!(ReplicaHarness(SqliteHarness::new()));
}

/// The same suite on the cache layer over this backend: caching must not change an answer,
/// nor hide a schema state from its typed error.
mod cached {
    suite!(pycharter_conformance::Layered::new(
        super::SqliteHarness::new(),
        pycharter_cache::CachedMetadataStore::new,
    ));
}
