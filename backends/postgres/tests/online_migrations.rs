//! Online steps on a real PostgreSQL: 1.1.0's index is built with `CREATE INDEX
//! CONCURRENTLY` outside the migration transaction, so writes go on during the build; an
//! interrupted build leaves an INVALID index that `validate` names and the next run drops and
//! rebuilds; concurrent deployers build it once; databases migrated with the SQL 1.1.0 first
//! shipped keep validating.

mod common;

use common::{
    admin, database_at_1_0_0, index_state, manual, version_rows, wait_for, BUILD_WAITING,
    INDEX_1_1_0,
};
use pycharter_core::{
    BundledMigration, ConnectOptions, DowngradeOptions, DowngradeTarget, Error, InitializeOptions,
    MigrationState, SchemaManager, SchemaState, UpgradeOptions, MIGRATIONS,
};
use pycharter_postgres::PostgresMetadataStore;
use sqlx::{Connection as _, Executor as _};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The versions an upgrade from 1.0.0 applies: 1.1.0 (built online) and those after it.
fn versions_above_1_0_0() -> Vec<String> {
    common::all_versions().split_off(1)
}

async fn store(url: &str) -> PostgresMetadataStore {
    PostgresMetadataStore::connect(url, manual())
        .await
        .expect("connect")
}

/// A transaction that inserted into `schemas` and stays open: a concurrent build waits for
/// it (after creating its catalog entry), which holds the build mid-way.
async fn open_writer(url: &str) -> sqlx::PgConnection {
    let mut conn = admin(url).await;
    conn.execute(
        "BEGIN; INSERT INTO schemas (name, version, version_sort_key, document) \
         VALUES ('blocker', '1.0.0', 'k', '{}')",
    )
    .await
    .expect("open a writing transaction");
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_on_while_the_1_1_0_index_builds() {
    let url = database_at_1_0_0(20_000).await;
    let mut blocker = open_writer(&url).await;
    let deployer = store(&url).await;
    let upgrade = tokio::spawn(async move { deployer.upgrade(UpgradeOptions::default()).await });
    wait_for(&url, "the build waits for the open writer", BUILD_WAITING).await;

    // Mid-build: the index exists but is not valid; validate says so, by name.
    assert_eq!(
        index_state(&url, INDEX_1_1_0).await.map(|s| s.1),
        Some(false)
    );
    let info = store(&url).await.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Outdated);
    assert_eq!(info.invalid_indexes, vec![INDEX_1_1_0]);

    // A write does not queue behind the build (a plain CREATE INDEX would hold it until
    // the open writer ends: its SHARE lock request is queued ahead of this insert).
    let mut writer = admin(&url).await;
    writer
        .execute("SET statement_timeout = '5s'")
        .await
        .expect("set");
    let started = Instant::now();
    writer
        .execute(
            "INSERT INTO schemas (name, version, version_sort_key, document) \
             VALUES ('during', '1.0.0', 'k', '{}')",
        )
        .await
        .expect("insert during the build");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    blocker.execute("COMMIT").await.expect("end the writer");
    let report = upgrade.await.expect("task").expect("upgrade");
    let steps: Vec<_> = report.steps.iter().map(|s| s.version.as_str()).collect();
    assert_eq!(steps, versions_above_1_0_0());
    assert_eq!(
        index_state(&url, INDEX_1_1_0).await.map(|s| s.1),
        Some(true)
    );
    assert_eq!(version_rows(&url).await, common::all_versions());
    assert!(store(&url).await.validate().await.expect("validate").valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_cut_off_mid_way_fails_cleanly_then_validate_names_the_index_and_the_rerun_rebuilds_it(
) {
    let url = database_at_1_0_0(20_000).await;
    let mut blocker = open_writer(&url).await;
    let options = ConnectOptions {
        ddl_lock_timeout: Some(Duration::from_millis(200)),
        ddl_lock_retry_for: Duration::from_millis(600),
        ..manual()
    };
    let deployer = PostgresMetadataStore::connect(&url, options)
        .await
        .expect("connect");
    let upgrade = tokio::spawn(async move { deployer.upgrade(UpgradeOptions::default()).await });
    wait_for(&url, "the build waits for the open writer", BUILD_WAITING).await;
    let oid = index_state(&url, INDEX_1_1_0)
        .await
        .expect("catalog entry")
        .0;

    // The connection is lost mid-build (the server ends the session).
    let mut admin_conn = admin(&url).await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE '%CREATE INDEX CONCURRENTLY%' \
         AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin_conn)
    .await
    .expect("terminate the build");
    assert_eq!(killed, 1);
    let err = upgrade
        .await
        .expect("task")
        .expect_err("the build was cut off");
    assert!(
        matches!(&err, Error::MigrationFailed { version, previous, .. } if version == "1.1.0" && previous == "1.0.0"),
        "{err:?}"
    );
    // Nothing recorded; the half-built index is left (dropping it needs the table for an
    // instant, and the open writer still holds it past the DDL lock timeout).
    assert_eq!(version_rows(&url).await, vec!["1.0.0"]);
    assert_eq!(index_state(&url, INDEX_1_1_0).await, Some((oid, false)));
    let info = store(&url).await.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::Outdated);
    assert_eq!(info.invalid_indexes, vec![INDEX_1_1_0]);
    assert!(
        info.message.contains(
            "idx_schemas_name_sort_key INVALID: a concurrent index build was interrupted"
        ),
        "{}",
        info.message
    );

    blocker.execute("COMMIT").await.expect("end the writer");
    let report = store(&url)
        .await
        .upgrade(UpgradeOptions::default())
        .await
        .expect("rerun");
    assert_eq!(report.steps.len(), versions_above_1_0_0().len());
    let (rebuilt, valid) = index_state(&url, INDEX_1_1_0).await.expect("index");
    assert!(valid && rebuilt != oid, "dropped and rebuilt");
    assert!(store(&url).await.validate().await.expect("validate").valid);
}

/// What a sampler saw of the index while deployers raced: every oid it had, and the most
/// deployer sessions connected at once while it was being built (not yet valid).
#[derive(Debug, Default)]
struct Sampled {
    oids: BTreeSet<u32>,
    deployers_during_build: i64,
}

/// Samples the index until `done` fires.
async fn sample_index(url: String, done: tokio::sync::watch::Receiver<bool>) -> Sampled {
    let mut conn = admin(&url).await;
    let mut sampled = Sampled::default();
    loop {
        let row: Option<(i64, bool, i64)> = sqlx::query_as(
            "SELECT c.oid::bigint, x.indisvalid, \
                    (SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'pycharter') \
             FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid WHERE c.relname = $1",
        )
        .bind(INDEX_1_1_0)
        .fetch_optional(&mut conn)
        .await
        .expect("sample");
        if let Some((oid, valid, sessions)) = row {
            sampled.oids.insert(u32::try_from(oid).expect("oid"));
            if !valid {
                sampled.deployers_during_build = sampled.deployers_during_build.max(sessions);
            }
        }
        if *done.borrow() {
            return sampled;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs `deployers` upgrades of `url` at once (each through its own store on `connect_url`)
/// while sampling the index; returns how many reports applied 1.1.0, and what was sampled.
async fn race(url: &str, connect_url: &str, deployers: usize) -> (usize, Sampled) {
    let (done, watching) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_index(url.to_string(), watching));
    let options = ConnectOptions {
        max_connections: 2,
        ..manual()
    };
    let mut tasks = Vec::new();
    for _ in 0..deployers {
        let connect_url = connect_url.to_string();
        let options = options.clone();
        tasks.push(tokio::spawn(async move {
            let store = PostgresMetadataStore::connect(&connect_url, options).await?;
            let report = store.upgrade(UpgradeOptions::default()).await;
            store.close().await;
            report
        }));
    }
    let mut applied = 0;
    for task in tasks {
        let report = task.await.expect("task").expect("every deployer succeeds");
        applied += report.steps.iter().filter(|s| s.version == "1.1.0").count();
    }
    done.send(true).expect("sampler");
    (applied, sampler.await.expect("sampler"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deployers_build_the_index_once() {
    // Enough rows for the build to take a while, so that the deployers really overlap it.
    let url = database_at_1_0_0(300_000).await;
    let (applied, sampled) = race(&url, &url, 6).await;
    assert_eq!(applied, 1, "exactly one deployer records 1.1.0");
    assert_eq!(
        sampled.oids.len(),
        1,
        "one build, never dropped and rebuilt: {sampled:?}"
    );
    // The others were there during the build (one session each at least, the builder two).
    assert!(sampled.deployers_during_build >= 6, "{sampled:?}");
    assert_eq!(
        index_state(&url, INDEX_1_1_0).await.map(|s| s.1),
        Some(true)
    );
    assert_eq!(version_rows(&url).await, common::all_versions());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deployers_through_pgbouncer_build_the_index_once() {
    use pycharter_test_postgres::pgbouncer::PgBouncer;
    let url = database_at_1_0_0(100_000).await;
    let name = url.rsplit('/').next().expect("database name").to_string();
    // Transaction pooling; one server connection more than the deployers (a deployer's
    // claim and its online statement each need one for a moment).
    let bouncer = tokio::task::spawn_blocking(|| PgBouncer::start(5))
        .await
        .expect("start pgbouncer");
    let through = bouncer.url(&name, "?statement-cache-capacity=0");
    let (applied, sampled) = race(&url, &through, 4).await;
    assert_eq!(applied, 1, "{}", bouncer.log());
    assert_eq!(sampled.oids.len(), 1, "{sampled:?}");
    assert_eq!(
        index_state(&url, INDEX_1_1_0).await.map(|s| s.1),
        Some(true)
    );
    assert_eq!(version_rows(&url).await, common::all_versions());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_index_of_an_applied_migration_is_named_and_init_force_rebuilds_it() {
    let url = database_at_1_0_0(10).await;
    store(&url)
        .await
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade");
    // Leave an invalid index of that name, as a cancelled concurrent build does: a unique
    // build over duplicate names fails after creating its catalog entry.
    let mut conn = admin(&url).await;
    conn.execute(
        "DROP INDEX idx_schemas_name_sort_key; \
         INSERT INTO schemas (name, version, version_sort_key, document) VALUES ('seed', '9.9.9', 'k', '{}')",
    )
    .await
    .expect("prepare");
    conn.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_schemas_name_sort_key ON schemas (name)")
        .await
        .expect_err("duplicate names");
    assert_eq!(
        index_state(&url, INDEX_1_1_0).await.map(|s| s.1),
        Some(false)
    );

    let manager = store(&url).await;
    let info = manager.validate().await.expect("validate");
    assert_eq!(info.state, SchemaState::MissingIndexes);
    assert_eq!(info.missing_indexes, vec![INDEX_1_1_0]);
    assert_eq!(info.invalid_indexes, vec![INDEX_1_1_0]);
    assert!(info.message.contains("--force"), "{}", info.message);

    let report = manager
        .initialize(InitializeOptions {
            force: true,
            dry_run: false,
        })
        .await
        .expect("init --force");
    assert_eq!(report.steps.len(), 1, "{report:?}");
    assert_eq!(
        index_state(&url, INDEX_1_1_0).await.map(|s| s.1),
        Some(true)
    );
    assert!(manager.validate().await.expect("validate").valid);
}

#[tokio::test]
async fn a_database_migrated_with_the_first_1_1_0_sql_keeps_validating() {
    let url = database_at_1_0_0(10).await;
    // The SQL 1.1.0 first shipped: a plain CREATE INDEX.
    let old_sql = include_str!("../migrations/superseded/1.1.0.up.sql");
    let mut old = PostgresMetadataStore::migrations();
    old[1] = BundledMigration::new(&MIGRATIONS[1], old_sql, &old[1].down_sql).expect("bundle");
    let old_build = PostgresMetadataStore::connect_with_migrations(&url, manual(), old)
        .await
        .expect("connect");
    old_build
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade with the first SQL");
    let recorded: String =
        sqlx::query_scalar("SELECT checksum FROM pycharter_schema_version WHERE version = '1.1.0'")
            .fetch_one(&mut admin(&url).await)
            .await
            .expect("recorded checksum");
    assert_eq!(recorded, pycharter_core::spec::checksum(old_sql));

    let this_build = store(&url).await;
    assert_ne!(this_build.bundled_migrations()[1].checksum, recorded);
    let info = this_build.validate().await.expect("validate");
    assert!(info.valid, "{info:?}");
    let history = this_build.history().await.expect("history");
    assert_eq!(history[1].state, MigrationState::Applied);
    assert_eq!(history[1].checksum_ok, Some(true));
    let report = this_build
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade");
    assert!(report.steps.is_empty(), "nothing to do");
    // And the default connect (validate on connect) accepts it.
    PostgresMetadataStore::new(&url)
        .await
        .expect("connect with defaults");
}

#[tokio::test]
async fn downgrade_drops_the_index_online_and_upgrade_builds_it_again() {
    let url = database_at_1_0_0(1_000).await;
    let manager = store(&url).await;
    manager
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade");
    let report = manager
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(semver::Version::new(1, 0, 0)),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("downgrade");
    assert_eq!(report.steps.len(), versions_above_1_0_0().len());
    assert_eq!(index_state(&url, INDEX_1_1_0).await, None);
    assert_eq!(version_rows(&url).await, vec!["1.0.0"]);
    manager
        .upgrade(UpgradeOptions::default())
        .await
        .expect("upgrade again");
    assert!(manager.validate().await.expect("validate").valid);
}

#[tokio::test]
async fn a_fresh_database_gets_the_index_inside_the_one_init_transaction() {
    // The default connect (auto-initialize) on an empty database: `schemas` is created by
    // the same transaction, so the index is built there, without CONCURRENTLY.
    let url = common::fresh_url().await;
    let store = PostgresMetadataStore::new(&url).await.expect("connect");
    assert!(store.validate().await.expect("validate").valid);
    assert_eq!(
        index_state(&url, INDEX_1_1_0).await.map(|s| s.1),
        Some(true)
    );
    let one_transaction: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM pycharter_schema_version")
            .fetch_one(&mut admin(&url).await)
            .await
            .expect("xmin");
    assert_eq!(
        one_transaction, 1,
        "both versions recorded by one transaction"
    );
    let _ = admin(&url).await.close().await;
}
