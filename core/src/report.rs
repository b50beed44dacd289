//! What users see of migrations: the report of `initialize` / `upgrade` / `downgrade` (what
//! `--json` prints) and the per-migration lines of `history`. Pure.

use crate::catalog::AppliedMigration;
use crate::plan::{Direction, MigrationPlan};
use crate::spec::BundledMigration;
use crate::validate::SchemaState;
use chrono::{DateTime, Utc};
use semver::Version;
use serde::{Deserialize, Serialize};

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
    /// Whether the recorded checksum is the bundled one or an earlier one the migration
    /// accepts as equivalent (None when pending or unknown).
    pub checksum_ok: Option<bool>,
    /// The oldest layout whose binaries keep working with it applied: as recorded, else
    /// (rows from before the version table had the column, and pending migrations) as
    /// the bundled migration declares it; None for an unknown migration that records none.
    #[serde(default)]
    pub compatible_with: Option<String>,
}

/// Bundled migrations marked applied/pending/drifted, followed by unknown recorded ones.
pub fn migration_history(
    bundled: &[BundledMigration],
    applied: &[AppliedMigration],
) -> Vec<MigrationStatus> {
    let row_for = |v: &Version| {
        applied
            .iter()
            .find(|r| r.parsed_version().as_ref() == Some(v))
    };
    let mut out: Vec<MigrationStatus> = bundled
        .iter()
        .map(|m| {
            let row = row_for(&m.version);
            let checksum_ok = row.map(|r| m.accepts(&r.checksum));
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
                compatible_with: row
                    .and_then(|r| r.compatible_with.clone())
                    .or_else(|| Some(m.compatible_with.to_string())),
            }
        })
        .collect();
    out.extend(
        applied
            .iter()
            .filter(|r| {
                r.parsed_version()
                    .is_none_or(|v| !bundled.iter().any(|m| m.version == v))
            })
            .map(|r| MigrationStatus {
                version: r.version.clone(),
                description: r.description.clone(),
                state: MigrationState::Unknown,
                applied_at: Some(r.applied_at),
                execution_ms: Some(r.execution_ms),
                checksum: r.checksum.clone(),
                checksum_ok: None,
                compatible_with: r.compatible_with.clone(),
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
    /// The check after the command (in a dry run: what it would find). None only in a
    /// report built by hand ([`MigrationReport::new`]).
    #[serde(default)]
    pub postcondition: Option<Postcondition>,
}

/// The post-condition of a migration command: is the database sound at the version the
/// command was asked to reach? Judged by the validator as a build whose newest migration is
/// that version: every table and index of the recorded migrations present, checksums
/// matching, nothing recorded it does not know (migrations above it only when they keep it
/// working). A command whose real run leaves it unsound fails with
/// [`crate::Error::PostconditionFailed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postcondition {
    /// Whether the database is (would be, in a dry run) sound.
    pub sound: bool,
    /// The version the command was asked to reach (None: base, nothing recorded).
    pub version: Option<String>,
    /// The validator's verdict there.
    pub state: SchemaState,
    /// The validator's message (names the fix when not sound).
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
            postcondition: None,
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
    use crate::catalog::fixtures::recorded_rows as rows;
    use crate::plan::plan_upgrade;
    use crate::spec::bundle_logical;

    const T: &str = "memory://";

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
                MigrationState::Pending,
                MigrationState::Unknown
            ]
        );
        // Compatibility: recorded where the row has it, else the bundled declaration;
        // an unknown row without one has none.
        let declared: Vec<Option<&str>> = h.iter().map(|s| s.compatible_with.as_deref()).collect();
        assert_eq!(
            declared,
            vec![Some("1.0.0"), Some("1.0.0"), Some("1.1.0"), None]
        );
    }

    #[test]
    fn report_messages_say_what_happened() {
        let b = bundle_logical("t");
        let plan = plan_upgrade(&b, &[], None, T).unwrap();
        let done = MigrationReport::new("init", T, &plan, false, &[1, 2]);
        assert_eq!(
            done.message,
            "memory://: initialized, base → 1.2.0 (applied 3 migrations)"
        );
        let dry = MigrationReport::new("init", T, &plan, true, &[]);
        assert_eq!(dry.message, "Dry run, nothing changed: init of memory:// would go base → 1.2.0 (apply 3 migrations)");
        assert!(dry.steps.iter().all(|s| s.sql.is_some()));
    }
}
