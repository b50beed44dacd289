//! [`PostgresMetadataStore`]: the handle users hold and its constructors. Its
//! [`pycharter_core::MetadataStore`] and [`SchemaManager`] behaviour is core's, over this
//! crate's primitives (`artifacts`, `executor`).

use crate::connector::{Candidate, Connector};
use crate::errors::ErrorContext;
use crate::executor::LockStrategy;
use crate::hosts::TargetSessionAttrs;
use crate::pool::{first_operation, pool_options};
use crate::url::{self, Settings};
use pycharter_core::{
    connect_with_wait, prepare_schema, spec, BundledMigration, ConnectOptions, InitializeOptions,
    MigrationReport, Result, SchemaGate, SchemaInfo, SchemaManager,
};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// The embedded migrations, `(up, down)` in the order of [`pycharter_core::MIGRATIONS`].
const SQL: [(&str, &str); 3] = [
    (
        include_str!("../migrations/1.0.0.up.sql"),
        include_str!("../migrations/1.0.0.down.sql"),
    ),
    (
        include_str!("../migrations/1.1.0.up.sql"),
        include_str!("../migrations/1.1.0.down.sql"),
    ),
    (
        include_str!("../migrations/1.2.0.up.sql"),
        include_str!("../migrations/1.2.0.down.sql"),
    ),
];

/// SQL a migration shipped before it was re-expressed, `(version, up SQL)`: databases
/// migrated with it keep validating ([`BundledMigration::accepting_earlier_sql`]).
const SUPERSEDED: [(&str, &str); 1] = [(
    // A plain CREATE INDEX, which blocked every write to `schemas` while it built; now built
    // online (CREATE INDEX CONCURRENTLY), same index.
    "1.1.0",
    include_str!("../migrations/superseded/1.1.0.up.sql"),
)];

/// Data-contract metadata in PostgreSQL.
///
/// Cheap to clone (the clones share one pool and one schema gate); inject it as
/// `Arc<dyn MetadataStore>`. Every operation is admitted by a [`SchemaGate`], so an
/// uninitialized, outdated, newer or damaged schema yields its typed error, never raw SQL.
///
/// ```no_run
/// use pycharter_core::{MetadataStore, MetadataStoreExt, SchemaManager};
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: PgPool,
    pub(crate) bundled: Arc<[BundledMigration]>,
    pub(crate) errors: Arc<ErrorContext>,
    /// Configured namespace: created (under the lock) when it does not exist yet.
    pub(crate) namespace: Option<String>,
    pub(crate) lock_timeout: Option<Duration>,
    /// `lock_timeout` of migration statements (see [`ConnectOptions::ddl_lock_timeout`]).
    pub(crate) ddl_lock_timeout: Option<Duration>,
    pub(crate) ddl_lock_retry_for: Duration,
    pub(crate) gate: SchemaGate,
    /// False when the URL sets `statement-cache-capacity=0`: use unnamed statements.
    pub(crate) persistent: bool,
    /// Which host the pool connects to (multi-host URLs, `target_session_attrs`).
    pub(crate) connector: Arc<Connector>,
    /// How migration commands exclude each other.
    pub(crate) lock: LockStrategy,
}

// Hand-written: the pool's connect options hold the password.
impl std::fmt::Debug for PostgresMetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresMetadataStore")
            .field("database", &self.target())
            .field("namespace", &self.inner.namespace)
            .field("migrations", &self.inner.bundled.len())
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
    /// - `wait_for_schema`: an unreachable server and a schema not migrated yet are retried,
    ///   one attempt at a time, until it runs out ([`pycharter_core::wait`]).
    /// - `namespace` and `statement_timeout` are sent as startup options of every connection
    ///   (`search_path`, `statement_timeout`; a missing namespace is created by the first
    ///   migration). `lock_timeout` bounds the wait for another deployer (the migration
    ///   lock, or its online step on the same table); `ddl_lock_timeout` (default 2 s) the
    ///   table locks of each migration statement, which gives up rather than queue in front
    ///   of the application's queries, the migration being retried with backoff for up to
    ///   `ddl_lock_retry_for`; `statement_timeout` bounds every statement, migration steps
    ///   included, except the wait for the migration lock.
    /// - TLS: the URL's `sslmode` (`disable`, `prefer` (default), `require`, `verify-ca`,
    ///   `verify-full`) and `sslrootcert`; a failure is [`Error::Tls`] naming the problem.
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
        connect_with_wait(&options, || {
            Self::connect_once(url, options.clone(), migrations.clone())
        })
        .await
    }

    /// One connection attempt ([`connect_with_wait`] repeats it while waiting for the
    /// schema): a new pool, closed again when the attempt fails.
    async fn connect_once(
        url: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<Self> {
        let Settings {
            candidates,
            attrs,
            errors,
            persistent,
            namespace,
            lock,
        } = url::settings(url, &options)?;
        let errors = Arc::new(errors);
        let connector = Arc::new(Connector::new(candidates, attrs, Arc::clone(&errors)));
        let connected = Arc::new(AtomicBool::new(false));
        let pool = pool_options(&options, Arc::clone(&connected), Arc::clone(&connector))
            .connect_lazy_with(connector.initial_options());
        if connector.steers() {
            // libpq's selection before the first connection: hosts in order, each attempt
            // bounded by the connect timeout; the error names every host's reason.
            if let Err(err) = connector.reselect(&pool).await {
                pool.close().await;
                return Err(err);
            }
            tracing::debug!(target: "pycharter::postgres", database = errors.target(), host = connector.current_label(), %attrs, "selected host");
        }
        let store = PostgresMetadataStore {
            inner: Arc::new(Inner {
                pool,
                bundled: migrations.into(),
                errors,
                namespace,
                lock_timeout: options.lock_timeout,
                ddl_lock_timeout: options.ddl_lock_timeout,
                ddl_lock_retry_for: options.ddl_lock_retry_for,
                gate: SchemaGate::new(),
                persistent,
                connector,
                lock,
            }),
        };
        let schema_work = options.auto_initialize || options.validate_schema_on_connect;
        let first = async {
            if schema_work {
                prepare_schema(&store, &options).await
            } else {
                // prepare_schema has nothing to do: still make sure the database can be used
                // (the connection goes back to the pool for the first operation).
                store.acquire().await?;
                Ok(None)
            }
        };
        let outcome = first_operation(first, store.pool(), store.errors(), &connected).await;
        match outcome {
            Ok(info) => {
                let state = info.map(|i| i.state);
                tracing::info!(target: "pycharter::postgres", database = store.target(), ?state, "connected");
                Ok(store)
            }
            Err(err) => {
                store.inner.pool.close().await;
                Err(err)
            }
        }
    }

    /// A store over an existing pool, with this build's migrations, touching nothing (what
    /// [`crate::initialize_schema`] and [`crate::validate_schema`] run on). Tables live in
    /// the `current_schema()` of the pool's connections.
    pub fn from_pool(pool: PgPool) -> Self {
        let options = pool.connect_options();
        // Built from the parts, without the password: a pool cannot give its URL back.
        let target = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        let errors = Arc::new(
            ErrorContext::new(target, Vec::new(), pool.options().get_acquire_timeout())
                .with_endpoint(&options),
        );
        // The pool connects where it was told: nothing to steer.
        let only = Candidate {
            label: format!("{}:{}", options.get_host(), options.get_port()),
            options: (*options).clone(),
        };
        let connector = Connector::new(vec![only], TargetSessionAttrs::Any, Arc::clone(&errors));
        PostgresMetadataStore {
            inner: Arc::new(Inner {
                pool,
                bundled: Self::migrations().into(),
                errors,
                namespace: None,
                lock_timeout: None,
                ddl_lock_timeout: ConnectOptions::default().ddl_lock_timeout,
                ddl_lock_retry_for: ConnectOptions::default().ddl_lock_retry_for,
                gate: SchemaGate::new(),
                persistent: true,
                connector: Arc::new(connector),
                lock: LockStrategy::default(),
            }),
        }
    }

    /// The migrations embedded in this build (SQL under `backends/postgres/migrations/`),
    /// each accepting the SQL it shipped before (`migrations/superseded/`).
    pub fn migrations() -> Vec<BundledMigration> {
        // One SQL pair per entry of MIGRATIONS, checked by this crate's tests: failing here
        // is a build defect, not a runtime condition.
        let bundled = spec::bundle(&SQL).expect("one (up, down) SQL pair per entry of MIGRATIONS");
        bundled
            .into_iter()
            .map(|m| {
                let version = m.version.to_string();
                SUPERSEDED
                    .iter()
                    .filter(|(v, _)| *v == version)
                    .fold(m, |m, (_, sql)| m.accepting_earlier_sql(sql))
            })
            .collect()
    }

    /// The connection pool (for [`crate::initialize_schema`] / [`crate::validate_schema`] or
    /// your own queries).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The database URL with its password redacted, as every message shows it.
    pub fn target(&self) -> &str {
        self.inner.errors.target()
    }

    /// The schema's [`SchemaInfo`], under PyCharter's name for it (same as
    /// [`SchemaManager::validate`]).
    pub async fn get_schema_info(&self) -> Result<SchemaInfo> {
        self.validate().await
    }

    /// Closes the pool's connections; later operations fail.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    pub(crate) fn errors(&self) -> &ErrorContext {
        &self.inner.errors
    }

    pub(crate) fn persistent(&self) -> bool {
        self.inner.persistent
    }

    /// A pooled connection to the selected host (see `connector`).
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<Postgres>> {
        let inner = &self.inner;
        match inner.connector.acquire(&inner.pool).await {
            Ok(conn) => Ok(conn),
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Maps a failed statement's error, and lets the connector know when the host failed us.
    pub(crate) fn fail(&self, err: sqlx::Error) -> pycharter_core::Error {
        let err = self.inner.errors.map(err);
        self.inner.connector.observe(&err);
        err
    }

    /// `host:port` of the server the pool connects to (of the URL's hosts, the one selected
    /// by `target_session_attrs`).
    pub fn connected_host(&self) -> &str {
        self.inner.connector.current_label()
    }

    /// The migration lock strategy (`migration_lock=` in the URL; default advisory).
    pub fn lock_strategy(&self) -> LockStrategy {
        self.inner.lock
    }
}

/// Applies this build's pending migrations to the database of `pool`, as PyCharter's
/// `initialize_schema(conn)` does for its "manual initialization" pattern (one transaction
/// under the migration lock; idempotent, safe to race).
/// Tables go to the `current_schema()` of the pool's connections.
///
/// ```no_run
/// # async fn demo() -> pycharter_core::Result<()> {
/// let pool = pycharter_postgres::PgPool::connect("postgres://app:secret@db/app").await.expect("pool");
/// let report = pycharter_postgres::initialize_schema(&pool).await?;
/// println!("{}", report.message);
/// # Ok(()) }
/// ```
pub async fn initialize_schema(pool: &PgPool) -> Result<MigrationReport> {
    PostgresMetadataStore::from_pool(pool.clone())
        .initialize(InitializeOptions::default())
        .await
}

/// The [`SchemaInfo`] of the database of `pool`, as PyCharter's `validate_schema(conn)` returns
/// it (one catalog round trip; an invalid schema is a result, not an error).
///
/// ```no_run
/// # async fn demo() -> pycharter_core::Result<()> {
/// let pool = pycharter_postgres::PgPool::connect("postgres://app:secret@db/app").await.expect("pool");
/// let info = pycharter_postgres::validate_schema(&pool).await?;
/// if !info.valid {
///     eprintln!("{}", info.message);
/// }
/// # Ok(()) }
/// ```
pub async fn validate_schema(pool: &PgPool) -> Result<SchemaInfo> {
    PostgresMetadataStore::from_pool(pool.clone())
        .validate()
        .await
}
