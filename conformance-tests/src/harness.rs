//! What a backend provides so the suite can run on it: [`BackendHarness`], the [`Damage`]
//! it can do behind the library's back, and a [`HeldLock`] standing for another deployer.

use crate::capability::{unsupported, Capability};
use async_trait::async_trait;
use pycharter_core::{
    BundledMigration, ConnectOptions, MetadataStore, MigrationExecutor, Result, SchemaManager,
};
use std::collections::BTreeSet;
use std::future::Future;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A change made to a database behind the library's back (raw SQL on a real backend), to
/// reach the states a real deployment can be in. Table names are core's
/// ([`pycharter_core::VERSION_TABLE`], [`pycharter_core::ArtifactKind::table`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage<'a> {
    /// `DROP TABLE <name>` (its rows and indexes go with it; for the version table, the
    /// record of every applied migration).
    DropTable(&'a str),
    /// `DROP INDEX <name>`.
    DropIndex(&'a str),
    /// Insert a row into the version table, as a newer pycharter build would
    /// (any description, `applied_at` now, `execution_ms` 0).
    RecordVersion {
        /// Version string to record, e.g. `9.0.0`.
        version: &'a str,
        /// Checksum to record.
        checksum: &'a str,
    },
    /// Overwrite the checksum recorded for an applied migration.
    SetChecksum {
        /// Version whose row is edited.
        version: &'a str,
        /// The new checksum.
        checksum: &'a str,
    },
    /// Delete the version row of an applied migration, leaving its tables (a hand edit).
    ForgetVersion(&'a str),
}

/// What a backend provides so the suite can run on it: create and open databases, and reach
/// past the library to damage or inspect them. See the crate docs for a complete harness.
#[async_trait]
pub trait BackendHarness: Send + Sync {
    /// The backend's store (one type implements both traits, as in production).
    type Store: MetadataStore + SchemaManager + Clone + 'static;

    /// A new, empty database (nothing created in it); returns an opaque locator (URL).
    async fn new_database(&self) -> String;

    /// Opens `database` with `options` (this is the backend's `connect`). Opening the same
    /// locator twice gives two independent handles on one database.
    async fn open(&self, database: &str, options: ConnectOptions) -> Result<Self::Store>;

    /// Damages the database behind the library's back (raw SQL on real backends). Panics
    /// when the damage cannot be done (nothing to drop, no row to edit): the case cannot
    /// run without it.
    async fn damage(&self, database: &str, damage: Damage<'_>);

    /// Rows of the six artifact tables together ([`pycharter_core::ArtifactKind::ALL`]'s
    /// tables), counted behind the library's back (raw SQL on real backends), so a case can
    /// prove that a refused call wrote nothing. The database is initialized.
    async fn row_count(&self, database: &str) -> u64;

    /// Names of every table and index in `database` (implicit ones included where the
    /// backend has them), read behind the library's back: to prove that a failed or refused
    /// command left no object behind.
    async fn objects(&self, database: &str) -> BTreeSet<String>;

    /// Takes the backend's migration lock on `database` the way another deployer would (its
    /// own connection, or [`HeldLock::by_executor`] where nothing outside the library can
    /// reach the lock), and returns once the lock is held.
    async fn hold_migration_lock(&self, database: &str) -> HeldLock;

    /// Opens `database` like [`BackendHarness::open`], as a build that ships `migrations`
    /// instead of this one's (the backend's `connect_with_migrations`): an older or a newer
    /// release on the same database, as during a rolling upgrade. The migrations' SQL is
    /// the backend's to run (the cases write portable SQL; the in-memory backend reads a
    /// migration's declared tables and indexes instead).
    async fn open_with_migrations(
        &self,
        database: &str,
        options: ConnectOptions,
        migrations: Vec<BundledMigration>,
    ) -> Result<Self::Store>;

    /// A migration at `version`, in this backend's SQL, whose first statement creates table
    /// `table` and whose second fails. Capability
    /// [`failing_migrations`](Capability::FailingMigrations); by default unsupported.
    fn failing_migration(&self, _version: &str, _table: &str) -> FailingMigration {
        unsupported(Capability::FailingMigrations)
    }
}

/// A migration that fails halfway, from [`BackendHarness::failing_migration`].
#[derive(Debug, Clone)]
pub struct FailingMigration {
    /// The migration (it declares the table its first statement creates).
    pub migration: BundledMigration,
    /// A fragment of the database's error for the failing statement (e.g.
    /// `division by zero`), which the `MigrationFailed` reason must carry.
    pub reason: &'static str,
}

/// The migration lock, held by a task standing for another deployer until
/// [`release`](HeldLock::release) (or drop).
#[derive(Debug)]
pub struct HeldLock {
    release: Option<oneshot::Sender<()>>,
    holder: JoinHandle<()>,
}

/// Given to the task that holds a [`HeldLock`]: call [`hold_until_released`] once the lock
/// is taken.
///
/// [`hold_until_released`]: LockSignal::hold_until_released
#[derive(Debug)]
pub struct LockSignal {
    acquired: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

impl LockSignal {
    /// Tells [`HeldLock::spawn`] that the lock is held, then waits until the lock is to be
    /// released (the holder releases it when this returns).
    pub async fn hold_until_released(self) {
        // The receiver only goes away when `spawn` was cancelled; then release right away.
        let _ = self.acquired.send(());
        let _ = self.release.await;
    }
}

impl HeldLock {
    /// Runs `holder` on its own task and returns once it has taken the lock (called
    /// [`LockSignal::hold_until_released`]). A holder that panics before that fails the case
    /// with its own panic.
    pub async fn spawn<F, Fut>(holder: F) -> HeldLock
    where
        F: FnOnce(LockSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (acquired, acquired_rx) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        let holder = tokio::spawn(holder(LockSignal {
            acquired,
            release: release_rx,
        }));
        if acquired_rx.await.is_err() {
            // The holder ended without taking the lock: surface its panic.
            match holder.await {
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                other => panic!("the lock holder ended without taking the lock: {other:?}"),
            }
        }
        HeldLock {
            release: Some(release),
            holder,
        }
    }

    /// Holds the lock through the library's own migration transaction
    /// ([`MigrationExecutor::begin`] on `executor`, rolled back on release): for backends
    /// whose lock nothing outside the library can take (the in-memory one).
    pub async fn by_executor<E>(executor: E) -> HeldLock
    where
        E: MigrationExecutor + 'static,
    {
        HeldLock::spawn(|lock| async move {
            let transaction = executor
                .begin()
                .await
                .expect("take the migration lock through the executor");
            lock.hold_until_released().await;
            transaction
                .rollback()
                .await
                .expect("roll back the holding transaction");
        })
        .await
    }

    /// Releases the lock and waits until the holder has let it go (a holder that panicked
    /// fails the case with its panic).
    pub async fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
        if let Err(err) = (&mut self.holder).await {
            if err.is_panic() {
                std::panic::resume_unwind(err.into_panic());
            }
            panic!("the lock holder was cancelled: {err}");
        }
    }
}
