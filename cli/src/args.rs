//! The command line, declared with clap derive. Parsing only: no I/O happens here.

use clap::{ArgAction, Args, Parser, Subcommand};
use clap_complete::Shell;
use pycharter_core::DowngradeTarget;
use semver::Version;
use std::time::Duration;

/// The URL used when none is given: an SQLite file in the working directory, so that a
/// newcomer can run `pycharter db init` with no server at all.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://pycharter.db";

/// The environment variable naming the database, pycharter's own.
pub const DATABASE_URL_ENV: &str = "PYCHARTER_DATABASE_URL";

/// The environment variable most platforms, PyCharter's deploy recipe and sqlx-cli use;
/// read after [`DATABASE_URL_ENV`].
pub const GENERIC_DATABASE_URL_ENV: &str = "DATABASE_URL";

const TOP_EXAMPLES: &str = "\
Examples:
  pycharter db init                                  # SQLite file ./pycharter.db
  pycharter db check postgres://app:secret@db:5432/meta
  DATABASE_URL=postgres://app@db/meta pycharter db upgrade
  pycharter db check --wait 300                      # readiness gate: wait for the migration
  pycharter completions bash > /etc/bash_completion.d/pycharter";

const DB_EXAMPLES: &str = "\
Database URL: the positional URL, else --database-url, else $PYCHARTER_DATABASE_URL, else
$DATABASE_URL; sqlite://pycharter.db only when none of them is given (stderr then says so).
A URL given but empty (\"\", or a variable set to nothing) is an error (exit 2): it
touches nothing. Accepted forms: sqlite://PATH, sqlite::memory:,
postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://), memory://.

Exit codes: 0 ok; 1 invalid schema, failed check, refused or failed migration;
2 usage error, invalid URL, cannot connect, migration or table lock timeout.

Examples:
  pycharter db init
  pycharter db check postgres://app:secret@db:5432/meta --json
  pycharter db history";

const INIT_EXAMPLES: &str = "\
Examples:
  pycharter db init                                  # ./pycharter.db, created if missing
  pycharter db init postgres://app:secret@db:5432/meta
  pycharter db init sqlite://meta.db --dry-run       # print the SQL, change nothing
  pycharter db init sqlite://meta.db --force         # recreate dropped tables/indexes";

const UPGRADE_EXAMPLES: &str = "\
Examples:
  pycharter db upgrade postgres://app:secret@db:5432/meta
  pycharter db upgrade sqlite://meta.db --to 1.1.0
  pycharter db upgrade sqlite://meta.db --dry-run --json";

const DOWNGRADE_EXAMPLES: &str = "\
Examples:
  pycharter db downgrade sqlite://meta.db --to 1.0.0
  pycharter db downgrade sqlite://meta.db --to base --dry-run
  pycharter db downgrade sqlite://meta.db --to base --allow-data-loss";

const CURRENT_EXAMPLES: &str = "\
Prints the version (exit 0), or says the database is not initialized (exit 1).

Examples:
  pycharter db current
  pycharter db current postgres://app:secret@db:5432/meta --json";

const HISTORY_EXAMPLES: &str = "\
Without any URL (no positional, no --database-url, no $PYCHARTER_DATABASE_URL) lists the
migrations bundled in this binary and touches no database.

Examples:
  pycharter db history                               # bundled migrations
  pycharter db history sqlite://meta.db
  pycharter db history postgres://app:secret@db:5432/meta --json";

const CHECK_EXAMPLES: &str = "\
Exit codes: 0 valid (or newer and compatible with this binary), 1 invalid (the message
names the fix), 2 cannot run.

With --wait SECS: retries while the server is unreachable or the schema is not migrated
yet (one attempt at a time, each bounded by --connect-timeout, pausing up to 1 s between
them), and exits 0 as soon as it is usable; after SECS, the exit code of the last attempt,
saying what it was still waiting for. A damaged schema or a newer incompatible one fails at
once: waiting would not fix it.

Examples:
  pycharter db check
  pycharter db check postgres://app:secret@db:5432/meta --json
  pycharter db check sqlite://meta.db || pycharter db upgrade sqlite://meta.db
  pycharter db check --wait 300 \"$DATABASE_URL\"          # readiness gate of an app pod";

const GRANTS_EXAMPLES: &str = "\
Prints the statements that give an application role exactly the rights the store needs
(read the version table; read, add and remove metadata rows), and no right to change the
layout. Run them as the deploy role that owns the tables (the one that runs
`pycharter db upgrade`). With a URL (the deploy role's), also CONNECT on its database;
nothing connects.

Examples:
  pycharter db grants --role app postgres://deploy:secret@db:5432/meta | psql postgres://deploy:secret@db:5432/meta
  pycharter db grants --role app --namespace contracts --json";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  pycharter completions bash > ~/.local/share/bash-completion/completions/pycharter
  pycharter completions zsh > ~/.zfunc/_pycharter
  pycharter completions fish > ~/.config/fish/completions/pycharter.fish";

/// Versions, validates and migrates the database that holds pycharter's data-contract
/// metadata.
#[derive(Debug, Parser)]
#[command(name = "pycharter", version, after_help = TOP_EXAMPLES)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted anywhere on the command line.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database URL, used when no positional URL is given (then $PYCHARTER_DATABASE_URL,
    /// then $DATABASE_URL).
    // Not clap's `env`: clap treats an empty variable as absent, and an empty URL must be
    // refused, not replaced by the default database (`commands::resolve_database`).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Give up connecting after SECS seconds.
    #[arg(long, global = true, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub connect_timeout: Duration,

    /// Give up waiting for another deployer's migration lock after SECS seconds (default:
    /// wait).
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_seconds)]
    pub lock_timeout: Option<Duration>,

    /// Give up on a table lock after SECS seconds in each migration statement (Postgres
    /// `lock_timeout`), so that it never parks in front of the application's queries for
    /// longer; the migration is then rolled back and retried. 0: wait.
    #[arg(long, global = true, value_name = "SECS", default_value = "2", value_parser = parse_seconds)]
    pub ddl_lock_timeout: Duration,

    /// Keep retrying a migration whose statements gave up on a table lock for SECS seconds
    /// in total.
    #[arg(long, global = true, value_name = "SECS", default_value = "60", value_parser = parse_seconds)]
    pub ddl_lock_retry_for: Duration,

    /// More logs on stderr (-v info, -vv debug, -vvv trace); RUST_LOG is used when absent.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing on success except what --json asks for; only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the database schema: init, upgrade, downgrade, current, history, check, grants.
    #[command(after_help = DB_EXAMPLES)]
    Db {
        /// The database command.
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Print a shell completion script on stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// `pycharter db ...`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the schema, or apply what is pending (idempotent, safe to run concurrently).
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Apply pending migrations, up to --to (default: the newest in this binary).
    #[command(after_help = UPGRADE_EXAMPLES)]
    Upgrade(UpgradeArgs),
    /// Revert migrations above --to (a version, or `base` for nothing).
    #[command(after_help = DOWNGRADE_EXAMPLES)]
    Downgrade(DowngradeArgs),
    /// Print the schema version the database is at.
    #[command(after_help = CURRENT_EXAMPLES)]
    Current(TargetArgs),
    /// List the migrations: version, description, applied at, state, checksum.
    #[command(after_help = HISTORY_EXAMPLES)]
    History(TargetArgs),
    /// Validate the schema against this binary.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Print the GRANT statements of a least-privilege application role (PostgreSQL).
    #[command(after_help = GRANTS_EXAMPLES)]
    Grants(GrantsArgs),
}

/// `pycharter db grants`
#[derive(Debug, Args)]
pub struct GrantsArgs {
    /// Database (only its name is read; nothing connects) and output format.
    #[command(flatten)]
    pub target: TargetArgs,
    /// The application role to grant the rights to.
    #[arg(long, value_name = "NAME")]
    pub role: String,
    /// The PostgreSQL schema holding the tables.
    #[arg(long, value_name = "SCHEMA", default_value = pycharter_postgres::DEFAULT_NAMESPACE)]
    pub namespace: String,
}

/// The database and the output format, common to every `db` subcommand.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Database URL (overrides --database-url, $PYCHARTER_DATABASE_URL and $DATABASE_URL).
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// Print one JSON document on stdout (errors too, as {"error", "kind"}).
    #[arg(long)]
    pub json: bool,
}

/// `pycharter db check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Database and output format.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Wait up to SECS seconds for the schema to become usable (server reachable, schema
    /// migrated), then exit 0; exit as without --wait when it does not.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub wait: Option<Duration>,
}

/// `pycharter db init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Database and output format.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also recreate missing tables and indexes of applied migrations; never drops data.
    #[arg(long)]
    pub force: bool,
    /// Print the SQL each step would run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `pycharter db upgrade`
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Database and output format.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stop at this version (default: the newest this binary ships).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub to: Option<Version>,
    /// Print the SQL each step would run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `pycharter db downgrade`
#[derive(Debug, Args)]
pub struct DowngradeArgs {
    /// Database and output format.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Version to go down to (kept), or `base` to revert everything.
    #[arg(long, value_name = "VERSION|base", value_parser = parse_downgrade_target)]
    pub to: DowngradeTarget,
    /// Print the SQL each step would run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Drop tables even when they hold rows.
    #[arg(long)]
    pub allow_data_loss: bool,
}

impl DbCommand {
    /// The subcommand's name as typed (`init`, `check`, …).
    pub fn name(&self) -> &'static str {
        match self {
            DbCommand::Init(_) => "init",
            DbCommand::Upgrade(_) => "upgrade",
            DbCommand::Downgrade(_) => "downgrade",
            DbCommand::Current(_) => "current",
            DbCommand::History(_) => "history",
            DbCommand::Check(_) => "check",
            DbCommand::Grants(_) => "grants",
        }
    }

    /// The database and output options of any `db` subcommand.
    pub fn target(&self) -> &TargetArgs {
        match self {
            DbCommand::Init(a) => &a.target,
            DbCommand::Upgrade(a) => &a.target,
            DbCommand::Downgrade(a) => &a.target,
            DbCommand::Check(a) => &a.target,
            DbCommand::Grants(a) => &a.target,
            DbCommand::Current(t) | DbCommand::History(t) => t,
        }
    }
}

/// Seconds as an integer or a decimal (`10`, `0.5`).
fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{raw:?} is not a duration in seconds"))
}

/// A semver version, with core's wording when it is not one (`1.2` → `expected
/// MAJOR.MINOR.PATCH, e.g. 1.2.0`).
fn parse_version(raw: &str) -> Result<Version, String> {
    pycharter_core::ContractVersion::parse(raw)
        .map(Version::from)
        .map_err(|e| e.to_string())
}

/// `base` or a semver version.
fn parse_downgrade_target(raw: &str) -> Result<DowngradeTarget, String> {
    raw.parse()
        .map_err(|e: pycharter_core::Error| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn positional_url_and_flag_are_parsed_apart() {
        let cli = Cli::try_parse_from([
            "pycharter",
            "--database-url",
            "sqlite://flag.db",
            "db",
            "check",
            "sqlite://pos.db",
        ])
        .unwrap();
        let Command::Db { command } = &cli.command else {
            panic!("parsed {cli:?}");
        };
        // Both land in their own field; `commands::resolve_database` picks between them.
        assert_eq!(command.target().url.as_deref(), Some("sqlite://pos.db"));
        assert_eq!(cli.global.database_url.as_deref(), Some("sqlite://flag.db"));
    }

    #[test]
    fn timeouts_accept_decimals_and_reject_negative() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn downgrade_requires_to_and_accepts_base() {
        assert!(Cli::try_parse_from(["pycharter", "db", "downgrade"]).is_err());
        let cli = Cli::try_parse_from(["pycharter", "db", "downgrade", "--to", "base"]).unwrap();
        let Command::Db {
            command: DbCommand::Downgrade(args),
        } = cli.command
        else {
            panic!("parsed {cli:?}");
        };
        assert_eq!(args.to, DowngradeTarget::Base);
    }

    #[test]
    fn a_version_missing_its_patch_names_the_form() {
        for command in ["upgrade", "downgrade"] {
            let err = Cli::try_parse_from(["pycharter", "db", command, "--to", "1.2"])
                .expect_err("1.2 is not a version");
            assert!(
                err.to_string()
                    .contains("expected MAJOR.MINOR.PATCH, e.g. 1.2.0"),
                "{command}: {err}"
            );
        }
    }

    #[test]
    fn check_wait_takes_seconds() {
        let cli = Cli::try_parse_from(["pycharter", "db", "check", "--wait", "2.5"]).unwrap();
        let Command::Db {
            command: DbCommand::Check(args),
        } = cli.command
        else {
            panic!("parsed {cli:?}");
        };
        assert_eq!(args.wait, Some(Duration::from_millis(2500)));
        assert!(Cli::try_parse_from(["pycharter", "db", "check", "--wait", "soon"]).is_err());
        assert!(Cli::try_parse_from(["pycharter", "db", "current", "--wait", "1"]).is_err());
    }

    #[test]
    fn verbose_and_quiet_conflict() {
        assert!(Cli::try_parse_from(["pycharter", "-v", "-q", "db", "check"]).is_err());
    }
}
