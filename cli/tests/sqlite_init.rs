//! `pycharter db init` on SQLite files: fresh, repeated, dry run, `--force`, and which URL
//! is used (default file, environment variable, flag, positional).

mod common;

use common::*;

#[test]
fn fresh_init_creates_the_file_and_reports_each_step() {
    let db = sqlite_db();
    let out = run(&["db", "init", &db.url]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "{}: initialized, base → 1.2.0 (applied 3 migrations)\n",
            db.url
        )),
        "{text}"
    );
    assert!(
        text.contains("\n  applied 1.0.0  Create the metadata tables"),
        "{text}"
    );
    assert!(text.contains("\n  applied 1.1.0  "), "{text}");
    assert!(text.contains("\n  applied 1.2.0  "), "{text}");
    assert!(text.contains(" ms)\n"), "durations are shown: {text}");
    assert!(db.path.exists());
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn second_init_has_nothing_to_do() {
    let db = initialized_sqlite_db();
    let out = run(&["db", "init", &db.url]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("{} is already at 1.2.0, nothing to do\n", db.url)
    );
    assert_one_row_per_migration(sqlite_versions(&db.path), &sqlite_migrations());
}

#[test]
fn init_json_is_the_migration_report() {
    let db = sqlite_db();
    let out = run(&["db", "init", &db.url, "--json"]);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["action"], "init");
    assert_eq!(report["database"], db.url.as_str());
    assert!(report["from"].is_null());
    assert_eq!(report["to"], "1.2.0");
    assert_eq!(report["dry_run"], false);
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["version"], "1.0.0");
    assert_eq!(steps[0]["direction"], "up");
    assert!(steps[0]["duration_ms"].is_u64());
}

#[test]
fn init_dry_run_prints_the_sql_and_changes_nothing() {
    let db = sqlite_db();
    let out = run(&["db", "init", &db.url, "--dry-run"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("Dry run, nothing changed: init of "),
        "{text}"
    );
    assert!(!text.contains("initialized,"), "{text}");
    assert!(text.contains("-- would apply 1.0.0  "), "{text}");
    assert!(text.contains("CREATE TABLE"), "{text}");
    assert!(text.contains("CREATE INDEX"), "{text}");
    // Opening may create an empty file, but no table may exist in it.
    if db.path.exists() {
        assert!(!sqlite_table_exists(&db.path, "pycharter_schema_version"));
        assert!(!sqlite_table_exists(&db.path, "schemas"));
    }
    let check = run(&["db", "check", &db.url]);
    assert_code(&check, 1);
    assert!(
        stdout(&check).contains("not initialized"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn init_dry_run_json_carries_the_sql() {
    let db = sqlite_db();
    let out = run(&["db", "init", &db.url, "--dry-run", "--json"]);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["dry_run"], true);
    let sql = report["steps"][0]["sql"].as_str().expect("sql of step 1");
    assert!(sql.contains("CREATE TABLE"), "{sql}");
    assert!(report["steps"][0]["duration_ms"].is_null());
}

#[test]
fn init_force_restores_a_dropped_table_and_keeps_the_rows() {
    let db = initialized_sqlite_db();
    store_a_schema(&db.url);
    sqlite_exec(&db.path, "DROP TABLE ownership");

    let damaged = run(&["db", "check", &db.url]);
    assert_code(&damaged, 1);

    let out = run(&["db", "init", &db.url, "--force"]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("  repaired 1.0.0  "),
        "{}",
        stdout(&out)
    );
    assert!(sqlite_table_exists(&db.path, "ownership"));
    assert_eq!(sqlite_i64(&db.path, "SELECT COUNT(*) FROM schemas"), 1);
    assert_one_row_per_migration(sqlite_versions(&db.path), &sqlite_migrations());
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn init_force_on_a_healthy_database_changes_nothing() {
    let db = initialized_sqlite_db();
    store_a_schema(&db.url);
    let out = run(&["db", "init", &db.url, "--force"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("nothing to do"), "{}", stdout(&out));
    assert_eq!(sqlite_i64(&db.path, "SELECT COUNT(*) FROM schemas"), 1);
}

#[test]
fn without_url_the_default_is_pycharter_db_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(dir.path())
        .args(["db", "init"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("sqlite://pycharter.db: initialized, base → 1.2.0"),
        "{}",
        stdout(&out)
    );
    let file = dir.path().join("pycharter.db");
    assert!(file.exists());
    assert!(sqlite_table_exists(&file, "schemas"));
}

#[test]
fn the_environment_variable_names_the_database() {
    let db = sqlite_db();
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(cwd.path())
        .env("PYCHARTER_DATABASE_URL", &db.url)
        .args(["db", "init"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert!(db.path.exists());
    assert!(!cwd.path().join("pycharter.db").exists());
}

#[test]
fn positional_beats_flag_beats_environment() {
    let (env_db, flag_db, positional_db) = (sqlite_db(), sqlite_db(), sqlite_db());
    let out = pycharter()
        .env("PYCHARTER_DATABASE_URL", &env_db.url)
        .args(["db", "init", "--database-url", &flag_db.url])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert!(flag_db.path.exists() && !env_db.path.exists());

    let out = pycharter()
        .env("PYCHARTER_DATABASE_URL", &env_db.url)
        .args([
            "--database-url",
            &flag_db.url,
            "db",
            "init",
            &positional_db.url,
        ])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert!(positional_db.path.exists() && !env_db.path.exists());
}

#[test]
fn quiet_init_prints_nothing() {
    let db = sqlite_db();
    let out = run(&["-q", "db", "init", &db.url]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
    assert!(sqlite_table_exists(&db.path, "schemas"));
}
