//! Lock contention seen from a deploy script: while someone holds the migration lock,
//! `pycharter db upgrade` waits (several deployers at once, each finishing once it is free,
//! one of them applying); with `--lock-timeout` it gives up after that long, says why and
//! what to do, and changes nothing. PostgreSQL (the advisory lock) and SQLite (the file's
//! write lock, `BEGIN IMMEDIATE`).

mod reliability_support;

use pycharter_postgres::MIGRATION_LOCK_KEY;
use reliability_support::*;
use std::process::Output;
use std::time::{Duration, Instant};

/// Deployers started while the lock is held.
const WAITING_DEPLOYERS: usize = 6;
/// What "gives up after --lock-timeout 1" may take at most, process start included.
const GIVE_UP_BOUND: Duration = Duration::from_secs(10);

/// `db upgrade URL --lock-timeout 1`, timed; must fail with the lock-timeout error.
fn upgrade_gives_up(url: &str) {
    let started = Instant::now();
    let out = run_within(
        &["db", "upgrade", url, "--lock-timeout", "1"],
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    assert_ne!(out.status.code(), Some(0), "{}", all_output(&out));
    assert_code(&out, 2); // the documented "cannot run; retry" code
    assert!(took < GIVE_UP_BOUND, "gave up after {took:?}");
    assert!(took >= Duration::from_millis(900), "did not wait: {took:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("migration lock"), "{stderr}");
    assert!(stderr.contains("--lock-timeout"), "{stderr}");

    let out = run_within(
        &["db", "upgrade", url, "--lock-timeout", "0.5", "--json"],
        Duration::from_secs(30),
    );
    assert_code(&out, 2);
    assert_eq!(json(&out)["kind"], "lock_timeout", "{}", all_output(&out));
}

/// Waits for every deployer; exactly one applied 1.1.0, the others found nothing to do.
fn all_succeed_one_applies(children: Vec<std::process::Child>) {
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| wait_within(c, Duration::from_secs(60)))
        .collect();
    let mut applied = 0;
    for out in &outputs {
        assert_code(out, 0);
        match applied_steps(out).as_slice() {
            [] => {}
            [v] if v == "1.1.0" => applied += 1,
            other => panic!("unexpected steps {other:?}"),
        }
    }
    assert_eq!(applied, 1, "exactly one deployer applies 1.1.0");
}

fn spawn_deployers(url: &str) -> Vec<std::process::Child> {
    (0..WAITING_DEPLOYERS)
        .map(|_| spawn(&["db", "upgrade", url, "--json"]))
        .collect()
}

#[test]
fn postgres_deployers_wait_for_the_migration_lock_or_give_up_after_lock_timeout() {
    let db = pg_database();
    assert_code(&run(&["db", "upgrade", &db.url, "--to", "1.0.0"]), 0);

    let mut holder = PgSession::open(&db.url);
    holder.exec(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY});"
    ));

    upgrade_gives_up(&db.url);
    assert_eq!(pg_versions(&db.url), vec!["1.0.0"], "changed nothing");
    assert!(!pg_index_exists(&db.url, INDEX_1_1_0));

    // Without a timeout they wait, every one of them, for as long as the lock is held.
    let children = spawn_deployers(&db.url);
    wait_until(
        "every deployer waiting on the advisory lock",
        Duration::from_secs(30),
        || pycharter_sessions(&db.url, Some("advisory")).1 == WAITING_DEPLOYERS as i64,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        pg_versions(&db.url),
        vec!["1.0.0"],
        "nobody migrated under the lock"
    );

    holder.exec("COMMIT");
    all_succeed_one_applies(children);
    assert_eq!(pg_versions(&db.url), ALL_VERSIONS);
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn sqlite_deployers_wait_for_the_write_lock_or_give_up_after_lock_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let url = format!("sqlite://{}", path.display());
    assert_code(&run(&["db", "upgrade", &url, "--to", "1.0.0"]), 0);

    let mut holder = SqliteSession::open(&path);
    holder.exec("BEGIN IMMEDIATE");

    upgrade_gives_up(&url);
    let versions = |s: &mut SqliteSession| {
        s.strings("SELECT version FROM pycharter_schema_version ORDER BY version")
    };
    assert_eq!(versions(&mut holder), vec!["1.0.0"], "changed nothing");

    // Without a timeout they wait (SQLite's busy handler, 30 s by default).
    let children = spawn_deployers(&url);
    std::thread::sleep(Duration::from_millis(1500));
    let mut children = children;
    for child in &mut children {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "a deployer finished while the write lock was held"
        );
    }
    assert_eq!(versions(&mut holder), vec!["1.0.0"]);

    holder.exec("ROLLBACK");
    all_succeed_one_applies(children);
    assert_eq!(versions(&mut holder), ALL_VERSIONS);
    assert_code(&run(&["db", "check", &url]), 0);
}
