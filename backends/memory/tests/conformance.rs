//! The shared conformance suite, run on the in-memory backend.

use async_trait::async_trait;
use pycharter_conformance::{BackendHarness, Damage, HeldLock};
use pycharter_core::{AppliedMigration, ArtifactKind, BundledMigration, ConnectOptions, Result};
use pycharter_memory::MemoryMetadataStore;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Databases by locator: `open` twice on one locator gives two handles on one database.
#[derive(Default)]
struct MemoryHarness {
    databases: Mutex<HashMap<String, MemoryMetadataStore>>,
}

impl MemoryHarness {
    /// The handle the harness keeps for `database`; damage goes through it, so the handles
    /// under test learn of it the way they would on a real database: not at all.
    fn database(&self, database: &str) -> MemoryMetadataStore {
        self.databases
            .lock()
            .expect("registry lock")
            .get(database)
            .cloned()
            .unwrap_or_else(|| panic!("no database {database:?} in this harness"))
    }
}

#[async_trait]
impl BackendHarness for MemoryHarness {
    type Store = MemoryMetadataStore;

    async fn new_database(&self) -> String {
        let mut databases = self.databases.lock().expect("registry lock");
        let locator = format!("memory://db-{}", databases.len());
        databases.insert(locator.clone(), MemoryMetadataStore::uninitialized());
        locator
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<Self::Store> {
        self.database(database).reopen(options).await
    }

    async fn open_with_migrations(
        &self,
        database: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<Self::Store> {
        self.database(database)
            .reopen_with_migrations(options, migrations)
            .await
    }

    async fn damage(&self, database: &str, damage: Damage<'_>) {
        let db = self.database(database);
        let done = match damage {
            Damage::DropTable(name) => db.drop_table(name).await,
            Damage::DropIndex(name) => db.drop_index(name).await,
            Damage::RecordVersion { version, checksum } => {
                db.record_migration(AppliedMigration {
                    version: version.to_string(),
                    description: "recorded by a newer build".to_string(),
                    checksum: checksum.to_string(),
                    applied_at: chrono::Utc::now(),
                    execution_ms: 0,
                    compatible_with: None,
                })
                .await;
                true
            }
            Damage::SetChecksum { version, checksum } => {
                db.set_recorded_checksum(version, checksum).await
            }
            Damage::ForgetVersion(version) => db.forget_migration(version).await,
        };
        assert!(done, "{damage:?}: nothing to damage in {database}");
    }

    async fn row_count(&self, database: &str) -> u64 {
        let db = self.database(database);
        ArtifactKind::ALL
            .iter()
            .map(|kind| {
                db.row_count(kind.table())
                    .unwrap_or_else(|| panic!("no table {} in {database}", kind.table()))
            })
            .sum()
    }

    async fn objects(&self, database: &str) -> BTreeSet<String> {
        let catalog = self.database(database).catalog();
        catalog.tables.into_iter().chain(catalog.indexes).collect()
    }

    async fn hold_migration_lock(&self, database: &str) -> HeldLock {
        // The lock is the database's writer mutex, private to the library: the only other
        // deployer there can be is another handle's migration transaction.
        HeldLock::by_executor(self.database(database)).await
    }
}

/// The suite with what this backend lacks, for each harness below.
macro_rules! suite {
    ($harness:expr) => {
        pycharter_conformance::conformance_suite!($harness, lacks: [
            separate_processes => "the database lives in the memory of the process that created \
                                   it; no other process can open it",
            namespaces => "a simulated database has a single namespace; \
                           ConnectOptions::namespace is ignored",
            failing_migrations => "a simulated database runs no SQL: a migration's declared \
                                   tables and indexes are its steps, and they cannot fail; \
                                   failing steps are tested in tests/simulation.rs",
        ]);
    };
}

suite!(MemoryHarness::default());

/// The read-replica layer of core, wrapped around this backend, under the same suite.
mod through_read_replicas {
    use super::MemoryHarness;
    use pycharter_conformance::ReplicaHarness;

    suite!(ReplicaHarness(MemoryHarness::default()));
}

/// The same suite on the cache layer over this backend: caching must not change an answer,
/// nor hide a schema state from its typed error.
mod cached {
    suite!(pycharter_conformance::Layered::new(
        super::MemoryHarness::default(),
        pycharter_cache::CachedMetadataStore::new,
    ));
}
