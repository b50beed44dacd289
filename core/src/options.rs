//! Options of `connect` and of the migration commands.

use crate::plan::DowngradeTarget;
use semver::Version;
use std::time::Duration;

/// Default of [`ConnectOptions::ddl_lock_timeout`]: long enough for a table lock behind the
/// application's ordinary (millisecond) queries, short enough that queries queued behind a
/// waiting migration statement are delayed by at most that much.
pub const DEFAULT_DDL_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Default of [`ConnectOptions::ddl_lock_retry_for`].
pub const DEFAULT_DDL_LOCK_RETRY_FOR: Duration = Duration::from_secs(60);

/// How a backend connects and what it does to the schema on connect.
///
/// The defaults are PyCharter's: initialize automatically, validate on connect.
///
/// ```
/// use pycharter_core::ConnectOptions;
/// let opts = ConnectOptions::default();
/// assert!(opts.auto_initialize && opts.validate_schema_on_connect);
/// let manual = ConnectOptions { auto_initialize: false, ..ConnectOptions::default() };
/// assert!(!manual.auto_initialize);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Apply pending migrations on connect (uninitialized or older databases).
    pub auto_initialize: bool,
    /// Fail `connect` unless the schema is valid for this build.
    pub validate_schema_on_connect: bool,
    /// Bound on establishing a connection (unreachable servers fail within it).
    pub connect_timeout: Duration,
    /// Bound on each statement (None: the server's default).
    pub statement_timeout: Option<Duration>,
    /// Bound on waiting for another deployer: the migration lock, and an online step
    /// another deployer is running on the same table (None: wait).
    pub lock_timeout: Option<Duration>,
    /// Bound on each migration statement's wait for a table lock (Postgres `lock_timeout`
    /// inside the migration transaction). A statement that needs a strong lock (`ALTER
    /// TABLE`, `DROP INDEX`) waits behind a long-running query, and while it waits every
    /// query of the application queues behind it: past this bound it gives up instead, the
    /// migration is rolled back and retried with backoff (see `ddl_lock_retry_for`). None:
    /// wait (the server's `lock_timeout`). Online statements (`CREATE INDEX CONCURRENTLY`)
    /// are not bounded by it: they never block the application.
    pub ddl_lock_timeout: Option<Duration>,
    /// How long, in total, a migration keeps retrying after statements gave up on a table
    /// lock, before it fails with [`crate::Error::TableLockTimeout`].
    pub ddl_lock_retry_for: Duration,
    /// Database namespace to use (Postgres schema; default `public`).
    pub namespace: Option<String>,
    /// Pool size.
    pub max_connections: u32,
    /// Keep trying to connect for up to this long while the server is unreachable or the
    /// schema is not migrated yet (uninitialized, older, or the migration lock held by a
    /// deployer): an application pod started before its migration Job finished waits
    /// instead of crash-looping. Attempts are one at a time, each bounded by
    /// `connect_timeout`, with a growing pause between them (see [`crate::wait`]). What
    /// waiting cannot fix (a damaged schema, a newer incompatible one, a wrong password)
    /// fails at once. At the deadline, the last attempt's error is returned. None: one
    /// attempt.
    pub wait_for_schema: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            auto_initialize: true,
            validate_schema_on_connect: true,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: None,
            lock_timeout: None,
            ddl_lock_timeout: Some(DEFAULT_DDL_LOCK_TIMEOUT),
            ddl_lock_retry_for: DEFAULT_DDL_LOCK_RETRY_FOR,
            namespace: None,
            max_connections: 10,
            wait_for_schema: None,
        }
    }
}

/// Options of `initialize` (`pycharter db init`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitializeOptions {
    /// Also recreate missing tables and indexes of applied migrations (never drops anything).
    pub force: bool,
    /// Report what would run, change nothing.
    pub dry_run: bool,
}

/// Options of `upgrade` (`pycharter db upgrade`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeOptions {
    /// Stop at this version (default: the newest bundled).
    pub to: Option<Version>,
    /// Report what would run, change nothing.
    pub dry_run: bool,
}

/// Options of `downgrade` (`pycharter db downgrade`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DowngradeOptions {
    /// Where to go.
    pub to: DowngradeTarget,
    /// Report what would run, change nothing.
    pub dry_run: bool,
    /// Drop tables even when they hold rows.
    pub allow_data_loss: bool,
}
