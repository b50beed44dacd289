//! Parsing of `sqlite:` URLs into sqlx connect options, with the settings every pycharter
//! SQLite database gets (created if missing, foreign keys on, a busy timeout).

use pycharter_core::{redact_url, ConnectOptions, Error, Result, UrlForms};
use sqlx::sqlite::SqliteConnectOptions;
use std::str::FromStr;
use std::time::Duration;

/// How long a statement waits for another process's write lock when the caller set no
/// `lock_timeout`: long enough for a migration by a concurrent deployer to finish.
pub(crate) const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed database URL.
#[derive(Debug, Clone)]
pub(crate) struct SqliteUrl {
    /// Options for every connection of the pool.
    pub options: SqliteConnectOptions,
    /// `sqlite::memory:` (or `mode=memory`): the database lives as long as a connection does.
    pub in_memory: bool,
    /// The URL as shown in messages.
    pub target: String,
    /// How long statements wait for a lock held by another connection.
    pub busy_timeout: Duration,
}

/// Parses `sqlite://path.db`, `sqlite:path.db`, `sqlite:///abs/path.db` or `sqlite::memory:`
/// (query parameters as sqlx accepts them, e.g. `?mode=ro`).
pub(crate) fn parse(url: &str, connect: &ConnectOptions) -> Result<SqliteUrl> {
    let target = redact_url(url);
    let invalid = |reason: &str| Error::InvalidUrl {
        url: target.clone(),
        reason: reason.to_string(),
        accepted: UrlForms::Sqlite,
    };
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| invalid("a SQLite URL starts with sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() && !query.contains("mode=memory") {
        return Err(invalid("no database file path after sqlite:"));
    }
    if url.contains('\0') {
        return Err(invalid("contains a NUL character"));
    }
    let in_memory = path == ":memory:" || query.contains("mode=memory");

    let busy_timeout = connect
        .lock_timeout
        .unwrap_or(DEFAULT_BUSY_TIMEOUT)
        // sqlx passes the timeout to SQLite as i32 milliseconds and panics above that.
        .min(Duration::from_millis(i32::MAX as u64));
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| invalid(&e.to_string()))?
        // `pycharter db init` must work on a fresh machine; sqlx still opens a `mode=ro`
        // URL read-only (its read-only flag wins over this one).
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(busy_timeout);
    Ok(SqliteUrl {
        options,
        in_memory,
        target,
        busy_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(url: &str) -> String {
        parse(url, &ConnectOptions::default())
            .unwrap()
            .options
            .get_filename()
            .display()
            .to_string()
    }

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(file_of("sqlite://pycharter.db"), "pycharter.db");
        assert_eq!(file_of("sqlite:pycharter.db"), "pycharter.db");
        assert_eq!(file_of("sqlite:///tmp/x/p.db"), "/tmp/x/p.db");
        let memory = parse("sqlite::memory:", &ConnectOptions::default()).unwrap();
        assert!(memory.in_memory);
        assert_eq!(memory.target, "sqlite::memory:");
    }

    #[test]
    fn rejects_malformed_urls() {
        for url in [
            "postgres://u@h/db",
            "pycharter.db",
            "sqlite://",
            "sqlite:",
            "sqlite://x.db?bogus=1",
            "sqlite://x.db?mode=sideways",
        ] {
            let err = parse(url, &ConnectOptions::default()).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err}");
        }
    }

    #[test]
    fn a_foreign_url_lists_only_the_sqlite_forms() {
        let err = parse("mysql://u:hunter2@h/db", &ConnectOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid database URL mysql://u:***@h/db: a SQLite URL starts with sqlite: \
             — use sqlite://PATH, sqlite:///ABSOLUTE/PATH or sqlite::memory:"
        );
    }

    #[test]
    fn busy_timeout_follows_lock_timeout() {
        let opts = ConnectOptions {
            lock_timeout: Some(Duration::from_millis(250)),
            ..ConnectOptions::default()
        };
        assert_eq!(
            parse("sqlite:a.db", &opts).unwrap().busy_timeout,
            Duration::from_millis(250)
        );
        assert_eq!(
            parse("sqlite:a.db", &ConnectOptions::default())
                .unwrap()
                .busy_timeout,
            DEFAULT_BUSY_TIMEOUT
        );
    }
}
