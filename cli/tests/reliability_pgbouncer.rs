//! `pycharter db init | upgrade | check | downgrade` through a real PgBouncer in
//! `pool_mode = transaction` with two server connections, several deployers at once (the
//! concurrent upgrades, which build an index online, through a pool one larger than the
//! deployers).
//!
//! The `db` commands need no URL knob: they read the catalog with the simple protocol and
//! migrate in transactions (transaction-level advisory lock, `SET LOCAL` settings, unnamed
//! statements; an online step is one autocommit statement), so the test runs them with and
//! without `?statement-cache-capacity=0`.
//! (Library store calls do need the knob behind PgBouncer before 1.21; see
//! `backends/postgres/tests/pgbouncer.rs`.)

mod reliability_support;

use pycharter_test_postgres::pgbouncer::PgBouncer;
use reliability_support::*;
use serde_json::json;
use std::process::Output;
use std::time::Duration;

const DEPLOYERS: usize = 8;

fn run_all(args: &[&str]) -> Vec<Output> {
    let children: Vec<_> = (0..DEPLOYERS).map(|_| spawn(args)).collect();
    children
        .into_iter()
        .map(|c| wait_within(c, Duration::from_secs(60)))
        .collect()
}

/// Exit 0 everywhere, and exactly one deployer applied anything: `versions`, in order (the
/// others waited for the lock and found nothing to do).
fn assert_one_applied(outputs: &[Output], versions: &[&str]) {
    let applied: Vec<Vec<String>> = outputs
        .iter()
        .map(|out| {
            assert_code(out, 0);
            applied_steps(out)
        })
        .filter(|steps| !steps.is_empty())
        .collect();
    assert_eq!(
        applied,
        vec![versions.to_vec()],
        "steps applied per deployer"
    );
}

#[test]
fn db_commands_work_through_pgbouncer_transaction_pooling() {
    let db = pg_database();
    let bouncer = PgBouncer::start(2);
    let url = bouncer.url(&db.name, "?statement-cache-capacity=0");
    let with_log = |out: &Output| format!("{}\n--- pgbouncer\n{}", all_output(out), bouncer.log());
    // Concurrent upgrades build the 1.1.0 index online: the deployer holding the migration
    // lock needs a second server connection for the build while every waiting deployer holds
    // one, so their pool has one connection more than the deployers (the documented rule).
    let roomy = PgBouncer::start(DEPLOYERS as u32 + 1);

    let out = run(&["db", "check", &url, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", with_log(&out));
    assert_eq!(json(&out)["state"], "uninitialized");

    // Concurrent first deploys: one applies every migration, the others wait on the advisory lock
    // (taken inside their transactions, so PgBouncer keeps each on one server connection).
    let outputs = run_all(&["db", "init", &url, "--json"]);
    assert_one_applied(&outputs, &ALL_VERSIONS);
    assert_eq!(pg_versions(&db.url), ALL_VERSIONS);

    let out = run(&["db", "downgrade", &url, "--to", "1.0.0", "--json"]);
    assert_code(&out, 0);
    let out = run(&["db", "check", &url, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", with_log(&out));
    assert_eq!(json(&out)["pending"], json!(ALL_VERSIONS[1..]));

    let roomy_url = roomy.url(&db.name, "?statement-cache-capacity=0");
    let outputs = run_all(&["db", "upgrade", &roomy_url, "--json"]);
    assert_one_applied(&outputs, &ALL_VERSIONS[1..]);

    for args in [
        ["db", "check", url.as_str()],
        ["db", "current", url.as_str()],
        ["db", "history", url.as_str()],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{}", with_log(&out));
    }
    assert_eq!(pg_versions(&db.url), ALL_VERSIONS);
    assert!(pg_index_exists(&db.url, INDEX_1_1_0));

    // The same without the knob: the commands use no named prepared statement.
    let bare = bouncer.url(&db.name, "");
    let out = run(&["db", "downgrade", &bare, "--to", "1.0.0", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", with_log(&out));
    let roomy_bare = roomy.url(&db.name, "");
    let outputs = run_all(&["db", "upgrade", &roomy_bare, "--json"]);
    assert_one_applied(&outputs, &ALL_VERSIONS[1..]);
    let out = run(&["db", "check", &bare]);
    assert_eq!(out.status.code(), Some(0), "{}", with_log(&out));
    assert_eq!(pg_versions(&db.url), ALL_VERSIONS);
}
