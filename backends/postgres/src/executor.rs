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

/// How migration commands exclude each other (`migration_lock=` in the URL).
///
/// Either way the lock is held by the migration transaction itself and released by its
/// commit or rollback, or by the server when the connection dies: a crashed deployer never
/// leaves it behind, and it works behind PgBouncer in transaction pooling mode.
///
/// ```
/// use pycharter_postgres::LockStrategy;
/// assert_eq!(LockStrategy::default(), LockStrategy::Advisory);
/// assert_eq!("table".parse::<LockStrategy>(), Ok(LockStrategy::Table));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockStrategy {
    /// `pg_advisory_xact_lock(`[`MIGRATION_LOCK_KEY`]`)`: no table, nothing to create.
    #[default]
    Advisory,
    /// `SELECT … FOR UPDATE` of the one row of [`LOCK_TABLE`], for Postgres-wire engines
    /// without advisory locks (CockroachDB, YugabyteDB; see docs/distributed.md). The table
    /// is created on first use (`CREATE TABLE IF NOT EXISTS`, retried when concurrent
    /// deployers race on it); it is not part of the versioned layout.
    Table,
}

impl std::str::FromStr for LockStrategy {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Self, String> {
        match value {
            "advisory" => Ok(LockStrategy::Advisory),
            "table" => Ok(LockStrategy::Table),
            other => Err(format!("migration_lock={other:?} is not advisory or table")),
        }
    }
}

/// The table of [`LockStrategy::Table`]: one row, locked by the migration transaction.
pub const LOCK_TABLE: &str = "pycharter_migration_lock";

const CREATE_LOCK_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS pycharter_migration_lock (id INT PRIMARY KEY CHECK (id = 1))";
const INSERT_LOCK_ROW: &str =
    "INSERT INTO pycharter_migration_lock (id) VALUES (1) ON CONFLICT (id) DO NOTHING";
/// Takes the row lock (waiting at most `lock_timeout`, like the advisory lock).
const TAKE_LOCK_ROW: &str = "SELECT id FROM pycharter_migration_lock WHERE id = 1 FOR UPDATE";

/// SQLSTATEs of a lost `CREATE … IF NOT EXISTS` race: `unique_violation` (the catalog row
/// another session inserted first), `duplicate_object` (the table's row type),
/// `duplicate_table`, `duplicate_schema`.
const CREATE_RACE: [&str; 4] = ["23505", "42710", "42P07", "42P06"];
/// How often creating the lock table is retried after losing such a race.
const CREATE_ATTEMPTS: usize = 5;

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
        let mut conn = self.acquire().await?;
        catalog::snapshot(&mut conn, &self.inner.errors)
            .await
            .inspect_err(|e| self.inner.connector.observe(e))
    }

    async fn begin(&self) -> Result<Box<dyn MigrationTransaction + '_>> {
        let inner = &self.inner;
        let map = |e| self.fail(e);
        if inner.lock == LockStrategy::Table {
            self.create_lock_table().await?;
        }
        let conn = self.acquire().await?;
        let mut tx = Transaction::begin(conn, None).await.map_err(map)?;
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
        let locked = match inner.lock {
            LockStrategy::Advisory => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .persistent(UNNAMED_ONLY)
                    .bind(MIGRATION_LOCK_KEY)
                    .execute(&mut *tx)
                    .await
            }
            LockStrategy::Table => (&mut *tx).execute(sqlx::raw_sql(TAKE_LOCK_ROW)).await,
        };
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
    /// Creates the namespace, the lock table and its row if missing, each statement in a
    /// transaction of its own (before the migration transaction, which locks the row).
    /// Concurrent deployers may all run this: a lost `IF NOT EXISTS` race is retried.
    async fn create_lock_table(&self) -> Result<()> {
        let mut statements = Vec::with_capacity(3);
        if let Some(namespace) = &self.inner.namespace {
            // DDL takes no parameters: the (validated, configured) name is quoted.
            statements.push(format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote_ident(namespace)
            ));
        }
        statements.push(CREATE_LOCK_TABLE.to_string());
        statements.push(INSERT_LOCK_ROW.to_string());
        for statement in &statements {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut conn = self.acquire().await?;
                match conn
                    .execute(sqlx::raw_sql(AssertSqlSafe(statement.as_str())))
                    .await
                {
                    Ok(_) => break,
                    Err(sqlx::Error::Database(db))
                        if attempt < CREATE_ATTEMPTS
                            && db.code().is_some_and(|c| CREATE_RACE.contains(&c.as_ref())) =>
                    {
                        tracing::debug!(target: "pycharter::postgres", database = self.target(), "lost a race creating the lock table; retrying");
                    }
                    Err(err) => return Err(self.fail(err)),
                }
            }
        }
        Ok(())
    }

    fn lock_error(&self, err: sqlx::Error) -> Error {
        let timed_out = matches!(&err, sqlx::Error::Database(db)
            if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE));
        match (timed_out, self.inner.lock_timeout) {
            (true, Some(waited)) => Error::LockTimeout {
                target: self.target().to_string(),
                waited,
            },
            _ => self.fail(err),
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
        // The compatible_with column exists from 1.2.0 on: older steps leave it out.
        let query = match &step.compatible_with {
            None => sqlx::query(
                "INSERT INTO pycharter_schema_version (version, description, applied_at, checksum, execution_ms) \
                 VALUES ($1, $2, clock_timestamp(), $3, $4)",
            ),
            Some(_) => sqlx::query(
                "INSERT INTO pycharter_schema_version (version, description, applied_at, checksum, execution_ms, compatible_with) \
                 VALUES ($1, $2, clock_timestamp(), $3, $4, $5)",
            ),
        };
        let query = query
            .persistent(UNNAMED_ONLY)
            .bind(step.version.to_string())
            .bind(&step.description)
            .bind(&step.checksum)
            .bind(execution_ms);
        let query = match &step.compatible_with {
            None => query,
            Some(compatible_with) => query.bind(compatible_with.to_string()),
        };
        query
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
