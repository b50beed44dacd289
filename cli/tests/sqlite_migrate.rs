//! `pycharter db upgrade` and `pycharter db downgrade` on SQLite: targets, dry runs, and the
//! data-loss guard.

mod common;

use common::*;

#[test]
fn upgrade_to_an_intermediate_version_then_to_the_newest() {
    let db = sqlite_db();
    let out = run(&["db", "upgrade", &db.url, "--to", "1.0.0"]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("  applied 1.0.0  "),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("1.1.0"), "{}", stdout(&out));
    assert_eq!(stdout(&run(&["db", "current", &db.url])), "1.0.0\n");

    let out = run(&["db", "upgrade", &db.url]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("upgraded, 1.0.0 → 1.2.0 (applied 2 migrations)"),
        "{}",
        stdout(&out)
    );
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn upgrade_dry_run_prints_the_sql_and_changes_nothing() {
    let db = initialized_sqlite_db();
    assert_code(&run(&["db", "downgrade", &db.url, "--to", "1.0.0"]), 0);
    let out = run(&["db", "upgrade", &db.url, "--dry-run"]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("-- would apply 1.1.0"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("CREATE INDEX"), "{}", stdout(&out));
    assert_eq!(stdout(&run(&["db", "current", &db.url])), "1.0.0\n");
}

#[test]
fn upgrade_to_a_version_this_build_does_not_ship_exits_1() {
    let db = initialized_sqlite_db();
    let out = run(&["db", "upgrade", &db.url, "--to", "9.9.9"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.starts_with("error: Cannot upgrade to 9.9.9"), "{err}");
    assert!(err.contains("1.0.0, 1.1.0, 1.2.0"), "{err}");
}

#[test]
fn invalid_version_is_a_usage_error() {
    let db = sqlite_db();
    let out = run(&["db", "upgrade", &db.url, "--to", "1.0"]);
    assert_code(&out, 2);
    let out = run(&["db", "downgrade", &db.url, "--to", "latest"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("base"), "{}", stderr(&out));
    assert!(!db.path.exists(), "usage errors touch no database");
}

#[test]
fn downgrade_to_base_refuses_when_tables_hold_rows() {
    let db = initialized_sqlite_db();
    store_a_schema(&db.url);
    let out = run(&["db", "downgrade", &db.url, "--to", "base"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.starts_with("error: Downgrade to base would drop tables holding rows"),
        "{err}"
    );
    assert!(err.contains("schemas: 1 rows"), "{err}");
    assert!(err.contains("--allow-data-loss"), "{err}");
    // Refused means untouched.
    assert_code(&run(&["db", "check", &db.url]), 0);
    assert_eq!(sqlite_i64(&db.path, "SELECT COUNT(*) FROM schemas"), 1);
}

#[test]
fn downgrade_refusal_as_json() {
    let db = initialized_sqlite_db();
    store_a_schema(&db.url);
    let out = run(&["db", "downgrade", &db.url, "--to", "base", "--json"]);
    assert_code(&out, 1);
    let error = json(&out);
    assert_eq!(error["kind"], "data_loss");
    assert!(error["error"]
        .as_str()
        .expect("error")
        .contains("--allow-data-loss"));
    assert!(
        stderr(&out).starts_with("error: Downgrade"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn downgrade_to_base_with_allow_data_loss_drops_everything() {
    let db = initialized_sqlite_db();
    store_a_schema(&db.url);
    let out = run(&[
        "db",
        "downgrade",
        &db.url,
        "--to",
        "base",
        "--allow-data-loss",
    ]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("downgraded, 1.2.0 → base"), "{text}");
    let reverted_1_2 = text.find("  reverted 1.2.0  ").expect("1.2.0 reverted");
    let reverted_1_1 = text.find("  reverted 1.1.0  ").expect("1.1.0 reverted");
    let reverted_1_0 = text.find("  reverted 1.0.0  ").expect("1.0.0 reverted");
    assert!(
        reverted_1_2 < reverted_1_1 && reverted_1_1 < reverted_1_0,
        "newest first: {text}"
    );
    assert!(!sqlite_table_exists(&db.path, "schemas"));
    assert_code(&run(&["db", "check", &db.url]), 1);
    // And back again.
    assert_code(&run(&["db", "init", &db.url]), 0);
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn downgrade_dry_run_prints_the_sql_and_changes_nothing() {
    let db = initialized_sqlite_db();
    store_a_schema(&db.url);
    let out = run(&["db", "downgrade", &db.url, "--to", "base", "--dry-run"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("-- would revert 1.0.0"), "{text}");
    assert!(text.contains("DROP TABLE"), "{text}");
    assert!(sqlite_table_exists(&db.path, "schemas"));
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn downgrade_above_the_current_version_exits_1() {
    let db = initialized_sqlite_db();
    assert_code(&run(&["db", "downgrade", &db.url, "--to", "1.0.0"]), 0);
    let out = run(&["db", "downgrade", &db.url, "--to", "1.1.0"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("pycharter db upgrade"),
        "{}",
        stderr(&out)
    );
}
