//! `pycharter`: versions, validates and migrates the database that holds pycharter's
//! data-contract metadata. See `pycharter --help` (every subcommand's help gives examples,
//! the accepted URL forms and the exit codes) and the repository's README.
//!
//! Exit codes: 0 ok; 1 invalid schema, failed check, refused or failed migration; 2 usage
//! error, invalid URL, connection error or migration-lock timeout.

mod args;
mod backend;
mod commands;
mod database;
mod failure;
mod logging;
mod output;
mod usage;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match usage::parse() {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    logging::init(cli.global.verbose, cli.global.quiet);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(failure::EXIT_CANNOT_RUN);
        }
    };
    let outcome = runtime.block_on(commands::run(&cli));

    // Write errors are ignored on purpose: a closed pipe (`pycharter db history | head -1`)
    // must not turn into a panic, and the exit code still tells the outcome.
    let _ = std::io::stdout()
        .lock()
        .write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr()
        .lock()
        .write_all(outcome.stderr.as_bytes());
    ExitCode::from(outcome.code)
}
