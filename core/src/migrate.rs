//! The migration driver: the one implementation of `initialize` / `upgrade` / `downgrade` /
//! `validate` / `current` / `history`. A backend supplies a [`MigrationExecutor`] (how to
//! read its catalog, open a locked transaction, and run online steps); everything else
//! happens here, so every backend plans, refuses, reports and words errors identically.
//!
//! A command runs in *rounds* ([`rounds`]): each round takes the migration lock in a
//! transaction, re-reads the catalog, plans, and applies what it can. A migration with an
//! online step (see [`crate::online`]) ends its round: the round commits, the step runs
//! outside any transaction, and the next round records the migration. Without online steps
//! a command is one round, i.e. one transaction, as before.
//!
//! Every command ends with its post-condition ([`postcondition`]): it refuses up front to
//! build on a damaged layout, and after the run the database must be sound at the version
//! it was asked to reach, or the command fails with the validator's error.

use crate::catalog::{AppliedMigration, CatalogSnapshot};
use crate::error::{Error, Result};
use crate::online::OnlineStep;
use crate::options::{
    DowngradeOptions, InitializeOptions, UpgradeOptions, DEFAULT_DDL_LOCK_RETRY_FOR,
};
use crate::plan::{
    check_data_loss, plan_downgrade, plan_repair, plan_upgrade, DowngradeTarget, MigrationPlan,
    PlanStep,
};
use crate::report::{migration_history, MigrationReport, MigrationStatus};
use crate::spec::BundledMigration;
use crate::validate::{validate_catalog, SchemaInfo};
use async_trait::async_trait;
use semver::Version;
use std::time::Duration;

mod postcondition;
mod rounds;

/// One migration transaction, holding the backend's migration lock until commit/rollback.
#[async_trait]
pub trait MigrationTransaction: Send {
    /// Re-reads the catalog inside the lock (what another deployer did is visible now).
    async fn snapshot(&mut self) -> Result<CatalogSnapshot>;
    /// Runs a step's transactional SQL. A statement that gave up waiting for a table lock
    /// (the DDL lock timeout) fails with [`Error::TableLockTimeout`]: core retries the round.
    async fn run_sql(&mut self, sql: &str) -> Result<()>;
    /// Records an applied migration in the version table.
    async fn record_applied(&mut self, step: &PlanStep, execution_ms: i64) -> Result<()>;
    /// Removes a reverted migration's row from the version table: the row whose version
    /// text is exactly `recorded` (as the catalog snapshot reported it).
    async fn remove_applied(&mut self, recorded: &str) -> Result<()>;
    /// Row counts of those of `tables` that exist.
    async fn count_rows(&mut self, tables: &[String]) -> Result<Vec<(String, u64)>>;
    /// Commits, releasing the lock.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Rolls back, releasing the lock.
    async fn rollback(self: Box<Self>) -> Result<()>;

    /// Runs an online step inside this transaction: on a backend without online steps, or
    /// for a table this transaction created (nothing else can see it yet, so nothing waits).
    /// The default runs the statement as it is; Postgres drops its `CONCURRENTLY`.
    async fn run_inline(&mut self, step: &OnlineStep) -> Result<()> {
        self.run_sql(&step.sql).await
    }

    /// (Backends with online steps.) Claims `table` for an online step without ever waiting:
    /// `Ok(false)` when something else works on the table (another deployer's online step,
    /// maintenance), `Ok(true)` when claimed: nothing else can start an online step on it
    /// until this transaction ends, and the index `leftover` (invalid: an interrupted
    /// build) has been dropped if it still is invalid now that no build can be running.
    async fn claim_online(&mut self, table: &str, leftover: Option<&str>) -> Result<bool> {
        let _ = (table, leftover);
        Err(no_online_steps())
    }

    /// (Backends with online steps.) Commits this transaction, handing its claim on `table`
    /// over to `step`: the statement starts on a connection of its own and takes its place
    /// on the table before the claim is released, so no other deployer's online step can
    /// start in between. Returns when the statement finished. A failure before the commit
    /// rolls back; [`Error::TableLockTimeout`] then means the statement could not be started
    /// in time (core retries the round).
    async fn commit_into_online(self: Box<Self>, step: &OnlineStep, table: &str) -> Result<()> {
        let _ = (step, table);
        Err(no_online_steps())
    }
}

/// What a backend provides so that core can run its migrations.
#[async_trait]
pub trait MigrationExecutor: Send + Sync {
    /// The database URL, password redacted (used in every message).
    fn target(&self) -> &str;
    /// The migrations this backend ships.
    fn bundled(&self) -> &[BundledMigration];
    /// Reads the catalog, without locking (one round trip where possible).
    async fn snapshot(&self) -> Result<CatalogSnapshot>;
    /// Opens a transaction that holds the migration lock and in which the version table
    /// exists. Waiting longer than the lock timeout is [`Error::LockTimeout`].
    async fn begin(&self) -> Result<Box<dyn MigrationTransaction + '_>>;

    /// Whether online steps run outside the migration transaction (Postgres). False (the
    /// default): they run inside it like any other statement, as on a backend without
    /// concurrent index builds (SQLite keeps its one writer, memory its writer lock).
    fn online_steps(&self) -> bool {
        false
    }

    /// How long a command keeps retrying rounds whose statements gave up on a table lock.
    fn ddl_lock_retry_for(&self) -> Duration {
        DEFAULT_DDL_LOCK_RETRY_FOR
    }

    /// (Backends with online steps.) Waits until nothing works on `table` any more (an
    /// online step another deployer runs), holding no lock and no snapshot meanwhile (an
    /// online index build waits for every older snapshot: a waiter holding one would
    /// deadlock with it). Waiting longer than the lock timeout is [`Error::LockTimeout`].
    async fn wait_for_online(&self, table: &str) -> Result<()> {
        let _ = table;
        Ok(())
    }
}

fn no_online_steps() -> Error {
    Error::InvalidRequest {
        action: "run an online step outside the migration transaction".into(),
        reason: "this backend runs online steps inside the transaction".into(),
        target: "this backend".into(),
    }
}

/// `validate()`: the catalog, judged by [`validate_catalog`].
pub async fn validate(exec: &(impl MigrationExecutor + ?Sized)) -> Result<SchemaInfo> {
    let snapshot = exec.snapshot().await?;
    Ok(validate_catalog(&snapshot, exec.bundled(), exec.target()))
}

/// `current()`: the highest recorded migration by semver; a row recorded before the version
/// table had its `compatible_with` column gets the compatibility its bundled migration
/// declares.
pub async fn current(exec: &(impl MigrationExecutor + ?Sized)) -> Result<Option<AppliedMigration>> {
    let snapshot = exec.snapshot().await?;
    let current = snapshot
        .applied
        .into_iter()
        .max_by_key(AppliedMigration::parsed_version);
    Ok(current.map(|mut row| {
        if row.compatible_with.is_none() {
            let version = row.parsed_version();
            row.compatible_with = exec
                .bundled()
                .iter()
                .find(|m| Some(&m.version) == version.as_ref())
                .map(|m| m.compatible_with.to_string());
        }
        row
    }))
}

/// `history()`: see [`migration_history`].
pub async fn history(exec: &(impl MigrationExecutor + ?Sized)) -> Result<Vec<MigrationStatus>> {
    let snapshot = exec.snapshot().await?;
    Ok(migration_history(exec.bundled(), &snapshot.applied))
}

/// `initialize()`: (with `force`) repair, then apply every pending migration, in one
/// transaction under the lock. Idempotent: a second call finds nothing to do. Without
/// `force`, a database whose recorded tables or indexes are gone is refused (nothing
/// changed) with the validator's error naming `init --force`.
pub async fn initialize(
    exec: &(impl MigrationExecutor + ?Sized),
    options: InitializeOptions,
) -> Result<MigrationReport> {
    let bundled = exec.bundled();
    let target = exec.target();
    let reach = newest(bundled);
    let planner = |snapshot: &CatalogSnapshot| -> Result<MigrationPlan> {
        let mut plan = plan_upgrade(bundled, &snapshot.applied, None, target)?;
        if options.force {
            let repair = plan_repair(bundled, snapshot, target)?;
            plan.steps.splice(0..0, repair.steps);
        } else {
            postcondition::ensure_intact(snapshot, bundled, reach.as_ref(), target)?;
        }
        Ok(plan)
    };
    let command = Command {
        action: "init",
        dry_run: options.dry_run,
        reach: reach.clone(),
    };
    run(exec, command, planner, |_, _| Ok(())).await
}

/// `upgrade()`: apply pending migrations up to `options.to`: in one transaction, unless a
/// step has online statements (see [`rounds`]). A database
/// whose recorded tables or indexes are gone is refused (nothing changed): only
/// `init --force` recreates them.
pub async fn upgrade(
    exec: &(impl MigrationExecutor + ?Sized),
    options: UpgradeOptions,
) -> Result<MigrationReport> {
    let (bundled, target) = (exec.bundled(), exec.target());
    let reach = options.to.clone().or_else(|| newest(bundled));
    let planner = |snapshot: &CatalogSnapshot| {
        let plan = plan_upgrade(bundled, &snapshot.applied, options.to.as_ref(), target)?;
        postcondition::ensure_intact(snapshot, bundled, reach.as_ref(), target)?;
        Ok(plan)
    };
    let command = Command {
        action: "upgrade",
        dry_run: options.dry_run,
        reach: reach.clone(),
    };
    run(exec, command, planner, |_, _| Ok(())).await
}

/// `downgrade()`: revert migrations above `options.to` (in one transaction, unless a step has
/// online statements), refusing to drop tables that hold rows unless `allow_data_loss`, and
/// refusing (nothing changed) when tables
/// or indexes of the migrations it keeps are gone.
pub async fn downgrade(
    exec: &(impl MigrationExecutor + ?Sized),
    options: DowngradeOptions,
) -> Result<MigrationReport> {
    let (bundled, target) = (exec.bundled(), exec.target());
    let reach = match &options.to {
        DowngradeTarget::Base => None,
        DowngradeTarget::Version(v) => Some(v.clone()),
    };
    let planner = |snapshot: &CatalogSnapshot| {
        let plan = plan_downgrade(bundled, &snapshot.applied, &options.to, target)?;
        postcondition::ensure_intact(snapshot, bundled, reach.as_ref(), target)?;
        Ok(plan)
    };
    let guard = |plan: &MigrationPlan, counts: &[(String, u64)]| {
        check_data_loss(plan, counts, options.allow_data_loss, target)
    };
    let command = Command {
        action: "downgrade",
        dry_run: options.dry_run,
        reach: reach.clone(),
    };
    run(exec, command, planner, guard).await
}

fn newest(bundled: &[BundledMigration]) -> Option<Version> {
    bundled.last().map(|m| m.version.clone())
}

/// What a command is: its name, whether it only plans, and the version it was asked to
/// reach (None: base), at which its post-condition is judged.
struct Command {
    action: &'static str,
    dry_run: bool,
    reach: Option<Version>,
}

/// A dry run plans from an unlocked snapshot, changes nothing, and reports what the
/// post-condition would find; a real run is core's rounds (see [`rounds`]), then the
/// post-condition on the catalog they left. A right the role lacks is reported as one only
/// the deploy role has ([`Error::in_migration`]).
async fn run<E, P, G>(exec: &E, command: Command, planner: P, guard: G) -> Result<MigrationReport>
where
    E: MigrationExecutor + ?Sized,
    P: Fn(&CatalogSnapshot) -> Result<MigrationPlan>,
    G: Fn(&MigrationPlan, &[(String, u64)]) -> Result<()>,
{
    run_unmapped(exec, command, planner, guard)
        .await
        .map_err(Error::in_migration)
}

async fn run_unmapped<E, P, G>(
    exec: &E,
    command: Command,
    planner: P,
    guard: G,
) -> Result<MigrationReport>
where
    E: MigrationExecutor + ?Sized,
    P: Fn(&CatalogSnapshot) -> Result<MigrationPlan>,
    G: Fn(&MigrationPlan, &[(String, u64)]) -> Result<()>,
{
    let (bundled, target) = (exec.bundled(), exec.target());
    let reach = command.reach.as_ref();
    if command.dry_run {
        // A dry run takes no lock and writes nothing, not even the version table.
        let snapshot = exec.snapshot().await?;
        // Data loss is checked when the downgrade really runs, under the lock.
        let plan = planner(&snapshot)?;
        let mut report = MigrationReport::new(command.action, target, &plan, true, &[]);
        let after = postcondition::predict(&snapshot, &plan, bundled);
        report.postcondition = Some(postcondition::judge(&after, bundled, reach, target).0);
        return Ok(report);
    }
    let mut report = rounds::run(exec, command.action, &planner, &guard).await?;
    let after = exec.snapshot().await?;
    let (judged, cause) = postcondition::judge(&after, bundled, reach, target);
    report.postcondition = Some(judged);
    match cause {
        None => Ok(report),
        Some(cause) => {
            // The caller reports the error; this is for whoever follows the log with -v.
            tracing::info!(target: "pycharter::migrate", database = target, action = command.action, error = %cause, "the migration command left the database unsound");
            Err(Error::PostconditionFailed {
                report: Box::new(report),
                cause: Box::new(cause),
            })
        }
    }
}
