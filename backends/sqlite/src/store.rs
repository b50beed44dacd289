//! [`SqliteMetadataStore`]: connecting, and the [`SchemaManager`] surface (every command is
//! core's `migrate` driver over this crate's [`Executor`]).

use crate::executor::Executor;
use crate::{errors, url};
use async_trait::async_trait;
use pycharter_core::{
    migrate, prepare_schema, AppliedMigration, BundledMigration, ConnectOptions, DowngradeOptions,
    Error, InitializeOptions, MigrationReport, MigrationStatus, Result, SchemaGate, SchemaInfo,
    SchemaManager, UpgradeOptions,
};
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Idle pooled connections are closed after this long (sqlx's default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Pooled connections are replaced after this long (sqlx's default).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

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
    pub(crate) target: Arc<str>,
    migrations: Arc<[BundledMigration]>,
    pub(crate) gate: Arc<SchemaGate>,
    options: ConnectOptions,
    /// For `sqlite::memory:`: a connection outside the pool that is never used, because an
    /// in-memory database disappears when its last connection closes, and the pool may
    /// close idle ones.
    _keep_alive: Option<Arc<Mutex<SqliteConnection>>>,
}

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
    /// `validate_schema_on_connect` finds it invalid.
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
    /// newer.push(BundledMigration::custom(
    ///     "9.0.0", "from the future", &["future"], &[],
    ///     "CREATE TABLE IF NOT EXISTS future (id INTEGER);", "DROP TABLE IF EXISTS future;",
    /// )?);
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
        let parsed = url::parse(url, &options)?;
        let target = parsed.target.clone();
        if options.namespace.is_some() {
            tracing::warn!(target: "pycharter::sqlite", database = %target, "namespace is a Postgres option; SQLite has one namespace per file, ignoring it");
        }
        let file = parsed.options.get_filename().to_path_buf();
        let open_error = |err| errors::open(&target, &file, err);

        let keep_alive = if parsed.in_memory {
            let conn = SqliteConnection::connect_with(&parsed.options)
                .await
                .map_err(open_error)?;
            Some(Arc::new(Mutex::new(conn)))
        } else {
            None
        };
        // One connection for an in-memory database: shared-cache locks fail at once instead
        // of waiting on the busy timeout, so connections must not compete there.
        let max_connections = if parsed.in_memory {
            1
        } else {
            options.max_connections.max(1)
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(options.connect_timeout)
            // No "liveness ping" before every statement (sqlx's default): for SQLite it is a
            // hop to the connection's worker thread that checks nothing, doubling the cost of
            // a read. A local file connection does not die while idle; the idle and lifetime
            // limits (sqlx's defaults, made explicit) still retire unused connections.
            .test_before_acquire(false)
            .idle_timeout(IDLE_TIMEOUT)
            .max_lifetime(MAX_LIFETIME)
            .connect_with(parsed.options.clone())
            .await
            .map_err(|err| match err {
                sqlx::Error::PoolTimedOut => Error::ConnectTimeout {
                    target: target.clone(),
                    timeout: options.connect_timeout,
                },
                other => open_error(other),
            })?;
        if !parsed.in_memory {
            enable_wal(&pool, &target, parsed.busy_timeout)
                .await
                .map_err(open_error)?;
        }
        tracing::debug!(target: "pycharter::sqlite", database = %target, "connected");

        let store = SqliteMetadataStore {
            pool,
            target: Arc::from(target.as_str()),
            migrations: Arc::from(migrations),
            gate: Arc::new(SchemaGate::new()),
            options,
            _keep_alive: keep_alive,
        };
        prepare_schema(&store, &store.options).await?;
        Ok(store)
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

    pub(crate) fn executor(&self) -> Executor<'_> {
        Executor::new(&self.pool, &self.target, &self.migrations)
    }

    /// Runs a store operation behind the schema gate: refused with the schema's typed error
    /// when the schema is not usable, and a database error caused by a damaged schema
    /// (a table dropped behind our back) is reported as that damage.
    pub(crate) async fn guarded<T, F, Fut>(&self, write: bool, op: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let exec = self.executor();
        self.gate.ensure(write, || migrate::validate(&exec)).await?;
        match op().await {
            Err(err) => Err(self.gate.explain(err, || migrate::validate(&exec)).await),
            ok => ok,
        }
    }

    /// Forgets the cached schema state after a command that may have changed it.
    fn after_migration(&self, report: Result<MigrationReport>) -> Result<MigrationReport> {
        self.gate.reset();
        report
    }
}

/// Switches the file to WAL (persistent: done once per file, a no-op afterwards). Changing
/// the journal mode needs an exclusive lock that SQLite's busy handler does not wait for, so
/// when several processes open a fresh file at once this retries until the busy timeout.
/// This is the first statement to read the file: its error is mapped as an open error.
async fn enable_wal(
    pool: &SqlitePool,
    target: &str,
    patience: Duration,
) -> std::result::Result<(), sqlx::Error> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(pool)
            .await
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                // E.g. a file system without shared memory: SQLite keeps its rollback journal,
                // which is still correct, only slower for concurrent readers.
                tracing::warn!(target: "pycharter::sqlite", database = target, mode, "WAL journal mode unavailable");
                return Ok(());
            }
            Err(err) if errors::is_busy(&err) && started.elapsed() < patience => {
                tracing::debug!(target: "pycharter::sqlite", database = target, "journal mode busy, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(err) => return Err(err),
        }
    }
}

#[async_trait]
impl SchemaManager for SqliteMetadataStore {
    fn bundled_migrations(&self) -> &[BundledMigration] {
        &self.migrations
    }

    async fn initialize(&self, options: InitializeOptions) -> Result<MigrationReport> {
        let report = migrate::initialize(&self.executor(), options).await;
        self.after_migration(report)
    }

    async fn validate(&self) -> Result<SchemaInfo> {
        let info = migrate::validate(&self.executor()).await?;
        self.gate.record(&info);
        Ok(info)
    }

    async fn current(&self) -> Result<Option<AppliedMigration>> {
        migrate::current(&self.executor()).await
    }

    async fn history(&self) -> Result<Vec<MigrationStatus>> {
        migrate::history(&self.executor()).await
    }

    async fn upgrade(&self, options: UpgradeOptions) -> Result<MigrationReport> {
        let report = migrate::upgrade(&self.executor(), options).await;
        self.after_migration(report)
    }

    async fn downgrade(&self, options: DowngradeOptions) -> Result<MigrationReport> {
        let report = migrate::downgrade(&self.executor(), options).await;
        self.after_migration(report)
    }
}
