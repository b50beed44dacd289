//! No output of any subcommand, in any outcome, at any log level, shows the password of the
//! Postgres URL it was given.

mod common;

use common::*;
use pycharter_test_postgres::test_server;
use std::process::Output;

/// A fresh database and the password of its URL.
struct Secret {
    url: String,
    password: String,
    database: String,
}

fn secret_database() -> Secret {
    let db = pg_database();
    let password = test_server().password().to_string();
    // The private cluster's password is 32 random hex digits; an external server's must be
    // as distinctive, or "not in the output" would prove nothing (or fail by coincidence).
    assert!(
        password.len() >= 8 && !db.url.replacen(&password, "", 1).contains(&password),
        "this test needs a server password of 8+ characters that appears nowhere else in \
         the URL; set PYCHARTER_TEST_DATABASE_URL accordingly, or unset it"
    );
    Secret {
        url: db.url,
        password,
        database: db.name,
    }
}

fn assert_no_password(password: &str, args: &[&str], out: &Output) {
    for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        assert!(
            !text.contains(password),
            "{stream} of `pycharter {}` shows the password:\n{text}",
            args.join(" ").replace(password, "<PASSWORD>")
        );
    }
}

#[test]
fn no_subcommand_ever_prints_the_password() {
    let secret = secret_database();
    let url = secret.url.as_str();
    // Every subcommand, successes and failures, human and JSON, quiet and very verbose.
    let runs: Vec<(Vec<&str>, i32)> = vec![
        (vec!["db", "check", url], 1),
        (vec!["db", "check", url, "--json"], 1),
        (vec!["db", "current", url], 1),
        (vec!["db", "current", url, "--json"], 1),
        (vec!["db", "history", url], 0),
        (vec!["db", "init", url, "--dry-run"], 0),
        (vec!["-vvv", "db", "init", url], 0),
        (vec!["db", "init", url], 0),
        (vec!["db", "init", url, "--json"], 0),
        (vec!["db", "init", url, "--force"], 0),
        (vec!["db", "check", url], 0),
        (vec!["db", "check", url, "--json"], 0),
        (vec!["db", "current", url], 0),
        (vec!["db", "current", url, "--json"], 0),
        (vec!["db", "history", url, "--json"], 0),
        (vec!["-vvv", "db", "history", url], 0),
        (vec!["db", "upgrade", url, "--to", "9.9.9"], 1),
        (vec!["db", "upgrade", url, "--to", "9.9.9", "--json"], 1),
        (vec!["db", "downgrade", url, "--to", "1.1.0"], 0),
        (
            vec!["db", "downgrade", url, "--to", "1.0.0", "--dry-run"],
            0,
        ),
        (vec!["-vv", "db", "downgrade", url, "--to", "1.0.0"], 0),
        (vec!["db", "check", url], 1),
        (vec!["db", "upgrade", url, "--dry-run"], 0),
        (vec!["db", "upgrade", url, "--json"], 0),
        (vec!["db", "downgrade", url, "--to", "base", "--json"], 0),
        (vec!["db", "init", url, "-q"], 0),
        // Usage errors that echo arguments.
        (vec!["db", "check", "sqlite://other.db", url], 2),
        (vec!["db", "check", "sqlite://other.db", url, "--json"], 2),
        (vec!["db", "downgrade", url], 2),
        (vec!["db", "downgrade", url, "--to", url], 2),
    ];
    for (args, code) in &runs {
        let out = run(args);
        assert_no_password(&secret.password, args, &out);
        assert_code(&out, *code);
    }
    // The same URL through --database-url and the environment variable.
    let out = run(&["--database-url", url, "db", "check"]);
    assert_no_password(&secret.password, &["--database-url", "db", "check"], &out);
    assert_code(&out, 0);
    for variable in ["PYCHARTER_DATABASE_URL", "DATABASE_URL"] {
        let out = pycharter()
            .env(variable, url)
            .args(["-vvv", "db", "current", "--json"])
            .output()
            .expect("run");
        assert_no_password(&secret.password, &[variable, "-vvv", "db", "current"], &out);
        assert_code(&out, 0);
    }
    let out = pycharter()
        .env("DATABASE_URL", url)
        .args(["-vvv", "db", "check", "--wait", "5"])
        .output()
        .expect("run");
    assert_no_password(
        &secret.password,
        &["DATABASE_URL", "db", "check", "--wait"],
        &out,
    );
    assert_code(&out, 0);
    let out = pycharter()
        .env("PYCHARTER_DATABASE_URL", url)
        .args(["-vvv", "db", "current", "--json"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert_eq!(
        json(&out)["database"].as_str().map(|d| d.contains(":***@")),
        Some(true)
    );
}

#[test]
fn failures_to_connect_never_print_the_password() {
    let secret = secret_database();
    let server = test_server();
    let wrong = format!("{}Wrong", secret.password);
    let cases = [
        // Wrong password (the server rejects it).
        format!(
            "postgres://{}:{wrong}@{}:{}/{}",
            server.user(),
            server.host(),
            server.port(),
            secret.database
        ),
        // Nothing listening.
        format!("postgres://app:{wrong}@127.0.0.1:9/{}", secret.database),
        // Database that does not exist.
        secret.url.replace(&secret.database, "no_such_database"),
        // Unsupported scheme and a scheme-less URL.
        format!("mysql://app:{wrong}@localhost/db"),
        format!("app:{wrong}@localhost/db"),
    ];
    for url in &cases {
        for args in [
            vec!["db", "check", url.as_str()],
            vec!["-vvv", "db", "init", url.as_str(), "--json"],
            vec!["db", "history", url.as_str()],
        ] {
            let out = run(&args);
            assert_no_password(&wrong, &args, &out);
            assert_no_password(&secret.password, &args, &out);
            assert_code(&out, 2);
        }
    }
}
