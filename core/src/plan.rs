//! The migration planner: given what a database recorded and what this build bundles, what
//! runs next (upgrade, downgrade, repair), and the reports and history users see. Pure.

use crate::catalog::{AppliedMigration, CatalogSnapshot};
use crate::error::{Error, Result};
use crate::online::Script;
use crate::spec::records_compatibility;
pub use crate::spec::BundledMigration;
use crate::version::semver_reason;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which way a step moves the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The step's script as shipped (what a dry run shows).
    pub sql: String,
    /// `sql` split into what runs inside the migration transaction and the online
    /// statements (see [`crate::online`]).
    pub script: Script,
    /// Checksum to record (for `Up`).
    pub checksum: String,
    /// Tables this step drops (for `Down`).
    pub drops_tables: Vec<String>,
    /// (`Down`) the version exactly as the version table records it (a hand-edited row may
    /// carry whitespace): backends remove that row by exact match.
    pub recorded_as: Option<String>,
    /// (`Up`) the compatibility to record with the row, in the `compatible_with` column;
    /// None for migrations before [`crate::spec::COMPATIBILITY_RECORDED_SINCE`], whose
    /// version table has no such column yet (backends then leave it out of the insert).
    pub compatible_with: Option<Version>,
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
                reason: format!("{} (or use `base`)", semver_reason(s, &e)),
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
    /// Of [`History::unknown_newer`], the lowest version that does not keep this build
    /// working: it records no compatibility, or one above this build's newest migration.
    /// Also set (to the lowest newer version) when a migration of this build is missing
    /// under newer ones: core cannot vouch for such a history.
    pub incompatible: Option<String>,
}

/// How a database migrated beyond this build relates to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ahead {
    /// Nothing recorded above this build's newest migration.
    No,
    /// Every migration above this build keeps it working (`SchemaState::NewerCompatible`).
    Compatible,
    /// This migration (the first one) does not keep it working (`SchemaState::Newer`).
    Incompatible(String),
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
            incompatible: None,
        };
        let mut newer: Vec<(Version, bool)> = Vec::new();
        for row in applied {
            let Some(version) = row.parsed_version() else {
                history.unknown_older.push(row.version.clone());
                continue;
            };
            match bundled.iter().find(|m| m.version == version) {
                Some(m) if !m.accepts(&row.checksum) => history.drifted.push(row.version.clone()),
                Some(_) => {}
                None if Some(&version) > newest_bundled => {
                    history.unknown_newer.push(row.version.clone());
                    newer.push((version.clone(), keeps_working(row, newest_bundled)));
                }
                None => history.unknown_older.push(row.version.clone()),
            }
            if history.found.as_ref().is_none_or(|f| version > *f) {
                history.found = Some(version);
            }
        }
        let recorded: Vec<Option<Version>> = applied
            .iter()
            .map(AppliedMigration::parsed_version)
            .collect();
        for m in bundled {
            if recorded.iter().any(|r| r.as_ref() == Some(&m.version)) {
                history.applied_known.push(m);
            } else {
                history.pending.push(m);
            }
        }
        newer.sort();
        history.incompatible = newer
            .iter()
            .find(|(_, keeps)| !keeps)
            .or_else(|| newer.first().filter(|_| !history.pending.is_empty()))
            .map(|(version, _)| version.to_string());
        history
    }

    /// Whether the database is ahead of this build, and if so whether compatibly.
    pub(crate) fn ahead(&self) -> Ahead {
        match (&self.incompatible, self.unknown_newer.is_empty()) {
            (_, true) => Ahead::No,
            (Some(first), false) => Ahead::Incompatible(first.clone()),
            (None, false) => Ahead::Compatible,
        }
    }

    /// Refuses to plan on a history core cannot vouch for. A database ahead of this build
    /// and compatible with it is plannable only when `compatible_ok` (upgrade and repair
    /// touch nothing a newer build created; a downgrade would have to revert it).
    fn ensure_plannable(
        &self,
        target: &str,
        bundled: &[BundledMigration],
        compatible_ok: bool,
    ) -> Result<()> {
        if let Some(version) = self.unknown_older.first() {
            return Err(Error::UnknownMigration {
                version: version.clone(),
                target: target.into(),
            });
        }
        let found = || {
            self.found
                .as_ref()
                .map_or_else(|| "none".to_string(), ToString::to_string)
        };
        match self.ahead() {
            Ahead::No => {}
            Ahead::Compatible if compatible_ok => {}
            Ahead::Compatible => {
                return Err(Error::InvalidRequest {
                    action: "downgrade".into(),
                    reason: format!(
                        "the database is at {}, newer than this build ({}); only a build that ships {} can revert its migrations",
                        found(),
                        newest(bundled),
                        found()
                    ),
                    target: target.into(),
                })
            }
            Ahead::Incompatible(incompatible) => {
                return Err(Error::SchemaNewer {
                    found: found(),
                    expected: newest(bundled),
                    incompatible,
                    target: target.into(),
                })
            }
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

/// Whether a recorded row keeps the binaries of layout `build` working: its recorded
/// compatibility is a version at or below `build`.
fn keeps_working(row: &AppliedMigration, build: Option<&Version>) -> bool {
    let declared = row
        .compatible_with
        .as_deref()
        .and_then(|v| Version::parse(v.trim()).ok());
    matches!((declared, build), (Some(declared), Some(build)) if declared <= *build)
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
        script: m.up.clone(),
        checksum: m.checksum.clone(),
        drops_tables: Vec::new(),
        recorded_as: None,
        compatible_with: records_compatibility(&m.version).then(|| m.compatible_with.clone()),
    }
}

/// Plans `upgrade` to `to` (default: the newest bundled migration).
///
/// A database ahead of this build and compatible with it plans nothing (an upgrade never
/// goes down). Refuses a database ahead of this build and not compatible with it, unknown or
/// drifted migrations, a target this build does not ship, or a target below the current
/// version (that is a downgrade).
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
    history.ensure_plannable(target, bundled, true)?;
    if history.ahead() == Ahead::Compatible && to.is_none() {
        // Ahead of this build and compatible with it: nothing to apply, and an upgrade
        // never goes down.
        return Ok(MigrationPlan {
            from: history.found.clone(),
            to: history.found,
            steps: Vec::new(),
        });
    }
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
    history.ensure_plannable(target, bundled, false)?;
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
            script: m.down.clone(),
            checksum: m.checksum.clone(),
            drops_tables: m.tables.clone(),
            recorded_as: applied
                .iter()
                .find(|row| row.parsed_version().as_ref() == Some(&m.version))
                .map(|row| row.version.clone()),
            compatible_with: None,
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
/// tables or indexes are missing (an invalid index, left by an interrupted concurrent build,
/// counts as missing: its online statement drops and rebuilds it). Never drops data. Pending migrations are planned
/// separately by [`plan_upgrade`].
pub fn plan_repair(
    bundled: &[BundledMigration],
    snapshot: &CatalogSnapshot,
    target: &str,
) -> Result<MigrationPlan> {
    let history = History::analyze(bundled, &snapshot.applied);
    history.ensure_plannable(target, bundled, true)?;
    let steps = history
        .applied_known
        .iter()
        .filter(|m| {
            m.tables.iter().any(|t| !snapshot.tables.contains(t))
                || m.index_names().any(|i| !snapshot.indexes.contains(i))
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

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
