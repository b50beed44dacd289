//! What each subcommand does: resolve the database, open it, call [`SchemaManager`], and
//! turn the result into an [`Outcome`] (text and exit code). No printing here.

use crate::args::{
    named_url, Cli, Command, DbCommand, DowngradeArgs, GlobalArgs, InitArgs, UpgradeArgs,
    DEFAULT_DATABASE_URL,
};
use crate::backend::{self, DatabaseUrl};
use crate::failure::{self, EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_OK};
use crate::output::{self, BundledStatus};
use clap::CommandFactory;
use pycharter_core::{
    ConnectOptions, DowngradeOptions, Error, InitializeOptions, MigrationReport, SchemaManager,
    UpgradeOptions,
};

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
                output::error_json(err)
            } else {
                String::new()
            },
            stderr: format!("error: {err}\n"),
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
    };
    let named = named_url(target.url.as_deref(), global);
    if let (DbCommand::History(_), None) = (command, named) {
        // Documented: with no database named anywhere, `history` shows what this binary
        // ships and must not create ./pycharter.db as a side effect.
        return bundled_history(format);
    }
    let url = match DatabaseUrl::parse(named.unwrap_or(DEFAULT_DATABASE_URL)) {
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
        // One command at a time: a migration transaction plus a spare.
        max_connections: 2,
        ..ConnectOptions::default()
    };
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
        DbCommand::History(_) => history(format, manager).await,
        DbCommand::Check(_) => check(format, manager).await,
    }
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
        Ok(current) => format.result(
            // Uninitialized is an answer, not an error, but a script must be able to tell.
            if current.is_some() {
                EXIT_OK
            } else {
                EXIT_FAILED
            },
            || output::current_json(database, current.as_ref()),
            || output::current(database, current.as_ref()),
        ),
        Err(err) => format.failure(&err, failure::exit_code(&err)),
    }
}

async fn history(format: Format, manager: &dyn SchemaManager) -> Outcome {
    match manager.history().await {
        Ok(statuses) => format.result(
            EXIT_OK,
            || output::to_json(&statuses),
            || output::history(&statuses),
        ),
        Err(err) => format.failure(&err, failure::exit_code(&err)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::TargetArgs;
    use clap::Parser;

    /// Resolution of the target URL as `db` does it.
    fn resolved(target: &TargetArgs, global: &GlobalArgs) -> String {
        named_url(target.url.as_deref(), global)
            .unwrap_or(DEFAULT_DATABASE_URL)
            .to_string()
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("pycharter").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn default_url_is_the_sqlite_file_in_the_working_directory() {
        let cli = parse(&["db", "check"]);
        let Command::Db { command } = &cli.command else {
            panic!("{cli:?}")
        };
        // Guard against an ambient variable in the test environment.
        if cli.global.database_url.is_none() {
            assert_eq!(
                resolved(command.target(), &cli.global),
                "sqlite://pycharter.db"
            );
        }
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
