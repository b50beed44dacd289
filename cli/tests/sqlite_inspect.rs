//! `pycharter db current` and `pycharter db history` on SQLite, and `history` without any
//! database.

mod common;

use common::*;

#[test]
fn current_prints_the_version() {
    let db = initialized_sqlite_db();
    let out = run(&["db", "current", &db.url]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "1.2.0\n");
}

#[test]
fn current_json() {
    let db = initialized_sqlite_db();
    let out = run(&["db", "current", &db.url, "--json"]);
    assert_code(&out, 0);
    let current = json(&out);
    assert_eq!(current["database"], db.url.as_str());
    assert_eq!(current["version"], "1.2.0");
    assert!(current["applied_at"].as_str().expect("applied_at").len() >= 10);
}

#[test]
fn current_on_an_uninitialized_database_exits_1_and_says_how_to_init() {
    let db = sqlite_db();
    let out = run(&["db", "current", &db.url]);
    assert_code(&out, 1);
    assert_eq!(
        stdout(&out),
        format!(
            "{}: not initialized — run: pycharter db init {}\n",
            db.url, db.url
        )
    );
    let out = run(&["db", "current", &db.url, "--json"]);
    assert_code(&out, 1);
    let current = json(&out);
    assert!(current["version"].is_null() && current["applied_at"].is_null());
}

#[test]
fn current_follows_a_downgrade() {
    let db = initialized_sqlite_db();
    assert_code(&run(&["db", "downgrade", &db.url, "--to", "1.0.0"]), 0);
    assert_eq!(stdout(&run(&["db", "current", &db.url])), "1.0.0\n");
}

#[test]
fn history_table_of_an_initialized_database() {
    let db = initialized_sqlite_db();
    let out = run(&["db", "history", &db.url]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + VERSIONS.len(), "{text}");
    for header in [
        "VERSION",
        "DESCRIPTION",
        "APPLIED AT",
        "STATE",
        "CHECKSUM OK",
    ] {
        assert!(lines[0].contains(header), "{text}");
    }
    for (line, version) in lines[1..].iter().zip(VERSIONS) {
        assert!(line.starts_with(version), "{text}");
        assert!(line.contains(" applied "), "{text}");
        assert!(line.contains(" UTC "), "{text}");
        assert!(line.ends_with("yes"), "{text}");
    }
}

#[test]
fn history_json_marks_pending_after_a_downgrade() {
    let db = initialized_sqlite_db();
    assert_code(&run(&["db", "downgrade", &db.url, "--to", "1.0.0"]), 0);
    let out = run(&["db", "history", &db.url, "--json"]);
    assert_code(&out, 0);
    let history = json(&out);
    let entries = history.as_array().expect("array");
    assert_eq!(entries.len(), VERSIONS.len());
    assert_eq!(entries[0]["version"], "1.0.0");
    assert_eq!(entries[0]["state"], "applied");
    assert_eq!(entries[0]["checksum_ok"], true);
    assert!(entries[0]["applied_at"].is_string());
    for (entry, version) in entries[1..].iter().zip(&VERSIONS[1..]) {
        assert_eq!(entry["version"], *version);
        assert_eq!(entry["state"], "pending");
        assert!(entry["checksum_ok"].is_null());
    }
    // Every entry says which layouts keep working once it is applied, recorded or not.
    assert_eq!(entries[0]["compatible_with"], "1.0.0");
    assert_eq!(entries[2]["compatible_with"], "1.1.0");
}

#[test]
fn history_without_a_url_lists_the_bundled_migrations_and_touches_nothing() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(cwd.path())
        .args(["db", "history"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1 + VERSIONS.len(), "{text}");
    for version in VERSIONS {
        let line = text
            .lines()
            .find(|l| l.starts_with(version))
            .unwrap_or_else(|| panic!("{version} in {text}"));
        assert!(line.contains(" bundled "), "{line}");
    }
    assert!(
        !cwd.path().join("pycharter.db").exists(),
        "history without URL must not create the default database"
    );
    assert_eq!(
        std::fs::read_dir(cwd.path()).expect("read dir").count(),
        0,
        "nothing written to the working directory"
    );
}

#[test]
fn history_without_a_url_json() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(cwd.path())
        .args(["db", "history", "--json"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    let history = json(&out);
    let entries = history.as_array().expect("array");
    let versions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["version"].as_str())
        .collect();
    assert_eq!(versions, VERSIONS);
    assert!(entries.iter().all(|e| e["state"] == "bundled"));
    assert!(entries
        .iter()
        .all(|e| e["checksum"].as_str().is_some_and(|c| c.len() == 64)));
    assert!(!cwd.path().join("pycharter.db").exists());
}

#[test]
fn history_with_the_environment_variable_reads_that_database() {
    let db = initialized_sqlite_db();
    let out = pycharter()
        .env("PYCHARTER_DATABASE_URL", &db.url)
        .args(["db", "history", "--json"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert!(json(&out)
        .as_array()
        .expect("array")
        .iter()
        .all(|e| e["state"] == "applied"));
}
