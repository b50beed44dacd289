//! The rounds driver on a scripted executor: where online statements run, how claims, busy
//! tables, leftovers, table-lock timeouts and failures are handled.

use super::super::{upgrade, MigrationExecutor, MigrationTransaction};
use crate::catalog::{AppliedMigration, CatalogSnapshot};
use crate::error::{Error, Result};
use crate::online::{OnlineEffect, OnlineStep};
use crate::options::UpgradeOptions;
use crate::plan::PlanStep;
use crate::spec::{BundledMigration, VERSION_TABLE};
use async_trait::async_trait;
use std::sync::Mutex;
use std::time::Duration;

const INDEX: &str = "idx_items_a";

/// 1.0.0 creates `items`; 1.1.0 builds INDEX on it online.
fn migrations() -> Vec<BundledMigration> {
    vec![
        BundledMigration::custom("1.0.0", "items")
            .unwrap()
            .with_table("items")
            .with_sql("create items", "drop items"),
        BundledMigration::custom("1.1.0", "index items online")
            .unwrap()
            .with_index(INDEX, "items")
            .with_sql(
                &format!("-- tx part\n-- pycharter:online builds {INDEX}\nbuild {INDEX}"),
                &format!("-- pycharter:online drops {INDEX}\ndrop {INDEX}"),
            ),
    ]
}

/// The scripted database and what happened to it.
#[derive(Default)]
struct World {
    catalog: CatalogSnapshot,
    /// Claims of this table are refused until `wait_for_online` is called.
    busy: Option<String>,
    /// This many statements give up on a table lock before they succeed.
    lock_failures: u32,
    /// The online statement fails (as a cancelled build would).
    online_fails: bool,
    /// What ran, in order.
    log: Vec<String>,
    commits: u32,
}

struct Fake {
    bundled: Vec<BundledMigration>,
    world: Mutex<World>,
    retry_for: Duration,
}

impl Fake {
    fn new(world: World) -> Self {
        Fake {
            bundled: migrations(),
            world: Mutex::new(world),
            retry_for: Duration::from_secs(5),
        }
    }

    fn log(&self) -> Vec<String> {
        self.world.lock().unwrap().log.clone()
    }

    fn versions(&self) -> Vec<String> {
        let world = self.world.lock().unwrap();
        world
            .catalog
            .applied
            .iter()
            .map(|r| r.version.clone())
            .collect()
    }
}

/// A catalog at 1.0.0: `items` exists (with rows, as far as the driver knows).
fn at_1_0_0() -> CatalogSnapshot {
    let mut catalog = CatalogSnapshot {
        version_table_exists: true,
        ..Default::default()
    };
    catalog.tables.insert(VERSION_TABLE.into());
    catalog.tables.insert("items".into());
    catalog
        .applied
        .push(row("1.0.0", &migrations()[0].checksum));
    catalog
}

fn row(version: &str, checksum: &str) -> AppliedMigration {
    AppliedMigration {
        version: version.into(),
        description: String::new(),
        checksum: checksum.into(),
        applied_at: chrono::Utc::now(),
        execution_ms: 0,
        compatible_with: None,
    }
}

fn apply(catalog: &mut CatalogSnapshot, step: &OnlineStep) {
    catalog.invalid_indexes.remove(&step.index);
    match step.effect {
        OnlineEffect::Builds => catalog.indexes.insert(step.index.clone()),
        OnlineEffect::Drops => catalog.indexes.remove(&step.index),
    };
}

struct Tx<'a> {
    fake: &'a Fake,
    work: CatalogSnapshot,
}

impl Tx<'_> {
    fn note(&self, entry: String) {
        self.fake.world.lock().unwrap().log.push(entry);
    }
}

#[async_trait]
impl MigrationTransaction for Tx<'_> {
    async fn snapshot(&mut self) -> Result<CatalogSnapshot> {
        Ok(self.work.clone())
    }

    async fn run_sql(&mut self, sql: &str) -> Result<()> {
        {
            let mut world = self.fake.world.lock().unwrap();
            if world.lock_failures > 0 {
                world.lock_failures -= 1;
                return Err(Error::TableLockTimeout {
                    target: "fake://".into(),
                    reason: "canceling statement due to lock timeout".into(),
                    attempts: 1,
                    waited: Duration::from_millis(10),
                });
            }
        }
        if sql == "create items" {
            self.work.tables.insert("items".into());
        }
        self.note(format!("sql {}", sql.lines().last().unwrap_or_default()));
        Ok(())
    }

    async fn record_applied(&mut self, step: &PlanStep, _ms: i64) -> Result<()> {
        self.work
            .applied
            .push(row(&step.version.to_string(), &step.checksum));
        self.note(format!("record {}", step.version));
        Ok(())
    }

    async fn remove_applied(&mut self, recorded: &str) -> Result<()> {
        self.work.applied.retain(|r| r.version != recorded);
        Ok(())
    }

    async fn count_rows(&mut self, _tables: &[String]) -> Result<Vec<(String, u64)>> {
        Ok(Vec::new())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let mut world = self.fake.world.lock().unwrap();
        world.catalog = self.work;
        world.commits += 1;
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.note("rollback".into());
        Ok(())
    }

    async fn run_inline(&mut self, step: &OnlineStep) -> Result<()> {
        apply(&mut self.work, step);
        self.note(format!("inline {}", step.sql));
        Ok(())
    }

    async fn claim_online(&mut self, table: &str, leftover: Option<&str>) -> Result<bool> {
        if self.fake.world.lock().unwrap().busy.as_deref() == Some(table) {
            self.note(format!("claim {table} refused"));
            return Ok(false);
        }
        if let Some(index) = leftover {
            self.work.invalid_indexes.remove(index);
            self.note(format!("drop leftover {index}"));
        }
        self.note(format!("claim {table}"));
        Ok(true)
    }

    async fn commit_into_online(self: Box<Self>, step: &OnlineStep, table: &str) -> Result<()> {
        let fake = self.fake;
        let fails = fake.world.lock().unwrap().online_fails;
        self.commit().await?;
        let mut world = fake.world.lock().unwrap();
        world.log.push(format!("online {} on {table}", step.sql));
        if fails {
            // A build that failed half-way leaves an invalid index.
            world.catalog.invalid_indexes.insert(step.index.clone());
            return Err(Error::Database {
                target: "fake://".into(),
                reason: "canceling statement due to user request".into(),
            });
        }
        apply(&mut world.catalog, step);
        Ok(())
    }
}

#[async_trait]
impl MigrationExecutor for Fake {
    fn target(&self) -> &str {
        "fake://"
    }

    fn bundled(&self) -> &[BundledMigration] {
        &self.bundled
    }

    async fn snapshot(&self) -> Result<CatalogSnapshot> {
        Ok(self.world.lock().unwrap().catalog.clone())
    }

    async fn begin(&self) -> Result<Box<dyn MigrationTransaction + '_>> {
        let mut work = self.world.lock().unwrap().catalog.clone();
        work.version_table_exists = true;
        work.tables.insert(VERSION_TABLE.into());
        Ok(Box::new(Tx { fake: self, work }))
    }

    fn online_steps(&self) -> bool {
        true
    }

    fn ddl_lock_retry_for(&self) -> Duration {
        self.retry_for
    }

    async fn wait_for_online(&self, table: &str) -> Result<()> {
        let mut world = self.world.lock().unwrap();
        world.log.push(format!("wait {table}"));
        world.busy = None;
        Ok(())
    }
}

#[tokio::test]
async fn on_a_fresh_database_the_online_step_runs_inside_the_one_transaction() {
    let fake = Fake::new(World::default());
    let report = upgrade(&fake, UpgradeOptions::default()).await.unwrap();
    assert_eq!(
        fake.log(),
        vec![
            "sql create items",
            "record 1.0.0",
            "sql -- tx part",
            "inline build idx_items_a",
            "record 1.1.0"
        ]
    );
    assert_eq!(fake.world.lock().unwrap().commits, 1, "one transaction");
    assert_eq!(report.steps.len(), 2);
}

#[tokio::test]
async fn on_an_existing_table_it_runs_outside_then_the_next_round_records_it() {
    let fake = Fake::new(World {
        catalog: at_1_0_0(),
        ..World::default()
    });
    let report = upgrade(&fake, UpgradeOptions::default()).await.unwrap();
    assert_eq!(
        fake.log(),
        vec![
            "sql -- tx part",
            "claim items",
            "online build idx_items_a on items",
            "sql -- tx part",
            "record 1.1.0"
        ]
    );
    assert_eq!(fake.versions(), vec!["1.0.0", "1.1.0"]);
    let steps: Vec<_> = report.steps.iter().map(|s| s.version.as_str()).collect();
    assert_eq!(steps, vec!["1.1.0"], "reported once, when recorded");
    assert_eq!(report.from.as_deref(), Some("1.0.0"));
    assert_eq!(report.to.as_deref(), Some("1.1.0"));
}

#[tokio::test]
async fn an_invalid_leftover_is_handed_to_the_claim_to_drop() {
    let mut catalog = at_1_0_0();
    catalog.invalid_indexes.insert(INDEX.into());
    let fake = Fake::new(World {
        catalog,
        ..World::default()
    });
    upgrade(&fake, UpgradeOptions::default()).await.unwrap();
    let log = fake.log();
    assert_eq!(log[1], "drop leftover idx_items_a");
    assert_eq!(log[2], "claim items");
    assert!(fake.world.lock().unwrap().catalog.indexes.contains(INDEX));
}

#[tokio::test]
async fn a_busy_table_is_waited_for_then_claimed() {
    let fake = Fake::new(World {
        catalog: at_1_0_0(),
        busy: Some("items".into()),
        ..World::default()
    });
    upgrade(&fake, UpgradeOptions::default()).await.unwrap();
    let log = fake.log();
    assert_eq!(
        &log[..4],
        [
            "sql -- tx part",
            "claim items refused",
            "wait items",
            "sql -- tx part"
        ]
    );
    assert_eq!(log[4], "claim items");
    assert_eq!(fake.versions(), vec!["1.0.0", "1.1.0"]);
}

#[tokio::test]
async fn a_round_that_gave_up_on_a_table_lock_is_rolled_back_and_retried() {
    let fake = Fake::new(World {
        lock_failures: 2,
        ..World::default()
    });
    let report = upgrade(&fake, UpgradeOptions::default()).await.unwrap();
    let log = fake.log();
    assert_eq!(&log[..2], ["rollback", "rollback"]);
    assert_eq!(fake.versions(), vec!["1.0.0", "1.1.0"]);
    assert_eq!(report.steps.len(), 2, "each step reported once");
}

#[tokio::test]
async fn retrying_stops_at_the_bound_with_a_typed_error() {
    let mut fake = Fake::new(World {
        lock_failures: u32::MAX,
        ..World::default()
    });
    fake.retry_for = Duration::from_millis(250);
    let started = std::time::Instant::now();
    let err = upgrade(&fake, UpgradeOptions::default()).await.unwrap_err();
    let Error::TableLockTimeout {
        attempts, waited, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(*attempts >= 2, "{err}");
    assert!(*waited >= Duration::from_millis(250), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");
    assert!(err.to_string().contains("pg_stat_activity"), "{err}");
    assert!(fake.versions().is_empty(), "nothing applied");
}

#[tokio::test]
async fn a_failed_online_statement_is_a_migration_failure_and_its_leftover_is_dropped() {
    let fake = Fake::new(World {
        catalog: at_1_0_0(),
        online_fails: true,
        ..World::default()
    });
    let err = upgrade(&fake, UpgradeOptions::default()).await.unwrap_err();
    assert!(
        matches!(&err, Error::MigrationFailed { version, previous, .. } if version == "1.1.0" && previous == "1.0.0"),
        "{err:?}"
    );
    let log = fake.log();
    assert_eq!(log.last().map(String::as_str), Some("claim items"));
    assert!(
        log.contains(&"drop leftover idx_items_a".to_string()),
        "{log:?}"
    );
    let world = fake.world.lock().unwrap();
    assert!(world.catalog.invalid_indexes.is_empty(), "leftover dropped");
    assert_eq!(world.catalog.applied.len(), 1, "1.1.0 not recorded");
}

/// 1.0.0 declares a table its SQL does not create (a broken migration): the rounds commit,
/// the post-condition finds the table missing.
fn broken() -> Fake {
    let mut fake = Fake::new(World::default());
    fake.bundled = vec![BundledMigration::custom("1.0.0", "items and ghost")
        .unwrap()
        .with_table("items")
        .with_table("ghost")
        .with_sql("create items", "drop items")];
    fake
}

#[tokio::test]
async fn a_run_that_leaves_the_database_unsound_fails_with_what_it_did_and_the_fix() {
    let fake = broken();
    let err = upgrade(&fake, UpgradeOptions::default()).await.unwrap_err();
    let Error::PostconditionFailed { report, cause } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(cause.as_ref(), Error::MissingTables { tables, .. } if tables == &["ghost"]),
        "{cause:?}"
    );
    let applied: Vec<_> = report.steps.iter().map(|s| s.version.as_str()).collect();
    assert_eq!(applied, ["1.0.0"], "the report says what was done");
    let judged = report.postcondition.as_ref().expect("judged");
    assert!(!judged.sound);
    assert_eq!(judged.state, crate::SchemaState::MissingTables);
    assert_eq!(
        err.to_string(),
        "fake://: upgraded, base → 1.0.0 (applied 1 migration), but the database is not sound: \
         Missing tables: ghost — run: pycharter db init fake:// --force"
    );
    assert!(err.is_schema_state());
    assert_eq!(fake.versions(), ["1.0.0"], "committed: the report says so");

    // Run again: the layout is refused before anything changes.
    let err = upgrade(&fake, UpgradeOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::MissingTables { .. }), "{err:?}");
    assert_eq!(fake.world.lock().unwrap().commits, 1, "nothing committed");
}

#[tokio::test]
async fn a_sound_run_and_a_dry_run_report_their_post_condition() {
    let fake = Fake::new(World::default());
    let dry = upgrade(
        &fake,
        UpgradeOptions {
            dry_run: true,
            ..UpgradeOptions::default()
        },
    )
    .await
    .unwrap();
    let predicted = dry.postcondition.expect("predicted");
    assert!(predicted.sound, "{predicted:?}");
    assert_eq!(predicted.version.as_deref(), Some("1.1.0"));
    assert!(fake.versions().is_empty(), "a dry run changes nothing");
    let report = upgrade(&fake, UpgradeOptions::default()).await.unwrap();
    let judged = report.postcondition.expect("judged");
    assert!(judged.sound && judged.state == crate::SchemaState::Valid);
}
