//! [`PostgresMetadataStore`]: connecting, and the [`SchemaManager`] half (delegated to core's
//! migration driver). The [`pycharter_core::MetadataStore`] half lives in `artifacts`.

use crate::config::{self, Settings};
use crate::error::ErrorContext;
use crate::executor::PgMigrator;
use crate::pool::{first_operation, pool_options};
use async_trait::async_trait;
use pycharter_core::migrate;
use pycharter_core::{
    prepare_schema, spec, AppliedMigration, BundledMigration, ConnectOptions, DowngradeOptions,
    Error, InitializeOptions, MigrationReport, MigrationStatus, Result, SchemaGate, SchemaInfo,
    SchemaManager, UpgradeOptions,
};
use sqlx::PgPool;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The embedded migrations, `(up, down)` in the order of [`pycharter_core::MIGRATIONS`].
const SQL: [(&str, &str); 2] = [
    (
        include_str!("../migrations/1.0.0.up.sql"),
        include_str!("../migrations/1.0.0.down.sql"),
    ),
    (
        include_str!("../migrations/1.1.0.up.sql"),
        include_str!("../migrations/1.1.0.down.sql"),
    ),
];

/// Data-contract metadata in PostgreSQL.
///
/// Cheap to clone (the clones share one pool and one schema gate); inject it as
/// `Arc<dyn MetadataStore>`. Every operation is admitted by a [`SchemaGate`], so an
/// uninitialized, outdated, newer or damaged schema yields its typed error, never raw SQL.
///
/// ```no_run
/// use pycharter_core::{MetadataStore, SchemaManager};
/// use pycharter_postgres::PostgresMetadataStore;
/// use serde_json::json;
///
/// # async fn demo() -> pycharter_core::Result<()> {
/// // Defaults: initialize the schema if needed, then refuse to start unless it is valid.
/// let store = PostgresMetadataStore::new("postgres://app:secret@db:5432/contracts").await?;
/// store.store_schema("orders", "1.0.0", &json!({"type": "object"})).await?;
/// assert!(store.validate().await?.valid);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresMetadataStore {
    inner: Arc<Inner>,
}

struct Inner {
    migrator: PgMigrator,
    gate: SchemaGate,
    /// False when the URL sets `statement-cache-capacity=0`: use unnamed statements.
    persistent: bool,
}

// Hand-written: the pool's connect options hold the password.
impl std::fmt::Debug for PostgresMetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresMetadataStore")
            .field("database", &self.target())
            .field("namespace", &self.inner.migrator.namespace)
            .field("migrations", &self.inner.migrator.bundled.len())
            .finish_non_exhaustive()
    }
}

impl PostgresMetadataStore {
    /// [`PostgresMetadataStore::connect`] with [`ConnectOptions::default()`]: initialize the
    /// schema when it is missing or older, then fail unless it is valid.
    pub async fn new(url: &str) -> Result<Self> {
        Self::connect(url, ConnectOptions::default()).await
    }

    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=require]`),
    /// then does what `options` ask to the schema (see [`prepare_schema`]).
    ///
    /// - Unreachable server: [`Error::Unreachable`] or [`Error::ConnectTimeout`], within
    ///   `connect_timeout`; wrong credentials: [`Error::AuthenticationFailed`]. No error or
    ///   log line contains the password.
    /// - `namespace` and `statement_timeout` are sent as startup options of every connection
    ///   (`search_path`, `statement_timeout`; a missing namespace is created by the first
    ///   migration). `lock_timeout` bounds the wait for the migration lock, and the table
    ///   locks of migration steps; `statement_timeout` bounds every statement, migration
    ///   steps included, except the wait for the migration lock.
    /// - TLS: the URL's `sslmode` (`disable`, `prefer` (default), `require`, `verify-ca`,
    ///   `verify-full`) and `sslrootcert`.
    /// - Behind PgBouncer in transaction mode, add `statement-cache-capacity=0` to the URL:
    ///   queries then use unnamed statements only (see the crate documentation).
    ///
    /// ```no_run
    /// use pycharter_core::ConnectOptions;
    /// use pycharter_postgres::PostgresMetadataStore;
    /// use std::time::Duration;
    ///
    /// # async fn demo() -> pycharter_core::Result<()> {
    /// let options = ConnectOptions {
    ///     auto_initialize: false, // deployments run `pycharter db upgrade` instead
    ///     namespace: Some("contracts".into()),
    ///     statement_timeout: Some(Duration::from_secs(5)),
    ///     ..ConnectOptions::default()
    /// };
    /// let store = PostgresMetadataStore::connect("postgres://app:secret@db/app", options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Self> {
        Self::connect_with_migrations(url, options, Self::migrations()).await
    }

    /// [`PostgresMetadataStore::connect`] with another migration list than this build's
    /// (tests use it for failing or slow migrations; see [`BundledMigration::custom`]).
    pub async fn connect_with_migrations(
        url: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<Self> {
        let Settings {
            connect,
            errors,
            persistent,
            namespace,
        } = config::settings(url, &options)?;
        let connected = Arc::new(AtomicBool::new(false));
        let pool = pool_options(&options, Arc::clone(&connected)).connect_lazy_with(connect);
        let store = PostgresMetadataStore {
            inner: Arc::new(Inner {
                migrator: PgMigrator {
                    pool,
                    bundled: migrations.into(),
                    errors: Arc::new(errors),
                    namespace,
                    lock_timeout: options.lock_timeout,
                },
                gate: SchemaGate::new(),
                persistent,
            }),
        };
        let schema_work = options.auto_initialize || options.validate_schema_on_connect;
        let first = async {
            if schema_work {
                prepare_schema(&store, &options).await
            } else {
                // prepare_schema has nothing to do: still make sure the database can be used
                // (the connection goes back to the pool for the first operation).
                let pool = store.pool();
                pool.acquire().await.map_err(|e| store.errors().map(e))?;
                Ok(None)
            }
        };
        let outcome = first_operation(first, &store, &connected).await;
        match outcome {
            Ok(info) => {
                let state = info.map(|i| i.state);
                tracing::info!(target: "pycharter::postgres", database = store.target(), ?state, "connected");
                Ok(store)
            }
            Err(err) => {
                store.inner.migrator.pool.close().await;
                Err(err)
            }
        }
    }

    /// The migrations embedded in this build (SQL under `backends/postgres/migrations/`).
    pub fn migrations() -> Vec<BundledMigration> {
        // Two SQL pairs for the two entries of MIGRATIONS, checked by this crate's tests:
        // failing here is a build defect, not a runtime condition.
        spec::bundle(&SQL).expect("one (up, down) SQL pair per entry of MIGRATIONS")
    }

    /// The connection pool (for the seed's free functions or your own queries).
    pub fn pool(&self) -> &PgPool {
        &self.inner.migrator.pool
    }

    /// The database URL with its password redacted, as every message shows it.
    pub fn target(&self) -> &str {
        self.inner.migrator.errors.target()
    }

    /// The seed's name for [`SchemaManager::validate`]: the schema's [`SchemaInfo`].
    pub async fn get_schema_info(&self) -> Result<SchemaInfo> {
        self.validate().await
    }

    /// Closes the pool's connections; later operations fail.
    pub async fn close(&self) {
        self.inner.migrator.pool.close().await;
    }

    pub(crate) fn errors(&self) -> &ErrorContext {
        &self.inner.migrator.errors
    }

    pub(crate) fn persistent(&self) -> bool {
        self.inner.persistent
    }

    /// Runs a store operation behind the schema gate: refused with the schema's typed error
    /// when it is not valid (reads are allowed on a newer schema), and a database error is
    /// explained by a fresh validation (a table dropped behind our back, say).
    pub(crate) async fn guarded<T, F, Fut>(&self, write: bool, op: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let migrator = &self.inner.migrator;
        self.inner
            .gate
            .ensure(write, || migrate::validate(migrator))
            .await?;
        match op().await {
            Err(err @ Error::Database { .. }) => Err(self
                .inner
                .gate
                .explain(err, || migrate::validate(migrator))
                .await),
            other => other,
        }
    }

    /// Forgets the cached schema state after a migration command, whatever its outcome.
    fn migrated<T>(&self, result: Result<T>) -> Result<T> {
        self.inner.gate.reset();
        result
    }
}

#[async_trait]
impl SchemaManager for PostgresMetadataStore {
    fn bundled_migrations(&self) -> &[BundledMigration] {
        &self.inner.migrator.bundled
    }

    async fn initialize(&self, options: InitializeOptions) -> Result<MigrationReport> {
        self.migrated(migrate::initialize(&self.inner.migrator, options).await)
    }

    async fn validate(&self) -> Result<SchemaInfo> {
        let info = migrate::validate(&self.inner.migrator).await?;
        self.inner.gate.record(&info);
        Ok(info)
    }

    async fn current(&self) -> Result<Option<AppliedMigration>> {
        migrate::current(&self.inner.migrator).await
    }

    async fn history(&self) -> Result<Vec<MigrationStatus>> {
        migrate::history(&self.inner.migrator).await
    }

    async fn upgrade(&self, options: UpgradeOptions) -> Result<MigrationReport> {
        self.migrated(migrate::upgrade(&self.inner.migrator, options).await)
    }

    async fn downgrade(&self, options: DowngradeOptions) -> Result<MigrationReport> {
        self.migrated(migrate::downgrade(&self.inner.migrator, options).await)
    }
}

/// The seed's "manual initialization": applies this build's pending migrations to the
/// database of `pool` (one transaction under the migration lock; idempotent, safe to race).
/// Tables go to the `current_schema()` of the pool's connections.
///
/// ```no_run
/// # async fn demo() -> pycharter_core::Result<()> {
/// let pool = sqlx::PgPool::connect("postgres://app:secret@db/app").await.expect("pool");
/// let report = pycharter_postgres::initialize_schema(&pool).await?;
/// println!("{}", report.message);
/// # Ok(()) }
/// ```
pub async fn initialize_schema(pool: &PgPool) -> Result<MigrationReport> {
    migrate::initialize(&migrator_for(pool), InitializeOptions::default()).await
}

/// The seed's "validation only": the [`SchemaInfo`] of the database of `pool` (one catalog
/// round trip; an invalid schema is a result, not an error).
///
/// ```no_run
/// # async fn demo() -> pycharter_core::Result<()> {
/// let pool = sqlx::PgPool::connect("postgres://app:secret@db/app").await.expect("pool");
/// let info = pycharter_postgres::validate_schema(&pool).await?;
/// if !info.valid {
///     eprintln!("{}", info.message);
/// }
/// # Ok(()) }
/// ```
pub async fn validate_schema(pool: &PgPool) -> Result<SchemaInfo> {
    migrate::validate(&migrator_for(pool)).await
}

fn migrator_for(pool: &PgPool) -> PgMigrator {
    let options = pool.connect_options();
    // Built from the parts, without the password: a pool cannot give its URL back.
    let target = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    PgMigrator {
        pool: pool.clone(),
        bundled: PostgresMetadataStore::migrations().into(),
        errors: Arc::new(ErrorContext::new(
            target,
            Vec::new(),
            pool.options().get_acquire_timeout(),
        )),
        namespace: None,
        lock_timeout: None,
    }
}
