//! The migration driver: the one implementation of `initialize` / `upgrade` / `downgrade` /
//! `validate` / `current` / `history`. A backend supplies a [`MigrationExecutor`] (how to
//! read its catalog and open a locked transaction); everything else happens here, so every
//! backend plans, refuses, reports and words errors identically.

use crate::catalog::{AppliedMigration, CatalogSnapshot};
use crate::error::{Error, Result};
use crate::options::{DowngradeOptions, InitializeOptions, UpgradeOptions};
use crate::plan::{
    check_data_loss, plan_downgrade, plan_repair, plan_upgrade, Direction, MigrationPlan, PlanStep,
};
use crate::report::{migration_history, MigrationReport, MigrationStatus};
use crate::spec::BundledMigration;
use crate::validate::{validate_catalog, SchemaInfo};
use async_trait::async_trait;
use std::time::Instant;

/// One migration transaction, holding the backend's migration lock until commit/rollback.
#[async_trait]
pub trait MigrationTransaction: Send {
    /// Re-reads the catalog inside the lock (what another deployer did is visible now).
    async fn snapshot(&mut self) -> Result<CatalogSnapshot>;
    /// Runs a step's SQL.
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
}

/// `validate()`: the catalog, judged by [`validate_catalog`].
pub async fn validate(exec: &(impl MigrationExecutor + ?Sized)) -> Result<SchemaInfo> {
    let snapshot = exec.snapshot().await?;
    Ok(validate_catalog(&snapshot, exec.bundled(), exec.target()))
}

/// `current()`: the highest recorded migration by semver.
pub async fn current(exec: &(impl MigrationExecutor + ?Sized)) -> Result<Option<AppliedMigration>> {
    let snapshot = exec.snapshot().await?;
    Ok(snapshot
        .applied
        .into_iter()
        .max_by_key(AppliedMigration::parsed_version))
}

/// `history()`: see [`migration_history`].
pub async fn history(exec: &(impl MigrationExecutor + ?Sized)) -> Result<Vec<MigrationStatus>> {
    let snapshot = exec.snapshot().await?;
    Ok(migration_history(exec.bundled(), &snapshot.applied))
}

/// `initialize()`: (with `force`) repair, then apply every pending migration, in one
/// transaction under the lock. Idempotent: a second call finds nothing to do.
pub async fn initialize(
    exec: &(impl MigrationExecutor + ?Sized),
    options: InitializeOptions,
) -> Result<MigrationReport> {
    let bundled = exec.bundled();
    let target = exec.target();
    let planner = |snapshot: &CatalogSnapshot| -> Result<MigrationPlan> {
        let mut plan = plan_upgrade(bundled, &snapshot.applied, None, target)?;
        if options.force {
            let repair = plan_repair(bundled, snapshot, target)?;
            plan.steps.splice(0..0, repair.steps);
        }
        Ok(plan)
    };
    run(exec, "init", options.dry_run, planner, |_, _| Ok(())).await
}

/// `upgrade()`: apply pending migrations up to `options.to`, in one transaction.
pub async fn upgrade(
    exec: &(impl MigrationExecutor + ?Sized),
    options: UpgradeOptions,
) -> Result<MigrationReport> {
    let (bundled, target) = (exec.bundled(), exec.target());
    let planner = |snapshot: &CatalogSnapshot| {
        plan_upgrade(bundled, &snapshot.applied, options.to.as_ref(), target)
    };
    run(exec, "upgrade", options.dry_run, planner, |_, _| Ok(())).await
}

/// `downgrade()`: revert migrations above `options.to`, in one transaction, refusing to drop
/// tables that hold rows unless `allow_data_loss`.
pub async fn downgrade(
    exec: &(impl MigrationExecutor + ?Sized),
    options: DowngradeOptions,
) -> Result<MigrationReport> {
    let (bundled, target) = (exec.bundled(), exec.target());
    let planner = |snapshot: &CatalogSnapshot| {
        plan_downgrade(bundled, &snapshot.applied, &options.to, target)
    };
    let guard = |plan: &MigrationPlan, counts: &[(String, u64)]| {
        check_data_loss(plan, counts, options.allow_data_loss, target)
    };
    run(exec, "downgrade", options.dry_run, planner, guard).await
}

/// Plans inside the lock and executes, rolling back everything on the first failure. A right
/// the role lacks is reported as one only the deploy role has ([`Error::in_migration`]).
async fn run<E, P, G>(
    exec: &E,
    action: &str,
    dry_run: bool,
    planner: P,
    guard: G,
) -> Result<MigrationReport>
where
    E: MigrationExecutor + ?Sized,
    P: Fn(&CatalogSnapshot) -> Result<MigrationPlan>,
    G: Fn(&MigrationPlan, &[(String, u64)]) -> Result<()>,
{
    run_locked(exec, action, dry_run, planner, guard)
        .await
        .map_err(Error::in_migration)
}

async fn run_locked<E, P, G>(
    exec: &E,
    action: &str,
    dry_run: bool,
    planner: P,
    guard: G,
) -> Result<MigrationReport>
where
    E: MigrationExecutor + ?Sized,
    P: Fn(&CatalogSnapshot) -> Result<MigrationPlan>,
    G: Fn(&MigrationPlan, &[(String, u64)]) -> Result<()>,
{
    let target = exec.target();
    if dry_run {
        // A dry run takes no lock and writes nothing, not even the version table.
        let snapshot = exec.snapshot().await?;
        // Data loss is checked when the downgrade really runs, under the lock.
        let plan = planner(&snapshot)?;
        return Ok(MigrationReport::new(action, target, &plan, true, &[]));
    }

    let mut tx = exec.begin().await?;
    let outcome = execute(tx.as_mut(), &planner, &guard, target).await;
    match outcome {
        Ok((plan, durations)) => {
            tx.commit().await?;
            tracing::info!(target: "pycharter::migrate", database = target, action, steps = plan.steps.len(), "migration committed");
            Ok(MigrationReport::new(
                action, target, &plan, false, &durations,
            ))
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(target: "pycharter::migrate", database = target, error = %rollback, "rollback failed; the server discards the transaction when the connection closes");
            }
            Err(err)
        }
    }
}

async fn execute<P, G>(
    tx: &mut (dyn MigrationTransaction + '_),
    planner: &P,
    guard: &G,
    target: &str,
) -> Result<(MigrationPlan, Vec<u64>)>
where
    P: Fn(&CatalogSnapshot) -> Result<MigrationPlan>,
    G: Fn(&MigrationPlan, &[(String, u64)]) -> Result<()>,
{
    let snapshot = tx.snapshot().await?;
    let plan = planner(&snapshot)?;
    let dropped: Vec<String> = plan.dropped_tables().map(String::from).collect();
    if !dropped.is_empty() {
        let counts = tx.count_rows(&dropped).await?;
        guard(&plan, &counts)?;
    }
    let previous = plan
        .from
        .as_ref()
        .map_or_else(|| "none".to_string(), ToString::to_string);
    let mut durations = Vec::with_capacity(plan.steps.len());
    for step in &plan.steps {
        let started = Instant::now();
        let result = async {
            tx.run_sql(&step.sql).await?;
            let elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            match step.direction {
                Direction::Up => tx.record_applied(step, elapsed_ms).await,
                Direction::Down => {
                    let recorded = step.recorded_as.clone();
                    tx.remove_applied(&recorded.unwrap_or_else(|| step.version.to_string()))
                        .await
                }
                Direction::Repair => Ok(()),
            }
        }
        .await;
        if let Err(err) = result {
            if matches!(
                err,
                Error::ReadOnlyServer { .. } | Error::InsufficientPrivilege { .. }
            ) {
                // Not the step's fault: the server refuses every write, or this role may not
                // change the layout (rolled back all the same).
                return Err(err);
            }
            return Err(Error::MigrationFailed {
                version: step.version.to_string(),
                previous,
                reason: failure_reason(err),
                target: target.to_string(),
            });
        }
        durations.push(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    }
    Ok((plan, durations))
}

fn failure_reason(err: Error) -> String {
    match err {
        Error::Database { reason, .. } => reason,
        other => other.to_string(),
    }
}
