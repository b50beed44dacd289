//! `pycharter db check --wait SECS`, the readiness gate of an application pod: started
//! before the migration Job, it exits 0 soon after the Job finished; nobody migrating, it
//! gives up at the deadline with check's exit code and says what it waited for; what waiting
//! cannot fix (a damaged or newer incompatible schema) fails at once.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How late `check --wait` may notice that the schema became ready, or give up after its
/// deadline: the longest pause between attempts (1 s), one attempt, and process start-up on
/// a loaded CI machine.
const NOTICE_BOUND: Duration = Duration::from_secs(5);

/// A `pycharter` process whose stderr is read line by line as it is written.
struct Watched {
    child: Child,
    stderr: JoinHandle<String>,
    /// One message per stderr line that contains the watched text.
    seen: mpsc::Receiver<()>,
}

fn spawn_watching(args: &[&str], env: &[(&str, &str)], watched: &'static str) -> Watched {
    let mut child = pycharter_std()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pycharter");
    let pipe = child.stderr.take().expect("stderr");
    let (tx, seen) = mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(pipe).lines() {
            let line = line.expect("stderr line");
            if line.contains(watched) {
                let _ = tx.send(());
            }
            text += &line;
            text += "\n";
        }
        text
    });
    Watched {
        child,
        stderr,
        seen,
    }
}

impl Watched {
    /// Waits for the process to exit (at most `limit`): its output and when it exited.
    fn exit_within(self, limit: Duration) -> (Output, Instant) {
        let (tx, rx) = mpsc::channel();
        let mut child = self.child;
        let pid = child.id();
        std::thread::spawn(move || {
            let status = child.wait();
            let exited = Instant::now();
            let stdout = child.stdout.take().map(|mut pipe| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut pipe, &mut bytes).expect("stdout");
                bytes
            });
            let _ = tx.send((status, stdout.unwrap_or_default(), exited));
        });
        let (status, stdout, exited) = rx.recv_timeout(limit).unwrap_or_else(|_| {
            // Ours to end: the child this test started, by its id.
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("pycharter db check --wait did not exit within {limit:?}")
        });
        let stderr = self.stderr.join().expect("stderr reader");
        let output = Output {
            status: status.expect("wait for pycharter"),
            stdout,
            stderr: stderr.into_bytes(),
        };
        (output, exited)
    }
}

/// `check --wait` started on a database nobody initialized yet: once it has reported that it
/// is waiting, the migration Job runs `db init`; the check exits 0 soon after.
fn check_started_before_init_exits_0_soon_after(url: &str, args: &[&str], env: &[(&str, &str)]) {
    let check = spawn_watching(args, env, "waiting for the schema");
    check
        .seen
        .recv_timeout(Duration::from_secs(60))
        .expect("check --wait reports that it waits");
    let out = run(&["db", "init", url]);
    assert_code(&out, 0);
    let init_done = Instant::now();
    let (out, exited) = check.exit_within(Duration::from_secs(60));
    assert_code(&out, 0);
    assert!(
        stdout(&out).starts_with("Schema is valid"),
        "{}",
        stdout(&out)
    );
    let late = exited.saturating_duration_since(init_done);
    eprintln!("check --wait exited {late:?} after init finished");
    assert!(late < NOTICE_BOUND, "noticed {late:?} after init finished");
}

#[test]
fn check_wait_started_before_init_exits_0_soon_after_init_on_sqlite() {
    let db = sqlite_db();
    check_started_before_init_exits_0_soon_after(
        &db.url,
        &["-v", "db", "check", "--wait", "60", &db.url],
        &[],
    );
}

#[test]
fn check_wait_started_before_init_exits_0_soon_after_init_on_postgres() {
    let db = pg_database();
    // As the README's readiness gate runs it: the URL from $DATABASE_URL.
    check_started_before_init_exits_0_soon_after(
        &db.url,
        &["-v", "db", "check", "--wait", "300"],
        &[("DATABASE_URL", &db.url)],
    );
}

#[test]
fn check_wait_gives_up_at_the_deadline_with_exit_1_saying_what_it_waited_for() {
    let db = sqlite_db();
    let started = Instant::now();
    let out = run(&["db", "check", "--wait", "1", &db.url]);
    let elapsed = started.elapsed();
    eprintln!("check --wait 1 on an uninitialized database gave up after {elapsed:?}");
    assert_code(&out, 1);
    assert!(
        elapsed >= Duration::from_secs(1),
        "gave up after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(1) + NOTICE_BOUND,
        "{elapsed:?}"
    );
    let err = stderr(&out);
    assert!(
        err.starts_with("error: gave up after waiting 1s for the schema: Schema not initialized"),
        "{err}"
    );
    assert!(err.contains("run: pycharter db init"), "{err}");
    assert!(
        stdout(&out).contains("  pending migration: 1.0.0"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_wait_on_an_unreachable_server_exits_2_within_the_bound() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("postgres://app:Wa1tSecret@127.0.0.1:{port}/meta");
    let started = Instant::now();
    let out = run(&["db", "check", "--wait", "1", "--connect-timeout", "1", &url]);
    let elapsed = started.elapsed();
    eprintln!("check --wait 1 on an unreachable server gave up after {elapsed:?}");
    assert_code(&out, 2);
    assert!(
        elapsed >= Duration::from_secs(1),
        "gave up after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(2) + NOTICE_BOUND,
        "{elapsed:?}"
    );
    let err = stderr(&out);
    assert!(
        err.starts_with("error: gave up after waiting 1s for the schema: "),
        "{err}"
    );
    assert!(
        err.contains("Cannot connect") || err.contains("timed out"),
        "{err}"
    );
    assert!(!err.contains("Wa1tSecret"), "{err}");
}

#[test]
fn check_wait_fails_at_once_on_a_damaged_database() {
    let db = initialized_sqlite_db();
    sqlite_exec(&db.path, "DROP TABLE ownership");
    let started = Instant::now();
    let out = run(&["db", "check", "--wait", "60", &db.url]);
    eprintln!(
        "check --wait 60 on a damaged database failed after {:?}",
        started.elapsed()
    );
    assert_code(&out, 1);
    assert!(started.elapsed() < NOTICE_BOUND, "{:?}", started.elapsed());
    assert!(
        stdout(&out).contains("  missing table: ownership"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("gave up"), "{}", stderr(&out));
}

#[test]
fn check_wait_fails_at_once_on_a_newer_incompatible_database() {
    let db = initialized_sqlite_db();
    // A newer build's row that declares no compatibility.
    sqlite_exec(
        &db.path,
        "INSERT INTO pycharter_schema_version (version, description, applied_at, checksum, execution_ms) \
         VALUES ('9.0.0', 'a future release', '2030-01-01T00:00:00Z', 'x', 0)",
    );
    let started = Instant::now();
    let out = run(&["db", "check", "--wait", "60", &db.url, "--json"]);
    assert_code(&out, 1);
    assert!(started.elapsed() < NOTICE_BOUND, "{:?}", started.elapsed());
    let info = json(&out);
    assert_eq!(info["state"], "newer");
    assert_eq!(info["incompatible"], "9.0.0");
    assert!(
        info["message"]
            .as_str()
            .expect("message")
            .contains("migration 9.0.0 does not keep 1.2.0 working"),
        "{info}"
    );
}
