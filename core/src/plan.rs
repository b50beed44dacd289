//! The migration planner: given what a database recorded and what this build bundles, what
//! runs next (upgrade, downgrade, repair), and the reports and history users see. Pure.

use crate::catalog::{AppliedMigration, CatalogSnapshot};
use crate::error::{Error, Result};
pub use crate::spec::BundledMigration;
use chrono::{DateTime, Utc};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which way a step moves the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Applies a migration.
    Up,
    /// Reverts a migration.
    Down,
    /// Re-runs an applied migration's idempotent DDL to recreate missing objects.
    Repair,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanStep {
    /// The migration's version.
    pub version: Version,
    /// Its description.
    pub description: String,
    /// Apply, revert or repair.
    pub direction: Direction,
    /// SQL the backend runs for this step.
    pub sql: String,
    /// Checksum to record (for `Up`).
    pub checksum: String,
    /// Tables this step drops (for `Down`).
    pub drops_tables: Vec<String>,
}

/// What a migration command will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationPlan {
    /// Version before (None: uninitialized).
    pub from: Option<Version>,
    /// Version after (None: base, nothing applied).
    pub to: Option<Version>,
    /// Steps in execution order.
    pub steps: Vec<PlanStep>,
}

impl MigrationPlan {
    /// True when there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Tables the plan drops, in step order.
    pub fn dropped_tables(&self) -> impl Iterator<Item = &str> {
        self.steps
            .iter()
            .flat_map(|s| s.drops_tables.iter().map(String::as_str))
    }
}

/// Where a downgrade goes: a bundled version, or `base` (nothing applied, every table gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DowngradeTarget {
    /// Revert everything.
    Base,
    /// Revert down to (and keeping) this version.
    Version(Version),
}

impl FromStr for DowngradeTarget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("base") {
            return Ok(DowngradeTarget::Base);
        }
        Version::parse(s)
            .map(DowngradeTarget::Version)
            .map_err(|e| Error::InvalidVersion {
                input: s.to_string(),
                reason: format!("{e} (or use `base`)"),
            })
    }
}

impl fmt::Display for DowngradeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DowngradeTarget::Base => f.write_str("base"),
            DowngradeTarget::Version(v) => v.fmt(f),
        }
    }
}

/// The recorded history, classified against the bundled migrations.
#[derive(Debug, Clone)]
pub(crate) struct History<'a> {
    /// Highest parseable recorded version.
    pub found: Option<Version>,
    /// Bundled migrations that are recorded, ascending.
    pub applied_known: Vec<&'a BundledMigration>,
    /// Bundled migrations not recorded, ascending.
    pub pending: Vec<&'a BundledMigration>,
    /// Recorded versions above everything bundled (a newer build migrated this database).
    pub unknown_newer: Vec<String>,
    /// Recorded versions that are unparseable, or not bundled though not newer.
    pub unknown_older: Vec<String>,
    /// Recorded versions whose checksum differs from the bundled one.
    pub drifted: Vec<String>,
}

impl<'a> History<'a> {
    pub(crate) fn analyze(bundled: &'a [BundledMigration], applied: &[AppliedMigration]) -> Self {
        let newest_bundled = bundled.last().map(|m| &m.version);
        let mut history = History {
            found: None,
            applied_known: Vec::new(),
            pending: Vec::new(),
            unknown_newer: Vec::new(),
            unknown_older: Vec::new(),
            drifted: Vec::new(),
        };
        for row in applied {
            let Ok(version) = Version::parse(row.version.trim()) else {
                history.unknown_older.push(row.version.clone());
                continue;
            };
            match bundled.iter().find(|m| m.version == version) {
                Some(m) if m.checksum != row.checksum => history.drifted.push(row.version.clone()),
                Some(_) => {}
                None if Some(&version) > newest_bundled => {
                    history.unknown_newer.push(row.version.clone())
                }
                None => history.unknown_older.push(row.version.clone()),
            }
            if history.found.as_ref().is_none_or(|f| version > *f) {
                history.found = Some(version);
            }
        }
        let recorded: Vec<Option<Version>> = applied
            .iter()
            .map(|r| Version::parse(r.version.trim()).ok())
            .collect();
        for m in bundled {
            if recorded.iter().any(|r| r.as_ref() == Some(&m.version)) {
                history.applied_known.push(m);
            } else {
                history.pending.push(m);
            }
        }
        history
    }

    /// Refuses to plan on a history core cannot vouch for.
    fn ensure_plannable(&self, target: &str, bundled: &[BundledMigration]) -> Result<()> {
        if let Some(version) = self.unknown_older.first() {
            return Err(Error::UnknownMigration {
                version: version.clone(),
                target: target.into(),
            });
        }
        if let Some(found) = self
            .unknown_newer
            .iter()
            .max_by_key(|v| Version::parse(v).ok())
        {
            return Err(Error::SchemaNewer {
                found: found.clone(),
                expected: newest(bundled),
                target: target.into(),
            });
        }
        if !self.drifted.is_empty() {
            return Err(Error::ChecksumDrift {
                versions: self.drifted.clone(),
                target: target.into(),
            });
        }
        Ok(())
    }
}

fn newest(bundled: &[BundledMigration]) -> String {
    bundled
        .last()
        .map(|m| m.version.to_string())
        .unwrap_or_else(|| "none".into())
}

fn shipped(bundled: &[BundledMigration]) -> String {
    bundled
        .iter()
        .map(|m| m.version.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn up_step(m: &BundledMigration) -> PlanStep {
    PlanStep {
        version: m.version.clone(),
        description: m.description.clone(),
        direction: Direction::Up,
        sql: m.up_sql.clone(),
        checksum: m.checksum.clone(),
        drops_tables: Vec::new(),
    }
}

/// Plans `upgrade` to `to` (default: the newest bundled migration).
///
/// Refuses a database newer than this build, with unknown or drifted migrations, a target
/// this build does not ship, or a target below the current version (that is a downgrade).
///
/// ```
/// use pycharter_core::{plan::plan_upgrade, spec};
/// let bundled = spec::bundle_logical("m");
/// let plan = plan_upgrade(&bundled, &[], None, "memory://").unwrap();
/// assert_eq!(plan.steps.len(), bundled.len());
/// ```
pub fn plan_upgrade(
    bundled: &[BundledMigration],
    applied: &[AppliedMigration],
    to: Option<&Version>,
    target: &str,
) -> Result<MigrationPlan> {
    let history = History::analyze(bundled, applied);
    history.ensure_plannable(target, bundled)?;
    let to = match to {
        None => bundled.last().map(|m| m.version.clone()),
        Some(v) if bundled.iter().any(|m| &m.version == v) => Some(v.clone()),
        Some(v) => {
            return Err(Error::InvalidRequest {
                action: format!("upgrade to {v}"),
                reason: format!("this build ships migrations {}", shipped(bundled)),
                target: target.into(),
            })
        }
    };
    if let (Some(found), Some(to)) = (&history.found, &to) {
        if found > to {
            return Err(Error::InvalidRequest {
                action: format!("upgrade to {to}"),
                reason: format!("the database is already at {found}; use pycharter db downgrade"),
                target: target.into(),
            });
        }
    }
    let steps = history
        .pending
        .iter()
        .filter(|m| Some(&m.version) <= to.as_ref())
        .map(|m| up_step(m))
        .collect();
    Ok(MigrationPlan {
        from: history.found,
        to,
        steps,
    })
}

/// Plans `downgrade` to `to`: the recorded migrations above it, newest first, each with the
/// tables it drops (see [`check_data_loss`]).
pub fn plan_downgrade(
    bundled: &[BundledMigration],
    applied: &[AppliedMigration],
    to: &DowngradeTarget,
    target: &str,
) -> Result<MigrationPlan> {
    let history = History::analyze(bundled, applied);
    history.ensure_plannable(target, bundled)?;
    let keep = match to {
        DowngradeTarget::Base => None,
        DowngradeTarget::Version(v) if bundled.iter().any(|m| &m.version == v) => Some(v.clone()),
        DowngradeTarget::Version(v) => {
            return Err(Error::InvalidRequest {
                action: format!("downgrade to {v}"),
                reason: format!(
                    "this build ships migrations {} (or use base)",
                    shipped(bundled)
                ),
                target: target.into(),
            })
        }
    };
    if let Some(keep) = &keep {
        if history.found.as_ref().is_none_or(|found| keep > found) {
            let at = history
                .found
                .as_ref()
                .map_or("none".to_string(), ToString::to_string);
            return Err(Error::InvalidRequest {
                action: format!("downgrade to {keep}"),
                reason: format!("the database is at {at}; use pycharter db upgrade"),
                target: target.into(),
            });
        }
    }
    let steps = history
        .applied_known
        .iter()
        .rev()
        .filter(|m| Some(&m.version) > keep.as_ref())
        .map(|m| PlanStep {
            version: m.version.clone(),
            description: m.description.clone(),
            direction: Direction::Down,
            sql: m.down_sql.clone(),
            checksum: m.checksum.clone(),
            drops_tables: m.tables.clone(),
        })
        .collect();
    Ok(MigrationPlan {
        from: history.found,
        to: keep,
        steps,
    })
}

/// Refuses a downgrade that would drop tables holding rows, unless `allow_data_loss`.
/// `row_counts` holds the backend's count for each table of [`MigrationPlan::dropped_tables`].
pub fn check_data_loss(
    plan: &MigrationPlan,
    row_counts: &[(String, u64)],
    allow_data_loss: bool,
    target: &str,
) -> Result<()> {
    let losing: Vec<(String, u64)> = row_counts
        .iter()
        .filter(|(table, rows)| *rows > 0 && plan.dropped_tables().any(|t| t == table))
        .cloned()
        .collect();
    if losing.is_empty() || allow_data_loss {
        return Ok(());
    }
    Err(Error::DataLoss {
        to: plan
            .to
            .as_ref()
            .map_or("base".to_string(), ToString::to_string),
        tables: losing,
        target: target.into(),
    })
}

/// Plans `init --force`: re-runs the (idempotent) DDL of every recorded migration whose
/// tables or indexes are missing. Never drops anything. Pending migrations are planned
/// separately by [`plan_upgrade`].
pub fn plan_repair(
    bundled: &[BundledMigration],
    snapshot: &CatalogSnapshot,
    target: &str,
) -> Result<MigrationPlan> {
    let history = History::analyze(bundled, &snapshot.applied);
    history.ensure_plannable(target, bundled)?;
    let steps = history
        .applied_known
        .iter()
        .filter(|m| {
            m.tables.iter().any(|t| !snapshot.tables.contains(t))
                || m.indexes.iter().any(|i| !snapshot.indexes.contains(i))
        })
        .map(|m| PlanStep {
            direction: Direction::Repair,
            ..up_step(m)
        })
        .collect();
    Ok(MigrationPlan {
        from: history.found.clone(),
        to: history.found,
        steps,
    })
}

/// The state of one migration in `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// Recorded, checksum matches.
    Applied,
    /// Bundled, not recorded.
    Pending,
    /// Recorded with a checksum that differs from the bundled SQL.
    Drifted,
    /// Recorded but not shipped by this build.
    Unknown,
}

/// One line of `pycharter db history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationStatus {
    /// Version string.
    pub version: String,
    /// Description.
    pub description: String,
    /// Applied, pending, drifted or unknown.
    pub state: MigrationState,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// How long it took, in milliseconds.
    pub execution_ms: Option<i64>,
    /// Bundled checksum (recorded one for unknown migrations).
    pub checksum: String,
    /// Whether the recorded checksum equals the bundled one (None when pending or unknown).
    pub checksum_ok: Option<bool>,
}

/// Bundled migrations marked applied/pending/drifted, followed by unknown recorded ones.
pub fn migration_history(
    bundled: &[BundledMigration],
    applied: &[AppliedMigration],
) -> Vec<MigrationStatus> {
    let row_for = |v: &Version| {
        applied
            .iter()
            .find(|r| Version::parse(r.version.trim()).ok().as_ref() == Some(v))
    };
    let mut out: Vec<MigrationStatus> = bundled
        .iter()
        .map(|m| {
            let row = row_for(&m.version);
            let checksum_ok = row.map(|r| r.checksum == m.checksum);
            MigrationStatus {
                version: m.version.to_string(),
                description: m.description.clone(),
                state: match checksum_ok {
                    None => MigrationState::Pending,
                    Some(true) => MigrationState::Applied,
                    Some(false) => MigrationState::Drifted,
                },
                applied_at: row.map(|r| r.applied_at),
                execution_ms: row.map(|r| r.execution_ms),
                checksum: m.checksum.clone(),
                checksum_ok,
            }
        })
        .collect();
    out.extend(
        applied
            .iter()
            .filter(|r| {
                Version::parse(r.version.trim())
                    .map_or(true, |v| !bundled.iter().any(|m| m.version == v))
            })
            .map(|r| MigrationStatus {
                version: r.version.clone(),
                description: r.description.clone(),
                state: MigrationState::Unknown,
                applied_at: Some(r.applied_at),
                execution_ms: Some(r.execution_ms),
                checksum: r.checksum.clone(),
                checksum_ok: None,
            }),
    );
    out
}

/// One executed (or, in a dry run, planned) step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// Migration version.
    pub version: String,
    /// Its description.
    pub description: String,
    /// Apply, revert or repair.
    pub direction: Direction,
    /// The SQL (always present in a dry run).
    pub sql: Option<String>,
    /// How long it took (None in a dry run).
    pub duration_ms: Option<u64>,
}

/// The result of `initialize` / `upgrade` / `downgrade` (what `--json` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// `init`, `upgrade` or `downgrade`.
    pub action: String,
    /// The database (redacted URL).
    pub database: String,
    /// Version before.
    pub from: Option<String>,
    /// Version after (or that would be, in a dry run).
    pub to: Option<String>,
    /// True when nothing was changed on purpose.
    pub dry_run: bool,
    /// Steps in execution order.
    pub steps: Vec<StepReport>,
    /// One sentence for humans.
    pub message: String,
}

impl MigrationReport {
    /// Builds the report of `plan`; `durations_ms` holds one entry per executed step (empty
    /// for a dry run).
    pub fn new(
        action: &str,
        target: &str,
        plan: &MigrationPlan,
        dry_run: bool,
        durations_ms: &[u64],
    ) -> Self {
        let from = plan.from.as_ref().map(ToString::to_string);
        let to = plan.to.as_ref().map(ToString::to_string);
        let steps = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepReport {
                version: s.version.to_string(),
                description: s.description.clone(),
                direction: s.direction,
                sql: dry_run.then(|| s.sql.clone()),
                duration_ms: durations_ms.get(i).copied(),
            })
            .collect();
        let message = report_message(action, target, plan, dry_run);
        MigrationReport {
            action: action.to_string(),
            database: target.to_string(),
            from,
            to,
            dry_run,
            steps,
            message,
        }
    }
}

/// "sqlite://x.db: upgraded, 1.0.0 → 1.1.0 (applied 1 migration)", and the like.
fn report_message(action: &str, target: &str, plan: &MigrationPlan, dry_run: bool) -> String {
    let at = |v: &Option<Version>| v.as_ref().map_or("base".to_string(), ToString::to_string);
    if plan.is_empty() {
        return format!("{target} is already at {}, nothing to do", at(&plan.from));
    }
    let mut parts = Vec::new();
    for (direction, done, todo) in [
        (Direction::Repair, "repaired", "repair"),
        (Direction::Up, "applied", "apply"),
        (Direction::Down, "reverted", "revert"),
    ] {
        let n = plan
            .steps
            .iter()
            .filter(|s| s.direction == direction)
            .count();
        let noun = if n == 1 { "migration" } else { "migrations" };
        if n > 0 {
            parts.push(format!("{} {n} {noun}", if dry_run { todo } else { done }));
        }
    }
    let path = if plan.from == plan.to {
        format!("at {}", at(&plan.to))
    } else {
        format!("{} → {}", at(&plan.from), at(&plan.to))
    };
    let parts = parts.join(", ");
    if dry_run {
        return format!("Dry run, nothing changed: {action} of {target} would go {path} ({parts})");
    }
    let done = match action {
        "init" => "initialized",
        "upgrade" => "upgraded",
        "downgrade" => "downgraded",
        other => other,
    };
    format!("{target}: {done}, {path} ({parts})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::bundle_logical;

    const T: &str = "memory://";

    fn rows(bundled: &[BundledMigration], n: usize) -> Vec<AppliedMigration> {
        bundled[..n]
            .iter()
            .map(|m| AppliedMigration {
                version: m.version.to_string(),
                description: m.description.clone(),
                checksum: m.checksum.clone(),
                applied_at: Utc::now(),
                execution_ms: 0,
            })
            .collect()
    }

    #[test]
    fn upgrade_from_scratch_applies_everything_in_order() {
        let b = bundle_logical("t");
        let plan = plan_upgrade(&b, &[], None, T).unwrap();
        let versions: Vec<_> = plan.steps.iter().map(|s| s.version.to_string()).collect();
        assert_eq!(versions, vec!["1.0.0", "1.1.0"]);
        assert_eq!(plan.from, None);
    }

    #[test]
    fn upgrade_when_current_is_empty() {
        let b = bundle_logical("t");
        let plan = plan_upgrade(&b, &rows(&b, b.len()), None, T).unwrap();
        assert!(plan.is_empty());
        let report = MigrationReport::new("init", T, &plan, false, &[]);
        assert_eq!(
            report.message,
            "memory:// is already at 1.1.0, nothing to do"
        );
    }

    #[test]
    fn upgrade_to_intermediate_version_stops_there() {
        let b = bundle_logical("t");
        let to = Version::new(1, 0, 0);
        let plan = plan_upgrade(&b, &[], Some(&to), T).unwrap();
        assert_eq!(plan.steps.len(), 1);
    }

    #[test]
    fn upgrade_refuses_unshipped_target_and_downward_target() {
        let b = bundle_logical("t");
        let err = plan_upgrade(&b, &[], Some(&Version::new(9, 0, 0)), T).unwrap_err();
        assert!(
            err.to_string()
                .contains("this build ships migrations 1.0.0, 1.1.0"),
            "{err}"
        );
        let err = plan_upgrade(&b, &rows(&b, 2), Some(&Version::new(1, 0, 0)), T).unwrap_err();
        assert!(err.to_string().contains("downgrade"), "{err}");
    }

    #[test]
    fn upgrade_refuses_database_newer_than_build() {
        let b = bundle_logical("t");
        let mut applied = rows(&b, 2);
        applied.push(AppliedMigration {
            version: "2.0.0".into(),
            ..applied[0].clone()
        });
        let err = plan_upgrade(&b, &applied, None, T).unwrap_err();
        assert!(
            matches!(err, Error::SchemaNewer { ref found, .. } if found == "2.0.0"),
            "{err}"
        );
    }

    #[test]
    fn upgrade_refuses_drifted_checksum() {
        let b = bundle_logical("t");
        let mut applied = rows(&b, 1);
        applied[0].checksum = "edited".into();
        let err = plan_upgrade(&b, &applied, None, T).unwrap_err();
        assert!(matches!(err, Error::ChecksumDrift { ref versions, .. } if versions == &["1.0.0"]));
    }

    #[test]
    fn downgrade_reverts_newest_first_and_lists_dropped_tables() {
        let b = bundle_logical("t");
        let plan = plan_downgrade(&b, &rows(&b, 2), &DowngradeTarget::Base, T).unwrap();
        let versions: Vec<_> = plan.steps.iter().map(|s| s.version.to_string()).collect();
        assert_eq!(versions, vec!["1.1.0", "1.0.0"]);
        assert!(plan.dropped_tables().any(|t| t == "schemas"));
        assert_eq!(plan.to, None);
    }

    #[test]
    fn downgrade_refuses_upward_target() {
        let b = bundle_logical("t");
        let to = DowngradeTarget::Version(Version::new(1, 1, 0));
        assert!(plan_downgrade(&b, &rows(&b, 1), &to, T).is_err());
    }

    #[test]
    fn data_loss_is_refused_unless_allowed() {
        let b = bundle_logical("t");
        let plan = plan_downgrade(&b, &rows(&b, 2), &DowngradeTarget::Base, T).unwrap();
        let counts = vec![("schemas".to_string(), 3), ("metadata".to_string(), 0)];
        let err = check_data_loss(&plan, &counts, false, T).unwrap_err();
        assert!(err.to_string().contains("schemas: 3 rows"), "{err}");
        assert!(!err.to_string().contains("metadata"), "{err}");
        assert!(check_data_loss(&plan, &counts, true, T).is_ok());
        let keep_tables = plan_downgrade(&b, &rows(&b, 2), &"1.0.0".parse().unwrap(), T).unwrap();
        assert!(check_data_loss(&keep_tables, &counts, false, T).is_ok());
    }

    #[test]
    fn repair_reruns_only_migrations_with_missing_objects() {
        let b = bundle_logical("t");
        let mut snap = CatalogSnapshot {
            version_table_exists: true,
            applied: rows(&b, 2),
            ..Default::default()
        };
        for m in &b {
            snap.tables.extend(m.tables.iter().cloned());
            snap.indexes.extend(m.indexes.iter().cloned());
        }
        assert!(plan_repair(&b, &snap, T).unwrap().is_empty());
        snap.tables.remove("ownership");
        let plan = plan_repair(&b, &snap, T).unwrap();
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].direction, Direction::Repair);
        assert!(plan.steps[0].drops_tables.is_empty());
    }

    #[test]
    fn history_marks_each_state() {
        let b = bundle_logical("t");
        let mut applied = rows(&b, 1);
        applied[0].checksum = "x".into();
        applied.push(AppliedMigration {
            version: "0.9.0".into(),
            ..applied[0].clone()
        });
        let h = migration_history(&b, &applied);
        let states: Vec<_> = h.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            vec![
                MigrationState::Drifted,
                MigrationState::Pending,
                MigrationState::Unknown
            ]
        );
    }

    #[test]
    fn report_messages_say_what_happened() {
        let b = bundle_logical("t");
        let plan = plan_upgrade(&b, &[], None, T).unwrap();
        let done = MigrationReport::new("init", T, &plan, false, &[1, 2]);
        assert_eq!(
            done.message,
            "memory://: initialized, base → 1.1.0 (applied 2 migrations)"
        );
        let dry = MigrationReport::new("init", T, &plan, true, &[]);
        assert_eq!(dry.message, "Dry run, nothing changed: init of memory:// would go base → 1.1.0 (apply 2 migrations)");
        assert!(dry.steps.iter().all(|s| s.sql.is_some()));
    }

    #[test]
    fn downgrade_target_parses_base_and_versions() {
        assert_eq!(
            "base".parse::<DowngradeTarget>().unwrap(),
            DowngradeTarget::Base
        );
        assert!("1.0".parse::<DowngradeTarget>().is_err());
    }
}
