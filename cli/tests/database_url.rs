//! Which database the real binary works on: positional > `--database-url` >
//! `$PYCHARTER_DATABASE_URL` > `$DATABASE_URL` > the SQLite default, the default only when
//! nothing is given anywhere (and announced on stderr), and a given but empty URL refused
//! with exit 2 before anything is opened or created.

mod common;

use common::*;
use std::path::Path;

const EMPTY_URL: &str = "error: the database URL is empty (is $DATABASE_URL set?)";

/// The names of the files in `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn database_url_names_the_database_when_nothing_else_does() {
    let db = sqlite_db();
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(cwd.path())
        .env("DATABASE_URL", &db.url)
        .args(["db", "init"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert!(sqlite_table_exists(&db.path, "schemas"));
    assert!(files_in(cwd.path()).is_empty(), "no default file");
    assert!(
        !stderr(&out).contains("default database"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn each_source_wins_over_the_ones_after_it() {
    let (positional, flag, ours, generic) = (sqlite_db(), sqlite_db(), sqlite_db(), sqlite_db());
    let cases: [(&[&str], &SqliteDb); 3] = [
        (&["db", "init"], &ours),
        (&["db", "init", "--database-url", &flag.url], &flag),
        (
            &["--database-url", &flag.url, "db", "init", &positional.url],
            &positional,
        ),
    ];
    for (args, chosen) in cases {
        let out = pycharter()
            .env("PYCHARTER_DATABASE_URL", &ours.url)
            .env("DATABASE_URL", &generic.url)
            .args(args)
            .output()
            .expect("run");
        assert_code(&out, 0);
        assert!(chosen.path.exists(), "{args:?} must use {}", chosen.url);
        assert!(!generic.path.exists(), "{args:?}: $DATABASE_URL comes last");
    }
}

/// Where a blank URL comes from: arguments before the command's, arguments after it,
/// environment variables, and what the refusal must say was blank.
type Source<'a> = (
    &'a [&'a str],
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
    &'a str,
);

#[test]
fn an_empty_url_anywhere_is_exit_2_and_creates_nothing() {
    let later = sqlite_db();
    let later_url = later.url.as_str();
    let commands: [&[&str]; 5] = [
        &["db", "init"],
        &["db", "upgrade"],
        &["db", "check", "--wait", "5"],
        &["db", "current"],
        &["db", "history"],
    ];
    let sources: [Source; 5] = [
        (&[], &[""], &[], "the URL argument is blank"),
        (
            &[],
            &["  "],
            &[("DATABASE_URL", later_url)],
            "the URL argument is blank",
        ),
        (&["--database-url", ""], &[], &[], "--database-url is blank"),
        (
            &[],
            &[],
            // A missing CI secret: the variable is set, to nothing. A URL further down the
            // order does not stand in for it.
            &[("PYCHARTER_DATABASE_URL", ""), ("DATABASE_URL", later_url)],
            "$PYCHARTER_DATABASE_URL is set but blank",
        ),
        (
            &[],
            &[],
            &[("DATABASE_URL", "")],
            "$DATABASE_URL is set but blank",
        ),
    ];
    for command in commands {
        for (global, positional, vars, blank) in sources {
            let cwd = tempfile::tempdir().expect("tempdir");
            let mut cmd = pycharter();
            cmd.current_dir(cwd.path()).envs(vars.iter().copied());
            let args: Vec<&str> = global
                .iter()
                .chain(command)
                .chain(positional)
                .copied()
                .collect();
            let out = cmd.args(&args).output().expect("run");
            assert_code(&out, 2);
            let err = stderr(&out);
            assert!(err.starts_with(EMPTY_URL), "{args:?} {vars:?}: {err}");
            assert!(err.contains(blank), "{args:?} {vars:?}: {err}");
            assert!(err.contains("pass a database URL"), "names the fix: {err}");
            assert_eq!(stdout(&out), "");
            assert!(files_in(cwd.path()).is_empty(), "{args:?}: created a file");
            assert!(!later.path.exists(), "{args:?}: used a later source");
        }
    }
    let out = run(&["db", "check", "", "--json"]);
    assert_code(&out, 2);
    assert_eq!(json(&out)["kind"], "empty_url");
}

#[test]
fn the_default_database_is_used_only_when_nothing_is_given_and_stderr_says_so() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(cwd.path())
        .args(["db", "init"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert_eq!(
        stderr(&out),
        "using the default database sqlite://pycharter.db\n"
    );
    assert!(sqlite_table_exists(
        &cwd.path().join("pycharter.db"),
        "schemas"
    ));
    // JSON stays on stdout, the note on stderr; -q silences the note.
    let out = pycharter()
        .current_dir(cwd.path())
        .args(["db", "check", "--json"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert_eq!(json(&out)["valid"], true);
    assert!(stderr(&out).contains("using the default database"));
    let out = pycharter()
        .current_dir(cwd.path())
        .args(["-q", "db", "check"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "");
    // `history` with nothing given lists what the binary ships: no file, no note.
    let empty = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(empty.path())
        .args(["db", "history"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "");
    assert!(files_in(empty.path()).is_empty());
}
