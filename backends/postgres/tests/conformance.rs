//! The shared conformance suite, run unchanged on PostgreSQL (one fresh database per case on
//! the test server of `pycharter_test_postgres`). PostgreSQL lacks no capability.

use async_trait::async_trait;
use pycharter_conformance::{BackendHarness, Damage, FailingMigration, HeldLock};
use pycharter_core::{ArtifactKind, BundledMigration, ConnectOptions, Result, VERSION_TABLE};
use pycharter_postgres::{PostgresMetadataStore, MIGRATION_LOCK_KEY};
use pycharter_test_postgres::fresh_database;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection as _};
use std::collections::BTreeSet;

struct PostgresHarness;

impl PostgresHarness {
    /// A connection of our own (no pycharter logic), to damage or inspect the database
    /// behind the library's back.
    async fn raw(database: &str) -> PgConnection {
        PgConnection::connect(database)
            .await
            .expect("connect behind the library's back")
    }
}

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
        let mut conn = Self::raw(database).await;
        let version_table = ident(VERSION_TABLE);
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
                let sql = format!(
                    "INSERT INTO {version_table} \
                     (version, description, applied_at, checksum, execution_ms) \
                     VALUES ($1, 'recorded by a newer build', now(), $2, 0)"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(version)
                    .bind(checksum)
                    .execute(&mut conn)
                    .await
            }
            Damage::SetChecksum { version, checksum } => {
                let sql = format!("UPDATE {version_table} SET checksum = $2 WHERE version = $1");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(version)
                    .bind(checksum)
                    .execute(&mut conn)
                    .await
            }
            Damage::ForgetVersion(version) => {
                let sql = format!("DELETE FROM {version_table} WHERE version = $1");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(version)
                    .execute(&mut conn)
                    .await
            }
        };
        let done = done.unwrap_or_else(|e| panic!("cannot apply {damage:?}: {e}"));
        let edits_a_row = matches!(
            damage,
            Damage::RecordVersion { .. } | Damage::SetChecksum { .. } | Damage::ForgetVersion(_)
        );
        if edits_a_row {
            assert_eq!(done.rows_affected(), 1, "must touch one row: {damage:?}");
        }
        conn.close().await.expect("close the damaging connection");
    }

    async fn row_count(&self, database: &str) -> u64 {
        let counts: Vec<String> = ArtifactKind::ALL
            .iter()
            .map(|kind| format!("(SELECT count(*) FROM {})", ident(kind.table())))
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
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
             UNION ALL SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("read the catalog");
        conn.close().await.expect("close the inspecting connection");
        names.into_iter().collect()
    }

    async fn hold_migration_lock(&self, database: &str) -> HeldLock {
        // Another deployer's transaction-level advisory lock, on its own connection.
        let database = database.to_string();
        HeldLock::spawn(|lock| async move {
            let mut conn = Self::raw(&database).await;
            let mut held = conn.begin().await.expect("begin");
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK_KEY)
                .execute(&mut *held)
                .await
                .expect("take the migration lock");
            lock.hold_until_released().await;
            held.rollback().await.expect("release the migration lock");
            conn.close().await.expect("close the holding connection");
        })
        .await
    }

    async fn open_with_migrations(
        &self,
        database: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<PostgresMetadataStore> {
        PostgresMetadataStore::connect_with_migrations(database, options, migrations).await
    }

    fn failing_migration(&self, version: &str, table: &str) -> FailingMigration {
        // Also an index of the layout, after the failure: it must not appear either.
        let migration = BundledMigration::custom(version, "fails halfway")
            .expect("a valid version")
            .with_table(table)
            .with_sql(
                &format!(
                    "CREATE TABLE {} (id BIGINT);\nSELECT 1 / 0;\n\
                     CREATE INDEX IF NOT EXISTS idx_schemas_name_sort_key \
                     ON schemas (name, version_sort_key);",
                    ident(table)
                ),
                &format!("DROP TABLE IF EXISTS {};", ident(table)),
            );
        FailingMigration {
            migration,
            reason: "division by zero",
        }
    }
}

pycharter_conformance::conformance_suite!(PostgresHarness);

/// Core's read-replica layer over two handles of each database (a primary and a second
/// store as its replica), under the same suite.
mod through_read_replicas {
    use super::PostgresHarness;
    use pycharter_conformance::ReplicaHarness;

    pycharter_conformance::conformance_suite!(ReplicaHarness(PostgresHarness));
}

/// The same suite on the cache layer over this backend: caching must not change an answer,
/// nor hide a schema state from its typed error.
mod cached {
    pycharter_conformance::conformance_suite!(pycharter_conformance::Layered::new(
        super::PostgresHarness,
        pycharter_cache::CachedMetadataStore::new,
    ));
}
