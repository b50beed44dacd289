//! [`MemoryMetadataStore`]: the handle users hold, its constructors, and the two traits.

use crate::state::State;
use pycharter_core::feed::Observers;
use pycharter_core::spec::bundle_logical;
use pycharter_core::{
    connect_with_wait, migrate, prepare_schema, BundledMigration, ConnectOptions,
    InitializeOptions, Result, SchemaGate,
};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// One simulated database, shared by every handle opened on it.
#[derive(Debug)]
pub(crate) struct Database {
    /// Catalog and data. Reads take the read lock only, never across an `.await`.
    state: RwLock<State>,
    /// Serialises everything that changes the database (migrations and data writes), like a
    /// real database's table locks: a migration's copy-then-swap cannot lose a write.
    pub(crate) writer: tokio::sync::Mutex<()>,
    /// The change feed: every handle's writes, published to every handle's observers.
    pub(crate) feed: Observers,
}

impl Database {
    fn new() -> Self {
        Database {
            state: RwLock::new(State::default()),
            writer: tokio::sync::Mutex::new(()),
            feed: Observers::default(),
        }
    }

    // A panic while holding the lock cannot leave `State` half-changed in a way that
    // matters more than the panic itself, so a poisoned lock is used as is.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one handle owns: the database it points at, its own schema gate (as a connection
/// pool would: a second handle validates for itself), and the migrations of its build.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) db: Arc<Database>,
    /// The migrations this handle's build ships (handles of one database may differ, as an
    /// older and a newer release do during a rolling upgrade).
    pub(crate) bundled: Arc<[BundledMigration]>,
    pub(crate) gate: SchemaGate,
    pub(crate) lock_timeout: Option<Duration>,
}

/// The in-memory backend: the same rules as the SQL backends over a simulated catalog.
///
/// Cheap to clone (clones share the database *and* the schema gate); thread-safe; reads
/// never wait for a lock held across an `.await`. Use [`MemoryMetadataStore::new`] in unit
/// tests, the simulation methods ([`MemoryMetadataStore::drop_table`], …) to put the
/// database in any state a real one can be in.
///
/// ```
/// use pycharter_core::prelude::*;
/// use pycharter_memory::MemoryMetadataStore;
/// use serde_json::json;
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pycharter_core::Result<()> {
/// let store: Arc<dyn MetadataStore> = Arc::new(MemoryMetadataStore::new());
/// store.store_schema("orders", "1.9.0", &json!({"type": "object"})).await?;
/// store.store_schema("orders", "1.10.0", &json!({"type": "object"})).await?;
/// let latest = store.get_schema("orders", None).await?.expect("stored");
/// assert_eq!(latest.version.to_string(), "1.10.0");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryMetadataStore {
    pub(crate) inner: Arc<Handle>,
}

/// One database, no replication: a read after a write always sees it, so core's
/// `ReadReplicas` layer has nothing to wait for.
impl pycharter_core::Replicated for MemoryMetadataStore {}

impl Default for MemoryMetadataStore {
    /// Same as [`MemoryMetadataStore::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryMetadataStore {
    /// A new database, initialized to [`pycharter_core::SCHEMA_VERSION`] and valid: what a
    /// unit test wants. Synchronous, so it also works outside an async runtime.
    ///
    /// ```
    /// use pycharter_memory::MemoryMetadataStore;
    /// let store = MemoryMetadataStore::new();
    /// assert_eq!(store.catalog().applied.len(), pycharter_core::MIGRATIONS.len());
    /// ```
    pub fn new() -> Self {
        let store = Self::uninitialized();
        store.initialize_now();
        store
    }

    /// A new, empty database: no version table, no tables. Store calls fail with
    /// [`pycharter_core::Error::NotInitialized`] until it is initialized.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{SchemaManager, SchemaState};
    /// let store = pycharter_memory::MemoryMetadataStore::uninitialized();
    /// assert_eq!(store.validate().await?.state, SchemaState::Uninitialized);
    /// # Ok(())
    /// # }
    /// ```
    pub fn uninitialized() -> Self {
        Self::with_migrations(bundle_logical("memory"))
    }

    /// A new, empty database migrated with `bundled` instead of this build's migrations
    /// (to test what happens with a failing or unusual migration list). A step's SQL must be
    /// the `up_sql` or `down_sql` of one of `bundled`: its effect is to create (or drop) the
    /// tables and indexes that migration names; creating an index of a missing table fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use pycharter_core::{BundledMigration, Error, SchemaManager};
    /// let orphan = BundledMigration::custom("1.0.0", "orphan index")
    ///     .expect("valid version")
    ///     .with_index("idx_schemas_x", "schemas")
    ///     .with_sql("up", "down");
    /// let store = pycharter_memory::MemoryMetadataStore::with_migrations(vec![orphan]);
    /// let err = store.initialize(Default::default()).await.unwrap_err();
    /// assert!(matches!(err, Error::MigrationFailed { .. }));
    /// assert!(!store.catalog().version_table_exists, "rolled back");
    /// # }
    /// ```
    pub fn with_migrations(bundled: Vec<BundledMigration>) -> Self {
        MemoryMetadataStore {
            inner: Arc::new(Handle {
                db: Arc::new(Database::new()),
                bundled: Arc::from(bundled),
                gate: SchemaGate::new(),
                lock_timeout: None,
            }),
        }
    }

    /// Connects to a fresh, empty database the way every backend's `connect` does
    /// ([`pycharter_core::prepare_schema`]): with the defaults it is initialized and
    /// validated; `auto_initialize: false` leaves it empty, and then
    /// `validate_schema_on_connect: true` fails with `NotInitialized`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use pycharter_core::{ConnectOptions, Error};
    /// use pycharter_memory::MemoryMetadataStore;
    /// assert!(MemoryMetadataStore::connect(ConnectOptions::default()).await.is_ok());
    /// let manual = ConnectOptions { auto_initialize: false, ..ConnectOptions::default() };
    /// let err = MemoryMetadataStore::connect(manual).await.unwrap_err();
    /// assert!(matches!(err, Error::NotInitialized { .. }));
    /// # }
    /// ```
    pub async fn connect(options: ConnectOptions) -> Result<Self> {
        Self::uninitialized().reopen(options).await
    }

    /// Opens a second handle on the *same* database, with `options` (as `connect` would on
    /// a real database that already exists). The new handle has its own schema gate and
    /// lock timeout, so it sees the database as a freshly started application would.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{ConnectOptions, MetadataStore, MetadataStoreExt};
    /// use serde_json::json;
    /// let first = pycharter_memory::MemoryMetadataStore::new();
    /// first.store_schema("orders", "1.0.0", &json!({})).await?;
    /// let second = first.reopen(ConnectOptions::default()).await?;
    /// assert!(second.get_schema("orders", Some("1.0.0")).await?.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reopen(&self, options: ConnectOptions) -> Result<Self> {
        self.reopen_with_migrations(options, self.inner.bundled.to_vec())
            .await
    }

    /// [`MemoryMetadataStore::reopen`] as a build that ships `bundled` instead: a handle of
    /// an older or a newer release on the same database (a rolling upgrade, in tests). With
    /// `wait_for_schema`, a schema not migrated yet is re-checked until it runs out, as every
    /// backend's `connect` does ([`pycharter_core::wait`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pycharter_core::Result<()> {
    /// use pycharter_core::{BundledMigration, ConnectOptions, SchemaManager, SchemaState};
    /// let current = pycharter_memory::MemoryMetadataStore::new();
    /// let mut future = current.bundled_migrations().to_vec();
    /// future.push(
    ///     BundledMigration::custom("1.3.0", "adds an index")?
    ///         .with_compatibility("1.2.0")?
    ///         .with_index("idx_schemas_created_at", "schemas")
    ///         .with_sql("-- up 1.3.0", "-- down 1.3.0"),
    /// );
    /// let newer = current.reopen_with_migrations(ConnectOptions::default(), future).await?;
    /// assert_eq!(newer.validate().await?.state, SchemaState::Valid);
    /// assert_eq!(current.validate().await?.state, SchemaState::NewerCompatible);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reopen_with_migrations(
        &self,
        options: ConnectOptions,
        bundled: Vec<BundledMigration>,
    ) -> Result<Self> {
        let bundled: Arc<[BundledMigration]> = Arc::from(bundled);
        connect_with_wait(&options, || async {
            let store = MemoryMetadataStore {
                inner: Arc::new(Handle {
                    db: Arc::clone(&self.inner.db),
                    bundled: Arc::clone(&bundled),
                    gate: SchemaGate::new(),
                    lock_timeout: options.lock_timeout,
                }),
            };
            prepare_schema(&store, &options).await?;
            Ok(store)
        })
        .await
    }

    /// Applies every bundled migration to the empty database with core's migration driver,
    /// synchronously: on a database no one else can see yet, every step completes without
    /// waiting, so one poll runs the whole driver.
    fn initialize_now(&self) {
        // Unconstrained: tokio's cooperative budget could otherwise make the (free) writer
        // lock answer "pending" when this is called from a busy task.
        let mut initialize = pin!(tokio::task::unconstrained(migrate::initialize(
            self,
            InitializeOptions::default()
        )));
        match initialize
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(report) => {
                report.expect("this build's migrations apply to a new, empty database");
            }
            Poll::Pending => unreachable!("nothing else holds a database created a moment ago"),
        }
    }
}
