//! The read-replica layer ([`ReadReplicas`]) under the whole suite: [`ReplicaHarness`] wraps
//! any backend's harness so that every case runs on `ReadReplicas` over two handles of one
//! database, the primary (opened with the case's options) and a replica (a second handle,
//! opened without touching the schema). A backend runs it with one line:
//!
//! ```text
//! pycharter_conformance::conformance_suite!(ReplicaHarness(FooHarness::new()));
//! ```

use crate::harness::{FailingMigration, HeldLock};
use crate::{BackendHarness, Damage};
use async_trait::async_trait;
use pycharter_core::{BundledMigration, ConnectOptions, ReadReplicas, Replicated, Result};
use std::collections::BTreeSet;

/// `H`'s databases, opened as a primary plus one replica behind [`ReadReplicas`].
pub struct ReplicaHarness<H>(pub H);

#[async_trait]
impl<H> BackendHarness for ReplicaHarness<H>
where
    H: BackendHarness,
    H::Store: Replicated,
{
    type Store = ReadReplicas<H::Store>;

    async fn new_database(&self) -> String {
        self.0.new_database().await
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<Self::Store> {
        let primary = self.0.open(database, options.clone()).await?;
        self.route(database, primary, options, None).await
    }

    async fn damage(&self, database: &str, damage: Damage<'_>) {
        self.0.damage(database, damage).await;
    }

    async fn row_count(&self, database: &str) -> u64 {
        self.0.row_count(database).await
    }

    async fn objects(&self, database: &str) -> BTreeSet<String> {
        self.0.objects(database).await
    }

    async fn hold_migration_lock(&self, database: &str) -> HeldLock {
        self.0.hold_migration_lock(database).await
    }

    async fn open_with_migrations(
        &self,
        database: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<Self::Store> {
        let primary = self
            .0
            .open_with_migrations(database, options.clone(), migrations.clone())
            .await?;
        self.route(database, primary, options, Some(migrations))
            .await
    }

    fn failing_migration(&self, version: &str, table: &str) -> FailingMigration {
        self.0.failing_migration(version, table)
    }
}

impl<H> ReplicaHarness<H>
where
    H: BackendHarness,
    H::Store: Replicated,
{
    /// `primary` behind [`ReadReplicas`], with a second handle on `database` (opened without
    /// touching the schema, by the same build: with `migrations` when the primary has them)
    /// as its replica.
    async fn route(
        &self,
        database: &str,
        primary: H::Store,
        options: ConnectOptions,
        migrations: Option<Vec<BundledMigration>>,
    ) -> Result<ReadReplicas<H::Store>> {
        let replica_options = ConnectOptions {
            auto_initialize: false,
            validate_schema_on_connect: false,
            ..options
        };
        let replica = match migrations {
            Some(migrations) => {
                self.0
                    .open_with_migrations(database, replica_options, migrations)
                    .await?
            }
            None => self.0.open(database, replica_options).await?,
        };
        let routed = ReadReplicas::new(primary, vec![replica]);
        routed.sync_with_primary().await;
        Ok(routed)
    }
}
