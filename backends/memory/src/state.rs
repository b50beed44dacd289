//! The simulated database: a catalog (tables, indexes, version rows) and the artifact
//! tables (their rows: [`crate::data`]). Every method is synchronous and works on a `State` the caller already
//! holds, so locking policy lives in one place ([`crate::store`]) and a migration
//! transaction can run the very same code on a private copy.
//!
//! The database does not know any migration list: like a real one, it only holds what was
//! created. The migrations belong to the handle (the build) running them, so handles of an
//! older and a newer build can share one database, as in a rolling upgrade.

use crate::data::{no_such_table, Tables};
use chrono::Utc;
use pycharter_core::spec::index_table;
use pycharter_core::{
    AppliedMigration, BundledMigration, CatalogSnapshot, Error, OnlineEffect, PlanStep, Result,
    VERSION_TABLE,
};
use std::collections::{BTreeMap, BTreeSet};

/// The target named in every message of this backend.
pub const TARGET: &str = "memory://";

/// Catalog and data of one simulated database.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    /// Rows of the version table; `None` when the table does not exist.
    version_rows: Option<Vec<AppliedMigration>>,
    /// The artifact (and any other) tables that exist, with their rows.
    pub(crate) tables: Tables,
    /// Indexes that exist, each with its table (dropping a table drops its indexes).
    indexes: BTreeMap<String, String>,
}

impl State {
    /// What the catalog holds, as core's validator wants it.
    pub(crate) fn snapshot(&self) -> CatalogSnapshot {
        let mut tables: BTreeSet<String> = self.tables.names().cloned().collect();
        if self.version_rows.is_some() {
            tables.insert(VERSION_TABLE.to_string());
        }
        CatalogSnapshot {
            version_table_exists: self.version_rows.is_some(),
            tables,
            indexes: self.indexes.keys().cloned().collect(),
            applied: self.version_rows.clone().unwrap_or_default(),
            ..CatalogSnapshot::default()
        }
    }

    // ---- catalog: what migration steps and the simulation methods do ----

    pub(crate) fn ensure_version_table(&mut self) {
        self.version_rows.get_or_insert_with(Vec::new);
    }

    /// "Runs" a statement: the transactional part of the up script of one of `bundled` (the
    /// migrations of the handle running it) creates its tables and those of its indexes no
    /// online statement builds (idempotent, so it also serves repair); an online statement
    /// builds or drops its index; a down script drops what the up script created. Online
    /// statements run here, inside the transaction: the memory backend has no concurrent
    /// builds, so no index is ever left invalid.
    pub(crate) fn run_sql(&mut self, bundled: &[BundledMigration], sql: &str) -> Result<()> {
        if let Some(m) = bundled.iter().find(|m| m.up.transactional == sql) {
            for table in &m.tables {
                self.tables.create(table);
            }
            let built_online: Vec<&str> = m.up.online.iter().map(|s| s.index.as_str()).collect();
            for index in m
                .indexes
                .iter()
                .filter(|i| !built_online.contains(&i.name.as_str()))
            {
                self.create_index(&index.name, &index.table)?;
            }
            return Ok(());
        }
        let online = bundled
            .iter()
            .flat_map(|m| m.up.online.iter().chain(&m.down.online))
            .find(|s| s.sql == sql);
        if let Some(step) = online {
            return match step.effect {
                OnlineEffect::Builds => match index_table(bundled, &step.index) {
                    Some(table) => self.create_index(&step.index, table),
                    None => Err(Error::Database {
                        target: TARGET.to_string(),
                        reason: format!("index {} is on no declared table", step.index),
                    }),
                },
                OnlineEffect::Drops => {
                    self.indexes.remove(&step.index);
                    Ok(())
                }
            };
        }
        if let Some(m) = bundled.iter().find(|m| m.down.transactional == sql) {
            for index in m.index_names() {
                self.indexes.remove(index);
            }
            for table in &m.tables {
                self.drop_table(table);
            }
            return Ok(());
        }
        Err(Error::Database {
            target: TARGET.to_string(),
            reason: format!("syntax error: the memory backend does not know statement {sql:?}"),
        })
    }

    /// As on a real database: an index cannot be created on a missing table.
    fn create_index(&mut self, name: &str, table: &str) -> Result<()> {
        if !self.tables.contains(table) {
            return Err(Error::Database {
                target: TARGET.to_string(),
                reason: format!("cannot create index {name}: no such table: {table}"),
            });
        }
        self.indexes.insert(name.to_string(), table.to_string());
        Ok(())
    }

    /// Drops a table with its rows and (as a real database does) its indexes.
    pub(crate) fn drop_table(&mut self, name: &str) -> bool {
        if name == VERSION_TABLE {
            return self.version_rows.take().is_some();
        }
        if !self.tables.drop(name) {
            return false;
        }
        self.indexes.retain(|_, table| table != name);
        true
    }

    pub(crate) fn drop_index(&mut self, name: &str) -> bool {
        self.indexes.remove(name).is_some()
    }

    /// Inserts a version row; like a primary key, a version is recorded at most once.
    pub(crate) fn record_applied(&mut self, step: &PlanStep, execution_ms: i64) -> Result<()> {
        let version = step.version.to_string();
        let rows = self
            .version_rows
            .as_mut()
            .ok_or_else(|| no_such_table(VERSION_TABLE))?;
        if rows.iter().any(|r| r.version == version) {
            return Err(Error::Database {
                target: TARGET.to_string(),
                reason: format!("duplicate key: {VERSION_TABLE}.version = {version}"),
            });
        }
        rows.push(AppliedMigration {
            version,
            description: step.description.clone(),
            checksum: step.checksum.clone(),
            applied_at: Utc::now(),
            execution_ms,
            // As the SQL backends: recorded from 1.2.0 on (core leaves it out before).
            compatible_with: step.compatible_with.as_ref().map(ToString::to_string),
        });
        Ok(())
    }

    /// Deletes the version row whose version text is exactly `recorded`.
    pub(crate) fn remove_applied(&mut self, recorded: &str) -> Result<()> {
        let rows = self
            .version_rows
            .as_mut()
            .ok_or_else(|| no_such_table(VERSION_TABLE))?;
        rows.retain(|r| r.version != recorded);
        Ok(())
    }

    /// Appends a raw version row (creating the version table if needed), as a newer build or
    /// a hand edit would.
    pub(crate) fn push_version_row(&mut self, row: AppliedMigration) {
        self.version_rows.get_or_insert_with(Vec::new).push(row);
    }

    /// Edits the checksum of the rows recorded for `version`; false when there is none.
    pub(crate) fn set_checksum(&mut self, version: &str, checksum: &str) -> bool {
        let mut found = false;
        for row in self.version_rows.iter_mut().flatten() {
            if row.version == version {
                row.checksum = checksum.to_string();
                found = true;
            }
        }
        found
    }

    /// Deletes the rows recorded for `version`; false when there is none.
    pub(crate) fn forget(&mut self, version: &str) -> bool {
        let Some(rows) = self.version_rows.as_mut() else {
            return false;
        };
        let before = rows.len();
        rows.retain(|r| r.version != version);
        rows.len() != before
    }

    /// Row counts of those of `tables` that exist.
    pub(crate) fn count_rows(&self, tables: &[String]) -> Vec<(String, u64)> {
        tables
            .iter()
            .filter_map(|t| self.tables.row_count(t).map(|rows| (t.clone(), rows)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pycharter_core::spec::bundle_logical;

    fn migrated(bundled: &[BundledMigration]) -> State {
        let mut state = State::default();
        for m in bundled {
            state.run_sql(bundled, &m.up_sql).expect("up");
        }
        state
    }

    #[test]
    fn indexes_remember_their_table_from_the_migration() {
        let state = migrated(&bundle_logical("memory"));
        assert_eq!(
            state.indexes.get("idx_schemas_name").map(String::as_str),
            Some("schemas")
        );
        assert_eq!(
            state
                .indexes
                .get("idx_coercion_rules_schema_id")
                .map(String::as_str),
            Some("coercion_rules")
        );
        assert_eq!(state.indexes.get("idx_nothing_here"), None);
    }

    #[test]
    fn dropping_a_table_drops_its_rows_and_indexes_only() {
        let mut state = migrated(&bundle_logical("memory"));
        assert!(state.drop_table("ownership"));
        assert!(!state.indexes.contains_key("idx_ownership_schema_id"));
        assert!(state.indexes.contains_key("idx_metadata_schema_id"));
        assert!(!state.drop_table("ownership"), "already gone");
    }

    #[test]
    fn up_sql_cannot_index_a_missing_table_and_unknown_sql_fails() {
        let bundled = bundle_logical("memory");
        let mut state = State::default();
        let err = state.run_sql(&bundled, &bundled[1].up_sql).unwrap_err();
        assert!(err.to_string().contains("no such table: schemas"), "{err}");
        let err = state.run_sql(&bundled, "DROP DATABASE x").unwrap_err();
        assert!(matches!(err, Error::Database { .. }));
    }

    #[test]
    fn down_sql_drops_what_up_sql_created() {
        let bundled = bundle_logical("memory");
        let mut state = migrated(&bundled);
        for m in bundled.iter().rev() {
            state.run_sql(&bundled, &m.down_sql).expect("down");
        }
        assert!(state.tables.is_empty());
        assert!(state.indexes.is_empty());
    }
}
