//! `pycharter-test-postgres`: the Rust tests' PostgreSQL server, for test runners in other
//! languages (the Python binding's pytest suite), so that there is one way to get a test
//! server, not one per language.
//!
//! Reads commands on stdin, one per line, and answers each with one line on stdout:
//! - `database`: creates a fresh, empty database ([`fresh_database`]) and prints its URL
//!   (password included: the reader is a test on this machine);
//! - `admin`: prints the URL of the `postgres` maintenance database.
//!
//! The server is `PYCHARTER_TEST_DATABASE_URL` if set, else the private throwaway cluster,
//! started on the first command. At end of input (the test runner closed the pipe, or died)
//! the process exits, and the private cluster is stopped and removed with it.

use pycharter_test_postgres::{fresh_database, test_server};
use std::io::{BufRead, Write};

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let answer = match line?.trim() {
            "database" => runtime.block_on(fresh_database()).url,
            "admin" => test_server().admin_url().to_string(),
            "" => continue,
            other => format!("error: unknown command {other:?} (expected `database` or `admin`)"),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}
