//! The rounds of a migration command.
//!
//! A round: open a transaction holding the migration lock, read the catalog, plan, apply the
//! planned steps in order. It ends
//!
//! - **done**: every step applied, commit;
//! - **online**: a step has an online statement for a table that existed before the round:
//!   the round claims the table ([`MigrationTransaction::claim_online`]), commits while
//!   handing the claim over to the statement ([`MigrationTransaction::commit_into_online`]),
//!   and the next round goes on from what the catalog then shows;
//! - **busy**: another deployer's online statement works on that table: commit, wait for it
//!   ([`MigrationExecutor::wait_for_online`]), next round.
//!
//! Everything a round decides comes from the catalog it read under the lock, so a command
//! interrupted anywhere (SIGKILL, lost connection) resumes from what the database shows, and
//! concurrent deployers never run the same online statement twice.
//!
//! **Lock queue.** A statement that gave up waiting for a table lock (the backend's DDL lock
//! timeout) fails the round with [`Error::TableLockTimeout`]: the round is rolled back, and
//! retried after a backoff during which this command holds nothing, until
//! [`MigrationExecutor::ddl_lock_retry_for`] has passed without a round going through.

use super::{MigrationExecutor, MigrationTransaction};
use crate::catalog::CatalogSnapshot;
use crate::error::{Error, Result};
use crate::online::{OnlineEffect, OnlineStep};
use crate::plan::{Direction, MigrationPlan, PlanStep};
use crate::report::MigrationReport;
use crate::spec::{index_table, BundledMigration};
use semver::Version;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// An online statement that ran but whose effect the catalog still does not show is run
/// again (another deployer's interrupted build was in the way); this many times at most.
const ONLINE_RUNS_PER_STEP: u32 = 3;

/// Backoff before retrying a round that gave up on a table lock: doubling from this...
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// ...up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How a round ended (its transaction is still open).
enum Next {
    /// Every planned step was applied: commit.
    Done,
    /// `online` (of `step`) must run outside the transaction; `table` is claimed.
    Online {
        // Boxed: a plan step is large, and the other variants are small.
        step: Box<PlanStep>,
        online: OnlineStep,
        table: String,
    },
    /// Another online statement works on `table`: commit, wait, retry.
    Busy { table: String },
}

/// A step is identified across rounds by its version and direction.
type StepKey = (Version, Direction);

/// What the command did so far, across rounds (the report is built from it).
#[derive(Default)]
struct Progress {
    /// The version before the first round, once planned.
    first_from: Option<Option<Version>>,
    /// The latest round's plan: where the command is going, and from where it now starts.
    last_plan: Option<MigrationPlan>,
    /// Steps completed and committed, with their duration.
    committed: Vec<(PlanStep, u64)>,
    /// Steps completed in the open round (committed with it, or forgotten).
    this_round: Vec<(PlanStep, u64)>,
    /// When each step this command worked on started (its duration spans rounds).
    started: HashMap<StepKey, (PlanStep, Instant)>,
    /// How often each step's online statements ran.
    online_runs: HashMap<StepKey, u32>,
}

impl Progress {
    fn planned(&mut self, plan: &MigrationPlan) {
        self.first_from.get_or_insert_with(|| plan.from.clone());
        // A repair step ends with its online statement: once the catalog no longer needs
        // it, it is done (an applied or reverted step is done when its round records it).
        let finished: Vec<StepKey> = self
            .started
            .iter()
            .filter(|((_, direction), _)| *direction == Direction::Repair)
            .map(|(key, _)| key.clone())
            .filter(|key| !plan.steps.iter().any(|s| &key_of(s) == key))
            .collect();
        for key in finished {
            if let Some((step, at)) = self.started.remove(&key) {
                self.committed.push((step, millis(at.elapsed())));
            }
        }
        self.last_plan = Some(plan.clone());
    }

    fn start(&mut self, step: &PlanStep) -> Instant {
        self.started
            .entry(key_of(step))
            .or_insert_with(|| (step.clone(), Instant::now()))
            .1
    }

    fn finish(&mut self, step: &PlanStep) {
        if let Some((step, at)) = self.started.remove(&key_of(step)) {
            self.this_round.push((step, millis(at.elapsed())));
        }
    }

    fn commit_round(&mut self) {
        self.committed.append(&mut self.this_round);
    }

    fn discard_round(&mut self) {
        // Their work was rolled back: the next round plans them again (with their start).
        for (step, ms) in self.this_round.drain(..) {
            let at = Instant::now()
                .checked_sub(Duration::from_millis(ms))
                .unwrap_or_else(Instant::now);
            self.started.insert(key_of(&step), (step, at));
        }
    }

    fn report(&self, action: &str, target: &str) -> MigrationReport {
        let last = self.last_plan.clone().unwrap_or(MigrationPlan {
            from: None,
            to: None,
            steps: Vec::new(),
        });
        let steps: Vec<PlanStep> = self.committed.iter().map(|(s, _)| s.clone()).collect();
        let from = if steps.is_empty() {
            // Nothing done by this command: the database is where the last round found it.
            last.from.clone()
        } else {
            self.first_from.clone().flatten()
        };
        let durations: Vec<u64> = self.committed.iter().map(|(_, ms)| *ms).collect();
        let plan = MigrationPlan {
            from,
            to: last.to,
            steps,
        };
        MigrationReport::new(action, target, &plan, false, &durations)
    }
}

fn key_of(step: &PlanStep) -> StepKey {
    (step.version.clone(), step.direction)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs rounds until the plan is done (see the module documentation).
pub(super) async fn run<E, P, G>(
    exec: &E,
    action: &str,
    planner: &P,
    guard: &G,
) -> Result<MigrationReport>
where
    E: MigrationExecutor + ?Sized,
    P: Fn(&CatalogSnapshot) -> Result<MigrationPlan>,
    G: Fn(&MigrationPlan, &[(String, u64)]) -> Result<()>,
{
    let target = exec.target();
    let mut progress = Progress::default();
    let mut retrying: Option<(Instant, u32)> = None;
    loop {
        let attempt = async {
            let mut tx = exec.begin().await?;
            match round(exec, tx.as_mut(), planner, guard, &mut progress).await {
                Ok(next) => Ok((tx, next)),
                Err(err) => {
                    rollback(tx, target).await;
                    Err(err)
                }
            }
        }
        .await;
        let outcome = match attempt {
            Ok((tx, Next::Done)) => {
                tx.commit().await?;
                progress.commit_round();
                tracing::info!(target: "pycharter::migrate", database = target, action, steps = progress.committed.len(), "migration committed");
                return Ok(progress.report(action, target));
            }
            Ok((tx, Next::Busy { table })) => {
                tx.commit().await?;
                progress.commit_round();
                retrying = None;
                tracing::info!(target: "pycharter::migrate", database = target, table, "another deployer runs an online step on the table; waiting for it");
                exec.wait_for_online(&table).await?;
                continue;
            }
            Ok((
                tx,
                Next::Online {
                    step,
                    online,
                    table,
                },
            )) => {
                tracing::info!(target: "pycharter::migrate", database = target, version = %step.version, index = online.index, "running an online step outside the migration transaction");
                let ran = tx.commit_into_online(&online, &table).await;
                if ran.is_ok() {
                    progress.commit_round();
                    retrying = None;
                    count_online_run(&mut progress, &step, &online, target)?;
                    continue;
                }
                match ran {
                    Err(err @ Error::TableLockTimeout { .. }) => Err(err),
                    Err(
                        err @ (Error::ReadOnlyServer { .. } | Error::InsufficientPrivilege { .. }),
                    ) => return Err(err),
                    Err(err) => {
                        drop_leftover(exec, &online, &table).await;
                        return Err(Error::MigrationFailed {
                            version: step.version.to_string(),
                            previous: current_version(exec).await,
                            reason: failure_reason(err),
                            target: target.to_string(),
                        });
                    }
                    Ok(()) => Ok(()),
                }
            }
            Err(err) => Err(err),
        };
        // Only a round that gave up on a table lock gets here: back off, retry.
        match outcome {
            Err(Error::TableLockTimeout { reason, .. }) => {
                progress.discard_round();
                let (since, attempts) = retrying.get_or_insert_with(|| (Instant::now(), 0));
                *attempts += 1;
                let waited = since.elapsed();
                let limit = exec.ddl_lock_retry_for();
                if waited >= limit {
                    return Err(Error::TableLockTimeout {
                        target: target.to_string(),
                        reason,
                        attempts: *attempts,
                        waited,
                    });
                }
                let pause = backoff(*attempts).min(limit - waited);
                tracing::warn!(target: "pycharter::migrate", database = target, attempt = *attempts, %reason, pause_ms = pause.as_millis() as u64, "a migration statement gave up on a table lock; rolled back, retrying");
                tokio::time::sleep(pause).await;
            }
            Err(err) => return Err(err),
            Ok(()) => {}
        }
    }
}

/// One round inside `tx` (see the module documentation).
async fn round<E, P, G>(
    exec: &E,
    tx: &mut (dyn MigrationTransaction + '_),
    planner: &P,
    guard: &G,
    progress: &mut Progress,
) -> Result<Next>
where
    E: MigrationExecutor + ?Sized,
    P: Fn(&CatalogSnapshot) -> Result<MigrationPlan>,
    G: Fn(&MigrationPlan, &[(String, u64)]) -> Result<()>,
{
    let target = exec.target();
    let snapshot = tx.snapshot().await?;
    let plan = planner(&snapshot)?;
    progress.planned(&plan);
    let dropped: Vec<String> = plan.dropped_tables().map(String::from).collect();
    if !dropped.is_empty() {
        let counts = tx.count_rows(&dropped).await?;
        guard(&plan, &counts)?;
    }
    // Tables this round creates: an online statement on one of them runs inline.
    let mut created: BTreeSet<String> = BTreeSet::new();
    for step in &plan.steps {
        let started = progress.start(step);
        let outcome = apply(exec, tx, step, &snapshot, &mut created, started).await;
        match outcome {
            Ok(None) => progress.finish(step),
            Ok(Some(next)) => return Ok(next),
            // Not the step's fault: the lock queue (retried), a server refusing every write,
            // or a role that may not change the layout (rolled back all the same).
            Err(
                err @ (Error::TableLockTimeout { .. }
                | Error::ReadOnlyServer { .. }
                | Error::InsufficientPrivilege { .. }),
            ) => return Err(err),
            Err(err) => {
                return Err(Error::MigrationFailed {
                    version: step.version.to_string(),
                    previous: plan
                        .from
                        .as_ref()
                        .map_or_else(|| "none".to_string(), ToString::to_string),
                    reason: failure_reason(err),
                    target: target.to_string(),
                })
            }
        }
    }
    Ok(Next::Done)
}

/// Applies one step inside the round; `Some` when the round must end there (an online
/// statement to run outside, or to wait for).
async fn apply<E>(
    exec: &E,
    tx: &mut (dyn MigrationTransaction + '_),
    step: &PlanStep,
    snapshot: &CatalogSnapshot,
    created: &mut BTreeSet<String>,
    started: Instant,
) -> Result<Option<Next>>
where
    E: MigrationExecutor + ?Sized,
{
    let bundled = exec.bundled();
    let pending: Vec<&OnlineStep> = step
        .script
        .online
        .iter()
        .filter(|s| s.pending(snapshot))
        .collect();
    let up = step.direction != Direction::Down;
    if up {
        // First the transactional part (idempotent): the online statements may need it.
        tx.run_sql(&step.script.transactional).await?;
        created.extend(
            tables_of(bundled, step)
                .into_iter()
                .filter(|t| !snapshot.tables.contains(*t))
                .map(String::from),
        );
    }
    for online in pending {
        let table = index_table(bundled, &online.index).unwrap_or_default();
        let outside =
            exec.online_steps() && snapshot.tables.contains(table) && !created.contains(table);
        if !outside {
            tx.run_inline(online).await?;
            continue;
        }
        let leftover = (online.effect == OnlineEffect::Builds
            && snapshot.invalid_indexes.contains(&online.index))
        .then_some(online.index.as_str());
        let next = if tx.claim_online(table, leftover).await? {
            Next::Online {
                step: Box::new(step.clone()),
                online: online.clone(),
                table: table.to_string(),
            }
        } else {
            Next::Busy {
                table: table.to_string(),
            }
        };
        return Ok(Some(next));
    }
    let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match step.direction {
        Direction::Up => tx.record_applied(step, elapsed).await?,
        Direction::Repair => {}
        Direction::Down => {
            tx.run_sql(&step.script.transactional).await?;
            let recorded = step
                .recorded_as
                .clone()
                .unwrap_or_else(|| step.version.to_string());
            tx.remove_applied(&recorded).await?;
        }
    }
    Ok(None)
}

/// The tables the migration of `step` creates.
fn tables_of<'a>(bundled: &'a [BundledMigration], step: &PlanStep) -> Vec<&'a str> {
    bundled
        .iter()
        .filter(|m| m.version == step.version)
        .flat_map(|m| m.tables.iter().map(String::as_str))
        .collect()
}

/// Counts a completed online run of `step`; fails when it keeps running without the
/// catalog ever showing its effect.
fn count_online_run(
    progress: &mut Progress,
    step: &PlanStep,
    online: &OnlineStep,
    target: &str,
) -> Result<()> {
    let runs = progress.online_runs.entry(key_of(step)).or_insert(0);
    *runs += 1;
    if *runs <= ONLINE_RUNS_PER_STEP {
        return Ok(());
    }
    let effect = match online.effect {
        OnlineEffect::Builds => "built",
        OnlineEffect::Drops => "dropped",
    };
    Err(Error::MigrationFailed {
        version: step.version.to_string(),
        previous: "the version before it".into(),
        reason: format!(
            "its online statement ran {ONLINE_RUNS_PER_STEP} times but index {} is still not {effect}",
            online.index
        ),
        target: target.to_string(),
    })
}

/// After an online build failed: drop the invalid index it left, under the migration lock
/// (best effort: when it cannot, `validate` reports the index and the next run drops it).
async fn drop_leftover<E: MigrationExecutor + ?Sized>(exec: &E, online: &OnlineStep, table: &str) {
    if online.effect != OnlineEffect::Builds {
        return;
    }
    let target = exec.target();
    let cleaned = async {
        let mut tx = exec.begin().await?;
        let result = async {
            let snapshot = tx.snapshot().await?;
            if snapshot.invalid_indexes.contains(&online.index) {
                tx.claim_online(table, Some(&online.index)).await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        match result {
            Ok(()) => tx.commit().await,
            Err(err) => {
                rollback(tx, target).await;
                Err(err)
            }
        }
    }
    .await;
    if let Err(err) = cleaned {
        tracing::warn!(target: "pycharter::migrate", database = target, index = online.index, error = %err, "could not drop the invalid index the failed build left; validate reports it and the next upgrade drops and rebuilds it");
    }
}

async fn rollback(tx: Box<dyn MigrationTransaction + '_>, target: &str) {
    if let Err(rollback) = tx.rollback().await {
        tracing::warn!(target: "pycharter::migrate", database = target, error = %rollback, "rollback failed; the server discards the transaction when the connection closes");
    }
}

/// The version the database is at now (for a failure message), "unknown" when it cannot
/// be read.
async fn current_version<E: MigrationExecutor + ?Sized>(exec: &E) -> String {
    match super::current(exec).await {
        Ok(Some(row)) => row.version,
        Ok(None) => "none".into(),
        Err(_) => "unknown (run: pycharter db current)".into(),
    }
}

fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(8);
    (FIRST_BACKOFF * factor).min(MAX_BACKOFF)
}

fn failure_reason(err: Error) -> String {
    match err {
        Error::Database { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "rounds_tests.rs"]
mod tests;
