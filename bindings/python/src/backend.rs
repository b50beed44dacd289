//! Which backend a Python store (or a module function's URL) opens, and the one handle type
//! the rest of the module holds: the only module that knows the backend crates.

use async_trait::async_trait;
use pycharter_core::scheme::{safe_display, BackendKind};
use pycharter_core::{ConnectOptions, MetadataStore, Result, SchemaManager};
use pycharter_memory::MemoryMetadataStore;
use pycharter_postgres::PostgresMetadataStore;
use pycharter_sqlite::SqliteMetadataStore;
use std::sync::Arc;

/// A connected store of any backend: both traits, and a way to release its connections.
#[async_trait]
pub(crate) trait Connected: MetadataStore + SchemaManager {
    /// Closes the connections; later operations fail.
    async fn close(&self);
}

#[async_trait]
impl Connected for PostgresMetadataStore {
    async fn close(&self) {
        PostgresMetadataStore::close(self).await;
    }
}

#[async_trait]
impl Connected for SqliteMetadataStore {
    async fn close(&self) {
        self.pool().close().await;
    }
}

#[async_trait]
impl Connected for MemoryMetadataStore {
    async fn close(&self) {}
}

/// What a store connects to.
#[derive(Clone)]
pub(crate) enum Target {
    /// A PostgreSQL URL (holds the password: never shown, see [`Target::display`]).
    Postgres(String),
    /// A SQLite URL.
    Sqlite(String),
    /// One in-memory database, kept across `connect()` calls of the same Python object.
    Memory(MemoryMetadataStore),
}

impl Target {
    /// The backend a URL's scheme selects (core's rule, the CLI's too): what the module
    /// functions take.
    pub(crate) fn from_url(url: &str) -> Result<Target> {
        let url = url.trim().to_string();
        Ok(match BackendKind::from_url(&url)? {
            BackendKind::Postgres => Target::Postgres(url),
            BackendKind::Sqlite => Target::Sqlite(url),
            BackendKind::Memory => Target::Memory(MemoryMetadataStore::uninitialized()),
        })
    }

    /// Connects with `options` (the backend applies them: initialize, validate, timeouts).
    pub(crate) async fn open(&self, options: ConnectOptions) -> Result<Arc<dyn Connected>> {
        Ok(match self {
            Target::Postgres(url) => Arc::new(PostgresMetadataStore::connect(url, options).await?),
            Target::Sqlite(url) => Arc::new(SqliteMetadataStore::connect(url, options).await?),
            Target::Memory(database) => Arc::new(database.reopen(options).await?),
        })
    }

    /// The database as every message shows it: the URL with its password redacted.
    pub(crate) fn display(&self) -> String {
        match self {
            Target::Postgres(url) | Target::Sqlite(url) => safe_display(url),
            Target::Memory(_) => "memory://".to_string(),
        }
    }
}
