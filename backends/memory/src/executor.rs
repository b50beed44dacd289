//! How core's migration driver runs on the simulated database: a transaction is the
//! database's writer lock plus a private copy of its state, swapped in on commit, so a
//! failing step leaves the database exactly as it was.

use crate::state::{State, TARGET};
use crate::store::{Database, MemoryMetadataStore};
use async_trait::async_trait;
use pycharter_core::{
    BundledMigration, CatalogSnapshot, Error, MigrationExecutor, MigrationTransaction, PlanStep,
    Result,
};
use tokio::sync::MutexGuard;

#[async_trait]
impl MigrationExecutor for MemoryMetadataStore {
    fn target(&self) -> &str {
        TARGET
    }

    fn bundled(&self) -> &[BundledMigration] {
        &self.inner.bundled
    }

    async fn snapshot(&self) -> Result<CatalogSnapshot> {
        Ok(self.inner.db.read().snapshot())
    }

    async fn begin(&self) -> Result<Box<dyn MigrationTransaction + '_>> {
        let db = &self.inner.db;
        let guard = match self.inner.lock_timeout {
            Some(limit) => tokio::time::timeout(limit, db.writer.lock())
                .await
                .map_err(|_| Error::LockTimeout {
                    target: TARGET.to_string(),
                    waited: limit,
                })?,
            None => db.writer.lock().await,
        };
        // Copied under the writer lock: no write can slip in between this copy and commit.
        let mut work = db.read().clone();
        work.ensure_version_table();
        Ok(Box::new(Transaction {
            db,
            bundled: &self.inner.bundled,
            _writer: guard,
            work,
        }))
    }
}

/// One migration transaction on the simulated database.
struct Transaction<'a> {
    db: &'a Database,
    /// The migrations of the handle running it: what its SQL can be.
    bundled: &'a [BundledMigration],
    /// Held until commit or rollback: migrations and data writes wait for it.
    _writer: MutexGuard<'a, ()>,
    /// The private copy every step works on.
    work: State,
}

#[async_trait]
impl MigrationTransaction for Transaction<'_> {
    async fn snapshot(&mut self) -> Result<CatalogSnapshot> {
        Ok(self.work.snapshot())
    }

    async fn run_sql(&mut self, sql: &str) -> Result<()> {
        self.work.run_sql(self.bundled, sql)
    }

    async fn record_applied(&mut self, step: &PlanStep, execution_ms: i64) -> Result<()> {
        self.work.record_applied(step, execution_ms)
    }

    async fn remove_applied(&mut self, recorded: &str) -> Result<()> {
        self.work.remove_applied(recorded)
    }

    async fn count_rows(&mut self, tables: &[String]) -> Result<Vec<(String, u64)>> {
        Ok(self.work.count_rows(tables))
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let Transaction {
            db, _writer, work, ..
        } = *self;
        *db.write() = work;
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        // Dropping the copy is the rollback; dropping the guard releases the lock.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::MemoryMetadataStore;
    use pycharter_core::prelude::*;
    use pycharter_core::{ConnectOptions, Error};
    use serde_json::json;
    use std::time::Duration;

    #[tokio::test]
    async fn waiting_longer_than_the_lock_timeout_is_lock_timeout() {
        let store = MemoryMetadataStore::new();
        let impatient = store
            .reopen(ConnectOptions {
                lock_timeout: Some(Duration::from_millis(20)),
                ..ConnectOptions::default()
            })
            .await
            .expect("reopen");
        let _held = store.inner.db.writer.lock().await;
        let err = impatient
            .initialize(Default::default())
            .await
            .expect_err("the lock is held");
        assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
        assert!(err.to_string().contains("another deployer"), "{err}");
    }

    #[tokio::test]
    async fn reads_do_not_wait_for_a_running_migration() {
        let store = MemoryMetadataStore::new();
        store
            .store_schema("orders", "1.0.0", &json!({}))
            .await
            .expect("store");
        let _held = store.inner.db.writer.lock().await;
        let read = tokio::time::timeout(Duration::from_secs(5), store.get_schema("orders", None))
            .await
            .expect("a read must not wait for the writer lock")
            .expect("read");
        assert!(read.is_some());
    }
}
