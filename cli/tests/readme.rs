//! The README's commands, run as written: the first `db init`/`db check` session (output
//! compared line by line) and the Deploying section's Kubernetes commands (the migration
//! Job, the init container that waits for it, the readiness probe) against a real Postgres.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const README: &str = include_str!("../../README.md");

/// The lines of the first fenced block after `marker`.
fn block_after(marker: &str) -> Vec<&'static str> {
    let start = README.find(marker).expect("marker in the README");
    let rest = &README[start..];
    let open = rest.find("```").expect("a fenced block");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let close = body.find("\n```").expect("closing fence");
    body[..close].lines().collect()
}

/// `(12 ms)` → `(0 ms)`: durations differ from run to run.
fn without_durations(line: &str) -> String {
    match (line.rfind(" ("), line.strip_suffix(" ms)")) {
        (Some(open), Some(head)) if head[open + 2..].chars().all(|c| c.is_ascii_digit()) => {
            format!("{} (0 ms)", &line[..open])
        }
        _ => line.to_string(),
    }
}

#[test]
fn the_first_commands_print_what_the_readme_shows() {
    let lines = block_after("The first command prints:");
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut sessions: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
    for line in lines {
        if let Some(command) = line.strip_prefix("$ cargo run -p pycharter-cli -- ") {
            let args = command.split('#').next().expect("args").split_whitespace();
            sessions.push((args.collect(), Vec::new()));
        } else {
            sessions.last_mut().expect("a command first").1.push(line);
        }
    }
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for (args, expected) in sessions {
        let out = pycharter()
            .current_dir(cwd.path())
            .args(&args)
            .output()
            .expect("run");
        assert_code(&out, 0);
        // The terminal shows stderr's note, then the result.
        let shown = format!("{}{}", stderr(&out), stdout(&out));
        let shown: Vec<String> = shown.lines().map(without_durations).collect();
        assert_eq!(shown, expected, "pycharter {}", args.join(" "));
    }
}

/// The `command:` arrays of the Deploying section's YAML, in order.
fn deploying_commands() -> Vec<Vec<String>> {
    block_after("## Deploying")
        .iter()
        .filter_map(|line| {
            let at = line.find("command: [")?;
            let array = &line[at + "command: ".len()..];
            let array = &array[..=array.find(']')?];
            Some(serde_json::from_str(array).expect("a JSON array of strings"))
        })
        .collect()
}

#[test]
fn the_deploying_commands_work_as_written_on_postgres() {
    let commands = deploying_commands();
    let [job, wait, probe] = commands.as_slice() else {
        panic!("the Job, the init container and the probe: {commands:?}");
    };
    for command in &commands {
        assert_eq!(command[0], "pycharter", "{command:?}");
    }
    let db = pg_database();
    // Pods start with the Job: the init container waits (its log says so)...
    let mut init_container = pycharter_std()
        .args(&wait[1..])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "pycharter=info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the init container's command");
    let stderr_pipe = init_container.stderr.take().expect("stderr");
    let (tx, waiting) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr_pipe).lines() {
            let line = line.expect("line");
            if line.contains("waiting for the schema") {
                let _ = tx.send(());
            }
            seen += &line;
            seen += "\n";
        }
        seen
    });
    waiting
        .recv_timeout(Duration::from_secs(60))
        .expect("the init container waits for the schema");
    // ...until the Job has migrated.
    let out = pycharter()
        .args(&job[1..])
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("run the Job's command");
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("upgraded, base → 1.2.0"),
        "{}",
        stdout(&out)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = init_container.try_wait().expect("poll the init container") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = init_container.kill();
            panic!("the init container still waits a minute after the Job finished");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = reader.join().expect("stderr reader");
    assert_eq!(status.code(), Some(0), "{log}");
    let out = pycharter()
        .args(&probe[1..])
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("run the readiness probe");
    assert_code(&out, 0);
}
