//! Simulation methods: change the database behind the library's back, the way an operator,
//! a hand edit or a newer build would change a real one, so tests can reach every state.
//!
//! Each method waits for running migrations and writes (the database's writer lock) and then
//! resets the schema gate of the handle it is called on (as if that application restarted);
//! other handles keep what they validated, exactly as other processes would.

use crate::store::MemoryMetadataStore;
use pycharter_core::{AppliedMigration, CatalogSnapshot};

impl MemoryMetadataStore {
    /// Drops table `name` (an artifact table or the version table) with its rows and indexes.
    /// Returns false when there was no such table.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use pycharter_core::{Error, MetadataStore, MetadataStoreExt};
    /// let store = pycharter_memory::MemoryMetadataStore::new();
    /// assert!(store.drop_table("ownership").await);
    /// let err = store.get_ownership("orders", None).await.unwrap_err();
    /// assert!(matches!(err, Error::MissingTables { .. }));
    /// # }
    /// ```
    pub async fn drop_table(&self, name: &str) -> bool {
        let db = &self.inner.db;
        let _writer = db.writer.lock().await;
        let dropped = db.write().drop_table(name);
        self.inner.gate.reset();
        dropped
    }

    /// Drops index `name`. Returns false when there was no such index.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{SchemaManager, SchemaState};
    /// let store = pycharter_memory::MemoryMetadataStore::new();
    /// store.drop_index("idx_schemas_name").await;
    /// let info = store.validate().await?;
    /// assert_eq!(info.state, SchemaState::MissingIndexes);
    /// assert_eq!(info.missing_indexes, ["idx_schemas_name"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn drop_index(&self, name: &str) -> bool {
        let db = &self.inner.db;
        let _writer = db.writer.lock().await;
        let dropped = db.write().drop_index(name);
        self.inner.gate.reset();
        dropped
    }

    /// Appends a row to the version table (creating the table if needed), e.g. a `9.0.0`
    /// recorded by a newer build, or a hand-edited version. See
    /// [`MemoryMetadataStore::record_newer_migration`] for the two states a newer build
    /// leaves.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{AppliedMigration, SchemaManager, SchemaState};
    /// let store = pycharter_memory::MemoryMetadataStore::new();
    /// store.record_migration(AppliedMigration {
    ///     version: "9.0.0".into(),
    ///     description: "from the future".into(),
    ///     checksum: "0".repeat(64),
    ///     applied_at: chrono::Utc::now(),
    ///     execution_ms: 1,
    ///     compatible_with: None,
    /// }).await;
    /// assert_eq!(store.validate().await?.state, SchemaState::Newer);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn record_migration(&self, row: AppliedMigration) {
        let db = &self.inner.db;
        let _writer = db.writer.lock().await;
        db.write().push_version_row(row);
        self.inner.gate.reset();
    }

    /// Records migration `version` as a newer build would after applying it, declaring the
    /// oldest layout whose binaries keep working (`compatible_with`). With a layout at or
    /// below this build's, the database is then ahead and compatible
    /// ([`SchemaState::NewerCompatible`](pycharter_core::SchemaState::NewerCompatible):
    /// reads and writes go on); above it, or `None` (a build that records no
    /// compatibility), it is [`SchemaState::Newer`](pycharter_core::SchemaState::Newer)
    /// (reads only).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{MetadataStoreExt, SchemaManager, SchemaState};
    /// use serde_json::json;
    /// let store = pycharter_memory::MemoryMetadataStore::new();
    /// store.record_newer_migration("1.3.0", Some("1.2.0")).await;
    /// assert_eq!(store.validate().await?.state, SchemaState::NewerCompatible);
    /// store.store_schema("orders", "1.0.0", &json!({})).await?;
    ///
    /// store.record_newer_migration("2.0.0", Some("2.0.0")).await; // breaking
    /// assert_eq!(store.validate().await?.state, SchemaState::Newer);
    /// assert!(store.store_schema("orders", "1.1.0", &json!({})).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn record_newer_migration(&self, version: &str, compatible_with: Option<&str>) {
        self.record_migration(AppliedMigration {
            version: version.to_string(),
            description: format!("recorded by a build that ships {version}"),
            checksum: pycharter_core::spec::checksum(version),
            applied_at: chrono::Utc::now(),
            execution_ms: 0,
            compatible_with: compatible_with.map(String::from),
        })
        .await;
    }

    /// Overwrites the checksum recorded for `version` (as if different SQL had been applied).
    /// Returns false when `version` is not recorded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{SchemaManager, SchemaState};
    /// let store = pycharter_memory::MemoryMetadataStore::new();
    /// assert!(store.set_recorded_checksum("1.0.0", "edited").await);
    /// assert_eq!(store.validate().await?.state, SchemaState::ChecksumDrift);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_recorded_checksum(&self, version: &str, checksum: &str) -> bool {
        let db = &self.inner.db;
        let _writer = db.writer.lock().await;
        let found = db.write().set_checksum(version, checksum);
        self.inner.gate.reset();
        found
    }

    /// Deletes the version row of `version`, leaving its tables in place (a hand edit).
    /// Returns false when `version` is not recorded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{SchemaManager, SchemaState};
    /// let store = pycharter_memory::MemoryMetadataStore::new();
    /// assert!(store.forget_migration("1.1.0").await);
    /// let info = store.validate().await?;
    /// assert_eq!(info.state, SchemaState::Outdated);
    /// assert_eq!(info.pending, ["1.1.0"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn forget_migration(&self, version: &str) -> bool {
        let db = &self.inner.db;
        let _writer = db.writer.lock().await;
        let found = db.write().forget(version);
        self.inner.gate.reset();
        found
    }

    /// What the catalog holds right now (tables, indexes, version rows), for assertions.
    ///
    /// ```
    /// let store = pycharter_memory::MemoryMetadataStore::uninitialized();
    /// assert!(store.catalog().tables.is_empty());
    /// ```
    pub fn catalog(&self) -> CatalogSnapshot {
        self.inner.db.read().snapshot()
    }

    /// Rows of table `name` right now, read past the schema gate like a `SELECT count(*)`
    /// behind the library's back; None when there is no such table. For assertions such as
    /// "a refused write wrote nothing".
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::MetadataStoreExt;
    /// let store = pycharter_memory::MemoryMetadataStore::new();
    /// store.store_schema("orders", "1.0.0", &serde_json::json!({})).await?;
    /// assert_eq!(store.row_count("schemas"), Some(1));
    /// assert_eq!(store.row_count("ownership"), Some(0));
    /// assert_eq!(store.row_count("no_such_table"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn row_count(&self, name: &str) -> Option<u64> {
        self.inner.db.read().tables.row_count(name)
    }
}
