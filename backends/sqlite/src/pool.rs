//! Opening the database: the sqlx pool with the settings every pycharter SQLite database
//! gets, WAL mode, and the keep-alive connection an in-memory database needs.

use crate::errors;
use crate::url::SqliteUrl;
use pycharter_core::{ConnectOptions, Error, Result};
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Idle pooled connections are closed after this long (sqlx's default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Pooled connections are replaced after this long (sqlx's default).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// For `sqlite::memory:`: a connection outside the pool that is never used, because an
/// in-memory database disappears when its last connection closes, and the pool may close
/// idle ones.
pub(crate) type KeepAlive = Option<Arc<Mutex<SqliteConnection>>>;

/// Opens the pool on `url` (creating the file if missing) and switches the file to WAL.
pub(crate) async fn open(
    url: &SqliteUrl,
    options: &ConnectOptions,
) -> Result<(SqlitePool, KeepAlive)> {
    let file = url.options.get_filename().to_path_buf();
    let open_error = |err| errors::open(&url.target, &file, err);
    let keep_alive = if url.in_memory {
        let conn = SqliteConnection::connect_with(&url.options)
            .await
            .map_err(open_error)?;
        Some(Arc::new(Mutex::new(conn)))
    } else {
        None
    };
    // One connection for an in-memory database: shared-cache locks fail at once instead of
    // waiting on the busy timeout, so connections must not compete there.
    let max_connections = if url.in_memory {
        1
    } else {
        options.max_connections.max(1)
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(options.connect_timeout)
        // No "liveness ping" before every statement (sqlx's default): for SQLite it is a hop
        // to the connection's worker thread that checks nothing, doubling the cost of a read.
        // A local file connection does not die while idle; the idle and lifetime limits
        // (sqlx's defaults, made explicit) still retire unused connections.
        .test_before_acquire(false)
        .idle_timeout(IDLE_TIMEOUT)
        .max_lifetime(MAX_LIFETIME)
        .connect_with(url.options.clone())
        .await
        .map_err(|err| match err {
            sqlx::Error::PoolTimedOut => Error::ConnectTimeout {
                target: url.target.clone(),
                timeout: options.connect_timeout,
            },
            other => open_error(other),
        })?;
    if !url.in_memory {
        enable_wal(&pool, &url.target, url.busy_timeout)
            .await
            .map_err(open_error)?;
    }
    Ok((pool, keep_alive))
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
