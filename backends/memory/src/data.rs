//! The data half of the simulated database: the generic surface of `MetadataStore`
//! (insert-if-absent, get, list, delete with cascade) over the artifact tables.

use crate::state::{no_such_table, State};
use chrono::Utc;
use pycharter_core::{
    ArtifactId, ArtifactKind, ArtifactRecord, ContractVersion, Error, NewArtifact, PutOutcome,
    Result, VersionSelector,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Versions of one name. Records sit behind `Arc` so copying a table (a migration
/// transaction's working copy) never deep-copies a document.
type Versions = BTreeMap<ContractVersion, Arc<ArtifactRecord>>;

/// The rows of one artifact table, by name then by version (semver order).
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    rows: BTreeMap<String, Versions>,
}

impl Table {
    pub(crate) fn row_count(&self) -> u64 {
        self.rows.values().map(|v| v.len() as u64).sum()
    }

    fn get(&self, name: &str, version: &ContractVersion) -> Option<&Arc<ArtifactRecord>> {
        self.rows
            .get(name)
            .and_then(|versions| versions.get(version))
    }

    fn remove(&mut self, name: &str, version: &ContractVersion) -> bool {
        let Some(versions) = self.rows.get_mut(name) else {
            return false;
        };
        let removed = versions.remove(version).is_some();
        if versions.is_empty() {
            // A name without versions must not show up in `list_schemas`.
            self.rows.remove(name);
        }
        removed
    }
}

impl State {
    fn table(&self, kind: ArtifactKind) -> Result<&Table> {
        self.tables
            .get(kind.table())
            .ok_or_else(|| no_such_table(kind.table()))
    }

    /// Insert-if-absent. The caller holds the write lock, which makes it atomic.
    pub(crate) fn put(&mut self, artifact: NewArtifact) -> Result<PutOutcome> {
        let NewArtifact {
            kind,
            name,
            version,
            document,
        } = artifact;
        let table = self.table(kind)?;
        if let Some(existing) = table.get(&name, &version) {
            return Ok(PutOutcome::Existing(ArtifactRecord::clone(existing)));
        }
        if kind != ArtifactKind::Schema
            && self
                .table(ArtifactKind::Schema)?
                .get(&name, &version)
                .is_none()
        {
            return Err(Error::schema_version_not_found(&name, &version));
        }
        self.next_id += 1;
        let record = ArtifactRecord {
            id: ArtifactId(self.next_id),
            kind,
            name,
            version,
            document: Arc::new(document),
            created_at: Utc::now(),
        };
        let stored = Arc::new(record.clone());
        self.tables
            .get_mut(kind.table())
            .ok_or_else(|| no_such_table(kind.table()))?
            .rows
            .entry(record.name.clone())
            .or_default()
            .insert(record.version.clone(), stored);
        Ok(PutOutcome::Inserted(record))
    }

    /// The record of `kind` at `selector`; `Latest` means "attached to the highest schema
    /// version", so an older version's artifact never stands in for a missing newer one.
    pub(crate) fn get(
        &self,
        kind: ArtifactKind,
        name: &str,
        selector: &VersionSelector,
    ) -> Result<Option<&Arc<ArtifactRecord>>> {
        let table = self.table(kind)?;
        let version = match selector {
            VersionSelector::Exact(version) => version,
            VersionSelector::Latest => {
                let schemas = self.table(ArtifactKind::Schema)?;
                match schemas.rows.get(name).and_then(|v| v.last_key_value()) {
                    Some((version, _)) => version,
                    None => return Ok(None),
                }
            }
        };
        Ok(table.get(name, version))
    }

    pub(crate) fn schema_names(&self) -> Result<Vec<String>> {
        Ok(self
            .table(ArtifactKind::Schema)?
            .rows
            .keys()
            .cloned()
            .collect())
    }

    pub(crate) fn schema_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        let schemas = self.table(ArtifactKind::Schema)?;
        Ok(schemas
            .rows
            .get(name)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Deletes a schema version and, like `ON DELETE CASCADE`, what is attached to it.
    pub(crate) fn delete(&mut self, name: &str, version: &ContractVersion) -> Result<bool> {
        self.table(ArtifactKind::Schema)?;
        let mut deleted = false;
        for kind in ArtifactKind::ALL {
            if let Some(table) = self.tables.get_mut(kind.table()) {
                let removed = table.remove(name, version);
                deleted |= kind == ArtifactKind::Schema && removed;
            }
        }
        Ok(deleted)
    }
}
