//! [`SqliteMetadataStore`]: the handle users hold and its constructors. Its
//! [`pycharter_core::MetadataStore`] and [`SchemaManager`] behaviour is core's, over this
//! crate's primitives (`artifacts`, `executor`).

use crate::pool::{self, KeepAlive};
use crate::{errors, url};
use pycharter_core::{
    connect_with_wait, prepare_schema, BundledMigration, ConnectOptions, Error, Result, SchemaGate,
    SchemaInfo, SchemaManager,
};
use sqlx::SqlitePool;
use std::sync::Arc;

/// The SQLite metadata store: a pool on one database file (or an in-memory database).
///
/// Cheap to clone (clones share the pool and the schema gate). Implements
/// [`pycharter_core::MetadataStore`] and [`SchemaManager`].
///
/// ```no_run
/// use pycharter_core::{ConnectOptions, SchemaManager};
/// use pycharter_sqlite::SqliteMetadataStore;
///
/// # async fn demo() -> pycharter_core::Result<()> {
/// // A deployment script: connect without touching the schema, then check it.
/// let options = ConnectOptions {
///     auto_initialize: false,
///     validate_schema_on_connect: false,
///     ..ConnectOptions::default()
/// };
/// let store = SqliteMetadataStore::connect("sqlite:///var/lib/app/pycharter.db", options).await?;
/// let info = store.validate().await?;
/// println!("{}", info.message);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteMetadataStore {
    pub(crate) pool: SqlitePool,
    target: Arc<str>,
    pub(crate) migrations: Arc<[BundledMigration]>,
    pub(crate) gate: Arc<SchemaGate>,
    options: ConnectOptions,
    _keep_alive: KeepAlive,
}

/// One database, no replication: a read after a write always sees it, so core's
/// `ReadReplicas` layer has nothing to wait for.
impl pycharter_core::Replicated for SqliteMetadataStore {}

impl std::fmt::Debug for SqliteMetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteMetadataStore")
            .field("target", &self.target)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SqliteMetadataStore {
    /// Connects with [`ConnectOptions::default`]: creates the file if missing, migrates it to
    /// this build's layout, and fails unless the schema is then valid.
    ///
    /// ```no_run
    /// # async fn demo() -> pycharter_core::Result<()> {
    /// let store = pycharter_sqlite::SqliteMetadataStore::new("sqlite://pycharter.db").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn new(url: &str) -> Result<Self> {
        Self::connect(url, ConnectOptions::default()).await
    }

    /// Connects to `url` (`sqlite://path.db`, `sqlite:path.db`, `sqlite:///abs/path.db` or
    /// `sqlite::memory:`), then prepares the schema as `options` say
    /// ([`pycharter_core::prepare_schema`]).
    ///
    /// `lock_timeout` bounds how long any statement waits for another process's write lock
    /// (default 30 s); `connect_timeout` bounds waiting for a pooled connection;
    /// `statement_timeout` and `namespace` do not apply to SQLite.
    ///
    /// Errors: [`Error::InvalidUrl`] for a malformed URL, [`Error::Unreachable`] naming the
    /// path when the file cannot be opened or created, the schema's typed error when
    /// `validate_schema_on_connect` finds it invalid. With `wait_for_schema`, an
    /// unreachable file and a schema not migrated yet are retried until it runs out
    /// ([`pycharter_core::wait`]).
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Self> {
        Self::connect_with_migrations(url, options, crate::migrations()).await
    }

    /// [`SqliteMetadataStore::connect`] with another migration list than this build's
    /// (tests use it to build failing, slow or newer layouts).
    ///
    /// ```no_run
    /// use pycharter_core::{BundledMigration, ConnectOptions};
    /// use pycharter_sqlite::SqliteMetadataStore;
    ///
    /// # async fn demo() -> pycharter_core::Result<()> {
    /// // The layout a future release would ship: this build's migrations plus one.
    /// let mut newer = SqliteMetadataStore::migrations();
    /// newer.push(
    ///     BundledMigration::custom("9.0.0", "from the future")?
    ///         .with_table("future")
    ///         .with_sql("CREATE TABLE IF NOT EXISTS future (id INTEGER);", "DROP TABLE IF EXISTS future;"),
    /// );
    /// let url = "sqlite://newer.db";
    /// SqliteMetadataStore::connect_with_migrations(url, ConnectOptions::default(), newer).await?;
    /// // This build now refuses writes to that file (Error::SchemaNewer).
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with_migrations(
        url: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<Self> {
        connect_with_wait(&options, || {
            Self::connect_once(url, options.clone(), migrations.clone())
        })
        .await
    }

    /// One connection attempt ([`connect_with_wait`] repeats it while waiting for the
    /// schema).
    async fn connect_once(
        url: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<Self> {
        let parsed = url::parse(url, &options)?;
        if options.namespace.is_some() {
            tracing::warn!(target: "pycharter::sqlite", database = %parsed.target, "namespace is a Postgres option; SQLite has one namespace per file, ignoring it");
        }
        let (pool, keep_alive) = pool::open(&parsed, &options).await?;
        tracing::debug!(target: "pycharter::sqlite", database = %parsed.target, "connected");
        let store = SqliteMetadataStore {
            pool,
            target: Arc::from(parsed.target.as_str()),
            migrations: Arc::from(migrations),
            gate: Arc::new(SchemaGate::new()),
            options,
            _keep_alive: keep_alive,
        };
        prepare_schema(&store, &store.options).await?;
        Ok(store)
    }

    /// A store over an existing pool, with this build's migrations, touching nothing (what
    /// [`crate::initialize_schema`] and [`crate::validate_schema`] run on).
    pub fn from_pool(pool: SqlitePool) -> Self {
        // A bare pool does not remember its URL: name its file.
        let target = format!(
            "sqlite://{}",
            pool.connect_options().get_filename().display()
        );
        SqliteMetadataStore {
            pool,
            target: Arc::from(target),
            migrations: Arc::from(crate::migrations()),
            gate: Arc::new(SchemaGate::new()),
            options: ConnectOptions::default(),
            _keep_alive: None,
        }
    }

    /// The migrations this build ships for SQLite (same as [`crate::migrations`]).
    pub fn migrations() -> Vec<BundledMigration> {
        crate::migrations()
    }

    /// The underlying sqlx pool (for the free functions, or for queries of your own).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The database URL as shown in messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The schema's state: what `pycharter db check --json` prints (same as
    /// [`SchemaManager::validate`]).
    pub async fn get_schema_info(&self) -> Result<SchemaInfo> {
        self.validate().await
    }

    pub(crate) fn db_error(&self, err: sqlx::Error) -> Error {
        errors::database(&self.target, err)
    }
}
