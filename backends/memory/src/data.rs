//! The rows of the simulated database: one [`Table`] per artifact table, and [`Tables`], the
//! storage primitives over them (insert-if-absent, read, list, delete with cascade). They
//! report what they found; the rules (immutability, "not found") are core's.

use chrono::Utc;
use pycharter_core::{
    ArtifactId, ArtifactKind, ArtifactRecord, ContractVersion, Error, InsertOutcome, NewArtifact,
    Result, VersionSelector,
};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::state::TARGET;

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

/// The error a real database gives for a statement on a table that is not there; core's
/// schema gate turns it into the schema's typed error.
pub(crate) fn no_such_table(table: &str) -> Error {
    Error::Database {
        target: TARGET.to_string(),
        reason: format!("no such table: {table}"),
    }
}

/// Every table that exists, by name, with its rows. Record ids are per table, counted from 1,
/// like the SQL backends' identity columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    tables: BTreeMap<String, Table>,
    next_ids: BTreeMap<String, i64>,
}

impl Tables {
    pub(crate) fn names(&self) -> impl Iterator<Item = &String> {
        self.tables.keys()
    }

    pub(crate) fn contains(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// `CREATE TABLE IF NOT EXISTS`.
    pub(crate) fn create(&mut self, table: &str) {
        self.tables.entry(table.to_string()).or_default();
    }

    /// `DROP TABLE`; false when it did not exist.
    pub(crate) fn drop(&mut self, table: &str) -> bool {
        self.tables.remove(table).is_some()
    }

    pub(crate) fn row_count(&self, table: &str) -> Option<u64> {
        self.tables.get(table).map(Table::row_count)
    }

    fn table(&self, kind: ArtifactKind) -> Result<&Table> {
        self.tables
            .get(kind.table())
            .ok_or_else(|| no_such_table(kind.table()))
    }

    /// Insert-if-absent. The caller holds the write lock, which makes it atomic.
    pub(crate) fn insert(&mut self, artifact: &NewArtifact) -> Result<InsertOutcome> {
        let NewArtifact {
            kind,
            name,
            version,
            document,
        } = artifact;
        if let Some(existing) = self.table(*kind)?.get(name, version) {
            return Ok(InsertOutcome::Existing(ArtifactRecord::clone(existing)));
        }
        if *kind != ArtifactKind::Schema
            && self
                .table(ArtifactKind::Schema)?
                .get(name, version)
                .is_none()
        {
            return Ok(InsertOutcome::SchemaVersionMissing);
        }
        let id = self.next_ids.entry(kind.table().to_string()).or_default();
        *id += 1;
        let record = ArtifactRecord {
            id: ArtifactId(*id),
            kind: *kind,
            name: name.clone(),
            version: version.clone(),
            document: Arc::new(document.clone()),
            created_at: Utc::now(),
        };
        self.tables
            .get_mut(kind.table())
            .ok_or_else(|| no_such_table(kind.table()))?
            .rows
            .entry(record.name.clone())
            .or_default()
            .insert(record.version.clone(), Arc::new(record.clone()));
        Ok(InsertOutcome::Inserted(record))
    }

    /// The record of `kind` at `selector`; `Latest` means "attached to the highest schema
    /// version", so an older version's artifact never stands in for a missing newer one.
    pub(crate) fn read(
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
