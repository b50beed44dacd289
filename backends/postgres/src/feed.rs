//! The change feed of the Postgres backend: `LISTEN/NOTIFY`.
//!
//! **Sending.** Every put and delete statement of [`crate::sql`] sends its notification on
//! [`CHANGES_CHANNEL`] from the statement itself, so it belongs to the writing transaction:
//! PostgreSQL delivers it when that transaction commits, never for a rolled-back one, and in
//! commit order.
//!
//! **Receiving.** A subscriber gets a task with a connection of its own (not one of the
//! store's pool, application name `pycharter-change-feed`) that `LISTEN`s on the changes
//! channel and on a private heartbeat channel. Every `sync_every` the task sends
//! `pg_notify(<private channel>, <n>)` through the store's pool, from another session:
//! notifications are delivered in commit order, so when heartbeat `n` arrives every change
//! committed before it was sent has arrived too, and the feed is caught up to that instant
//! ([`FeedMessage::CaughtUp`]). The heartbeat proves the whole path, end to end.
//!
//! **Losing it.** When the listening connection fails (terminated, server restarted) or a
//! heartbeat goes unanswered for three periods (a silently dead connection), the feed reports
//! [`FeedMessage::Lost`], ends the old server session if it still exists, and opens a new
//! connection with backoff: a new connection is a new `since`, so what was missed in between
//! is never vouched for.
//!
//! **Poolers.** Behind a pooler in transaction mode `LISTEN` cannot work: it registers on a
//! server connection that goes back to the pool, whose next client then receives the
//! notifications (sqlx fails that client's query). So with `statement-cache-capacity=0` in
//! the URL (this backend's setting for PgBouncer in transaction mode) there is no feed at all;
//! and a session whose heartbeats commit but are never delivered is ended at once and not
//! retried for five minutes (the log says which setting to use).

use crate::sql::CHANGES_CHANNEL;
use crate::store::PostgresMetadataStore;
use chrono::{DateTime, Utc};
use pycharter_core::feed::{ChangeEvent, ChangeFeed, ChangeObserver, ChangeOp, FeedMessage};
use pycharter_core::{ArtifactKind, ContractVersion};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The application name of the listening connection (how a DBA finds it in
/// `pg_stat_activity`).
pub const FEED_APPLICATION_NAME: &str = "pycharter-change-feed";

/// First pause before reopening a lost feed; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Pause after a session whose heartbeats were committed but never delivered: `LISTEN` does
/// not work on this path, and every attempt registers it on some server session.
const UNDELIVERED_BACKOFF: Duration = Duration::from_secs(300);
/// Bound of the clean-up of a lost listening session.
const END_SESSION_TIMEOUT: Duration = Duration::from_secs(5);
/// A heartbeat unanswered for this many periods means the feed is not delivering.
const STALL_PERIODS: u32 = 3;

impl ChangeFeed for PostgresMetadataStore {
    /// Starts the listening task (on the current Tokio runtime); it stops once `observer` is
    /// dropped or the store's pool is closed. With `statement-cache-capacity=0` in the URL
    /// (the PgBouncer transaction-pooling setting) there is no feed: `LISTEN` cannot work
    /// through such a pooler, and would leave notifications on a pooled server connection
    /// for its next client; the observer is told so at once.
    fn subscribe(&self, observer: Weak<dyn ChangeObserver>, sync_every: Duration) {
        if !self.persistent() {
            if let Some(observer) = observer.upgrade() {
                observer.observe(FeedMessage::Lost {
                    reason: TRANSACTION_POOLING,
                });
            }
            return;
        }
        tokio::spawn(listen(self.clone(), observer, sync_every));
    }
}

const TRANSACTION_POOLING: &str = "no change feed with statement-cache-capacity=0: LISTEN cannot \
     work through a pooler in transaction mode; cached answers are asked again once max_staleness old";

/// How a listening session ended.
enum End {
    /// The observer is gone (or the pool closed): stop for good.
    Unsubscribed,
    /// The feed failed.
    Lost(String),
    /// The listening connection stayed up, but a heartbeat went undelivered for too long.
    Stalled(String),
}

async fn listen(store: PostgresMetadataStore, observer: Weak<dyn ChangeObserver>, every: Duration) {
    let private = format!("pycharter_sync_{:016x}", random_u64());
    let mut backoff = FIRST_BACKOFF;
    loop {
        if observer.strong_count() == 0 || store.pool().is_closed() {
            return;
        }
        let heartbeats = Heartbeats::default();
        let (reason, stalled) = match session(&store, &observer, every, &private, &heartbeats).await
        {
            End::Unsubscribed => return,
            End::Lost(reason) => (reason, false),
            End::Stalled(reason) => (reason, true),
        };
        if heartbeats.answered() {
            backoff = FIRST_BACKOFF;
            tracing::warn!(target: "pycharter::postgres", database = store.target(), %reason, "change feed lost; reconnecting");
        } else if stalled && heartbeats.undelivered() {
            // Sent through the pool, never delivered while the listening connection stayed
            // up: LISTEN does not work on this path. (A connection lost first, as in a server
            // restart, says nothing about the path: it is retried soon.)
            backoff = UNDELIVERED_BACKOFF;
            tracing::warn!(target: "pycharter::postgres", database = store.target(), %reason, "change feed does not deliver (a pooler in transaction mode? add statement-cache-capacity=0 to the URL, or wrap the store with CachedMetadataStore::without_feed); retrying in {}s", backoff.as_secs());
        } else {
            tracing::debug!(target: "pycharter::postgres", database = store.target(), %reason, "change feed unavailable; retrying");
        }
        if let Some(observer) = observer.upgrade() {
            observer.observe(FeedMessage::Lost { reason: &reason });
        }
        tokio::time::sleep(backoff).await;
        if backoff < MAX_BACKOFF {
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// One listening connection, until it fails or the observer is gone.
async fn session(
    store: &PostgresMetadataStore,
    observer: &Weak<dyn ChangeObserver>,
    every: Duration,
    private: &str,
    heartbeats: &Heartbeats,
) -> End {
    // A pool of one, only so that PgListener can be built: the connection is ours alone.
    let options = (*store.pool().connect_options())
        .clone()
        .application_name(FEED_APPLICATION_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(store.pool().options().get_acquire_timeout())
        .connect_lazy_with(options);
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(listener) => listener,
        Err(e) => return End::Lost(format!("cannot open the listening connection: {e}")),
    };
    // Reconnecting is this module's job: it knows that what was missed must not be vouched for.
    listener.eager_reconnect(false);
    // One simple query, so one server session even behind a pooler: LISTEN, and which
    // session that is, to end it if it turns out not to deliver.
    let sql = format!(
        r#"LISTEN "{CHANGES_CHANNEL}"; LISTEN "{private}";
           SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"#
    );
    let listening = match sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_one(&mut listener)
        .await
        .and_then(|row| {
            Ok((
                row.try_get::<i32, _>(0)?,
                row.try_get::<DateTime<Utc>, _>(1)?,
            ))
        }) {
        Ok(session) => session,
        Err(e) => return End::Lost(format!("LISTEN failed: {e}")),
    };
    // After LISTEN: a change that commits from now on is delivered to this connection.
    let since = Instant::now();
    let end = tokio::select! {
        end = receive(&mut listener, observer, heartbeats, since) => end,
        end = beat(store, observer, every, private, heartbeats) => end,
    };
    drop(listener);
    pool.close().await;
    if matches!(end, End::Lost(_) | End::Stalled(_)) {
        end_session(store, listening).await;
    }
    end
}

/// Ends the listening server session `(pid, backend_start)` if it still exists (a silently
/// dead connection, or a pooled server connection that would hand our notifications to its
/// next client). Best effort: the identity check keeps a reused pid safe.
async fn end_session(store: &PostgresMetadataStore, (pid, started): (i32, DateTime<Utc>)) {
    let terminate = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE pid = $1 AND backend_start = $2",
    )
    .bind(pid)
    .bind(started)
    .fetch_all(store.pool());
    match tokio::time::timeout(END_SESSION_TIMEOUT, terminate).await {
        Ok(Ok(rows)) if !rows.is_empty() => {
            tracing::debug!(target: "pycharter::postgres", pid, "ended the lost listening session")
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(target: "pycharter::postgres", pid, error = %e, "could not end the lost listening session")
        }
        Err(_) => {
            tracing::debug!(target: "pycharter::postgres", pid, "ending the lost listening session timed out")
        }
    }
}

/// Heartbeats of one session: sent and not yet answered (`(token, sent at)`, oldest first),
/// whether one was answered, whether one was sent at all.
#[derive(Default)]
struct Heartbeats {
    pending: Mutex<VecDeque<(u64, Instant)>>,
    answered: AtomicBool,
    sent_ok: AtomicBool,
}

impl Heartbeats {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Instant)>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records heartbeat `token` as sent at `at`.
    fn sent(&self, token: u64, at: Instant) {
        self.lock().push_back((token, at));
    }

    /// Heartbeat `token` arrived: when it was sent (None: not one of ours, or already seen).
    fn arrived(&self, token: u64) -> Option<Instant> {
        let mut pending = self.lock();
        let mut sent = None;
        while pending.front().is_some_and(|(t, _)| *t <= token) {
            if let Some((t, at)) = pending.pop_front() {
                sent = (t == token).then_some(at).or(sent);
            }
        }
        if sent.is_some() {
            self.answered.store(true, Ordering::Relaxed);
        }
        sent
    }

    /// A heartbeat's `pg_notify` committed.
    fn committed(&self) {
        self.sent_ok.store(true, Ordering::Relaxed);
    }

    /// Heartbeats committed, none delivered.
    fn undelivered(&self) -> bool {
        self.sent_ok.load(Ordering::Relaxed) && !self.answered()
    }

    /// When the oldest unanswered heartbeat was sent.
    fn oldest(&self) -> Option<Instant> {
        self.lock().front().map(|(_, at)| *at)
    }

    fn answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }
}

/// Delivers notifications until the connection fails.
async fn receive(
    listener: &mut PgListener,
    observer: &Weak<dyn ChangeObserver>,
    heartbeats: &Heartbeats,
    since: Instant,
) -> End {
    loop {
        let notification = match listener.try_recv().await {
            Ok(Some(notification)) => notification,
            Ok(None) => return End::Lost("the listening connection was closed".into()),
            Err(e) => return End::Lost(format!("the listening connection failed: {e}")),
        };
        let Some(observer) = observer.upgrade() else {
            return End::Unsubscribed;
        };
        if notification.channel() == CHANGES_CHANNEL {
            match decode(notification.payload()) {
                Some(event) => observer.observe(FeedMessage::Changed(&event)),
                None => {
                    tracing::warn!(target: "pycharter::postgres", payload = notification.payload(), "unreadable change notification; dropping everything cached");
                    observer.observe(FeedMessage::ChangedUnknown);
                }
            }
        } else if let Some(up_to) = notification
            .payload()
            .parse()
            .ok()
            .and_then(|token| heartbeats.arrived(token))
        {
            observer.observe(FeedMessage::CaughtUp { since, up_to });
        }
    }
}

/// Sends a heartbeat every `every` through the store's pool; ends the session when one goes
/// unanswered too long, or when the observer is gone.
async fn beat(
    store: &PostgresMetadataStore,
    observer: &Weak<dyn ChangeObserver>,
    every: Duration,
    private: &str,
    heartbeats: &Heartbeats,
) -> End {
    let stall = every * STALL_PERIODS;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut token = 0u64;
    loop {
        token += 1;
        ticks.tick().await;
        if observer.strong_count() == 0 || store.pool().is_closed() {
            return End::Unsubscribed;
        }
        if let Some(oldest) = heartbeats.oldest().filter(|at| at.elapsed() > stall) {
            return End::Stalled(format!(
                "a heartbeat sent {} ms ago was not delivered",
                oldest.elapsed().as_millis()
            ));
        }
        let sent_at = Instant::now();
        heartbeats.sent(token, sent_at);
        // Generated text only (our channel name, a number): no user input in this SQL.
        let sql = format!("SELECT pg_notify('{private}', '{token}')");
        let send = sqlx::raw_sql(AssertSqlSafe(sql)).execute(store.pool());
        match tokio::time::timeout(stall, send).await {
            Ok(Ok(_)) => heartbeats.committed(),
            // An unsent heartbeat is never answered: the stall check above ends the session.
            Ok(Err(e)) => {
                tracing::debug!(target: "pycharter::postgres", error = %e, "change feed heartbeat failed")
            }
            Err(_) => {
                tracing::debug!(target: "pycharter::postgres", "change feed heartbeat timed out")
            }
        }
    }
}

/// `["put"|"delete", kind, name, version, id]` as sent by the statements of [`crate::sql`].
fn decode(payload: &str) -> Option<ChangeEvent> {
    let (op, kind, name, version, _id): (ChangeOp, ArtifactKind, String, String, i64) =
        serde_json::from_str(payload).ok()?;
    let version = ContractVersion::parse(&version).ok()?;
    Some(ChangeEvent {
        kind,
        name,
        version,
        op,
    })
}

/// A random number, for the private channel's name (std's hasher keys are random per process).
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_decode_to_events_and_garbage_to_nothing() {
        let event = decode(r#"["put", "coercion_rules", "a \"b\"", "1.2.0-rc.1", 7]"#)
            .expect("a payload as json_build_array writes it");
        assert_eq!(event.kind, ArtifactKind::CoercionRules);
        assert_eq!(event.name, "a \"b\"");
        assert_eq!(event.version.to_string(), "1.2.0-rc.1");
        assert_eq!(event.op, ChangeOp::Put);
        let deleted = decode(r#"["delete", "schema", "o", "2.0.0", 1]"#).expect("delete");
        assert_eq!(
            deleted,
            ChangeEvent::deleted("o", &"2.0.0".parse().unwrap())
        );
        for garbage in [
            "",
            "[]",
            r#"["put", "table", "o", "1.0.0", 1]"#,
            r#"["put", "schema", "o", "1.0", 1]"#,
        ] {
            assert_eq!(decode(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn heartbeats_answer_with_their_send_time_once() {
        let beats = Heartbeats::default();
        let (t1, t2) = (Instant::now(), Instant::now() + Duration::from_millis(1));
        beats.sent(1, t1);
        beats.sent(2, t2);
        assert_eq!(beats.oldest(), Some(t1));
        assert!(!beats.answered());
        assert_eq!(
            beats.arrived(2),
            Some(t2),
            "a later token answers the earlier ones too"
        );
        assert_eq!(beats.oldest(), None);
        assert_eq!(beats.arrived(1), None, "already answered");
        assert!(beats.answered());
    }
}
