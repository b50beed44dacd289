//! The one tokio runtime of the module, and [`wait`]: how a synchronous Python call runs a
//! future of the pycharter-rs crates.
//!
//! Every call releases the GIL while it waits, so other Python threads run meanwhile; a call
//! blocked on the database still answers Ctrl-C (the signal is checked every
//! [`SIGNAL_CHECK`]); and a future that is ready at once (the in-memory backend) costs no
//! trip through the runtime's scheduler.

use crate::errors::{map_error, PycharterError};
use pyo3::prelude::*;
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::runtime::Runtime;

/// How often a call blocked on the database looks for a pending signal (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The runtime and the process that built it (its worker threads do not survive a fork).
struct Shared {
    runtime: Runtime,
    pid: u32,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The module's runtime, built on first use.
///
/// A forked child (multiprocessing's default start method on Linux, a pre-forking server)
/// inherits the runtime without its worker threads and every store without a usable
/// connection: waiting on them would hang, so such a child gets an error naming the fix.
fn runtime() -> PyResult<&'static Runtime> {
    let shared = match SHARED.get() {
        Some(shared) => shared,
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name("pycharter-rs")
                .enable_all()
                .build()
                .map_err(|e| {
                    PycharterError::new_err(format!(
                        "cannot start the pycharter_rs runtime: {e} — check the process's thread limit"
                    ))
                })?;
            // Two threads racing here each build one; the loser's is dropped unused.
            SHARED.get_or_init(|| Shared {
                runtime,
                pid: std::process::id(),
            })
        }
    };
    if shared.pid != std::process::id() {
        return Err(PycharterError::new_err(format!(
            "pycharter_rs was already in use in process {} before this process was forked from it; \
             its stores and connections do not survive a fork — import and connect in the child \
             (or use multiprocessing's 'spawn' start method)",
            shared.pid
        )));
    }
    Ok(&shared.runtime)
}

/// Drops `value` inside the runtime's context: a connection pool's destructor may hand its
/// connections to the runtime. Without a runtime (never built, or not this process's) there
/// is nothing for it to reach.
pub(crate) fn drop_in_runtime<T>(value: T) {
    match SHARED.get() {
        Some(shared) if shared.pid == std::process::id() => {
            let _context = shared.runtime.enter();
            drop(value);
        }
        _ => drop(value),
    }
}

/// Runs `future` to completion on the module's runtime, without the GIL, and turns its
/// error into the matching Python exception.
pub(crate) fn wait<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = pycharter_core::Result<T>> + Send,
    T: Send,
{
    let runtime = runtime()?;
    let outcome = py.detach(|| {
        // Declared first, dropped last: a future dropped unfinished (Ctrl-C) hands its
        // pooled connection back through the runtime.
        let _context = runtime.enter();
        let mut future = pin!(future);
        // Most in-memory operations never wait: answer them on this thread directly.
        if let Poll::Ready(out) = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            return Ok(out);
        }
        runtime.block_on(async {
            loop {
                tokio::select! {
                    out = future.as_mut() => return Ok(out),
                    () = tokio::time::sleep(SIGNAL_CHECK) => {
                        // KeyboardInterrupt (or a signal handler's exception) cancels the
                        // call: dropping the future rolls back what it had begun.
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    });
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(map_error(py, err)),
        Err(interrupted) => Err(interrupted),
    }
}
