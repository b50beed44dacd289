//! Logs: `tracing` to stderr, so stdout stays the command's result (and `--json` parseable).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber. Level: `-q` error, `-v` info, `-vv` debug, `-vvv` trace; with
/// neither, `RUST_LOG` if set, else warn.
pub fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => Some("error"),
        (false, 0) => None,
        (false, 1) => Some("info"),
        (false, 2) => Some("debug"),
        (false, _) => Some("trace"),
    };
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    // `try_init` only fails if a subscriber is already installed, which leaves logging on.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into CI logs or files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}
