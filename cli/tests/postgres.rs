//! The CLI against a real PostgreSQL server (the harness's throwaway cluster, or
//! `PYCHARTER_TEST_DATABASE_URL`): the lifecycle of every subcommand, dry runs, and
//! connection failures.

mod common;

use common::*;
use pycharter_test_postgres::test_server;

#[test]
fn lifecycle_init_check_current_history_downgrade_upgrade() {
    let db = pg_database();
    let url = db.url.as_str();

    let out = run(&["db", "check", url]);
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains("pycharter db init"),
        "{}",
        stdout(&out)
    );
    assert_code(&run(&["db", "current", url]), 1);

    let out = run(&["db", "init", url]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("initialized, base → 1.2.0"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("  applied 1.0.0  "),
        "{}",
        stdout(&out)
    );
    let out = run(&["db", "init", url]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("is already at 1.2.0, nothing to do"));

    let info = json(&run(&["db", "check", url, "--json"]));
    assert_eq!(info["valid"], true);
    assert_eq!(info["version"], "1.2.0");
    assert_eq!(stdout(&run(&["db", "current", url])), "1.2.0\n");

    let history = json(&run(&["db", "history", url, "--json"]));
    let states: Vec<&str> = history
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states, ["applied", "applied", "applied"]);

    assert_code(&run(&["db", "downgrade", url, "--to", "1.0.0"]), 0);
    let out = run(&["db", "check", url]);
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains("pycharter db upgrade"),
        "{}",
        stdout(&out)
    );

    let out = run(&["db", "upgrade", url]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("  applied 1.1.0  "),
        "{}",
        stdout(&out)
    );
    assert_code(&run(&["db", "check", url]), 0);
    assert_one_row_per_migration(pg_versions(url), &postgres_migrations());
}

#[test]
fn init_dry_run_prints_the_sql_and_creates_nothing() {
    let db = pg_database();
    let out = run(&["db", "init", &db.url, "--dry-run"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("CREATE TABLE"), "{}", stdout(&out));
    assert!(!pg_table_exists(&db.url, "pycharter_schema_version"));
    assert!(!pg_table_exists(&db.url, "schemas"));
}

#[test]
fn damaged_database_is_repaired_by_init_force() {
    let db = pg_database();
    assert_code(&run(&["db", "init", &db.url]), 0);
    pg_exec(&db.url, "DROP TABLE ownership");
    let out = run(&["db", "check", &db.url, "--json"]);
    assert_code(&out, 1);
    assert_eq!(
        json(&out)["missing_tables"],
        serde_json::json!(["ownership"])
    );
    assert_code(&run(&["db", "init", &db.url, "--force"]), 0);
    assert!(pg_table_exists(&db.url, "ownership"));
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn wrong_password_exits_2() {
    let db = pg_database();
    let server = test_server();
    let url = format!(
        "postgres://{}:not-the-password@{}:{}/{}",
        server.user(),
        server.host(),
        server.port(),
        db.name
    );
    let out = run(&["db", "check", &url]);
    assert_code(&out, 2);
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    let out = run(&["db", "init", &url, "--json"]);
    assert_code(&out, 2);
    assert_eq!(json(&out)["kind"], "authentication_failed");
}

#[test]
fn unreachable_server_exits_2_within_the_connect_timeout() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let url = "postgres://app:pw@127.0.0.1:9/meta";
    let started = std::time::Instant::now();
    let out = run(&["--connect-timeout", "3", "db", "check", url]);
    assert_code(&out, 2);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(stderr(&out).contains("127.0.0.1:9"), "{}", stderr(&out));
}
