//! A process SIGKILLed in the middle of an SQLite migration: the file stays at its previous
//! version, with no partial table, no lost row and a clean `PRAGMA integrity_check`; the
//! pending migration is reported; the normal migrations then apply.
//!
//! The test re-runs its own binary as the child (with `PYCHARTER_SQLITE_CRASH_CHILD` set):
//! the child migrates with a slow 1.1.0 that creates a table, fills it with enough rows for
//! SQLite to spill uncommitted pages into the WAL, then burns CPU in a recursive CTE. The
//! parent knows the child is inside the migration transaction when the file's write lock
//! stays taken (its own `BEGIN IMMEDIATE` with no busy timeout keeps failing), then SIGKILLs
//! it after a delay that differs per trial (during the insert, during the CTE).

mod common;

use common::{manual, object_exists, version_rows, TestDb};
use pycharter_core::{
    BundledMigration, InitializeOptions, MetadataStore, MetadataStoreExt, SchemaManager,
    SchemaState, UpgradeOptions,
};
use pycharter_sqlite::SqliteMetadataStore;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "PYCHARTER_SQLITE_CRASH_CHILD";
/// Delay between "the child holds the write lock" and the kill, one trial each.
const KILL_DELAYS_MS: [u64; 5] = [0, 50, 150, 400, 900];
/// Contracts stored before the crashes; all must survive.
const ROWS: usize = 25;
const BOUND: Duration = Duration::from_secs(30);

/// This build's 1.0.0, then a 1.1.0 that runs for minutes unless killed.
fn slow_migrations() -> Vec<BundledMigration> {
    let first = SqliteMetadataStore::migrations()[0].clone();
    let slow = BundledMigration::custom(
        "1.1.0",
        "slow on purpose: a partial table, then a long computation",
    )
    .expect("valid version")
    .with_table("crash_partial")
    .with_sql(
        "CREATE TABLE crash_partial (x INTEGER, pad BLOB);
         INSERT INTO crash_partial
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000)
             SELECT x, randomblob(64) FROM n;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000)
         SELECT count(*) FROM c;",
        "DROP TABLE IF EXISTS crash_partial;",
    );
    vec![first, slow]
}

/// The child: migrate with the slow list (it is killed before it can finish).
fn child(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteMetadataStore::connect_with_migrations(url, manual(), slow_migrations())
            .await
            .expect("child connect");
        let result = store.upgrade(UpgradeOptions::default()).await;
        panic!("the slow migration finished instead of being killed: {result:?}");
    });
}

/// Kills the child on drop, so a failing assertion never leaves it burning CPU.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_child(test_name: &str, url: &str) -> ChildGuard {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    ChildGuard(Some(child))
}

/// True when another connection holds the file's write lock right now.
async fn write_locked(db: &TestDb) -> bool {
    let options = SqliteConnectOptions::new()
        .filename(&db.path)
        .busy_timeout(Duration::ZERO);
    // No file yet (the child has not started): not locked. Never create it here.
    let Ok(mut conn) = SqliteConnection::connect_with(&options).await else {
        return false;
    };
    let locked = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .is_err();
    if !locked {
        let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
    }
    let _ = conn.close().await;
    locked
}

/// Waits until the child has held the write lock for 150 ms straight (longer than any
/// pragma or catalog read: it is inside the migration transaction), waits `delay`, kills it.
async fn kill_mid_migration(db: &TestDb, mut guard: ChildGuard, delay: Duration) {
    let deadline = Instant::now() + BOUND;
    let mut locked_since: Option<Instant> = None;
    loop {
        let child = guard.0.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            let out = guard.0.take().unwrap().wait_with_output().unwrap();
            panic!(
                "child exited ({status}) before the kill:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "the child never took the lock");
        if write_locked(db).await {
            let since = *locked_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_millis(150) {
                break;
            }
        } else {
            locked_since = None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(delay).await;
    let mut child = guard.0.take().unwrap();
    child.kill().expect("SIGKILL the child");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed, not exited: {status}");
}

/// What must hold after every crash, whatever the file looked like before.
async fn assert_intact(db: &TestDb, versions: &[&str], rows: i64) {
    let raw = db.raw().await;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    assert!(!object_exists(&raw, "crash_partial").await, "partial table");
    if versions.is_empty() {
        let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
            .fetch_one(&raw)
            .await
            .unwrap();
        assert_eq!(objects, 0, "nothing left in a file that was empty");
    } else {
        let recorded: Vec<String> = version_rows(&raw).await.into_iter().map(|r| r.0).collect();
        assert_eq!(recorded, versions);
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM schemas")
            .fetch_one(&raw)
            .await
            .unwrap();
        assert_eq!(stored, rows, "rows lost");
    }
    raw.close().await;
}

const UPGRADE_TEST: &str = "sigkill_mid_upgrade_keeps_the_file_at_the_previous_version";

#[tokio::test]
async fn sigkill_mid_upgrade_keeps_the_file_at_the_previous_version() {
    if let Ok(url) = std::env::var(CHILD_ENV) {
        return tokio::task::spawn_blocking(move || child(&url))
            .await
            .unwrap();
    }
    let db = TestDb::new();
    let first = SqliteMetadataStore::migrations()[..1].to_vec();
    let store = SqliteMetadataStore::connect_with_migrations(&db.url(), manual(), first)
        .await
        .unwrap();
    store
        .initialize(InitializeOptions::default())
        .await
        .unwrap();
    for i in 0..ROWS {
        store
            .store_schema("orders", &format!("1.{i}.0"), &json!({"type": "object"}))
            .await
            .unwrap();
    }
    drop(store);

    for delay in KILL_DELAYS_MS {
        let guard = spawn_child(UPGRADE_TEST, &db.url());
        kill_mid_migration(&db, guard, Duration::from_millis(delay)).await;
        assert_intact(&db, &["1.0.0"], ROWS as i64).await;
        let normal = SqliteMetadataStore::connect(&db.url(), manual())
            .await
            .unwrap();
        let info = normal.validate().await.unwrap();
        assert_eq!(info.state, SchemaState::Outdated, "{}", info.message);
        assert_eq!(info.pending, ["1.1.0", "1.2.0"]);
    }

    let normal = SqliteMetadataStore::connect(&db.url(), manual())
        .await
        .unwrap();
    let report = normal.upgrade(UpgradeOptions::default()).await.unwrap();
    assert_eq!(report.steps.len(), 2);
    assert!(normal.validate().await.unwrap().valid);
    assert_eq!(normal.list_versions("orders").await.unwrap().len(), ROWS);
    assert_intact(&db, &["1.0.0", "1.1.0", "1.2.0"], ROWS as i64).await;
}

const INIT_TEST: &str = "sigkill_mid_init_leaves_a_fresh_file_empty";

#[tokio::test]
async fn sigkill_mid_init_leaves_a_fresh_file_empty() {
    if let Ok(url) = std::env::var(CHILD_ENV) {
        return tokio::task::spawn_blocking(move || child(&url))
            .await
            .unwrap();
    }
    let db = TestDb::new();
    for delay in [0, 300] {
        let guard = spawn_child(INIT_TEST, &db.url());
        kill_mid_migration(&db, guard, Duration::from_millis(delay)).await;
        assert_intact(&db, &[], 0).await;
        let normal = SqliteMetadataStore::connect(&db.url(), manual())
            .await
            .unwrap();
        let info = normal.validate().await.unwrap();
        assert_eq!(info.state, SchemaState::Uninitialized, "{}", info.message);
    }
    let normal = SqliteMetadataStore::new(&db.url()).await.unwrap();
    assert!(normal.validate().await.unwrap().valid);
}
