//! Waiting for the schema, written once for every backend: an application that starts before
//! its deploy step has migrated the database (or before the server accepts connections)
//! retries its `connect` instead of failing, until [`ConnectOptions::wait_for_schema`]
//! runs out. `pycharter db check --wait` is the same loop.
//!
//! Each backend's `connect` is one attempt; it passes that attempt to [`connect_with_wait`]
//! rather than looping itself, so that what counts as "worth waiting for" and the pacing of
//! attempts are the same everywhere.

use crate::error::{Error, Result};
use crate::options::ConnectOptions;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Pause after the first failed attempt; doubled after each further one, up to
/// [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// Longest pause between two attempts: how late, at worst, a waiting application notices
/// that the schema became ready.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Whether waiting can fix `err`: the server is not reachable yet, or the schema is not
/// migrated yet (uninitialized, older, or a deployer holds the migration lock). Anything
/// else — a damaged or drifted schema, a newer incompatible one, a wrong password, bad
/// input — fails at once.
///
/// ```
/// use pycharter_core::{wait::waiting_may_fix, Error};
/// assert!(waiting_may_fix(&Error::NotInitialized { target: "memory://".into() }));
/// assert!(!waiting_may_fix(&Error::MissingTables { tables: vec!["schemas".into()], target: "memory://".into() }));
/// ```
pub fn waiting_may_fix(err: &Error) -> bool {
    matches!(
        err,
        Error::NotInitialized { .. }
            | Error::SchemaOutdated { .. }
            | Error::Unreachable { .. }
            | Error::ConnectTimeout { .. }
            | Error::LockTimeout { .. }
    )
}

/// Runs `connect` (one connection attempt, e.g. a backend's connect without waiting) once,
/// or — with [`ConnectOptions::wait_for_schema`] set — until it succeeds, fails with an
/// error waiting cannot fix, or the wait is over (see [`retry_while_waiting`]).
pub async fn connect_with_wait<T, F, Fut>(options: &ConnectOptions, connect: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    match options.wait_for_schema {
        None => {
            let mut connect = connect;
            connect().await
        }
        Some(limit) => retry_while_waiting(limit, connect).await,
    }
}

/// Runs `attempt` until it succeeds or fails with an error [`waiting_may_fix`] rejects, one
/// attempt at a time, pausing [`FIRST_PAUSE`], then twice as long each time up to
/// [`MAX_PAUSE`]. No attempt starts after `limit` has passed (the last one starts at the
/// deadline at the latest); then the last attempt's error is returned as is, so a caller
/// sees what it was still waiting for (`NotInitialized`, `Unreachable`, …).
pub async fn retry_while_waiting<T, F, Fut>(limit: Duration, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = Instant::now() + limit;
    let mut pause = FIRST_PAUSE;
    let mut attempts: u32 = 1;
    loop {
        let err = match attempt().await {
            Err(err) if waiting_may_fix(&err) => err,
            done => return done,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::info!(target: "pycharter::wait", attempts, waited_ms = limit.as_millis() as u64, error = %err, "gave up waiting for the schema");
            return Err(err);
        }
        tracing::info!(target: "pycharter::wait", attempts, error = %err, "waiting for the schema");
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(MAX_PAUSE);
        attempts = attempts.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn not_initialized() -> Error {
        Error::NotInitialized {
            target: "memory://".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_what_waiting_may_fix_until_it_succeeds() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let value = retry_while_waiting(Duration::from_secs(30), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(Error::Unreachable {
                    target: "t".into(),
                    reason: "refused".into(),
                }),
                1 | 2 => Err(not_initialized()),
                _ => Ok(7),
            }
        })
        .await
        .expect("ready on the fourth attempt");
        assert_eq!(value, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Pauses of 100, 200 and 400 ms (virtual time).
        assert_eq!(started.elapsed(), Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn fails_at_once_on_what_waiting_cannot_fix() {
        let calls = AtomicU32::new(0);
        let err = retry_while_waiting(Duration::from_secs(30), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::ChecksumDrift {
                versions: vec!["1.0.0".into()],
                target: "t".into(),
            })
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::ChecksumDrift { .. }), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_with_the_last_error_and_pauses_at_most_a_second() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let err = retry_while_waiting(Duration::from_secs(5), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(not_initialized())
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::NotInitialized { .. }), "{err}");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "stops at the deadline"
        );
        // Attempts at 0, 0.1, 0.3, 0.7, 1.5, 2.5, 3.5 and 4.5 s, and a last one at 5 s.
        assert_eq!(calls.load(Ordering::SeqCst), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_wait_there_is_one_attempt() {
        let calls = AtomicU32::new(0);
        let err = connect_with_wait(&ConnectOptions::default(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(not_initialized())
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::NotInitialized { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
