//! `connect(wait_for_schema=SECONDS)`: keep trying while waiting can fix what failed (the
//! server is not reachable yet, the schema is not migrated yet), fail at once on what it
//! cannot (a newer or damaged schema, bad credentials, a bad URL).
//!
//! Core has no `ConnectOptions::wait_for_schema` yet, so the retry loop lives here, over
//! [`Target::open`]; each failed attempt is logged on the `pycharter_rs` Python logger, so an
//! application (or a readiness probe's log) shows what it is waiting for.

use crate::backend::{Connected, Target};
use pycharter_core::{ConnectOptions, Error, Result};
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// First pause between attempts; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Shortest connect timeout an attempt gets, even when the deadline is closer.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// Opens `target`; with `wait`, retries for up to that long while [`keeps_waiting`].
pub(crate) async fn connect(
    target: &Target,
    options: ConnectOptions,
    wait: Option<Duration>,
) -> Result<Arc<dyn Connected>> {
    let Some(wait) = wait else {
        return target.open(options).await;
    };
    let deadline = Instant::now() + wait;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = ConnectOptions {
            connect_timeout: options.connect_timeout.min(remaining.max(MIN_ATTEMPT)),
            ..options.clone()
        };
        let err = match target.open(attempt).await {
            Ok(store) => return Ok(store),
            Err(err) if keeps_waiting(&err) => err,
            Err(err) => return Err(err),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(err);
        }
        log_waiting(&err, remaining);
        tokio::time::sleep(backoff.min(remaining)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What another process (a deploy job, the server starting) may fix while we wait.
fn keeps_waiting(err: &Error) -> bool {
    matches!(
        err,
        Error::Unreachable { .. }
            | Error::ConnectTimeout { .. }
            | Error::NotInitialized { .. }
            | Error::SchemaOutdated { .. }
    )
}

fn log_waiting(err: &Error, remaining: Duration) {
    let message = format!(
        "waiting for the schema ({:.1}s left): {err}",
        remaining.as_secs_f64()
    );
    Python::attach(|py| {
        let logged = py
            .import("logging")
            .and_then(|logging| logging.call_method1("getLogger", ("pycharter_rs",)))
            .and_then(|logger| logger.call_method1("info", (message,)));
        // A logging failure must not turn a retry into an error.
        if let Err(err) = logged {
            err.print(py);
        }
    });
}
