//! The connection pool of a store and the first operation on it: how a healthy server costs
//! one connection, and how an unhealthy one is diagnosed precisely within the connect timeout.

use crate::connector::Connector;
use crate::errors::ErrorContext;
#[cfg(doc)]
use pycharter_core::Error;
use pycharter_core::{ConnectOptions, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A pooled connection idle for at least this long is pinged before use (see `pool_options`).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);
/// Idle connections are closed after this long (the reaper runs at this period, so one lives
/// at most twice as long): below the idle cut-off of NATs, firewalls and cloud load balancers
/// (4 to 6 minutes), which drop a connection without telling either end.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Every connection is replaced after this long (sqlx's default), whatever its use.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// `connect` probes with a direct connection when the pool has none after this fraction of
/// the connect timeout (see [`first_operation`]).
const PROBE_AFTER_FRACTION: u32 = 10;

/// The pool of a new store.
///
/// - No liveness ping before every statement (`test_before_acquire`, on by default, costs a
///   round trip per operation, doubling a read's latency): sqlx pings every connection when it
///   comes back to the pool anyway, and drops it if that fails, so only a connection that
///   died *while idle* can be handed out. A connection idle for [`PING_IF_IDLE_FOR`] or more
///   (a server restart or failover, an idle cut-off) is still pinged first and replaced if
///   dead; one that died within the last second makes its operation fail with a typed error
///   (`Unreachable`, also for a session the server terminated: SQLSTATE 57P01), and the
///   pool then drops it. [`IDLE_TIMEOUT`] and [`MAX_LIFETIME`] retire idle and old ones.
/// - `acquire_timeout` is the connect timeout (once per host of a multi-host URL): it also
///   bounds later (re)connects, which sqlx retries while refused.
/// - `connected` is set once the pool has opened a connection (see [`first_operation`]).
/// - With a multi-host URL or `target_session_attrs` the `connector` steers the pool: a new
///   connection is checked against `target_session_attrs`, and one opened before a switch
///   of host is discarded.
pub(crate) fn pool_options(
    options: &ConnectOptions,
    connected: Arc<AtomicBool>,
    connector: Arc<Connector>,
) -> PgPoolOptions {
    let hosts = u32::try_from(connector.host_count()).unwrap_or(u32::MAX);
    let before = Arc::clone(&connector);
    PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.connect_timeout.saturating_mul(hosts.max(1)))
        .test_before_acquire(false)
        .before_acquire(move |connection, meta| {
            let retired = before.is_retired(meta.age);
            Box::pin(async move {
                if retired {
                    return Ok(false);
                }
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .idle_timeout(IDLE_TIMEOUT)
        .max_lifetime(MAX_LIFETIME)
        .after_connect(move |connection, _| {
            let connector = Arc::clone(&connector);
            let connected = Arc::clone(&connected);
            Box::pin(async move {
                connector.verify(connection).await?;
                connected.store(true, Ordering::Release);
                Ok(())
            })
        })
}

/// Runs `first`, the first operation of a new store (it opens the pool's first connection),
/// and makes a failure to connect say *why*, within the connect timeout.
///
/// sqlx's pool retries a refused connection until its deadline, then only says "timed out";
/// a direct connection says "connection refused". A reachable server has answered the pool
/// well within a tenth of the connect timeout, so only when the pool still has no connection
/// by then does a direct connection (bounded by the rest of the timeout) run alongside, to
/// report the precise error: [`Error::Unreachable`] (refused), [`Error::AuthenticationFailed`],
/// or [`Error::ConnectTimeout`] (no answer). Errors the pool reports at once (rejected
/// credentials, unknown host, TLS) need no probe. On the normal path only the pool connects.
pub(crate) async fn first_operation<T>(
    first: impl Future<Output = Result<T>>,
    pool: &PgPool,
    errors: &ErrorContext,
    connected: &AtomicBool,
) -> Result<T> {
    let timeout = errors.connect_timeout();
    let deadline = Instant::now() + timeout;
    tokio::pin!(first);
    if let Ok(outcome) = tokio::time::timeout(timeout / PROBE_AFTER_FRACTION, &mut first).await {
        return outcome;
    }
    if connected.load(Ordering::Acquire) {
        // Connected: the operation itself takes time (a migration, waiting for its lock).
        return first.await;
    }
    tracing::debug!(target: "pycharter::postgres", database = errors.target(), "no connection yet, probing the server");
    let probe = probe(pool.connect_options(), errors, deadline);
    tokio::pin!(probe);
    tokio::select! {
        outcome = &mut first => outcome,
        diagnosis = &mut probe => match diagnosis {
            Err(err) if !connected.load(Ordering::Acquire) => Err(err),
            // Reachable after all (or the pool got its connection meanwhile): let it finish.
            _ => first.await,
        },
    }
}

/// Opens (and closes) one connection, bounded by `deadline`, to tell why the pool cannot
/// connect (see [`first_operation`]).
async fn probe(
    options: Arc<PgConnectOptions>,
    errors: &ErrorContext,
    deadline: Instant,
) -> Result<()> {
    let attempt = PgConnection::connect_with(&options);
    match tokio::time::timeout_at(deadline, attempt).await {
        Err(_) => Err(errors.connect_timed_out()),
        Ok(Err(err)) => Err(errors.map(err)),
        Ok(Ok(connection)) => {
            if let Err(err) = connection.close().await {
                // The server drops a half-closed session by itself; nothing to do about it.
                tracing::debug!(target: "pycharter::postgres", error = %errors.scrub(&err.to_string()), "closing the probe connection failed");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostgresMetadataStore;
    use pycharter_core::prelude::*;
    use pycharter_core::Error;
    use pycharter_test_postgres::fresh_database;
    use serde_json::json;
    use sqlx::AssertSqlSafe;

    const TIMEOUT: Duration = Duration::from_secs(4);

    fn options() -> ConnectOptions {
        ConnectOptions {
            connect_timeout: TIMEOUT,
            max_connections: 1,
            ..ConnectOptions::default()
        }
    }

    /// The pool alone would retry the refused connection until the timeout; the probe that
    /// runs once it has no connection after a tenth of it reports the refusal.
    #[tokio::test]
    async fn a_refused_connection_is_reported_long_before_the_timeout() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let url = format!("postgres://app:pw@127.0.0.1:{port}/db");
        let manual = ConnectOptions {
            auto_initialize: false,
            validate_schema_on_connect: false,
            ..options()
        };
        for options in [options(), manual] {
            let started = std::time::Instant::now();
            let err = PostgresMetadataStore::connect(&url, options)
                .await
                .expect_err("nothing listens");
            assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
            assert!(started.elapsed() < TIMEOUT / 2, "{:?}", started.elapsed());
        }
    }

    /// Terminates every other session on the database of `url`, and waits until they are gone.
    async fn terminate_other_sessions(url: &str) {
        let mut admin = PgConnection::connect(url).await.expect("admin connection");
        let others = "FROM pg_stat_activity \
                      WHERE datname = current_database() AND pid <> pg_backend_pid()";
        let killed: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(pg_terminate_backend(pid)) {others}"
        )))
        .fetch_one(&mut admin)
        .await
        .expect("terminate");
        assert_eq!(killed, 1, "the store holds one connection");
        loop {
            let left: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) {others}")))
                .fetch_one(&mut admin)
                .await
                .expect("count sessions");
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = admin.close().await;
    }

    /// Without sqlx's ping before every statement, a pooled connection the server ended while
    /// it was idle fails its next operation with a typed error, at once; the pool then
    /// replaces it. One idle for a second or more is pinged first and replaced silently.
    #[tokio::test]
    async fn a_connection_ended_while_idle_fails_once_then_is_replaced() {
        let db = fresh_database().await;
        let store = PostgresMetadataStore::connect(&db.url, options())
            .await
            .expect("connect");
        store
            .store_schema("orders", "1.0.0", &json!({"type": "object"}))
            .await
            .expect("store");
        let released = std::time::Instant::now();

        terminate_other_sessions(&db.url).await;
        let outcome = tokio::time::timeout(TIMEOUT, store.get_schema("orders", None))
            .await
            .expect("a typed error, not a hang");
        match outcome {
            Err(failed) => assert!(matches!(&failed, Error::Unreachable { .. }), "{failed:?}"),
            // Only when this machine is so slow that the connection idled past the threshold.
            Ok(_) => assert!(released.elapsed() >= PING_IF_IDLE_FOR, "used unpinged"),
        }
        let found = store.get_schema("orders", None).await.expect("replaced");
        assert!(found.is_some());

        terminate_other_sessions(&db.url).await;
        tokio::time::sleep(PING_IF_IDLE_FOR + Duration::from_millis(100)).await;
        let found = store
            .get_schema("orders", None)
            .await
            .expect("pinged, replaced");
        assert!(found.is_some());
        store.close().await;
    }
}
