//! What each subcommand does: resolve the database, open it, call [`SchemaManager`], and
//! turn the result into an [`Outcome`] (text and exit code). No printing here.

use crate::args::{
    Cli, Command, DbCommand, DowngradeArgs, GlobalArgs, GrantsArgs, InitArgs, UpgradeArgs,
    DEFAULT_DATABASE_URL, GENERIC_DATABASE_URL_ENV,
};
use crate::backend::{self, BackendKind, DatabaseUrl};
use crate::database::{resolve_database, Database, Environment, Source};
use crate::failure::{self, EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_OK};
use crate::output::{self, BundledStatus};
use clap::CommandFactory;
use pycharter_core::wait::waiting_may_fix;
use pycharter_core::{
    ConnectOptions, DowngradeOptions, Error, InitializeOptions, MigrationReport, SchemaManager,
    ServerRole, UpgradeOptions,
};
use serde_json::json;
use std::time::Duration;

/// What a command produced: text for stdout and stderr, and the exit code.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
    /// Process exit code.
    pub code: u8,
}

/// How to print: JSON wins over quiet (a script that asked for JSON reads it).
#[derive(Debug, Clone, Copy)]
struct Format {
    json: bool,
    quiet: bool,
    /// The `db` subcommand running (`check`, …): its errors never name it as their fix.
    command: &'static str,
}

impl Format {
    /// A result: its JSON document, or its human text unless quiet.
    fn result(
        self,
        code: u8,
        json: impl FnOnce() -> String,
        human: impl FnOnce() -> String,
    ) -> Outcome {
        let stdout = if self.json {
            json()
        } else if self.quiet {
            String::new()
        } else {
            human()
        };
        Outcome {
            stdout,
            stderr: String::new(),
            code,
        }
    }

    /// A failure: `error: <message>` on stderr, plus the JSON error document when asked.
    fn failure(self, err: &Error, code: u8) -> Outcome {
        tracing::debug!(error = ?err, "command failed");
        Outcome {
            stdout: if self.json {
                output::error_json(err, self.command)
            } else {
                String::new()
            },
            stderr: format!("error: {}\n", err.message_for_command(self.command)),
            code,
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Completions { shell } => completions(*shell),
        Command::Db { command } => db(command, &cli.global).await,
    }
}

fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pycharter", &mut script);
    Outcome {
        stdout: String::from_utf8_lossy(&script).into_owned(),
        ..Outcome::default()
    }
}

async fn db(command: &DbCommand, global: &GlobalArgs) -> Outcome {
    let target = command.target();
    let format = Format {
        json: target.json,
        quiet: global.quiet,
        command: command.name(),
    };
    // Neither needs a database: without one named they describe this binary.
    let lists_bundled = matches!(command, DbCommand::History(_) | DbCommand::Grants(_));
    let environment = Environment::read();
    let named = resolve_database(
        target.url.as_deref(),
        global.database_url.as_deref(),
        &environment,
        lists_bundled,
    );
    if let DbCommand::Grants(args) = command {
        return grants(format, args, named);
    }
    let mut note = String::new();
    let raw = match named {
        Database::Url(raw) => raw,
        Database::Default => {
            if !global.quiet {
                note = format!("using the default database {DEFAULT_DATABASE_URL}\n");
            }
            DEFAULT_DATABASE_URL
        }
        Database::Bundled => return bundled_history(format),
        Database::Empty(source) => return empty_url(format, source),
    };
    let mut outcome = run_on(command, global, format, raw).await;
    outcome.stderr.insert_str(0, &note);
    outcome
}

/// Runs `command` on the database at `raw`.
async fn run_on(command: &DbCommand, global: &GlobalArgs, format: Format, raw: &str) -> Outcome {
    let url = match DatabaseUrl::parse(raw) {
        Ok(url) => url,
        Err(err) => return format.failure(&err, EXIT_CANNOT_RUN),
    };
    let options = ConnectOptions {
        // The CLI decides what happens to the schema; connecting must not change or
        // judge it.
        auto_initialize: false,
        validate_schema_on_connect: false,
        connect_timeout: global.connect_timeout,
        lock_timeout: global.lock_timeout,
        ddl_lock_timeout: Some(global.ddl_lock_timeout).filter(|t| !t.is_zero()),
        ddl_lock_retry_for: global.ddl_lock_retry_for,
        // One command at a time: a migration transaction plus a spare.
        max_connections: 2,
        ..ConnectOptions::default()
    };
    if let DbCommand::Check(args) = command {
        if let Some(wait) = args.wait {
            return check_waiting(format, &url, options, wait).await;
        }
    }
    let manager = match url.open(options).await {
        // Whatever stops the database from opening means the command could not run.
        Err(err) => return format.failure(&err, EXIT_CANNOT_RUN),
        Ok(manager) => manager,
    };
    let manager = manager.as_ref();
    let database = url.redacted();
    match command {
        DbCommand::Init(args) => migrate(format, init(manager, args).await),
        DbCommand::Upgrade(args) => migrate(format, upgrade(manager, args).await),
        DbCommand::Downgrade(args) => migrate(format, downgrade(manager, args).await),
        DbCommand::Current(_) => current(format, manager, &database).await,
        DbCommand::History(_) => history(format, manager, &database).await,
        DbCommand::Check(_) => check(format, manager).await,
        // Answered above, without opening the database.
        DbCommand::Grants(_) => Outcome::default(),
    }
}

/// The refusal of a blank URL: exit 2, nothing opened or created.
fn empty_url(format: Format, source: Source) -> Outcome {
    let message = format!(
        "the database URL is empty (is ${GENERIC_DATABASE_URL_ENV} set?): {} — pass a database URL such as postgres://USER:PASSWORD@HOST:PORT/DATABASE or sqlite://PATH",
        source.describe()
    );
    Outcome {
        stdout: if format.json {
            output::to_json(&json!({"error": message, "kind": "empty_url"}))
        } else {
            String::new()
        },
        stderr: format!("error: {message}\n"),
        code: EXIT_CANNOT_RUN,
    }
}

/// `grants`: core's application rights as PostgreSQL statements; a URL, when named, only
/// gives the database's name (nothing connects).
fn grants(format: Format, args: &GrantsArgs, named: Database<'_>) -> Outcome {
    let database = match named {
        Database::Bundled | Database::Default => None,
        Database::Empty(source) => return empty_url(format, source),
        Database::Url(raw) => match grants_database(raw) {
            Ok(name) => Some(name),
            Err(err) => return format.failure(&err, failure::exit_code(&err)),
        },
    };
    let statements =
        pycharter_postgres::application_grants(&args.role, database.as_deref(), &args.namespace);
    format.result(
        EXIT_OK,
        || {
            output::to_json(&serde_json::json!({
                "role": args.role,
                "database": database,
                "namespace": args.namespace,
                "statements": statements,
            }))
        },
        || output::grants(&args.role, &statements),
    )
}

/// The database name of a PostgreSQL URL; other backends have no roles to grant to.
fn grants_database(raw: &str) -> pycharter_core::Result<String> {
    let url = DatabaseUrl::parse(raw)?;
    if url.kind() != BackendKind::Postgres {
        return Err(Error::InvalidRequest {
            action: "print grants".into(),
            reason: "only PostgreSQL has roles (on SQLite, the file's permissions decide who \
                     may write)"
                .into(),
            target: url.redacted(),
        });
    }
    pycharter_postgres::database_name(raw)
}

async fn init(
    manager: &dyn SchemaManager,
    args: &InitArgs,
) -> pycharter_core::Result<MigrationReport> {
    manager
        .initialize(InitializeOptions {
            force: args.force,
            dry_run: args.dry_run,
        })
        .await
}

async fn upgrade(
    manager: &dyn SchemaManager,
    args: &UpgradeArgs,
) -> pycharter_core::Result<MigrationReport> {
    manager
        .upgrade(UpgradeOptions {
            to: args.to.clone(),
            dry_run: args.dry_run,
        })
        .await
}

async fn downgrade(
    manager: &dyn SchemaManager,
    args: &DowngradeArgs,
) -> pycharter_core::Result<MigrationReport> {
    manager
        .downgrade(DowngradeOptions {
            to: args.to.clone(),
            dry_run: args.dry_run,
            allow_data_loss: args.allow_data_loss,
        })
        .await
}

fn migrate(format: Format, result: pycharter_core::Result<MigrationReport>) -> Outcome {
    match result {
        Ok(report) => format.result(
            EXIT_OK,
            || output::to_json(&report),
            || output::report(&report),
        ),
        Err(err) => format.failure(&err, failure::exit_code(&err)),
    }
}

async fn current(format: Format, manager: &dyn SchemaManager, database: &str) -> Outcome {
    match manager.current().await {
        Ok(current) => {
            let role = server_role(manager).await;
            let mut outcome = format.result(
                // Uninitialized is an answer, not an error, but a script must be able to tell.
                if current.is_some() {
                    EXIT_OK
                } else {
                    EXIT_FAILED
                },
                || output::current_json(database, current.as_ref(), role),
                || output::current(database, current.as_ref()),
            );
            outcome.stderr += &output::read_only_note(database, role);
            outcome
        }
        Err(err) => format.failure(&err, failure::exit_code(&err)),
    }
}

async fn history(format: Format, manager: &dyn SchemaManager, database: &str) -> Outcome {
    match manager.history().await {
        Ok(statuses) => {
            let role = server_role(manager).await;
            let mut outcome = format.result(
                EXIT_OK,
                || output::to_json(&statuses),
                || output::history(&statuses),
            );
            outcome.stderr += &output::read_only_note(database, role);
            outcome
        }
        Err(err) => format.failure(&err, failure::exit_code(&err)),
    }
}

/// Whether the server accepts writes (a standby answers `current` and `history` too, and
/// they say so). Unknown when the check itself fails: the command's answer stands.
async fn server_role(manager: &dyn SchemaManager) -> Option<ServerRole> {
    manager.validate().await.ok().map(|info| info.server_role)
}

fn bundled_history(format: Format) -> Outcome {
    match backend::bundled_migrations() {
        Ok(bundled) => {
            let statuses: Vec<BundledStatus> = bundled.iter().map(BundledStatus::from).collect();
            format.result(
                EXIT_OK,
                || output::to_json(&statuses),
                || output::bundled_history(&statuses),
            )
        }
        Err(err) => format.failure(&err, failure::exit_code(&err)),
    }
}

async fn check(format: Format, manager: &dyn SchemaManager) -> Outcome {
    match manager.validate().await {
        Ok(info) => format.result(
            if info.valid { EXIT_OK } else { EXIT_FAILED },
            || output::to_json(&info),
            || output::schema_info(&info),
        ),
        // An invalid schema is a result (exit 1); an error means no verdict, so the
        // documented "cannot run" code, whatever the error.
        Err(err) => format.failure(&err, EXIT_CANNOT_RUN),
    }
}

/// `check --wait`: core's waiting connect (`wait_for_schema`, validating on connect), then
/// the same report as `check`. At the deadline, or at once for what waiting cannot fix, the
/// exit code is `check`'s for that state (1 for a schema not usable, 2 for a server not
/// reachable), and stderr says what it was still waiting for.
async fn check_waiting(
    format: Format,
    url: &DatabaseUrl,
    options: ConnectOptions,
    wait: Duration,
) -> Outcome {
    let waiting = ConnectOptions {
        validate_schema_on_connect: true,
        wait_for_schema: Some(wait),
        ..options.clone()
    };
    let err = match url.open(waiting).await {
        Ok(manager) => return check(format, manager.as_ref()).await,
        Err(err) => err,
    };
    let gave_up = waiting_may_fix(&err).then(|| {
        format!(
            "error: gave up after waiting {}s for the schema: {err}\n",
            wait.as_secs_f64()
        )
    });
    let mut outcome = if err.is_schema_state() {
        // The schema's verdict, printed as `check` prints it, from a connection that
        // judges nothing.
        match url.open(options).await {
            Ok(manager) => check(format, manager.as_ref()).await,
            Err(other) => return format.failure(&other, EXIT_CANNOT_RUN),
        }
    } else {
        format.failure(&err, EXIT_CANNOT_RUN)
    };
    if let Some(gave_up) = gave_up {
        if err.is_schema_state() {
            outcome.stderr.insert_str(0, &gave_up);
        } else {
            outcome.stderr = gave_up;
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("pycharter").chain(args.iter().copied())).unwrap()
    }

    #[tokio::test]
    async fn empty_url_exits_2_with_the_hint_and_json_kind() {
        let out = run(&parse(&["db", "check", "", "--json"])).await;
        assert_eq!(out.code, EXIT_CANNOT_RUN);
        assert!(
            out.stderr
                .starts_with("error: the database URL is empty (is $DATABASE_URL set?)"),
            "{}",
            out.stderr
        );
        let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(value["kind"], "empty_url");
    }

    #[tokio::test]
    async fn bad_scheme_is_a_usage_error_in_json_too() {
        let out = run(&parse(&["db", "check", "mysql://u:pw@h/db", "--json"])).await;
        assert_eq!(out.code, EXIT_CANNOT_RUN);
        let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(value["kind"], "invalid_url");
        assert!(out
            .stderr
            .starts_with("error: Invalid database URL mysql://u:***@h/db"));
        assert!(!out.stdout.contains(":pw@") && !out.stderr.contains(":pw@"));
    }

    #[tokio::test]
    async fn memory_backend_runs_init_then_check() {
        let out = run(&parse(&["db", "init", "memory://"])).await;
        assert_eq!(out.code, EXIT_OK, "{out:?}");
        assert!(out.stdout.contains("applied 1.0.0"), "{}", out.stdout);
        // A fresh process-local store each time: uninitialized again.
        let out = run(&parse(&["db", "check", "memory://"])).await;
        assert_eq!(out.code, EXIT_FAILED, "{out:?}");
    }

    #[tokio::test]
    async fn quiet_suppresses_human_output_but_not_json() {
        let out = run(&parse(&["-q", "db", "init", "memory://"])).await;
        assert_eq!((out.code, out.stdout.as_str()), (EXIT_OK, ""));
        let out = run(&parse(&["-q", "db", "init", "memory://", "--json"])).await;
        assert!(
            out.stdout.contains("\"action\": \"init\""),
            "{}",
            out.stdout
        );
    }
}
