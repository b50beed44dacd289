//! The proof that an upgrade never stalls the application's writes: a PostgreSQL database at
//! 1.0.0 holding 1,000,000 schema versions, the previous release of the application writing
//! and reading throughout, and the real `pycharter db upgrade` process taking it to 1.1.0
//! (whose index is built online). Zero failed operations, and no write that started during
//! the upgrade slower than [`WORST_WRITE_BOUND`] (the application's first writes, which open
//! its connections, come before).
//!
//! The control (same database, back at 1.0.0): the same upgrade with the SQL 1.1.0 first
//! shipped, a plain `CREATE INDEX`, blocks every write for the whole build, far beyond the
//! bound, so the bound measures something.
//!
//! Its own test binary: the latency bound wants the machine to itself as far as a test run
//! allows (the figures of `benches/online_upgrade.rs` are the measurement).

use pycharter_benches::online::{
    back_to_1_0_0, database_at_1_0_0, measure, plain_index_migrations,
};
use pycharter_core::{SchemaManager, UpgradeOptions};
use pycharter_postgres::PostgresMetadataStore;
use std::process::Command;
use std::time::Duration;

const ROWS: u64 = 1_000_000;
/// The bound on the worst write latency while the upgrade runs.
const WORST_WRITE_BOUND: Duration = Duration::from_millis(50);

/// `pycharter db upgrade <url> --json`, the real binary, on a blocking thread.
async fn pycharter_db_upgrade(url: String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_pycharter"))
            .args(["db", "upgrade", &url, "--json"])
            .env_remove("PYCHARTER_DATABASE_URL")
            .env_remove("RUST_LOG")
            .output()
            .expect("run pycharter")
    })
    .await
    .expect("blocking task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["steps"][0]["version"], "1.1.0", "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_upgrade_never_stalls_the_application() {
    let db = database_at_1_0_0(ROWS).await;

    let online = measure(&db.url, pycharter_db_upgrade(db.url.clone())).await;
    println!(
        "online (pycharter db upgrade, {ROWS} rows): upgrade {:?}, index build {} ms, {} writes during it, worst {:?}, p99 {:?}; {} writes and {} reads in all",
        online.upgrade,
        online.build_ms,
        online.writes_during,
        online.worst_write_during,
        online.stats.write_percentile(99.0),
        online.stats.writes,
        online.stats.reads,
    );
    assert!(
        online.stats.failures.is_empty(),
        "{:?}",
        online.stats.failures
    );
    assert!(
        online.writes_during >= 20,
        "the application wrote throughout the upgrade: {} writes in {:?}",
        online.writes_during,
        online.upgrade
    );
    assert!(
        online.worst_write_during <= WORST_WRITE_BOUND,
        "worst write during the upgrade {:?} > {WORST_WRITE_BOUND:?}",
        online.worst_write_during
    );
    let this_build = PostgresMetadataStore::connect(&db.url, Default::default())
        .await
        .expect("this build connects: valid");
    assert!(this_build.validate().await.expect("validate").valid);
    this_build.close().await;

    // The control: the plain CREATE INDEX on the same rows.
    back_to_1_0_0(&db.url).await;
    let url = db.url.clone();
    let plain = measure(&db.url, async move {
        let store = PostgresMetadataStore::connect_with_migrations(
            &url,
            pycharter_benches::backends::manual_options(),
            plain_index_migrations(),
        )
        .await
        .expect("connect");
        store
            .upgrade(UpgradeOptions::default())
            .await
            .expect("plain upgrade");
        store.close().await;
    })
    .await;
    println!(
        "plain CREATE INDEX (control): upgrade {:?}, index build {} ms, worst write {:?}",
        plain.upgrade, plain.build_ms, plain.worst_write_during
    );
    assert!(
        plain.stats.failures.is_empty(),
        "{:?}",
        plain.stats.failures
    );
    assert!(
        plain.worst_write_during > WORST_WRITE_BOUND * 4,
        "the plain build should stall writes: worst {:?} over a {} ms build",
        plain.worst_write_during,
        plain.build_ms
    );
}
