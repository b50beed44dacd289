//! The one place sqlx errors become pycharter errors, so every path words them the same.

use pycharter_core::{Error, Privilege};
use std::path::Path;

/// SQLite primary result codes we react to (<https://www.sqlite.org/rescode.html>).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_NOTADB: i32 = 26;

/// The primary result code of a database error (sqlx reports the extended one, whose low
/// byte is the primary code).
fn primary_code(err: &sqlx::Error) -> Option<i32> {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff),
        _ => None,
    }
}

/// True when another connection holds the lock and the busy timeout ran out.
pub(crate) fn is_busy(err: &sqlx::Error) -> bool {
    matches!(primary_code(err), Some(SQLITE_BUSY | SQLITE_LOCKED))
}

/// True when the migration's statement failed because the version table is not there yet.
pub(crate) fn is_missing_table(err: &sqlx::Error, table: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => db.message().contains(&format!("no such table: {table}")),
        _ => false,
    }
}

/// The operating-system user this process runs as, as [`Error::InsufficientPrivilege`]
/// names it (SQLite has no roles: the file's permissions decide).
fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| "the user of this process".to_string())
}

/// Any failure of an operation on an open database. A read-only database (`SQLITE_READONLY`:
/// the file or its directory is not writable by this process, or the URL has `mode=ro`) is
/// [`Error::InsufficientPrivilege`]; core's migration driver makes it a deploy-role fix.
pub(crate) fn database(target: &str, err: sqlx::Error) -> Error {
    if primary_code(&err) == Some(SQLITE_READONLY) {
        return Error::InsufficientPrivilege {
            role: os_user(),
            right: "write the database (the file or its directory is read-only to this \
                    process, or the URL has mode=ro)"
                .to_string(),
            privilege: Privilege::Data,
            target: target.to_string(),
        };
    }
    let reason = match &err {
        sqlx::Error::Database(db) => match primary_code(&err) {
            Some(SQLITE_BUSY | SQLITE_LOCKED) => format!(
                "{} (another process held the write lock for longer than the busy timeout)",
                db.message()
            ),
            _ => db.message().to_string(),
        },
        sqlx::Error::PoolTimedOut => {
            "timed out waiting for a free pooled connection (raise max_connections)".to_string()
        }
        other => other.to_string(),
    };
    Error::Database {
        target: target.to_string(),
        reason,
    }
}

/// A failure while opening the database file (connecting, or the first statement, which
/// is when SQLite reads the file header): a file that cannot be opened or is not a SQLite
/// database is [`Error::Unreachable`] naming the path; anything else as [`database`].
pub(crate) fn open(target: &str, file: &Path, err: sqlx::Error) -> Error {
    let detail = match &err {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    let reason = match primary_code(&err) {
        Some(SQLITE_CANTOPEN) => format!(
            "cannot open the SQLite database file {} ({detail}); check that its directory exists and is writable",
            file.display()
        ),
        Some(SQLITE_NOTADB) => format!(
            "{} is not a SQLite database ({detail}); check the path in the URL",
            file.display()
        ),
        _ if matches!(err, sqlx::Error::Io(_)) => format!(
            "cannot open the SQLite database file {} ({detail})",
            file.display()
        ),
        _ => return database(target, err),
    };
    Error::Unreachable {
        target: target.to_string(),
        reason,
    }
}
