//! `pycharter db check` on SQLite: valid, uninitialized, older and damaged databases, the
//! exit codes 0 / 1 / 2, and `--json` parsed back.

mod common;

use common::*;

#[test]
fn valid_database_exits_0() {
    let db = initialized_sqlite_db();
    let out = run(&["db", "check", &db.url]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!(
            "Schema is valid: {} is at 1.2.0, as this build expects\n",
            db.url
        )
    );
}

#[test]
fn valid_database_json() {
    let db = initialized_sqlite_db();
    let out = run(&["db", "check", &db.url, "--json"]);
    assert_code(&out, 0);
    let info = json(&out);
    assert_eq!(info["valid"], true);
    assert_eq!(info["state"], "valid");
    assert_eq!(info["version"], "1.2.0");
    assert_eq!(info["expected_version"], "1.2.0");
    assert_eq!(info["pending"], serde_json::json!([]));
    assert_eq!(info["missing_tables"], serde_json::json!([]));
    assert!(info["message"].as_str().expect("message").contains("valid"));
}

#[test]
fn uninitialized_database_exits_1_and_names_init() {
    let db = sqlite_db();
    let out = run(&["db", "check", &db.url]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("run: pycharter db init {}", db.url)),
        "{text}"
    );
    assert!(text.contains("  pending migration: 1.0.0\n"), "{text}");

    let info = json(&run(&["db", "check", &db.url, "--json"]));
    assert_eq!(info["valid"], false);
    assert_eq!(info["state"], "uninitialized");
    assert!(info["version"].is_null());
    assert_eq!(info["expected_version"], "1.2.0");
    assert_eq!(info["pending"], serde_json::json!(VERSIONS));
    assert!(info["message"]
        .as_str()
        .expect("message")
        .contains("pycharter db init"));
}

#[test]
fn older_database_exits_1_and_names_upgrade() {
    let db = initialized_sqlite_db();
    assert_code(&run(&["db", "downgrade", &db.url, "--to", "1.0.0"]), 0);
    let out = run(&["db", "check", &db.url]);
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains(&format!("run: pycharter db upgrade {}", db.url)),
        "{}",
        stdout(&out)
    );

    let out = run(&["db", "check", &db.url, "--json"]);
    assert_code(&out, 1);
    let info = json(&out);
    assert_eq!(info["valid"], false);
    assert_eq!(info["state"], "outdated");
    assert_eq!(info["version"], "1.0.0");
    assert_eq!(info["expected_version"], "1.2.0");
    assert_eq!(info["pending"], serde_json::json!(["1.1.0", "1.2.0"]));
    assert!(info["message"]
        .as_str()
        .expect("message")
        .contains("pycharter db upgrade"));
}

#[test]
fn damaged_database_exits_1_and_names_the_table_and_force() {
    let db = initialized_sqlite_db();
    sqlite_exec(&db.path, "DROP TABLE ownership");
    let out = run(&["db", "check", &db.url]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("ownership"), "{text}");
    assert!(text.contains("--force"), "{text}");
    assert!(text.contains("  missing table: ownership\n"), "{text}");

    let out = run(&["db", "check", &db.url, "--json"]);
    assert_code(&out, 1);
    let info = json(&out);
    assert_eq!(info["valid"], false);
    assert_eq!(info["state"], "missing_tables");
    assert_eq!(info["missing_tables"], serde_json::json!(["ownership"]));
    assert_eq!(info["version"], "1.2.0");
    let message = info["message"].as_str().expect("message");
    assert!(
        message.contains("ownership") && message.contains("--force"),
        "{message}"
    );
}

#[test]
fn missing_index_exits_1_and_names_the_index() {
    let db = initialized_sqlite_db();
    sqlite_exec(&db.path, "DROP INDEX idx_schemas_name_sort_key");
    let out = run(&["db", "check", &db.url, "--json"]);
    assert_code(&out, 1);
    let info = json(&out);
    assert_eq!(info["state"], "missing_indexes");
    assert_eq!(
        info["missing_indexes"],
        serde_json::json!(["idx_schemas_name_sort_key"])
    );
}

#[test]
fn unopenable_database_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/no/such/dir/meta.db", dir.path().display());
    let out = run(&["db", "check", &url]);
    assert_code(&out, 2);
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");

    let out = run(&["db", "check", &url, "--json"]);
    assert_code(&out, 2);
    let error = json(&out);
    assert!(error["error"].as_str().expect("error").contains("meta.db"));
    assert!(error["kind"].is_string());
}
