//! The three backends behind one small interface, so the workload ([`crate::workload`]) is
//! written once and run on each: in-memory, SQLite (a file in a temporary directory) and
//! PostgreSQL (a database on the test harness's server).

use pycharter_core::{ConnectOptions, MetadataStore, SchemaManager};
use pycharter_memory::MemoryMetadataStore;
use pycharter_postgres::PostgresMetadataStore;
use pycharter_sqlite::SqliteMetadataStore;
use pycharter_test_postgres::fresh_database;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use tempfile::TempDir;

/// Options that neither initialize nor validate on connect (the bench drives the schema).
pub fn manual_options() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    }
}

/// A backend the workload can run on.
///
/// Every method panics (with the reason) when the backend cannot be reached: a bench that
/// cannot run must not report numbers.
pub trait Backend {
    /// The store this backend opens.
    type Store: MetadataStore + SchemaManager + Clone + Send + Sync + 'static;

    /// Short name used in benchmark ids: `memory`, `sqlite`, `postgres`.
    fn name(&self) -> &'static str;

    /// A store on a new, initialized and valid database, for the operation benches.
    fn initialized(&self) -> impl Future<Output = Self::Store>;

    /// `connect()` with the default options (validate on connect, auto-initialize) to the
    /// bench's database, which is already initialized: what an application pays at start-up.
    fn connect(&self) -> impl Future<Output = Self::Store>;

    /// A store on a new, empty database, connected without touching it (for `initialize`).
    fn empty(&self) -> impl Future<Output = Self::Store>;

    /// Releases the store's connections (not timed by the benches).
    fn close(&self, store: Self::Store) -> impl Future<Output = ()>;
}

/// The in-memory backend.
#[derive(Debug, Clone)]
pub struct Memory {
    /// The database [`Backend::connect`] opens handles on (already initialized).
    base: MemoryMetadataStore,
}

impl Memory {
    /// A backend whose `connect` opens handles on one initialized in-memory database.
    pub fn new() -> Self {
        Memory {
            base: MemoryMetadataStore::new(),
        }
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for Memory {
    type Store = MemoryMetadataStore;

    fn name(&self) -> &'static str {
        "memory"
    }

    async fn initialized(&self) -> MemoryMetadataStore {
        MemoryMetadataStore::new()
    }

    async fn connect(&self) -> MemoryMetadataStore {
        self.base
            .reopen(ConnectOptions::default())
            .await
            .expect("reopen the initialized in-memory database")
    }

    async fn empty(&self) -> MemoryMetadataStore {
        MemoryMetadataStore::uninitialized()
    }

    async fn close(&self, store: MemoryMetadataStore) {
        drop(store);
    }
}

/// The SQLite backend: database files in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct Sqlite {
    dir: TempDir,
    /// The initialized database [`Backend::connect`] connects to.
    url: String,
    files: AtomicU64,
}

impl Sqlite {
    /// Creates the temporary directory and an initialized database file in it.
    pub async fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pycharter-bench-")
            .tempdir()
            .expect("create a temporary directory for the SQLite benches");
        let url = format!("sqlite://{}", dir.path().join("connect.db").display());
        let store = SqliteMetadataStore::new(&url)
            .await
            .expect("initialize the SQLite bench database");
        store.pool().close().await;
        Sqlite {
            dir,
            url,
            files: AtomicU64::new(0),
        }
    }

    /// URL of a database file in the bench's directory that does not exist yet.
    pub fn new_file_url(&self) -> String {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        format!(
            "sqlite://{}",
            self.dir.path().join(format!("bench-{n}.db")).display()
        )
    }
}

impl Backend for Sqlite {
    type Store = SqliteMetadataStore;

    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn initialized(&self) -> SqliteMetadataStore {
        SqliteMetadataStore::new(&self.new_file_url())
            .await
            .expect("create and initialize a SQLite bench database")
    }

    async fn connect(&self) -> SqliteMetadataStore {
        SqliteMetadataStore::connect(&self.url, ConnectOptions::default())
            .await
            .expect("connect to the initialized SQLite bench database")
    }

    async fn empty(&self) -> SqliteMetadataStore {
        SqliteMetadataStore::connect(&self.new_file_url(), manual_options())
            .await
            .expect("create an empty SQLite database")
    }

    async fn close(&self, store: SqliteMetadataStore) {
        store.pool().close().await;
    }
}

/// The PostgreSQL backend, on the test harness's server
/// (`PYCHARTER_TEST_DATABASE_URL`, else a private throwaway cluster).
#[derive(Debug, Clone)]
pub struct Postgres {
    /// The initialized database [`Backend::connect`] connects to.
    url: String,
}

impl Postgres {
    /// Starts (or reaches) the test server and initializes one database on it.
    pub async fn new() -> Self {
        let url = fresh_database().await.url;
        let store = PostgresMetadataStore::new(&url)
            .await
            .expect("initialize the PostgreSQL bench database");
        store.close().await;
        Postgres { url }
    }

    /// URL of the initialized database (it holds the password of the test server).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Backend for Postgres {
    type Store = PostgresMetadataStore;

    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn initialized(&self) -> PostgresMetadataStore {
        let url = fresh_database().await.url;
        PostgresMetadataStore::new(&url)
            .await
            .expect("initialize a PostgreSQL bench database")
    }

    async fn connect(&self) -> PostgresMetadataStore {
        PostgresMetadataStore::connect(&self.url, ConnectOptions::default())
            .await
            .expect("connect to the initialized PostgreSQL bench database")
    }

    async fn empty(&self) -> PostgresMetadataStore {
        let url = fresh_database().await.url;
        PostgresMetadataStore::connect(&url, manual_options())
            .await
            .expect("connect to an empty PostgreSQL database")
    }

    async fn close(&self, store: PostgresMetadataStore) {
        store.close().await;
    }
}
