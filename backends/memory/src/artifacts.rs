//! The storage primitives of [`MemoryMetadataStore`]: core's [`Backend`] over the simulated
//! tables. Reads take the state's read lock only (never across an `.await`); writes also
//! wait for the database's writer lock, so they cannot interleave with a migration, and are
//! published to the change feed once the locks are released.

use crate::feed;
use crate::store::MemoryMetadataStore;
use async_trait::async_trait;
use pycharter_core::{
    ArtifactKind, ArtifactRecord, Backend, ContractVersion, InsertOutcome, NewArtifact, Result,
    SchemaGate, VersionSelector,
};

#[async_trait]
impl Backend for MemoryMetadataStore {
    fn gate(&self) -> &SchemaGate {
        &self.inner.gate
    }

    async fn insert_artifact(&self, artifact: &NewArtifact) -> Result<InsertOutcome> {
        let db = &self.inner.db;
        let outcome = {
            let _writer = db.writer.lock().await;
            db.write().tables.insert(artifact)?
        };
        if let InsertOutcome::Inserted(_) = outcome {
            feed::publish_put(db, artifact);
        }
        Ok(outcome)
    }

    async fn read_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        // The one copy a read makes: the caller owns the returned record.
        let state = self.inner.db.read();
        let found = state.tables.read(kind, name, version)?;
        Ok(found.map(|record| ArtifactRecord::clone(record)))
    }

    async fn read_schema_names(&self) -> Result<Vec<String>> {
        self.inner.db.read().tables.schema_names()
    }

    async fn read_schema_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        self.inner.db.read().tables.schema_versions(name)
    }

    async fn delete_schema_version(&self, name: &str, version: &ContractVersion) -> Result<bool> {
        let db = &self.inner.db;
        let deleted = {
            let _writer = db.writer.lock().await;
            db.write().tables.delete(name, version)?
        };
        if deleted {
            feed::publish_delete(db, name, version);
        }
        Ok(deleted)
    }
}
