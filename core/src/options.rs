//! Options of `connect` and of the migration commands.

use crate::plan::DowngradeTarget;
use semver::Version;
use std::time::Duration;

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
    /// Bound on waiting for the migration lock (None: wait).
    pub lock_timeout: Option<Duration>,
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
