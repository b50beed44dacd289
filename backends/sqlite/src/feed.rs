//! The change feed of the SQLite backend.
//!
//! - **In-process, precise.** Every write through any store of this process on a file is
//!   published, after it committed and before it returns, to the observers of every store on
//!   that file (a process-wide registry keyed by the file's canonical path).
//! - **Other processes, by polling.** SQLite has no notifications between processes. A
//!   subscriber on a file gets a task that reads `PRAGMA data_version` on a connection of its
//!   own every `sync_every`: the value changes when any *other* connection committed. It
//!   cannot tell what changed (nor whether the writer was this process, whose writes use other
//!   connections), so a change is reported as [`FeedMessage::ChangedUnknown`]; an unchanged
//!   value proves the feed caught up ([`FeedMessage::CaughtUp`]).
//! - An in-memory database is reachable from this process only: its feed is
//!   [`FeedMessage::Live`], no polling.

use crate::store::SqliteMetadataStore;
use pycharter_core::feed::{
    ChangeEvent, ChangeFeed, ChangeObserver, ChangeOp, FeedMessage, Observers,
};
use pycharter_core::{ArtifactKind, ContractVersion};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection, SqliteConnection};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The observers of every file some store of this process subscribed to.
static FILES: LazyLock<Mutex<HashMap<PathBuf, Arc<Observers>>>> = LazyLock::new(Mutex::default);

/// Longest pause between two attempts to reopen the polling connection.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The registry key of the store's database: its file's canonical path (two spellings of one
/// file are one database), else the name as given (an in-memory database's unique name).
fn file_key(options: &SqliteConnectOptions) -> PathBuf {
    let file = options.get_filename();
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

fn observers_of(key: PathBuf) -> Arc<Observers> {
    let mut files = FILES.lock().unwrap_or_else(PoisonError::into_inner);
    files.retain(|_, observers| !observers.is_empty());
    Arc::clone(files.entry(key).or_default())
}

/// Publishes a committed change to the observers of the store's file (none: nothing to do).
pub(crate) fn publish(
    store: &SqliteMetadataStore,
    kind: ArtifactKind,
    name: &str,
    version: &ContractVersion,
    op: ChangeOp,
) {
    let key = file_key(&store.pool.connect_options());
    let observers = FILES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    if let Some(observers) = observers {
        let event = ChangeEvent::new(kind, name, version, op);
        observers.publish(FeedMessage::Changed(&event));
    }
}

impl ChangeFeed for SqliteMetadataStore {
    /// In-process writes are delivered at once; other processes' are polled every
    /// `sync_every` through `PRAGMA data_version` (not for an in-memory database).
    fn subscribe(&self, observer: Weak<dyn ChangeObserver>, sync_every: Duration) {
        let options = (*self.pool.connect_options()).clone();
        observers_of(file_key(&options)).add(observer.clone());
        // After the registration: a write that commits from now on publishes to `observer`.
        let since = Instant::now();
        if in_memory(&options) {
            if let Some(observer) = observer.upgrade() {
                observer.observe(FeedMessage::Live { since });
            }
            return;
        }
        let target = self.target().to_string();
        tokio::spawn(poll(options, observer, sync_every, target));
    }
}

fn in_memory(options: &SqliteConnectOptions) -> bool {
    options
        .to_url_lossy()
        .query_pairs()
        .any(|(key, value)| key == "mode" && value == "memory")
}

/// Polls `PRAGMA data_version` until `observer` is dropped, reopening the connection (with
/// backoff) when it fails.
async fn poll(
    options: SqliteConnectOptions,
    observer: Weak<dyn ChangeObserver>,
    every: Duration,
    target: String,
) {
    let mut backoff = every.min(Duration::from_millis(100));
    while observer.strong_count() > 0 {
        let reason = match session(&options, &observer, every).await {
            Ok(()) => return,
            Err(reason) => reason,
        };
        tracing::warn!(target: "pycharter::sqlite", database = %target, %reason, "change feed lost; retrying");
        if let Some(observer) = observer.upgrade() {
            observer.observe(FeedMessage::Lost { reason: &reason });
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One polling connection: Ok when the observer is gone, Err(reason) when the connection
/// failed.
async fn session(
    options: &SqliteConnectOptions,
    observer: &Weak<dyn ChangeObserver>,
    every: Duration,
) -> Result<(), String> {
    let mut conn = SqliteConnection::connect_with(options)
        .await
        .map_err(|e| format!("cannot open the polling connection: {e}"))?;
    let mut seen = data_version(&mut conn).await?;
    // After the first read: a commit by another connection from now on changes the value.
    let since = Instant::now();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(observer) = observer.upgrade() else {
            return Ok(());
        };
        let up_to = Instant::now();
        let now = data_version(&mut conn).await?;
        if now != seen {
            seen = now;
            observer.observe(FeedMessage::ChangedUnknown);
        }
        observer.observe(FeedMessage::CaughtUp { since, up_to });
    }
}

async fn data_version(conn: &mut SqliteConnection) -> Result<i64, String> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
        .map_err(|e| format!("PRAGMA data_version failed: {e}"))
}
