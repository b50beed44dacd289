//! What an upgrade does to an application that keeps running: a Postgres database at 1.0.0
//! holding `n` schema versions ([`crate::seed`]), an application (the previous release: a
//! store that ships 1.0.0 only) writing and reading throughout, and the upgrade to 1.1.0.
//! Used by `benches/online_upgrade.rs` (worst write latency, online vs the plain `CREATE
//! INDEX` 1.1.0 first shipped) and by the CLI's `tests/online_upgrade.rs` (the bound).

use crate::backends::manual_options;
use pycharter_core::{
    BundledMigration, DowngradeOptions, DowngradeTarget, SchemaManager, UpgradeOptions, MIGRATIONS,
};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::load::{Load, Shape, Stats};
use pycharter_test_postgres::{fresh_database, TestDatabase};
use serde_json::json;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The application's shape during an upgrade: two writers and two readers, each pausing 5 ms
/// between operations (about 300 writes and 300 reads a second in all).
pub fn application_shape() -> Shape {
    Shape {
        writers: 2,
        readers: 2,
        pause: Duration::from_millis(5),
        prefix: "app".into(),
    }
}

/// A fresh database migrated to 1.0.0 and seeded with `rows` schema versions.
///
/// # Panics
///
/// When the database cannot be set up (a bench or test that cannot run must not report).
pub async fn database_at_1_0_0(rows: u64) -> TestDatabase {
    let db = fresh_database().await;
    let store = PostgresMetadataStore::connect(&db.url, manual_options())
        .await
        .expect("connect");
    store
        .upgrade(UpgradeOptions {
            to: Some(semver::Version::new(1, 0, 0)),
            dry_run: false,
        })
        .await
        .expect("upgrade to 1.0.0");
    crate::seed::seed_postgres(store.pool(), 0, rows, &json!({"type": "object"}))
        .await
        .expect("seed");
    store.close().await;
    db
}

/// This build's migrations with 1.1.0 as it first shipped: a plain `CREATE INDEX` (the
/// "before" of the online build).
///
/// # Panics
///
/// Never for the bundled SQL (a defect of the build otherwise).
pub fn plain_index_migrations() -> Vec<BundledMigration> {
    let mut migrations = PostgresMetadataStore::migrations();
    let old = include_str!("../../backends/postgres/migrations/superseded/1.1.0.up.sql");
    migrations[1] = BundledMigration::new(&MIGRATIONS[1], old, &migrations[1].down_sql)
        .expect("the first 1.1.0 SQL bundles");
    migrations
}

/// Takes the database back to 1.0.0 (drops the index, forgets 1.1.0), rows kept.
///
/// # Panics
///
/// When the downgrade fails.
pub async fn back_to_1_0_0(url: &str) {
    let store = PostgresMetadataStore::connect(url, manual_options())
        .await
        .expect("connect");
    store
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(semver::Version::new(1, 0, 0)),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("downgrade to 1.0.0");
    store.close().await;
}

/// The upgrade's effect on the application.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Wall time of the upgrade.
    pub upgrade: Duration,
    /// `execution_ms` recorded for 1.1.0: the index build.
    pub build_ms: i64,
    /// Writes that started while the upgrade ran.
    pub writes_during: u64,
    /// The slowest of those.
    pub worst_write_during: Duration,
    /// The application's operations overall.
    pub stats: Stats,
}

/// Starts the application (the previous release: its store ships 1.0.0 only, and validated
/// the database before the upgrade), runs `upgrade`, stops the application, and measures.
///
/// # Panics
///
/// When the application cannot connect, or 1.1.0 was not recorded.
pub async fn measure<F: Future<Output = ()>>(url: &str, upgrade: F) -> Figures {
    let previous_release = PostgresMetadataStore::migrations()[..1].to_vec();
    let options = pycharter_core::ConnectOptions {
        auto_initialize: false,
        max_connections: 8,
        ..pycharter_core::ConnectOptions::default()
    };
    let app = PostgresMetadataStore::connect_with_migrations(url, options, previous_release)
        .await
        .expect("the application connects (valid at 1.0.0)");
    let pool = app.pool().clone();
    let load = Load::start(Arc::new(app), application_shape());
    // The application is running before the upgrade starts, and after it ends.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    upgrade.await;
    let ended = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = load.stop().await;
    let (writes_during, worst_write_during) = stats.writes_within(started, ended);
    Figures {
        upgrade: ended - started,
        build_ms: build_ms(&pool).await,
        writes_during,
        worst_write_during,
        stats,
    }
}

async fn build_ms(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT execution_ms FROM pycharter_schema_version WHERE version = '1.1.0'")
        .fetch_one(pool)
        .await
        .expect("1.1.0 recorded")
}
