//! The [`MigrationExecutor`] core drives: read the catalog, open the migration transaction.
//! Planning, validation and reporting are core's (`pycharter_core::migrate`).

use crate::sql::{
    CREATE_VERSION_TABLE, RECORD_APPLIED, RECORD_APPLIED_WITH_COMPATIBILITY, REMOVE_APPLIED,
};
use crate::store::SqliteMetadataStore;
use crate::{catalog, errors};
use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use pycharter_core::{
    BundledMigration, CatalogSnapshot, Error, MigrationExecutor, MigrationTransaction, PlanStep,
    Result,
};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Executor as _, Sqlite, SqliteConnection};
use std::time::Instant;

/// Runs `sql` (one or several statements, unprepared) on `conn`.
///
/// Not `sqlx::raw_sql`: its future fails rustc's higher-ranked `Send` check inside
/// `#[async_trait]` methods. SQLite's driver runs every statement of a query string, and
/// `persistent(false)` keeps one-off scripts out of the statement cache.
async fn run_script(
    conn: &mut SqliteConnection,
    sql: &str,
) -> std::result::Result<(), sqlx::Error> {
    // Only bundled migration SQL and this crate's own statements reach here, never user input.
    let sql = crate::add_column::resolve(conn, sql).await?;
    conn.execute(sqlx::query(AssertSqlSafe(sql)).persistent(false))
        .await
        .map(|_| ())
}

#[async_trait]
impl MigrationExecutor for SqliteMetadataStore {
    fn target(&self) -> &str {
        SqliteMetadataStore::target(self)
    }

    fn bundled(&self) -> &[BundledMigration] {
        &self.migrations
    }

    async fn snapshot(&self) -> Result<CatalogSnapshot> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.db_error(e))?;
        catalog::snapshot(&mut conn, self.target()).await
    }

    async fn begin(&self) -> Result<Box<dyn MigrationTransaction + '_>> {
        let started = Instant::now();
        let target = self.target();
        let mut conn = self.pool.acquire().await.map_err(|e| self.db_error(e))?;
        // sqlx's `begin()` issues a deferred BEGIN, which takes the write lock only at the
        // first write, too late: two deployers could both plan from the same snapshot. BEGIN
        // IMMEDIATE takes it now, waiting up to the connection's busy timeout.
        if let Err(err) = run_script(&mut conn, "BEGIN IMMEDIATE").await {
            if errors::is_busy(&err) {
                return Err(Error::LockTimeout {
                    target: target.to_string(),
                    waited: started.elapsed(),
                });
            }
            return Err(errors::database(target, err));
        }
        tracing::debug!(target: "pycharter::sqlite", database = target, waited_ms = started.elapsed().as_millis() as u64, "migration lock taken");
        let mut tx = Box::new(SqliteMigration {
            conn,
            target: target.to_string(),
            open: true,
        });
        if let Err(err) = run_script(&mut tx.conn, CREATE_VERSION_TABLE).await {
            let err = errors::database(target, err);
            // The original error is the one to report; if ROLLBACK fails too, dropping the
            // transaction closes its connection, which rolls back all the same.
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(target: "pycharter::sqlite", database = target, error = %rollback, "rollback failed");
            }
            return Err(err);
        }
        Ok(tx)
    }
}

/// A connection inside `BEGIN IMMEDIATE`: the migration lock is held until commit/rollback.
struct SqliteMigration {
    conn: PoolConnection<Sqlite>,
    target: String,
    /// True until COMMIT or ROLLBACK succeeded.
    open: bool,
}

impl SqliteMigration {
    async fn finish(&mut self, sql: &str) -> Result<()> {
        run_script(&mut self.conn, sql)
            .await
            .map_err(|e| errors::database(&self.target, e))?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteMigration {
    fn drop(&mut self) {
        // Dropped mid-transaction (a cancelled future, a failed ROLLBACK): returning the
        // connection to the pool would hand the write lock to the next user. Closing it
        // makes SQLite roll the transaction back and release the lock.
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

#[async_trait]
impl MigrationTransaction for SqliteMigration {
    async fn snapshot(&mut self) -> Result<CatalogSnapshot> {
        catalog::snapshot(&mut self.conn, &self.target).await
    }

    async fn run_sql(&mut self, sql: &str) -> Result<()> {
        // Migration files hold several statements: raw_sql runs them all, unprepared.
        run_script(&mut self.conn, sql)
            .await
            .map_err(|e| errors::database(&self.target, e))
    }

    async fn record_applied(&mut self, step: &PlanStep, execution_ms: i64) -> Result<()> {
        let statement = match &step.compatible_with {
            None => RECORD_APPLIED,
            Some(_) => RECORD_APPLIED_WITH_COMPATIBILITY,
        };
        let query = sqlx::query(statement)
            .bind(step.version.to_string())
            .bind(&step.description)
            .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
            .bind(&step.checksum)
            .bind(execution_ms);
        let query = match &step.compatible_with {
            None => query,
            Some(compatible_with) => query.bind(compatible_with.to_string()),
        };
        query
            .execute(&mut *self.conn)
            .await
            .map(|_| ())
            .map_err(|e| errors::database(&self.target, e))
    }

    async fn remove_applied(&mut self, recorded: &str) -> Result<()> {
        sqlx::query(REMOVE_APPLIED)
            .bind(recorded)
            .execute(&mut *self.conn)
            .await
            .map(|_| ())
            .map_err(|e| errors::database(&self.target, e))
    }

    async fn count_rows(&mut self, tables: &[String]) -> Result<Vec<(String, u64)>> {
        catalog::count_rows(&mut self.conn, tables, &self.target).await
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.finish("COMMIT").await
    }

    async fn rollback(mut self: Box<Self>) -> Result<()> {
        self.finish("ROLLBACK").await
    }
}
