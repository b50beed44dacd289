//! Helpers shared by the CLI tests: the real `pycharter` binary, SQLite files in a tempdir,
//! and direct SQL (sqlx) to set up and inspect databases behind the CLI's back.

// Each test file compiles this module separately and uses a different subset of it.
#![allow(dead_code)]

use assert_cmd::Command;
use pycharter_core::spec::VERSION_TABLE;
use pycharter_core::BundledMigration;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use tempfile::TempDir;

/// The bundled migrations, in order (what a fully initialized database records).
pub const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "1.2.0"];

/// The binary under test, with the caller's environment neutralised: an ambient
/// `PYCHARTER_DATABASE_URL`, `DATABASE_URL` or `RUST_LOG` would change what the tests
/// observe.
pub fn pycharter() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pycharter"));
    cmd.env_remove("PYCHARTER_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(120));
    cmd
}

/// The same binary as a plain `std` command, for tests that spawn many processes at once.
pub fn pycharter_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pycharter"));
    cmd.env_remove("PYCHARTER_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    cmd
}

/// Runs `args` and returns the output, whatever the exit code.
pub fn run(args: &[&str]) -> Output {
    pycharter().args(args).output().expect("run pycharter")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The process's exit code, with both streams in the panic message when it differs.
pub fn assert_code(output: &Output, want: i32) {
    assert_eq!(
        output.status.code(),
        Some(want),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(output),
        stderr(output)
    );
}

/// stdout parsed as exactly one JSON document (trailing whitespace aside).
pub fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\n--- stderr\n{}",
            stdout(output),
            stderr(output)
        )
    })
}

/// An SQLite database file (not created yet) in its own temporary directory.
pub struct SqliteDb {
    /// Keeps the directory alive for the test.
    pub dir: TempDir,
    /// The file.
    pub path: PathBuf,
    /// `sqlite://<absolute path>`.
    pub url: String,
}

/// A new [`SqliteDb`].
pub fn sqlite_db() -> SqliteDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let url = format!("sqlite://{}", path.display());
    SqliteDb { dir, path, url }
}

/// A [`SqliteDb`] that `pycharter db init` initialized.
pub fn initialized_sqlite_db() -> SqliteDb {
    let db = sqlite_db();
    assert_code(&run(&["db", "init", &db.url]), 0);
    db
}

/// Runs a future to completion on a fresh single-threaded runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

async fn sqlite_connect(path: &Path) -> SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    SqliteConnection::connect_with(&options)
        .await
        .expect("open the SQLite file")
}

/// Executes one statement on an existing SQLite file.
pub fn sqlite_exec(path: &Path, statement: &str) {
    block_on(async {
        let mut conn = sqlite_connect(path).await;
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    });
}

/// The one integer `query` returns, on an existing SQLite file.
pub fn sqlite_i64(path: &Path, query: &str) -> i64 {
    block_on(async {
        let mut conn = sqlite_connect(path).await;
        sqlx::query_scalar(AssertSqlSafe(query))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    })
}

/// Whether `table` exists in an existing SQLite file.
pub fn sqlite_table_exists(path: &Path, table: &str) -> bool {
    let query =
        format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'");
    sqlite_i64(path, &query) == 1
}

/// Stores one schema through the library, as an application would.
pub fn store_a_schema(url: &str) {
    use pycharter_core::{ConnectOptions, MetadataStoreExt};
    block_on(async {
        let store = pycharter_sqlite::SqliteMetadataStore::connect(url, ConnectOptions::default())
            .await
            .expect("connect with the library");
        store
            .store_schema("orders", "1.0.0", &serde_json::json!({"type": "object"}))
            .await
            .expect("store a schema");
    });
}

/// The one integer `query` returns, on a Postgres database.
pub fn pg_i64(url: &str, query: &str) -> i64 {
    block_on(async {
        let mut conn = PgConnection::connect(url)
            .await
            .expect("connect to Postgres");
        let value: i64 = sqlx::query_scalar(AssertSqlSafe(query))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let _ = conn.close().await;
        value
    })
}

/// Executes one statement on a Postgres database.
pub fn pg_exec(url: &str, statement: &str) {
    block_on(async {
        let mut conn = PgConnection::connect(url)
            .await
            .expect("connect to Postgres");
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        let _ = conn.close().await;
    });
}

/// Whether `table` exists in the `public` schema of a Postgres database.
pub fn pg_table_exists(url: &str, table: &str) -> bool {
    let query = format!(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name = '{table}'"
    );
    pg_i64(url, &query) == 1
}

/// A fresh, empty Postgres database on the test server; its URL holds a password.
pub fn pg_database() -> pycharter_test_postgres::TestDatabase {
    block_on(pycharter_test_postgres::fresh_database())
}

/// The versions recorded in the version table of an existing SQLite file, as stored.
pub fn sqlite_versions(path: &Path) -> Vec<String> {
    let query = format!("SELECT version FROM {VERSION_TABLE}");
    block_on(async {
        let mut conn = sqlite_connect(path).await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(query.as_str()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    })
}

/// The versions recorded in the version table of a Postgres database, as stored.
pub fn pg_versions(url: &str) -> Vec<String> {
    let query = format!("SELECT version FROM {VERSION_TABLE}");
    block_on(async {
        let mut conn = PgConnection::connect(url)
            .await
            .expect("connect to Postgres");
        let versions = sqlx::query_scalar(sqlx::AssertSqlSafe(query.as_str()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let _ = conn.close().await;
        versions
    })
}

/// Asserts that the version table holds exactly one row per migration the backend bundles:
/// as many rows as bundled migrations, and the recorded versions are the bundled ones (no
/// missing, no extra, none recorded twice). `recorded` is the table's `version` column in
/// any order ([`sqlite_versions`], [`pg_versions`]).
pub fn assert_one_row_per_migration(recorded: Vec<String>, bundled: &[BundledMigration]) {
    let want: Vec<String> = bundled.iter().map(|m| m.version.to_string()).collect();
    assert_eq!(
        recorded.len(),
        want.len(),
        "rows in {VERSION_TABLE}: {recorded:?}, bundled: {want:?}"
    );
    let mut got: Vec<semver::Version> = recorded
        .iter()
        .map(|v| {
            semver::Version::parse(v)
                .unwrap_or_else(|e| panic!("{VERSION_TABLE} records {v:?}, not a version: {e}"))
        })
        .collect();
    got.sort();
    let got: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(got, want, "versions recorded in {VERSION_TABLE}");
    // The constant the other CLI tests compare with is this build's list.
    assert_eq!(want, VERSIONS, "VERSIONS is out of date");
}

/// The migrations the SQLite backend bundles.
pub fn sqlite_migrations() -> Vec<BundledMigration> {
    pycharter_sqlite::SqliteMetadataStore::migrations()
}

/// The migrations the Postgres backend bundles.
pub fn postgres_migrations() -> Vec<BundledMigration> {
    pycharter_postgres::PostgresMetadataStore::migrations()
}
