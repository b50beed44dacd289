//! A layer under the whole suite: [`Layered`] wraps any backend's harness so that every case
//! runs on `layer(store)` (a cache, say) over that backend's databases.

use crate::harness::{FailingMigration, HeldLock};
use crate::{BackendHarness, Damage};
use async_trait::async_trait;
use pycharter_core::{BundledMigration, ConnectOptions, MetadataStore, Result, SchemaManager};
use std::collections::BTreeSet;

/// A backend's harness with a layer wrapped around every store it opens, so the whole suite
/// runs on the layer over that backend: databases, damage and inspection are the backend's,
/// every store under test is `layer(store)`.
///
/// ```text
/// // backends/foo/tests/conformance.rs
/// mod cached {
///     pycharter_conformance::conformance_suite!(pycharter_conformance::Layered::new(
///         super::FooHarness::new(),
///         pycharter_cache::CachedMetadataStore::new,
///     ));
/// }
/// ```
pub struct Layered<H, F> {
    harness: H,
    layer: F,
}

impl<H, F> Layered<H, F> {
    /// `harness` with `layer` applied to every store it opens.
    pub fn new(harness: H, layer: F) -> Self {
        Layered { harness, layer }
    }
}

#[async_trait]
impl<H, F, L> BackendHarness for Layered<H, F>
where
    H: BackendHarness,
    F: Fn(H::Store) -> L + Send + Sync,
    L: MetadataStore + SchemaManager + Clone + 'static,
{
    type Store = L;

    async fn new_database(&self) -> String {
        self.harness.new_database().await
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<L> {
        self.harness.open(database, options).await.map(&self.layer)
    }

    async fn open_with_migrations(
        &self,
        database: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<L> {
        self.harness
            .open_with_migrations(database, options, migrations)
            .await
            .map(&self.layer)
    }

    async fn damage(&self, database: &str, damage: Damage<'_>) {
        self.harness.damage(database, damage).await
    }

    async fn row_count(&self, database: &str) -> u64 {
        self.harness.row_count(database).await
    }

    async fn objects(&self, database: &str) -> BTreeSet<String> {
        self.harness.objects(database).await
    }

    async fn hold_migration_lock(&self, database: &str) -> HeldLock {
        self.harness.hold_migration_lock(database).await
    }

    fn failing_migration(&self, version: &str, table: &str) -> FailingMigration {
        self.harness.failing_migration(version, table)
    }
}
