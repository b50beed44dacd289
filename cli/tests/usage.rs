//! The command line itself: URL schemes, usage errors, help, completions, the memory
//! backend.

mod common;

use common::*;

#[test]
fn unknown_scheme_exits_2_and_lists_the_accepted_forms() {
    let out = run(&["db", "check", "mysql://x"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.starts_with("error: Invalid database URL mysql://x"),
        "{err}"
    );
    for form in ["sqlite://", "postgres://", "postgresql://", "memory://"] {
        assert!(err.contains(form), "{form} in {err}");
    }
    assert_eq!(stdout(&out), "");
}

#[test]
fn unknown_scheme_as_json() {
    let out = run(&["db", "init", "mysql://x", "--json"]);
    assert_code(&out, 2);
    let error = json(&out);
    assert_eq!(error["kind"], "invalid_url");
    assert!(error["error"]
        .as_str()
        .expect("error")
        .contains("sqlite://"));
}

#[test]
fn a_bare_file_name_suggests_the_sqlite_url() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = pycharter()
        .current_dir(cwd.path())
        .args(["db", "init", "meta.db"])
        .output()
        .expect("run");
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("sqlite://meta.db"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(cwd.path()).expect("dir").count(), 0);
}

#[test]
fn clap_usage_errors_exit_2() {
    for args in [
        &["db"][..],
        &["db", "frobnicate"],
        &["db", "downgrade"],
        &["db", "check", "--no-such-flag"],
        &["--connect-timeout", "soon", "db", "check"],
        &["-v", "-q", "db", "check"],
        &["completions", "tcsh"],
    ] {
        let out = run(args);
        assert_code(&out, 2);
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
}

#[test]
fn usage_error_with_json_prints_a_json_error() {
    let out = run(&["db", "check", "--json", "--no-such-flag"]);
    assert_code(&out, 2);
    let error = json(&out);
    assert_eq!(error["kind"], "usage");
    assert!(error["error"]
        .as_str()
        .expect("error")
        .contains("--no-such-flag"));
}

#[test]
fn every_subcommand_help_has_examples() {
    for args in [
        &["--help"][..],
        &["db", "--help"],
        &["db", "init", "--help"],
        &["db", "upgrade", "--help"],
        &["db", "downgrade", "--help"],
        &["db", "current", "--help"],
        &["db", "history", "--help"],
        &["db", "check", "--help"],
        &["db", "grants", "--help"],
        &["completions", "--help"],
    ] {
        let out = run(args);
        assert_code(&out, 0);
        let text = stdout(&out);
        assert!(
            text.contains("Examples:\n  pycharter "),
            "{args:?}:\n{text}"
        );
    }
}

#[test]
fn help_never_shows_the_value_of_the_url_variable() {
    let out = pycharter()
        .env("PYCHARTER_DATABASE_URL", "postgres://app:Zq8sEcReT@db/meta")
        .args(["db", "check", "--help"])
        .output()
        .expect("run");
    assert_code(&out, 0);
    assert!(stdout(&out).contains("PYCHARTER_DATABASE_URL"));
    assert!(!stdout(&out).contains("Zq8sEcReT"), "{}", stdout(&out));
}

#[test]
fn version_flag_prints_the_version() {
    let out = run(&["--version"]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("pycharter {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert_code(&out, 0);
        let script = stdout(&out);
        assert!(script.contains("pycharter"), "{shell}");
        assert!(
            script.contains("downgrade"),
            "{shell}: subcommands are completed"
        );
    }
}

#[test]
fn memory_backend_initializes_in_process() {
    let out = run(&["db", "init", "memory://"]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("  applied 1.2.0  "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verbose_logs_go_to_stderr_and_keep_stdout_json() {
    let db = sqlite_db();
    let out = run(&["-vv", "db", "init", &db.url, "--json"]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["to"], "1.2.0");
    assert!(stderr(&out).contains("connecting"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {}",
        stderr(&out)
    );
}

#[test]
fn rust_log_is_honoured_without_flags() {
    let db = sqlite_db();
    let out = pycharter()
        .env("RUST_LOG", "info")
        .args(["db", "check", &db.url])
        .output()
        .expect("run");
    assert!(stderr(&out).contains("connecting"), "{}", stderr(&out));
    let quiet = run(&["db", "check", &db.url]);
    assert!(!stderr(&quiet).contains("connecting"), "{}", stderr(&quiet));
}
