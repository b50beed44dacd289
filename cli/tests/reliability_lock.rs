//! Lock contention seen from a deploy script: while someone holds the migration lock,
//! `pycharter db upgrade` waits (several deployers at once, each finishing once it is free,
//! one of them applying); with `--lock-timeout` it gives up after that long, says why and
//! what to do, and changes nothing. PostgreSQL (the advisory lock, and the `table` strategy's
//! row lock) and SQLite (the file's write lock, `BEGIN IMMEDIATE`).

mod reliability_support;

use pycharter_postgres::MIGRATION_LOCK_KEY;
use reliability_support::*;
use std::io::{BufRead as _, BufReader};
use std::process::Output;
use std::sync::{Arc, Mutex};
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

/// Exactly one deployer applied what follows 1.0.0, the others found nothing to do.
fn all_succeed_one_applies(outputs: Vec<Output>) {
    let mut applied = 0;
    for out in &outputs {
        assert_code(out, 0);
        match applied_steps(out).as_slice() {
            [] => {}
            steps if steps == &ALL_VERSIONS[1..] => applied += 1,
            other => panic!("unexpected steps {other:?}"),
        }
    }
    assert_eq!(
        applied, 1,
        "exactly one deployer applies the pending migrations"
    );
}

fn spawn_deployers(url: &str) -> Vec<std::process::Child> {
    (0..WAITING_DEPLOYERS)
        .map(|_| spawn(&["db", "upgrade", url, "--json"]))
        .collect()
}

#[test]
fn postgres_deployers_wait_for_the_migration_lock_or_give_up_after_lock_timeout() {
    postgres_deployers_wait(Lock::Advisory);
}

#[test]
fn postgres_deployers_wait_for_the_table_lock_or_give_up_after_lock_timeout() {
    postgres_deployers_wait(Lock::Table);
}

/// The two migration lock strategies of the Postgres backend.
#[derive(Debug, Clone, Copy)]
enum Lock {
    Advisory,
    Table,
}

impl Lock {
    /// The URL the deployers use.
    fn url(self, url: &str) -> String {
        match self {
            Lock::Advisory => url.to_string(),
            Lock::Table => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}migration_lock=table")
            }
        }
    }

    /// SQL that takes the lock in an open transaction, as a DBA would.
    fn hold(self) -> String {
        match self {
            Lock::Advisory => format!("BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY});"),
            Lock::Table => {
                "BEGIN; SELECT id FROM pycharter_migration_lock WHERE id = 1 FOR UPDATE;".into()
            }
        }
    }

    /// The kind of lock the waiters wait on in pg_locks (row lock waiters wait on the
    /// holder's transaction id or on the row's tuple lock: any lock wait).
    fn waited_on(self) -> Option<&'static str> {
        match self {
            Lock::Advisory => Some("advisory"),
            Lock::Table => None,
        }
    }
}

fn postgres_deployers_wait(lock: Lock) {
    let db = pg_database();
    let url = lock.url(&db.url);
    assert_code(&run(&["db", "upgrade", &url, "--to", "1.0.0"]), 0);

    let mut holder = PgSession::open(&db.url);
    holder.exec(&lock.hold());

    upgrade_gives_up(&url);
    assert_eq!(pg_versions(&db.url), vec!["1.0.0"], "changed nothing");
    assert!(!pg_index_exists(&db.url, INDEX_1_1_0));

    // Without a timeout they wait, every one of them, for as long as the lock is held.
    let children = spawn_deployers(&url);
    wait_until(
        &format!("every deployer waiting on the {lock:?} lock"),
        Duration::from_secs(30),
        || pycharter_sessions(&db.url, lock.waited_on()).1 == WAITING_DEPLOYERS as i64,
    );
    assert_eq!(
        pg_versions(&db.url),
        vec!["1.0.0"],
        "nobody migrated under the lock"
    );

    holder.exec("COMMIT");
    let outputs = children
        .into_iter()
        .map(|c| wait_within(c, Duration::from_secs(60)))
        .collect();
    all_succeed_one_applies(outputs);
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

    // Without a timeout they wait (SQLite's busy handler, 30 s by default). SQLite has no
    // pg_locks; the signals are the deployers' own debug logs: "connected" (the next thing
    // a `db upgrade` does is BEGIN IMMEDIATE, the lock) and, once they get the lock, how
    // long they waited for it.
    let mut deployers: Vec<LoggedDeployer> = (0..WAITING_DEPLOYERS)
        .map(|_| LoggedDeployer::spawn(&["-vv", "db", "upgrade", &url, "--json"]))
        .collect();
    wait_until(
        "every deployer connected and trying to take the lock",
        Duration::from_secs(30),
        || deployers.iter().all(|d| d.logged(CONNECTED)),
    );
    // Keep the lock for HOLD more: none of them gets it or finishes meanwhile.
    let released_after = Instant::now() + HOLD;
    while Instant::now() < released_after {
        for deployer in &mut deployers {
            deployer.assert_waiting();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        versions(&mut holder),
        vec!["1.0.0"],
        "nobody migrated under the lock"
    );

    holder.exec("ROLLBACK");
    let mut outputs = Vec::new();
    for deployer in deployers {
        let (out, log) = deployer.finish();
        // Each one reports having waited for the lock about as long as it was still held
        // after it connected (at least HOLD, minus its own few steps after "connected").
        let waited = waited_ms(&log);
        assert!(
            waited >= HOLD.as_millis() as u64 / 2,
            "waited only {waited} ms for the lock held {HOLD:?} after it connected:\n{log}"
        );
        outputs.push(out);
    }
    all_succeed_one_applies(outputs);
    assert_eq!(versions(&mut holder), ALL_VERSIONS);
    assert_code(&run(&["db", "check", &url]), 0);
}

/// Debug line of the SQLite backend once the store is open (the next step is the lock).
const CONNECTED: &str = "pycharter::sqlite: connected";
/// Debug line of the SQLite backend once `BEGIN IMMEDIATE` returned; it has `waited_ms=`.
const LOCK_TAKEN: &str = "migration lock taken";
/// How long the SQLite lock stays held after every deployer has reached it.
const HOLD: Duration = Duration::from_millis(1000);

/// A deployer whose stderr (its logs) is read as it is written.
struct LoggedDeployer {
    child: std::process::Child,
    log: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl LoggedDeployer {
    fn spawn(args: &[&str]) -> LoggedDeployer {
        let mut child = spawn(args);
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let reader = std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { return };
                    let mut log = log.lock().expect("log");
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        LoggedDeployer { child, log, reader }
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().expect("log").contains(needle)
    }

    /// Fails unless the process is still running without the lock.
    fn assert_waiting(&mut self) {
        let log = self.log.lock().expect("log").clone();
        let exited = self.child.try_wait().expect("poll pycharter");
        assert!(
            exited.is_none() && !log.contains(LOCK_TAKEN),
            "a deployer got past the write lock while it was held ({exited:?}):\n{log}"
        );
    }

    /// Waits for the process; its output and its whole log.
    fn finish(self) -> (Output, String) {
        let out = wait_within(self.child, Duration::from_secs(60));
        self.reader.join().expect("stderr reader");
        let log = self.log.lock().expect("log").clone();
        (out, log)
    }
}

/// The `waited_ms` of the "migration lock taken" line.
fn waited_ms(log: &str) -> u64 {
    log.lines()
        .find(|line| line.contains(LOCK_TAKEN))
        .and_then(|line| line.split("waited_ms=").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no {LOCK_TAKEN:?} line with waited_ms in:\n{log}"))
}
