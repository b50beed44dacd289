//! The shared conformance suite, run on the in-memory backend.

use async_trait::async_trait;
use pycharter_conformance::{BackendHarness, Damage};
use pycharter_core::{AppliedMigration, ConnectOptions, Result};
use pycharter_memory::MemoryMetadataStore;
use std::collections::HashMap;
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
                })
                .await;
                true
            }
            Damage::SetChecksum { version, checksum } => {
                db.set_recorded_checksum(version, checksum).await
            }
        };
        assert!(done, "{damage:?}: nothing to damage in {database}");
    }
}

pycharter_conformance::conformance_suite!(MemoryHarness::default());

/// The same suite on the cache layer over this backend: caching must not change an answer,
/// nor hide a schema state from its typed error.
mod cached {
    pycharter_conformance::conformance_suite!(pycharter_conformance::Layered::new(
        super::MemoryHarness::default(),
        pycharter_cache::CachedMetadataStore::new,
    ));
}
