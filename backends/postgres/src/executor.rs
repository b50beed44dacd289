//! The [`MigrationExecutor`] core's migration driver runs on: how to read the catalog, how to
//! open a locked migration transaction, and (in [`crate::online`]) how online statements run
//! outside it. Planning, validation and error wording are core's.
//!
//! Inside a migration transaction every statement runs with `lock_timeout` set to the DDL
//! lock timeout: a statement that needs a strong table lock gives up rather than wait behind
//! a long-running query, because while it waits every query of the application queues behind
//! it. Giving up is [`Error::TableLockTimeout`], which core retries with backoff.

use crate::errors::LOCK_NOT_AVAILABLE;
use crate::store::{Inner, PostgresMetadataStore};
use crate::url::quote_ident;
use crate::{catalog, online};
use async_trait::async_trait;
use pycharter_core::{
    BundledMigration, CatalogSnapshot, Error, MigrationExecutor, MigrationTransaction, OnlineStep,
    PlanStep, Result,
};
use sqlx::{AssertSqlSafe, Executor as _, Postgres, Transaction};
use std::sync::Arc;
use std::time::Duration;

/// Key of the transaction-level advisory lock every migration transaction takes first
/// (`pg_advisory_xact_lock`): the bytes of `"pycharte"`. Advisory locks are per database, so
/// two namespaces of one database share it; that only serialises their migrations.
///
/// Hold it from another session to keep deployers out while you work on the database:
///
/// ```sql
/// BEGIN; SELECT pg_advisory_xact_lock(8104618304392557669); -- ... COMMIT;
/// ```
pub const MIGRATION_LOCK_KEY: i64 = 0x7079_6368_6172_7465;

/// `persistent` of every parameterised statement of a migration transaction: false, i.e.
/// unnamed statements. A named one (sqlx's `sqlx_s_N`, numbered per client connection)
/// outlives the transaction on the server connection; behind PgBouncer in transaction
/// pooling mode that connection then serves another client, whose own `sqlx_s_1` collides
/// ("prepared statement already exists"). Inside the transaction an unnamed statement is
/// safe, and migrations run too rarely for a statement cache to matter.
const UNNAMED_ONLY: bool = false;

/// Created under the lock, so concurrent deployers never race on `CREATE TABLE`.
const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS pycharter_schema_version (
    version      TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    applied_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    checksum     TEXT NOT NULL,
    execution_ms BIGINT NOT NULL
)";

#[async_trait]
impl MigrationExecutor for PostgresMetadataStore {
    fn target(&self) -> &str {
        self.inner.errors.target()
    }

    fn bundled(&self) -> &[BundledMigration] {
        &self.inner.bundled
    }

    async fn snapshot(&self) -> Result<CatalogSnapshot> {
        catalog::snapshot(&self.inner.pool, &self.inner.errors).await
    }

    async fn begin(&self) -> Result<Box<dyn MigrationTransaction + '_>> {
        let inner = &self.inner;
        let map = |e| inner.errors.map(e);
        let mut tx = inner.pool.begin().await.map_err(map)?;
        // Waiting for the lock is bounded by lock_timeout alone ("None: wait"), not by a
        // statement_timeout meant for queries: lift the latter until the lock is held.
        // (SET LOCAL takes no parameter; set_config(.., is_local => true) does.)
        // None keeps the server's lock_timeout.
        let lock_timeout: Option<String> = inner
            .lock_timeout
            .map(|t| format!("{}ms", t.as_millis().max(1)));
        sqlx::query(
            "SELECT set_config('statement_timeout', '0', true), \
                    set_config('lock_timeout', COALESCE($1, current_setting('lock_timeout')), true)",
        )
        .persistent(UNNAMED_ONLY)
        .bind(lock_timeout)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        let locked = sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .persistent(UNNAMED_ONLY)
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *tx)
            .await;
        if let Err(err) = locked {
            return Err(self.lock_error(err));
        }
        // Back to the connection's statement_timeout for the migration steps themselves, and
        // the DDL lock timeout for their table locks.
        let ddl_lock_timeout = match inner.ddl_lock_timeout {
            Some(t) => format!("'{}ms'", t.as_millis().max(1)),
            None => "DEFAULT".to_string(),
        };
        let settings = format!(
            "SET LOCAL statement_timeout TO DEFAULT; SET LOCAL lock_timeout TO {ddl_lock_timeout}"
        );
        (&mut *tx)
            .execute(sqlx::raw_sql(AssertSqlSafe(settings)))
            .await
            .map_err(map)?;
        let map = |e| inner.errors.map_ddl(e, inner.ddl_lock_timeout);
        tracing::debug!(target: "pycharter::postgres", database = self.target(), "migration lock acquired");
        if let Some(namespace) = &inner.namespace {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .persistent(UNNAMED_ONLY)
                    .bind(namespace)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map)?;
            if !exists {
                // DDL takes no parameters: the (validated, configured) name is quoted.
                let create = format!("CREATE SCHEMA {}", quote_ident(namespace));
                (&mut *tx)
                    .execute(sqlx::raw_sql(AssertSqlSafe(create)))
                    .await
                    .map_err(map)?;
                tracing::info!(target: "pycharter::postgres", database = self.target(), namespace, "created namespace");
            }
        }
        (&mut *tx)
            .execute(sqlx::raw_sql(CREATE_VERSION_TABLE))
            .await
            .map_err(map)?;
        Ok(Box::new(PgMigrationTx {
            tx,
            inner: Arc::clone(inner),
        }))
    }

    fn online_steps(&self) -> bool {
        true
    }

    fn ddl_lock_retry_for(&self) -> Duration {
        self.inner.ddl_lock_retry_for
    }

    async fn wait_for_online(&self, table: &str) -> Result<()> {
        online::wait_until_free(&self.inner, table, self.inner.lock_timeout).await
    }
}

impl PostgresMetadataStore {
    fn lock_error(&self, err: sqlx::Error) -> Error {
        let timed_out = matches!(&err, sqlx::Error::Database(db)
            if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE));
        match (timed_out, self.inner.lock_timeout) {
            (true, Some(waited)) => Error::LockTimeout {
                target: self.target().to_string(),
                waited,
            },
            _ => self.inner.errors.map(err),
        }
    }
}

/// One migration transaction; the advisory lock is released by its commit or rollback (or by
/// the server when the connection dies), never by hand.
struct PgMigrationTx {
    tx: Transaction<'static, Postgres>,
    inner: Arc<Inner>,
}

impl PgMigrationTx {
    /// A failed statement's error; giving up on a table lock is [`Error::TableLockTimeout`].
    fn map(&self, err: sqlx::Error) -> Error {
        self.inner.errors.map_ddl(err, self.inner.ddl_lock_timeout)
    }
}

#[async_trait]
impl MigrationTransaction for PgMigrationTx {
    async fn snapshot(&mut self) -> Result<CatalogSnapshot> {
        catalog::snapshot_without_xml(&mut self.tx, &self.inner.errors).await
    }

    async fn run_sql(&mut self, sql: &str) -> Result<()> {
        // Migration files hold several statements: only the simple protocol runs those.
        // (Executor::execute: RawSql::execute's future is not Send enough for async_trait.)
        // The SQL is a bundled migration step, never user input.
        (&mut *self.tx)
            .execute(sqlx::raw_sql(AssertSqlSafe(sql)))
            .await
            .map_err(|e| self.map(e))?;
        Ok(())
    }

    async fn record_applied(&mut self, step: &PlanStep, execution_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO pycharter_schema_version (version, description, applied_at, checksum, execution_ms) \
             VALUES ($1, $2, clock_timestamp(), $3, $4)",
        )
        .persistent(UNNAMED_ONLY)
        .bind(step.version.to_string())
        .bind(&step.description)
        .bind(&step.checksum)
        .bind(execution_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.map(e))?;
        Ok(())
    }

    async fn remove_applied(&mut self, recorded: &str) -> Result<()> {
        sqlx::query("DELETE FROM pycharter_schema_version WHERE version = $1")
            .persistent(UNNAMED_ONLY)
            .bind(recorded)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.map(e))?;
        Ok(())
    }

    async fn count_rows(&mut self, tables: &[String]) -> Result<Vec<(String, u64)>> {
        let existing: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY($1)",
        )
        .persistent(UNNAMED_ONLY)
        .bind(tables)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.map(e))?;
        let mut counts = Vec::with_capacity(existing.len());
        for table in existing {
            // Table names come from the bundled migrations, never from users.
            let sql = format!("SELECT count(*) FROM {}", quote_ident(&table));
            let rows: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                .persistent(UNNAMED_ONLY)
                .fetch_one(&mut *self.tx)
                .await
                .map_err(|e| self.map(e))?;
            counts.push((table, u64::try_from(rows).unwrap_or(0)));
        }
        Ok(counts)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let inner = self.inner;
        self.tx.commit().await.map_err(|e| inner.errors.map(e))
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        let inner = self.inner;
        self.tx.rollback().await.map_err(|e| inner.errors.map(e))
    }

    async fn run_inline(&mut self, step: &OnlineStep) -> Result<()> {
        // The table is this transaction's own (or the step runs where it has to): the same
        // statement without CONCURRENTLY, which cannot run in a transaction.
        self.run_sql(&online::without_concurrently(&step.sql)).await
    }

    async fn claim_online(&mut self, table: &str, leftover: Option<&str>) -> Result<bool> {
        let inner = Arc::clone(&self.inner);
        online::claim(
            &mut self.tx,
            &inner.errors,
            table,
            leftover,
            inner.ddl_lock_timeout,
        )
        .await
    }

    async fn commit_into_online(self: Box<Self>, step: &OnlineStep, _table: &str) -> Result<()> {
        let PgMigrationTx { tx, inner } = *self;
        online::commit_into(tx, &inner, step).await
    }
}
