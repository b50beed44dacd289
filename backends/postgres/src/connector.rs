//! Which server the pool connects to, for multi-host URLs and `target_session_attrs`
//! (sqlx's pool knows one host; sqlx 0.9 has no connector hook, so this module steers it).
//!
//! - **Selection** is libpq's: hosts in the order the URL lists them, each attempt (connect,
//!   then one query for `pg_is_in_recovery()` and `transaction_read_only`) bounded by the
//!   connect timeout; the first that satisfies `target_session_attrs` wins
//!   (`prefer-standby`: the first standby, else the first host that answered). When none
//!   does, the error lists every host with its reason.
//! - **The pool follows the selection**: it connects to the selected host
//!   (`PgPool::set_connect_options`), and every new pool connection is checked against
//!   `target_session_attrs` before use (`after_connect`): one that no longer fits (the host
//!   was demoted) is refused, which makes the pool retry while the selection runs again.
//! - **Reselection** runs, once at a time and in the background, when an operation lost its
//!   connection or hit a read-only server, when a new connection was refused, and when an
//!   acquire waits longer than a tenth of the connect timeout (the pool retries a refused
//!   host silently, so a slow acquire is how a dead primary shows). After a switch, pooled
//!   connections opened before it are discarded (`before_acquire`), so after a failover the
//!   store finds the new primary by itself.

use crate::errors::ErrorContext;
use crate::hosts::TargetSessionAttrs;
use pycharter_core::{Error, Result};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{Connection as _, Executor as _, Postgres, Row as _};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One round trip, simple protocol (no prepared statement left on the connection).
const SERVER_STATE_SQL: &str =
    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'";

/// Bounds of the acquire watchdog: a tenth of the connect timeout, within these.
const RECHECK_MIN: Duration = Duration::from_millis(50);
const RECHECK_MAX: Duration = Duration::from_secs(1);

/// One host of the list, with the sqlx options that reach it.
pub(crate) struct Candidate {
    /// `host:port`, as messages show it.
    pub(crate) label: String,
    /// The options the pool uses when this host is selected (they hold the password).
    pub(crate) options: PgConnectOptions,
}

/// What a server said about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerState {
    pub(crate) in_recovery: bool,
    pub(crate) read_only: bool,
}

impl ServerState {
    fn describe(self) -> &'static str {
        match (self.in_recovery, self.read_only) {
            (true, _) => "is a read-only standby (in recovery)",
            (false, true) => "is read-only (transaction_read_only is on)",
            (false, false) => "is a read-write primary",
        }
    }
}

/// Whether a server in `state` is one `attrs` asks for (`prefer-standby` accepts any; its
/// preference is the selection's order).
fn accepts(attrs: TargetSessionAttrs, state: ServerState) -> bool {
    match attrs {
        TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => true,
        TargetSessionAttrs::ReadWrite => !state.read_only,
        TargetSessionAttrs::ReadOnly => state.read_only,
        TargetSessionAttrs::Primary => !state.in_recovery,
        TargetSessionAttrs::Standby => state.in_recovery,
    }
}

/// Reads `pg_is_in_recovery()` and `transaction_read_only` in one round trip.
pub(crate) async fn server_state(conn: &mut PgConnection) -> Result<ServerState, sqlx::Error> {
    let row = conn.fetch_one(sqlx::raw_sql(SERVER_STATE_SQL)).await?;
    Ok(ServerState {
        in_recovery: row.try_get(0)?,
        read_only: row.try_get(1)?,
    })
}

/// Steers one store's pool (see the module documentation).
pub(crate) struct Connector {
    candidates: Vec<Candidate>,
    attrs: TargetSessionAttrs,
    errors: Arc<ErrorContext>,
    /// Index of the selected candidate.
    current: AtomicUsize,
    /// Set when the selected host failed us: the next acquire reselects at once.
    stale: AtomicBool,
    /// A reselection is running.
    selecting: AtomicBool,
    /// Time base of the two instants below (nanoseconds since it; 0: never).
    epoch: Instant,
    switched_at: AtomicU64,
    selected_at: AtomicU64,
}

impl Connector {
    pub(crate) fn new(
        candidates: Vec<Candidate>,
        attrs: TargetSessionAttrs,
        errors: Arc<ErrorContext>,
    ) -> Self {
        Connector {
            candidates,
            attrs,
            errors,
            current: AtomicUsize::new(0),
            stale: AtomicBool::new(false),
            selecting: AtomicBool::new(false),
            epoch: Instant::now(),
            switched_at: AtomicU64::new(0),
            selected_at: AtomicU64::new(0),
        }
    }

    /// True when there is a choice to make or a role to check; a single host with
    /// `target_session_attrs=any` (every URL sqlx understands) connects as sqlx always did.
    pub(crate) fn steers(&self) -> bool {
        self.candidates.len() > 1 || self.attrs != TargetSessionAttrs::Any
    }

    /// How many hosts the URL lists.
    pub(crate) fn host_count(&self) -> usize {
        self.candidates.len()
    }

    /// The options of the first host (what the pool starts with).
    pub(crate) fn initial_options(&self) -> PgConnectOptions {
        self.candidates[0].options.clone()
    }

    /// `host:port` of the selected host.
    pub(crate) fn current_label(&self) -> &str {
        &self.candidates[self.current.load(Ordering::Acquire)].label
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// libpq's selection (see the module documentation); returns the candidate's index.
    pub(crate) async fn select(&self) -> Result<usize> {
        let timeout = self.errors.connect_timeout();
        let mut reasons = Vec::with_capacity(self.candidates.len());
        let mut all_refused_credentials = true;
        let mut first_answer = None;
        for (index, candidate) in self.candidates.iter().enumerate() {
            let attempt = async {
                let mut conn = PgConnection::connect_with(&candidate.options).await?;
                let state = if self.attrs == TargetSessionAttrs::Any {
                    None
                } else {
                    Some(server_state(&mut conn).await?)
                };
                if let Err(err) = conn.close().await {
                    tracing::debug!(target: "pycharter::postgres", host = %candidate.label, error = %self.errors.scrub(&err.to_string()), "closing the selection connection failed");
                }
                Ok::<_, sqlx::Error>(state)
            };
            let state = match tokio::time::timeout(timeout, attempt).await {
                Err(_) => {
                    all_refused_credentials = false;
                    reasons.push(format!(
                        "{}: no answer within {}s",
                        candidate.label,
                        timeout.as_secs_f64()
                    ));
                    continue;
                }
                Ok(Err(err)) => {
                    all_refused_credentials &= self.errors.is_authentication(&err);
                    reasons.push(format!("{}: {}", candidate.label, self.errors.reason(&err)));
                    continue;
                }
                Ok(Ok(state)) => state,
            };
            all_refused_credentials = false;
            let Some(state) = state else {
                return Ok(index);
            };
            if self.attrs == TargetSessionAttrs::PreferStandby {
                if state.in_recovery {
                    return Ok(index);
                }
                first_answer.get_or_insert(index);
            } else if accepts(self.attrs, state) {
                return Ok(index);
            }
            reasons.push(format!("{} {}", candidate.label, state.describe()));
        }
        if let Some(index) = first_answer {
            return Ok(index);
        }
        let target = self.errors.target().to_string();
        let reasons = reasons.join("; ");
        Err(if all_refused_credentials {
            Error::AuthenticationFailed {
                target,
                reason: reasons,
            }
        } else {
            Error::Unreachable {
                target,
                reason: format!(
                    "no host fits target_session_attrs={} ({reasons})",
                    self.attrs
                ),
            }
        })
    }

    /// Selects, and points `pool` at the winner.
    pub(crate) async fn reselect(&self, pool: &PgPool) -> Result<()> {
        let selected = self.select().await;
        self.selected_at.store(self.now(), Ordering::Release);
        let index = selected?;
        self.stale.store(false, Ordering::Release);
        let previous = self.current.swap(index, Ordering::AcqRel);
        if previous != index {
            pool.set_connect_options(self.candidates[index].options.clone());
            self.switched_at.store(self.now(), Ordering::Release);
            tracing::info!(target: "pycharter::postgres", database = self.errors.target(), from = %self.candidates[previous].label, to = %self.candidates[index].label, attrs = %self.attrs, "switched host");
        }
        Ok(())
    }

    /// Starts a reselection in the background unless one is running, or the last one found
    /// the selected host fine less than `recheck` ago.
    fn reselect_soon(self: &Arc<Self>, pool: &PgPool, recheck: Duration) {
        let since = self
            .now()
            .saturating_sub(self.selected_at.load(Ordering::Acquire));
        if !self.stale.load(Ordering::Acquire) && u128::from(since) < recheck.as_nanos() {
            // Healthy as of a moment ago: a busy pool is not a dead host.
            return;
        }
        if self
            .selecting
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let connector = Arc::clone(self);
        let pool = pool.clone();
        tokio::spawn(async move {
            if let Err(err) = connector.reselect(&pool).await {
                tracing::warn!(target: "pycharter::postgres", error = %err, "no host to switch to yet");
            }
            connector.selecting.store(false, Ordering::Release);
        });
    }

    /// Marks the selected host as having failed us (`err` is what an operation got).
    pub(crate) fn observe(&self, err: &Error) {
        if self.steers() && (err.is_connection() || matches!(err, Error::ReadOnlyServer { .. })) {
            self.stale.store(true, Ordering::Release);
        }
    }

    /// A pooled connection, with the watchdog of the module documentation.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        pool: &PgPool,
    ) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        if !self.steers() {
            return pool.acquire().await;
        }
        let recheck = (self.errors.connect_timeout() / 10).clamp(RECHECK_MIN, RECHECK_MAX);
        if self.stale.load(Ordering::Acquire) {
            self.reselect_soon(pool, recheck);
        }
        let acquiring = pool.acquire();
        tokio::pin!(acquiring);
        loop {
            tokio::select! {
                acquired = &mut acquiring => {
                    if acquired.is_err() {
                        self.stale.store(true, Ordering::Release);
                    }
                    return acquired;
                }
                () = tokio::time::sleep(recheck) => self.reselect_soon(pool, recheck),
            }
        }
    }

    /// `after_connect`: refuses a new connection whose server no longer fits
    /// `target_session_attrs` (the pool then retries, on the host the reselection picks).
    pub(crate) async fn verify(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if matches!(
            self.attrs,
            TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby
        ) {
            return Ok(());
        }
        let state = server_state(conn).await?;
        if accepts(self.attrs, state) {
            return Ok(());
        }
        self.stale.store(true, Ordering::Release);
        Err(sqlx::Error::Protocol(format!(
            "{} {}, but target_session_attrs={}",
            self.current_label(),
            state.describe(),
            self.attrs
        )))
    }

    /// `before_acquire`: whether a pooled connection of this `age` was opened before the last
    /// switch of host (it then reaches the old host: discard it).
    pub(crate) fn is_retired(&self, age: Duration) -> bool {
        let switched = self.switched_at.load(Ordering::Acquire);
        if switched == 0 {
            return false;
        }
        let age = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
        self.now().saturating_sub(age) < switched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(in_recovery: bool, read_only: bool) -> ServerState {
        ServerState {
            in_recovery,
            read_only,
        }
    }

    #[test]
    fn each_attribute_accepts_libpqs_servers() {
        use TargetSessionAttrs::*;
        let primary = state(false, false);
        let standby = state(true, true);
        let read_only_primary = state(false, true);
        let table = [
            (Any, [true, true, true]),
            (ReadWrite, [true, false, false]),
            (ReadOnly, [false, true, true]),
            (Primary, [true, false, true]),
            (Standby, [false, true, false]),
            (PreferStandby, [true, true, true]),
        ];
        for (attrs, expected) in table {
            let got = [primary, standby, read_only_primary].map(|s| accepts(attrs, s));
            assert_eq!(got, expected, "{attrs}");
        }
    }
}
