//! Helpers of the `reliability_*` tests: the real `pycharter` binary as a child process
//! (so it can be SIGKILLed), direct SQL to look behind its back, and bounded polling.
//! Kept apart from `tests/common` on purpose: that module belongs to the CLI's own tests.

#![allow(dead_code)] // each reliability test binary uses a subset

use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every migration this build ships, in order.
pub const ALL_VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "1.2.0"];
/// The index the 1.1.0 migration creates.
pub const INDEX_1_1_0: &str = "idx_schemas_name_sort_key";

/// The binary under test, with an ambient URL or log filter removed.
pub fn pycharter() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pycharter"));
    cmd.env_remove("PYCHARTER_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `pycharter args…` to completion, bounded by `limit` (killed and failed beyond it).
pub fn run_within(args: &[&str], limit: Duration) -> Output {
    let child = spawn(args);
    wait_within(child, limit)
}

/// Runs `pycharter args…` to completion (60 s at most).
pub fn run(args: &[&str]) -> Output {
    run_within(args, Duration::from_secs(60))
}

/// Starts `pycharter args…` with both streams captured.
pub fn spawn(args: &[&str]) -> Child {
    pycharter()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pycharter")
}

/// Waits for `child`, killing it and failing the test past `limit`.
pub fn wait_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("poll pycharter").is_some() {
            return child.wait_with_output().expect("collect pycharter output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect pycharter output");
            panic!(
                "pycharter did not finish within {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs `child` (std's `Child::kill` is SIGKILL on Unix) and checks that is how it died.
pub fn sigkill(mut child: Child) {
    use std::os::unix::process::ExitStatusExt as _;
    child.kill().expect("SIGKILL pycharter");
    let status = child.wait().expect("reap pycharter");
    assert_eq!(
        status.signal(),
        Some(9),
        "pycharter had exited before the kill: {status}"
    );
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Both streams, for assertion messages and for "never printed" checks.
pub fn all_output(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    )
}

pub fn assert_code(out: &Output, want: i32) {
    assert_eq!(out.status.code(), Some(want), "{}", all_output(out));
}

/// stdout as one JSON document.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", all_output(out)))
}

/// Versions a `--json` migration report says were applied.
pub fn applied_steps(out: &Output) -> Vec<String> {
    json(out)["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {}", all_output(out)))
        .iter()
        .map(|s| s["version"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Polls `condition` every 20 ms until it holds; fails with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

// --- Postgres --------------------------------------------------------------------------------

/// A fresh, empty database on the test server.
pub fn pg_database() -> pycharter_test_postgres::TestDatabase {
    block_on(pycharter_test_postgres::fresh_database())
}

/// A connection of the test's own, held across steps (e.g. to hold a lock).
pub struct PgSession {
    runtime: tokio::runtime::Runtime,
    conn: Option<PgConnection>,
}

impl PgSession {
    pub fn open(url: &str) -> PgSession {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let conn = runtime
            .block_on(PgConnection::connect(url))
            .expect("connect to the test database");
        PgSession {
            runtime,
            conn: Some(conn),
        }
    }

    /// Runs statements (simple protocol, several allowed).
    pub fn exec(&mut self, sql: &str) {
        use sqlx::Executor as _;
        let conn = self.conn.as_mut().expect("open");
        self.runtime
            .block_on(conn.execute(sqlx::raw_sql(AssertSqlSafe(sql))))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn i64(&mut self, sql: &str) -> i64 {
        let conn = self.conn.as_mut().expect("open");
        self.runtime
            .block_on(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).fetch_one(conn))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub fn strings(&mut self, sql: &str) -> Vec<String> {
        let conn = self.conn.as_mut().expect("open");
        self.runtime
            .block_on(sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).fetch_all(conn))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = self.runtime.block_on(conn.close());
        }
    }
}

/// One-shot query on a fresh connection.
pub fn pg_i64(url: &str, sql: &str) -> i64 {
    PgSession::open(url).i64(sql)
}

/// Versions recorded in the version table, ascending.
pub fn pg_versions(url: &str) -> Vec<String> {
    PgSession::open(url)
        .strings("SELECT version FROM pycharter_schema_version ORDER BY version COLLATE \"C\"")
}

/// Whether an index of that name exists in `public`.
pub fn pg_index_exists(url: &str, index: &str) -> bool {
    pg_i64(
        url,
        &format!(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = '{index}'"
        ),
    ) == 1
}

/// Tables in `public`.
pub fn pg_tables(url: &str) -> Vec<String> {
    PgSession::open(url).strings(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
}

/// Server sessions of `pycharter` processes (application_name) in the current database,
/// and how many of them wait on a lock of kind `locktype` (`relation`, `advisory`, …; None:
/// any lock wait).
pub fn pycharter_sessions(url: &str, locktype: Option<&str>) -> (i64, i64) {
    let mut s = PgSession::open(url);
    let all = s.i64(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'pycharter'",
    );
    let filter = locktype.map_or(String::new(), |t| format!("AND l.locktype = '{t}'"));
    let waiting = s.i64(&format!(
        "SELECT count(DISTINCT a.pid) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid \
         WHERE a.datname = current_database() AND a.application_name = 'pycharter' \
         AND NOT l.granted {filter}"
    ));
    (all, waiting)
}

// --- SQLite ----------------------------------------------------------------------------------

/// A connection of the test's own to an SQLite file (e.g. to hold its write lock).
pub struct SqliteSession {
    runtime: tokio::runtime::Runtime,
    conn: SqliteConnection,
}

impl SqliteSession {
    pub fn open(path: &Path) -> SqliteSession {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(10));
        let conn = runtime
            .block_on(SqliteConnection::connect_with(&options))
            .expect("open the SQLite file");
        SqliteSession { runtime, conn }
    }

    pub fn exec(&mut self, sql: &str) {
        use sqlx::Executor as _;
        self.runtime
            .block_on(self.conn.execute(sqlx::raw_sql(AssertSqlSafe(sql))))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn strings(&mut self, sql: &str) -> Vec<String> {
        self.runtime
            .block_on(sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).fetch_all(&mut self.conn))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub fn i64(&mut self, sql: &str) -> i64 {
        self.runtime
            .block_on(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).fetch_one(&mut self.conn))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}
