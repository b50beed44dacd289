//! A real `pycharter` process SIGKILLed in the middle of a migration on PostgreSQL, the way an
//! orchestrator kills a deploy job: nothing half-applied, no lost row, `db check` reports
//! what is left, and rerunning the command succeeds.
//!
//! - `init` on an empty database is one transaction: the test holds an uncommitted `CREATE
//!   TABLE coercion_rules`, which the 1.0.0 step (after creating the version table, `schemas`
//!   and its indexes) waits on, and kills pycharter then: nothing is left.
//! - `upgrade` to 1.1.0 builds its index online (`CREATE INDEX CONCURRENTLY`, outside the
//!   migration transaction). The test holds a REPEATABLE READ snapshot (on another table), for
//!   which the build waits before it can mark the index valid, and kills pycharter then: the
//!   server stops the build (it checks the client connection), leaving an INVALID index that
//!   `db check` names; the next `upgrade` drops and rebuilds it.
//!
//! The kill comes once the server shows the pycharter session waiting on that lock.
//!
//! The init test runs with both migration lock strategies: `advisory` (the default) and
//! `table` (`?migration_lock=table`: a row of `pycharter_migration_lock` locked by the
//! migration transaction), which a crash must release just the same.

mod reliability_support;

use pycharter_core::{ConnectOptions, MetadataStoreExt};
use pycharter_postgres::PostgresMetadataStore;
use reliability_support::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const UPGRADE_TRIALS: usize = 5;
const INIT_TRIALS: usize = 3;
/// Contracts stored before the crashes; every one must survive them.
const ROWS: usize = 20;
const BOUND: Duration = Duration::from_secs(30);

/// Stores `ROWS` schema versions (with ownership) through the library, on a database at 1.0.0.
fn store_rows(url: &str) {
    block_on(async {
        let options = ConnectOptions {
            auto_initialize: false,
            ..ConnectOptions::default()
        };
        // This build's 1.0.0 alone: the database is valid for it, so writes are admitted.
        let first = PostgresMetadataStore::migrations()[..1].to_vec();
        let store = PostgresMetadataStore::connect_with_migrations(url, options, first)
            .await
            .expect("connect at 1.0.0");
        for i in 0..ROWS {
            let version = format!("1.{i}.0");
            store
                .store_schema("orders", &version, &json!({"type": "object"}))
                .await
                .expect("store");
            store
                .store_ownership("orders", &version, &json!({"team": i}))
                .await
                .expect("store ownership");
        }
        store.close().await;
    });
}

/// What the server showed of a deployer's session just before the deployer was SIGKILLed.
#[derive(Debug)]
struct Kill {
    /// The session's backend pid.
    pid: i64,
    /// Migration locks its transaction held (the advisory lock, or the row lock's
    /// RowShareLock on `pycharter_migration_lock`): 1 inside the migration transaction.
    migration_locks: i64,
    /// Relation locks its transaction held: the objects it had created or altered so far,
    /// i.e. the work the crash must undo.
    relations: i64,
}

/// Granted locks of kind `locktype` held by backend `pid`.
fn granted_locks(observer: &mut PgSession, pid: i64, locktype: &str) -> i64 {
    observer.i64(&format!(
        "SELECT count(*) FROM pg_locks WHERE pid = {pid} AND granted AND locktype = '{locktype}'"
    ))
}

/// The migration lock held by backend `pid`, under either strategy.
fn migration_locks(observer: &mut PgSession, pid: i64) -> i64 {
    observer.i64(&format!(
        "SELECT count(*) FROM pg_locks WHERE pid = {pid} AND granted AND (locktype = 'advisory' \
         OR (locktype = 'relation' AND mode = 'RowShareLock' \
             AND relation = to_regclass('pycharter_migration_lock')))"
    ))
}

/// The database URL of a test, with the lock strategy under test.
fn with_lock(url: &str, lock: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}migration_lock={lock}")
}

/// Spawns `pycharter args…`, waits until the server shows its session waiting on a lock,
/// records what that session holds, SIGKILLs the process, releases the lock by rolling
/// `blocker` back, then waits until the server has ended the orphaned session (it notices
/// the dead client once the lock is granted).
fn kill_while_blocked(url: &str, args: &[&str], mut blocker: PgSession) -> Kill {
    let child = spawn(args);
    let mut observer = PgSession::open(url);
    let mut pid = 0;
    wait_until("pycharter blocked mid-migration", BOUND, || {
        pid = observer.i64(
            "SELECT COALESCE(max(a.pid), 0)::bigint FROM pg_stat_activity a \
             JOIN pg_locks l ON l.pid = a.pid \
             WHERE a.datname = current_database() AND a.application_name = 'pycharter' \
             AND NOT l.granted",
        );
        pid != 0
    });
    let kill = Kill {
        pid,
        migration_locks: migration_locks(&mut observer, pid),
        relations: granted_locks(&mut observer, pid, "relation"),
    };
    sigkill(child);
    blocker.exec("ROLLBACK");
    drop(blocker);
    wait_until("the killed deployer's session ended", BOUND, || {
        observer.i64(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
        )) == 0
            && pycharter_sessions(url, None).0 == 0
    });
    kill
}

fn check_json(url: &str) -> serde_json::Value {
    let out = run(&["db", "check", url, "--json"]);
    assert_code(&out, 1);
    json(&out)
}

/// The index oid and validity of the 1.1.0 index (None: absent).
fn index_1_1_0(url: &str) -> Option<(i64, bool)> {
    let mut s = PgSession::open(url);
    let found = s.i64(&format!(
        "SELECT count(*) FROM pg_class WHERE relname = '{INDEX_1_1_0}'"
    ));
    (found == 1).then(|| {
        let oid = s.i64(&format!(
            "SELECT oid::bigint FROM pg_class WHERE relname = '{INDEX_1_1_0}'"
        ));
        let valid = s.i64(&format!(
            "SELECT count(*) FROM pg_index WHERE indexrelid = {oid} AND indisvalid"
        ));
        (oid, valid == 1)
    })
}

#[test]
fn sigkill_mid_index_build_leaves_an_invalid_index_that_check_names_and_upgrade_rebuilds() {
    let db = pg_database();
    assert_code(&run(&["db", "upgrade", &db.url, "--to", "1.0.0"]), 0);
    store_rows(&db.url);

    let mut killed = BTreeSet::new();
    let mut leftovers = BTreeSet::new();
    for _ in 0..UPGRADE_TRIALS {
        // An old snapshot the build must wait for before it can validate the index; it
        // locks nothing of `schemas`, so the rerun can drop the previous leftover first.
        let mut blocker = PgSession::open(&db.url);
        blocker.exec(
            "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pycharter_schema_version;",
        );
        let child = spawn(&["db", "upgrade", &db.url]);
        let mut observer = PgSession::open(&db.url);
        let mut pid = 0;
        wait_until("pycharter's index build waiting", BOUND, || {
            pid = observer.i64(
                "SELECT COALESCE(max(pid), 0)::bigint FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'pycharter' \
                 AND wait_event_type = 'Lock' AND query LIKE '%CREATE INDEX CONCURRENTLY%'",
            );
            pid != 0
        });
        // Outside the migration transaction: it holds no migration lock of ours.
        let advisory = observer.i64(&format!(
            "SELECT count(*) FROM pg_locks WHERE pid = {pid} AND locktype = 'advisory'"
        ));
        assert_eq!(advisory, 0, "the build holds no migration lock");
        let (oid, valid) = index_1_1_0(&db.url).expect("the build created its catalog entry");
        assert!(!valid);
        sigkill(child);
        // The server stops the build of the dead client by itself, while the snapshot it
        // waits for is still there (it does not finish it for nobody).
        wait_until("the killed deployer's build stopped", BOUND, || {
            observer.i64(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
            )) == 0
        });
        assert_eq!(index_1_1_0(&db.url), Some((oid, false)), "left INVALID");
        blocker.exec("ROLLBACK");
        killed.insert(pid);
        leftovers.insert(oid);

        assert_eq!(pg_versions(&db.url), vec!["1.0.0"], "1.1.0 not recorded");
        assert_eq!(pg_i64(&db.url, "SELECT count(*) FROM schemas"), ROWS as i64);
        assert_eq!(
            pg_i64(&db.url, "SELECT count(*) FROM ownership"),
            ROWS as i64
        );
        let info = check_json(&db.url);
        assert_eq!(info["state"], "outdated", "{info}");
        assert_eq!(info["pending"], json!(ALL_VERSIONS[1..]), "{info}");
        assert_eq!(info["invalid_indexes"], json!([INDEX_1_1_0]), "{info}");
        assert!(
            info["message"]
                .as_str()
                .is_some_and(|m| m.contains("INVALID") && m.contains("db upgrade")),
            "{info}"
        );
        assert_eq!(info["version"], "1.0.0", "{info}");
    }
    // Each trial killed a build of its own, each on a new index: the run after a kill
    // dropped the previous leftover before building again.
    assert_eq!(killed.len(), UPGRADE_TRIALS, "sessions killed: {killed:?}");
    assert_eq!(
        leftovers.len(),
        UPGRADE_TRIALS,
        "leftover oids: {leftovers:?}"
    );

    let out = run(&["db", "upgrade", &db.url, "--json"]);
    assert_code(&out, 0);
    assert_eq!(applied_steps(&out), ALL_VERSIONS[1..]);
    assert_code(&run(&["db", "check", &db.url]), 0);
    assert_eq!(pg_versions(&db.url), ALL_VERSIONS);
    let (oid, valid) = index_1_1_0(&db.url).expect("built");
    assert!(valid && !leftovers.contains(&oid));
    assert_eq!(pg_i64(&db.url, "SELECT count(*) FROM schemas"), ROWS as i64);
    assert_eq!(
        pg_i64(&db.url, "SELECT count(*) FROM ownership"),
        ROWS as i64
    );
}

#[test]
fn sigkill_mid_init_leaves_an_empty_postgres_database_empty() {
    sigkill_mid_init("advisory", &[]);
}

/// The lock table is created before the migration transaction, and is not part of the
/// versioned layout: it is all that may exist after the crash.
#[test]
fn sigkill_mid_init_with_the_table_lock_leaves_only_the_lock_table() {
    sigkill_mid_init("table", &["pycharter_migration_lock"]);
}

fn sigkill_mid_init(lock: &str, left: &[&str]) {
    let db = pg_database();
    let url = with_lock(&db.url, lock);
    let mut killed = BTreeSet::new();
    for _ in 0..INIT_TRIALS {
        let mut blocker = PgSession::open(&db.url);
        // Uncommitted, so invisible to pycharter's IF NOT EXISTS: its own CREATE TABLE of the
        // same name waits for this transaction to end.
        blocker.exec("BEGIN; CREATE TABLE coercion_rules (blocker int);");
        let kill = kill_while_blocked(&db.url, &["db", "init", &url], blocker);
        assert_eq!(
            kill.migration_locks, 1,
            "killed holding the migration lock: {kill:?}"
        );
        // The version table, `schemas` and its indexes were created before the wait.
        assert!(
            kill.relations >= 4,
            "killed after creating objects: {kill:?}"
        );
        killed.insert(kill.pid);

        assert_eq!(pg_tables(&db.url), left, "nothing left behind");
        let info = check_json(&db.url);
        assert_eq!(info["state"], "uninitialized", "{info}");
    }
    assert_eq!(killed.len(), INIT_TRIALS, "sessions killed: {killed:?}");
    let out = run(&["db", "init", &url, "--json"]);
    assert_code(&out, 0);
    assert_eq!(applied_steps(&out), ALL_VERSIONS);
    assert_code(&run(&["db", "check", &db.url]), 0);
    assert_eq!(pg_versions(&db.url), ALL_VERSIONS);
}
