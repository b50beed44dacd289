//! Exit 0 means the database is sound. For every damaged state a deployment can be in (a
//! table or an index dropped by hand, a drifted checksum, a row a newer build or a hand
//! edit recorded, a version row deleted, the version table dropped) and every mutating
//! command (`init`, `init --force`, `upgrade`, `downgrade --to` the current version), on
//! SQLite and on a real PostgreSQL server: no command exits 0 while `db check` exits
//! non-zero afterwards. A refusal prints `db check`'s own message (with its fix), exit 1.

mod common;

use common::*;
use pycharter_core::spec::VERSION_TABLE;
use pycharter_core::MIGRATIONS;

/// This build's version (what `downgrade --to` the current version names).
const CURRENT: &str = VERSIONS[2];

/// The mutating commands, without the URL.
const COMMANDS: [&[&str]; 4] = [
    &["init"],
    &["init", "--force"],
    &["upgrade"],
    &["downgrade", "--to", CURRENT],
];

/// What a command does on a damaged database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exit 0, and `db check` exits 0 afterwards.
    Repairs,
    /// Exit 1 printing `db check`'s message (the validator's, with its fix); nothing changes.
    RefusedAsCheck,
    /// Exit 1 with this message (a request that makes no sense at that version).
    Refused(&'static str),
    /// Ran, then the check after it failed: exit 1, saying what was done and then what
    /// `db check` says.
    Unsound,
}

/// One damaged state: its name, the SQL that makes it, what `db check` says about it, and
/// what each command of [`COMMANDS`] does.
struct State {
    name: &'static str,
    damage: Vec<String>,
    check_says: String,
    expect: [Expect; 4],
}

fn newest_index() -> &'static str {
    MIGRATIONS
        .iter()
        .flat_map(|m| m.indexes.iter())
        .last()
        .expect("the layout has indexes")
        .name
}

/// The damaged states; `drop_table` is the backend's `DROP TABLE`, `now` its timestamp.
fn states(drop_table: &str, now: &str) -> Vec<State> {
    use Expect::*;
    let cannot_downgrade = "Cannot downgrade to 1.2.0: the database is at";
    let record = |version: &str| {
        format!(
            "INSERT INTO {VERSION_TABLE} (version, description, applied_at, checksum, execution_ms) \
             VALUES ('{version}', 'a hand edit', {now}, 'x', 0)"
        )
    };
    vec![
        State {
            name: "missing table",
            damage: vec![format!("{drop_table} ownership")],
            check_says: "Missing tables: ownership — run: pycharter db init".into(),
            expect: [RefusedAsCheck, Repairs, RefusedAsCheck, RefusedAsCheck],
        },
        State {
            name: "missing index",
            damage: vec![format!("DROP INDEX {}", newest_index())],
            check_says: format!(
                "Missing indexes: {} — run: pycharter db init",
                newest_index()
            ),
            expect: [RefusedAsCheck, Repairs, RefusedAsCheck, RefusedAsCheck],
        },
        State {
            name: "drifted checksum",
            damage: vec![format!(
                "UPDATE {VERSION_TABLE} SET checksum = 'edited' WHERE version = '1.0.0'"
            )],
            check_says: "Checksum drift: migration 1.0.0".into(),
            expect: [RefusedAsCheck; 4],
        },
        State {
            name: "unknown newer row",
            damage: vec![record("9.0.0")],
            check_says: "database is at 9.0.0, newer than this build (1.2.0)".into(),
            expect: [RefusedAsCheck; 4],
        },
        State {
            name: "unknown older row",
            damage: vec![record("0.9.0")],
            check_says: "Database records migration 0.9.0".into(),
            expect: [RefusedAsCheck; 4],
        },
        State {
            name: "forgotten version row",
            damage: vec![format!(
                "DELETE FROM {VERSION_TABLE} WHERE version = '{CURRENT}'"
            )],
            check_says: "Schema version mismatch: database is at 1.1.0".into(),
            expect: [Repairs, Repairs, Repairs, Refused(cannot_downgrade)],
        },
        State {
            name: "forgotten first version row",
            damage: vec![format!(
                "DELETE FROM {VERSION_TABLE} WHERE version = '{}'",
                VERSIONS[0]
            )],
            check_says: "Schema version mismatch: database is at 1.2.0".into(),
            expect: [Repairs, Repairs, Repairs, Unsound],
        },
        State {
            name: "dropped version table",
            damage: vec![format!("{drop_table} {VERSION_TABLE}")],
            check_says: "Schema not initialized".into(),
            expect: [Repairs, Repairs, Repairs, Refused(cannot_downgrade)],
        },
    ]
}

/// A database to damage: a fresh initialized one per run, and raw SQL behind the CLI.
trait Backend {
    /// A new initialized database: its URL.
    fn initialized(&mut self) -> String;
    /// Runs `sql` on the database at `url` behind the CLI's back.
    fn exec(&self, url: &str, sql: &str);
}

/// Runs every state × command on `backend`: the exit codes and messages asserted, and the
/// rule that no command exits 0 while `db check` exits non-zero afterwards.
fn no_command_exits_0_on_an_unsound_database(backend: &mut impl Backend, states: &[State]) {
    for state in states {
        for (command, expect) in COMMANDS.iter().zip(state.expect) {
            let url = backend.initialized();
            for sql in &state.damage {
                backend.exec(&url, sql);
            }
            let what = format!("{} then `db {}`", state.name, command.join(" "));
            let check = run(&["db", "check", &url]);
            assert_code(&check, 1);
            let verdict = stdout(&check)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            assert!(
                verdict.contains(&state.check_says),
                "{what}: check says {verdict:?}"
            );

            let args: Vec<&str> = ["db"]
                .iter()
                .chain(&command[..1])
                .chain([&url.as_str()])
                .chain(&command[1..])
                .copied()
                .collect();
            let out = run(&args);
            let after = run(&["db", "check", &url]);
            let (code, after_code) = (out.status.code(), after.status.code());
            // The rule this file exists for.
            assert!(
                !(code == Some(0) && after_code != Some(0)),
                "{what} exited 0 but `db check` then exits {after_code:?}: {}",
                stdout(&after)
            );
            match expect {
                Expect::Repairs => {
                    assert_code(&out, 0);
                    assert_code(&after, 0);
                }
                Expect::RefusedAsCheck => {
                    assert_code(&out, 1);
                    assert_eq!(stderr(&out), format!("error: {verdict}\n"), "{what}");
                    assert_eq!(
                        stdout(&after),
                        stdout(&check),
                        "{what}: a refusal changes nothing"
                    );
                }
                Expect::Unsound => {
                    assert_code(&out, 1);
                    let said = stderr(&out);
                    assert!(
                        said.starts_with("error: ")
                            && said.ends_with(&format!(
                                ", but the database is not sound: {verdict}\n"
                            )),
                        "{what}: {said}"
                    );
                    assert_eq!(after.status.code(), Some(1), "{what}");
                }
                Expect::Refused(message) => {
                    assert_code(&out, 1);
                    assert!(stderr(&out).contains(message), "{what}: {}", stderr(&out));
                    assert_code(&after, 1);
                }
            }
        }
    }
}

/// SQLite files, each initialized by `pycharter db init`, kept until the test ends.
#[derive(Default)]
struct Sqlite(Vec<SqliteDb>);

impl Backend for Sqlite {
    fn initialized(&mut self) -> String {
        let db = initialized_sqlite_db();
        let url = db.url.clone();
        self.0.push(db);
        url
    }

    fn exec(&self, url: &str, sql: &str) {
        let db = self
            .0
            .iter()
            .find(|db| db.url == url)
            .expect("a database of this backend");
        sqlite_exec(&db.path, sql);
    }
}

#[test]
fn sqlite_no_command_exits_0_on_an_unsound_database() {
    let mut sqlite = Sqlite::default();
    let states = states("DROP TABLE", "'2026-01-01T00:00:00.000000Z'");
    no_command_exits_0_on_an_unsound_database(&mut sqlite, &states);
}

/// Fresh databases on the test server, kept until the test ends.
#[derive(Default)]
struct Postgres(Vec<pycharter_test_postgres::TestDatabase>);

impl Backend for Postgres {
    fn initialized(&mut self) -> String {
        let db = pg_database();
        assert_code(&run(&["db", "init", &db.url]), 0);
        let url = db.url.clone();
        self.0.push(db);
        url
    }

    fn exec(&self, url: &str, sql: &str) {
        pg_exec(url, sql);
    }
}

#[test]
fn postgres_no_command_exits_0_on_an_unsound_database() {
    let states = states("DROP TABLE", "now()");
    no_command_exits_0_on_an_unsound_database(&mut Postgres::default(), &states);
}

/// `--json`: a refusal is `{"error", "kind"}` with the validator's kind; a dry run reports
/// what the check after it would find, in its text and its JSON.
#[test]
fn json_refusals_and_dry_runs_state_the_check() {
    let db = initialized_sqlite_db();
    sqlite_exec(&db.path, "DROP TABLE ownership");
    let out = run(&["db", "upgrade", &db.url, "--json"]);
    assert_code(&out, 1);
    let doc = json(&out);
    assert_eq!(doc["kind"], "missing_tables");
    assert_eq!(
        doc["error"],
        format!(
            "Missing tables: ownership — run: pycharter db init {} --force",
            db.url
        )
    );

    let db = initialized_sqlite_db();
    assert_code(&run(&["db", "downgrade", &db.url, "--to", "1.0.0"]), 0);
    let out = run(&["db", "upgrade", &db.url, "--dry-run"]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).ends_with(&format!(
            "\nAfterwards the database would be sound: Schema is valid: {} is at 1.2.0, as this build expects\n",
            db.url
        )),
        "{}",
        stdout(&out)
    );
    let doc = json(&run(&[
        "db",
        "downgrade",
        &db.url,
        "--to",
        "1.0.0",
        "--dry-run",
        "--json",
    ]));
    assert_eq!(doc["postcondition"]["sound"], true);
    assert_eq!(doc["postcondition"]["version"], "1.0.0");
    assert_eq!(doc["postcondition"]["state"], "valid");
    let doc = json(&run(&["db", "upgrade", &db.url, "--json"]));
    assert_eq!(doc["postcondition"]["sound"], true, "{doc}");
    assert_eq!(doc["postcondition"]["version"], "1.2.0");
}
