//! Online statements on PostgreSQL (`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`):
//! how a deployer claims a table, hands the claim over to the statement, and waits for
//! another deployer's statement. Core's driver decides when (`pycharter_core::online`).
//!
//! ## Why this shape
//!
//! A concurrent index build waits, before it finishes, for every transaction that holds a
//! snapshot older than its own. So anything that *waits for the build while holding a
//! snapshot* deadlocks with it, and Postgres then cancels one of them, usually the build,
//! which leaves an INVALID index. Measured on PostgreSQL 15: a second `CREATE INDEX
//! CONCURRENTLY` of the same index (it waits for the table's SHARE UPDATE EXCLUSIVE lock), a
//! session-level advisory lock held across the build with another deployer blocked on it
//! (`SELECT pg_advisory_lock(..)` holds a snapshot while it waits), even `LOCK TABLE` (its
//! catalog lookup holds one) — each ends in "deadlock detected" and an INVALID index.
//!
//! Hence:
//!
//! - **Claim** ([`claim`]): inside the migration transaction (holding the migration lock),
//!   `LOCK TABLE … IN SHARE UPDATE EXCLUSIVE MODE NOWAIT`: it never waits. Granted, nothing
//!   else builds on the table (a concurrent build holds that lock for its whole duration),
//!   so an invalid index found now is a leftover and is dropped (a plain `DROP INDEX`, under
//!   the DDL lock timeout). Refused: another deployer's build (or VACUUM) is running.
//! - **Handoff** ([`commit_into`]): the statement starts on a connection of its own and
//!   queues behind the claim (the server shows it waiting, found by a token in its
//!   comment); only then does the migration transaction commit, so the statement is first in
//!   line for the table and no other deployer's claim can slip in between. The claiming
//!   transaction waits for nothing the statement holds, so the two cannot deadlock.
//! - **Wait** ([`wait_until_free`]): a deployer whose claim was refused polls `pg_locks`
//!   outside any transaction, with backoff, and holds no snapshot between polls.
//!
//! No session state is needed (the claim and the handoff are transaction-scoped, the
//! statement is one autocommit statement), so this works behind PgBouncer in transaction
//! pooling mode, provided the pool has a server connection for the statement while the
//! claiming transaction holds one (a deployer waiting for the migration lock holds one too):
//! when none frees up within [`HANDOFF_TIMEOUT`], the handoff gives up with
//! [`Error::TableLockTimeout`] saying so, and core retries.

use crate::errors::{ErrorContext, LOCK_NOT_AVAILABLE};
use crate::store::Inner;
use crate::url::quote_ident;
use pycharter_core::{Error, OnlineStep, Result};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, Postgres, Row as _, Transaction};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the handoff waits for the online statement to reach the server and queue.
pub(crate) const HANDOFF_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the online statement's own session.
///
/// - `lock_timeout = 0`: the statement takes only SHARE UPDATE EXCLUSIVE (no query of the
///   application waits for it), but it waits for older transactions, which a lock timeout
///   would turn into an INVALID index.
/// - `max_parallel_maintenance_workers = 0`: the build leaves the other cores to the
///   application. Parallel workers (the default, 2) compete with its queries: measured on 2
///   cores with 1M rows, the slowest concurrent write was 54–63 ms with them (4 runs out of
///   4), 28–44 ms without (3 runs out of 4), for a build 10–20% longer.
/// - `client_connection_check_interval` (PostgreSQL 14+): when the deployer dies (SIGKILL),
///   the server notices within a second and stops the build instead of finishing it for
///   nobody; the next run finds the invalid index and rebuilds it.
const SESSION: &str = "SELECT set_config('lock_timeout', '0', false), \
     set_config('max_parallel_maintenance_workers', '0', false), \
     CASE WHEN current_setting('server_version_num')::int >= 140000 \
          THEN set_config('client_connection_check_interval', '1000', false) END";

/// Claims `table` for an online statement inside the migration transaction `tx`, without
/// waiting (see the module documentation); drops `leftover` if it is an invalid index.
pub(crate) async fn claim(
    tx: &mut Transaction<'static, Postgres>,
    errors: &ErrorContext,
    table: &str,
    leftover: Option<&str>,
    ddl_lock_timeout: Option<Duration>,
) -> Result<bool> {
    let map = |e| errors.map(e);
    exec(&mut *tx, "SAVEPOINT pycharter_claim")
        .await
        .map_err(map)?;
    // DDL takes no parameters: the (bundled) table name is quoted.
    let lock = format!(
        "LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE NOWAIT",
        quote_ident(table)
    );
    match exec(&mut *tx, &lock).await {
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
            exec(&mut *tx, "ROLLBACK TO SAVEPOINT pycharter_claim")
                .await
                .map_err(map)?;
            return Ok(false);
        }
        Err(err) => return Err(map(err)),
        Ok(()) => exec(&mut *tx, "RELEASE SAVEPOINT pycharter_claim")
            .await
            .map_err(map)?,
    }
    if let Some(index) = leftover {
        let invalid: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid)",
        )
        .persistent(false)
        .bind(quote_ident(index))
        .fetch_one(&mut **tx)
        .await
        .map_err(map)?;
        if invalid {
            // ACCESS EXCLUSIVE for an instant, bounded by the DDL lock timeout: a leftover
            // is rare (an interrupted build), and DROP INDEX CONCURRENTLY cannot run here.
            let drop = format!("DROP INDEX IF EXISTS {}", quote_ident(index));
            exec(&mut *tx, &drop)
                .await
                .map_err(|e| errors.map_ddl(e, ddl_lock_timeout))?;
            tracing::info!(target: "pycharter::postgres", database = errors.target(), index, "dropped an invalid index left by an interrupted build");
        }
    }
    Ok(true)
}

/// Commits `tx` (which holds the claim on the table), handing the claim over to `step` (see
/// the module documentation); returns when the statement finished.
pub(crate) async fn commit_into(
    mut tx: Transaction<'static, Postgres>,
    inner: &Inner,
    step: &OnlineStep,
) -> Result<()> {
    let errors = &inner.errors;
    let token = token();
    let statement = format!("/* {token} */ {}", step.sql);
    let mut conn = match PgConnection::connect_with(&inner.pool.connect_options()).await {
        Ok(conn) => conn,
        Err(err) => {
            let _ = tx.rollback().await;
            return Err(errors.map(err));
        }
    };
    if let Err(err) = exec(&mut conn, SESSION).await {
        let _ = tx.rollback().await;
        return Err(errors.map(err));
    }
    let deadline = Instant::now() + HANDOFF_TIMEOUT;
    let result = {
        // The statement is a bundled migration step, never user input.
        let running = conn.execute(sqlx::raw_sql(AssertSqlSafe(statement)));
        tokio::pin!(running);
        let mut pause = Duration::from_millis(1);
        let early = loop {
            tokio::select! {
                finished = &mut running => {
                    // It needed no lock of the table (e.g. DROP INDEX … IF EXISTS of a
                    // missing index): nothing to hand over.
                    break Some(finished.map(|_| ()));
                }
                () = tokio::time::sleep(pause) => {}
            }
            match queued(&mut tx, &token).await {
                Ok(true) => break None,
                Ok(false) if Instant::now() < deadline => {
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Ok(false) => {
                    let cancelled = cancel(&mut tx, &token).await;
                    let _ = tx.rollback().await;
                    cancelled.map_err(|e| errors.map(e))?;
                    return Err(Error::TableLockTimeout {
                        target: errors.target().to_string(),
                        reason: format!(
                            "the online statement did not reach the server within {}s (no free server connection? behind PgBouncer the pool needs one more than the deployers running at once)",
                            HANDOFF_TIMEOUT.as_secs()
                        ),
                        attempts: 1,
                        waited: HANDOFF_TIMEOUT,
                    });
                }
                Err(err) => {
                    let _ = cancel(&mut tx, &token).await;
                    let _ = tx.rollback().await;
                    return Err(errors.map(err));
                }
            }
        };
        // Queued behind the claim (or already done): release the claim, let it run.
        match (tx.commit().await, early) {
            (Err(err), _) => Err(err),
            (Ok(()), Some(finished)) => finished,
            (Ok(()), None) => running.await.map(|_| ()),
        }
    };
    let _ = conn.close().await;
    result.map_err(|e| errors.map(e))
}

/// Whether the statement tagged `token` is on the server, waiting for a lock (the claim).
async fn queued(tx: &mut Transaction<'static, Postgres>, token: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
         AND NOT l.granted AND strpos(a.query, $1) > 0)",
    )
    .persistent(false)
    .bind(token)
    .fetch_one(&mut **tx)
    .await
}

/// Cancels the statement tagged `token` if it reached the server (it is still queued behind
/// the claim, so it has not started anything).
async fn cancel(tx: &mut Transaction<'static, Postgres>, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
    )
    .persistent(false)
    .bind(token)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Waits until no session holds a lock on `table` that would refuse a claim (another
/// deployer's online statement, VACUUM, DDL), polling outside any transaction; bounded by
/// `limit` (the lock timeout: waiting for another deployer), [`Error::LockTimeout`] beyond.
pub(crate) async fn wait_until_free(
    inner: &Inner,
    table: &str,
    limit: Option<Duration>,
) -> Result<()> {
    let errors = &inner.errors;
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        tokio::time::sleep(pause).await;
        // The simple protocol, outside a transaction: a parse and an execute in two round
        // trips could reach two server connections behind PgBouncer.
        let busy_sql = format!(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = to_regclass({}) AND granted \
             AND mode IN ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', \
                          'ExclusiveLock', 'AccessExclusiveLock'))",
            quote_literal(&quote_ident(table))
        );
        let busy: bool = inner
            .pool
            .fetch_one(sqlx::raw_sql(AssertSqlSafe(busy_sql)))
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| errors.map(e))?;
        if !busy {
            return Ok(());
        }
        if let Some(limit) = limit {
            if started.elapsed() >= limit {
                return Err(Error::LockTimeout {
                    target: errors.target().to_string(),
                    waited: limit,
                });
            }
        }
        pause = (pause * 3 / 2).min(Duration::from_secs(1));
    }
}

/// `sql` without its `CONCURRENTLY`: the in-transaction form of an online statement, for a
/// table the migration transaction created itself (see `pycharter_core::online`).
pub(crate) fn without_concurrently(sql: &str) -> String {
    let upper = sql.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let word = "CONCURRENTLY";
    let mut from = 0;
    while let Some(found) = upper[from..].find(word) {
        let start = from + found;
        let end = start + word.len();
        let boundary =
            |i: Option<&u8>| i.is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
        if boundary(start.checked_sub(1).and_then(|i| bytes.get(i))) && boundary(bytes.get(end)) {
            let rest = sql[end..].strip_prefix(' ').unwrap_or(&sql[end..]);
            return format!("{}{rest}", &sql[..start]);
        }
        from = end;
    }
    sql.to_string()
}

/// `text` as an SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A token no other statement's text contains: this process, a counter, the clock.
fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "pycharter-online-{}-{}-{nanos:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `sql` with the simple protocol (no prepared statement, no parameters).
async fn exec(conn: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    // Only this module's own statements and bundled migration steps reach here.
    conn.execute(sqlx::raw_sql(AssertSqlSafe(sql.to_string())))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inline_form_drops_only_the_keyword() {
        assert_eq!(
            without_concurrently("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"),
            "CREATE INDEX IF NOT EXISTS i ON t (a);"
        );
        assert_eq!(
            without_concurrently("drop index concurrently if exists i;"),
            "drop index if exists i;"
        );
        // Only the whole word.
        assert_eq!(
            without_concurrently("CREATE INDEX concurrently_x ON t (a);"),
            "CREATE INDEX concurrently_x ON t (a);"
        );
    }

    #[test]
    fn literals_double_quotes() {
        assert_eq!(quote_literal(r#""it's""#), r#"'"it''s"'"#);
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(token(), token());
    }
}
