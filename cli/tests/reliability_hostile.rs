//! Hostile and broken targets through the real binary: URLs with a wrong password, an
//! unknown host, a closed port or a bad scheme exit 2 with the typed error, and the password
//! is never printed (text, `--json`, `-vvv` logs); a version table edited by hand (unknown
//! version, injection-shaped version, drifted checksum) makes `db check` exit 1 naming it,
//! and `db upgrade` refuses without touching it. PostgreSQL and SQLite.

mod reliability_support;

use pycharter_test_postgres::test_server;
use reliability_support::*;
use std::time::{Duration, Instant};

/// Passwords that must never appear in any output, raw or as they were encoded in the URL.
const SECRET: &str = "Sup3r-S3cret";
const ENCODED_SECRET: &str = "p%40ss%3Aw%2Frd-Sup3r";
const DECODED_SECRET: &str = "p@ss:w/rd-Sup3r";

/// Runs `db <command> URL` in text, JSON and `-vvv` forms; each exits 2 within `limit`
/// with JSON `kind` among `kinds` and no secret in any output.
fn assert_cannot_run(url: &str, kinds: &[&str], limit: Duration) {
    for command in ["check", "upgrade"] {
        for extra in [&[][..], &["--json"][..], &["-vvv"][..]] {
            let mut args = vec!["--connect-timeout", "5", "db", command, url];
            args.extend_from_slice(extra);
            let started = Instant::now();
            let out = run_within(&args, Duration::from_secs(60));
            let took = started.elapsed();
            let shown = all_output(&out);
            assert_code(&out, 2);
            assert!(took < limit, "{args:?} took {took:?}");
            for secret in [SECRET, ENCODED_SECRET, DECODED_SECRET] {
                assert!(
                    !shown.contains(secret),
                    "{args:?} printed the password:\n{shown}"
                );
            }
            assert!(text(&out.stderr).contains("error: "), "{shown}");
            if extra == ["--json"] {
                let kind = json(&out)["kind"].as_str().unwrap_or_default().to_string();
                assert!(kinds.contains(&kind.as_str()), "kind {kind:?}:\n{shown}");
            }
        }
    }
}

#[test]
fn bad_urls_exit_2_and_never_print_the_password() {
    let server = test_server();
    let db = pg_database();
    let bound = Duration::from_secs(20);

    // Wrong password, plain and percent-encoded.
    for password in [SECRET, ENCODED_SECRET] {
        let url = format!(
            "postgres://{}:{password}@{}:{}/{}",
            server.user(),
            server.host(),
            server.port(),
            db.name
        );
        assert_cannot_run(&url, &["authentication_failed"], bound);
    }
    // Unknown host (the reserved .invalid TLD never resolves).
    let url = format!("postgres://app:{SECRET}@nonexistent.invalid:5432/app");
    assert_cannot_run(&url, &["unreachable", "connect_timeout"], bound);
    // Closed port: bound then released, so nothing listens there.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("postgres://app:{SECRET}@127.0.0.1:{port}/app");
    assert_cannot_run(&url, &["unreachable"], bound);
    // Bad scheme, and a scheme-less string with credentials.
    assert_cannot_run(
        &format!("mysql://app:{SECRET}@127.0.0.1/app"),
        &["invalid_url"],
        bound,
    );
    assert_cannot_run(
        &format!("app:{SECRET}@127.0.0.1/app"),
        &["invalid_url"],
        bound,
    );
    // The server was not touched by any of it.
    assert!(pg_tables(&db.url).is_empty());
}

/// One hand edit and what `db check` must say about it.
struct Edit {
    sql: &'static str,
    undo: &'static str,
    state: &'static str,
    mentions: &'static str,
}

const EDITS: [Edit; 4] = [
    Edit {
        sql: "INSERT INTO pycharter_schema_version (version, description, applied_at, checksum, execution_ms) \
              VALUES ('0.5.0', 'by hand', CURRENT_TIMESTAMP, 'x', 0)",
        undo: "DELETE FROM pycharter_schema_version WHERE version = '0.5.0'",
        state: "unknown_migration",
        mentions: "0.5.0",
    },
    Edit {
        sql: "INSERT INTO pycharter_schema_version (version, description, applied_at, checksum, execution_ms) \
              VALUES ('''; DROP TABLE schemas; --', 'by hand', CURRENT_TIMESTAMP, 'x', 0)",
        undo: "DELETE FROM pycharter_schema_version WHERE version LIKE '%DROP%'",
        state: "unknown_migration",
        mentions: "DROP TABLE schemas",
    },
    Edit {
        sql: "UPDATE pycharter_schema_version SET checksum = 'deadbeef' WHERE version = '1.0.0'",
        undo: "",
        state: "checksum_drift",
        mentions: "Checksum drift",
    },
    Edit {
        sql: "UPDATE pycharter_schema_version SET checksum = checksum || ' ' WHERE version = '1.1.0'",
        undo: "",
        state: "checksum_drift",
        mentions: "migration 1.0.0, 1.1.0 was applied with different SQL",
    },
];

/// Applies each edit to an initialized database; `check` exits 1 naming it, `upgrade`
/// changes nothing. `exec` runs SQL on the database, `versions` reads the version table.
fn hand_edits(url: &str, exec: impl Fn(&str), versions: impl Fn() -> Vec<String>) {
    assert_code(&run(&["db", "init", url]), 0);
    for edit in &EDITS {
        exec(edit.sql);
        let before = versions();

        let out = run(&["db", "check", url]);
        assert_code(&out, 1);
        assert!(
            all_output(&out).contains(edit.mentions),
            "{}",
            all_output(&out)
        );
        let out = run(&["db", "check", url, "--json"]);
        assert_code(&out, 1);
        assert_eq!(json(&out)["state"], edit.state, "{}", all_output(&out));

        let out = run(&["db", "upgrade", url]);
        assert_ne!(out.status.code(), Some(0), "{}", all_output(&out));
        assert_eq!(versions(), before, "upgrade touched a hand-edited table");
        assert_code(&run(&["db", "check", url]), 1);
        if !edit.undo.is_empty() {
            exec(edit.undo);
            assert_code(&run(&["db", "check", url]), 0);
        }
    }
}

#[test]
fn hand_edited_postgres_version_table_is_reported_not_trusted() {
    let db = pg_database();
    hand_edits(
        &db.url,
        |sql| PgSession::open(&db.url).exec(sql),
        || pg_versions(&db.url),
    );
}

#[test]
fn hand_edited_sqlite_version_table_is_reported_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let url = format!("sqlite://{}", path.display());
    hand_edits(
        &url,
        |sql| SqliteSession::open(&path).exec(sql),
        || {
            SqliteSession::open(&path)
                .strings("SELECT version FROM pycharter_schema_version ORDER BY version")
        },
    );
}
