//! A rolling upgrade on PostgreSQL with the real `pycharter` binary as the running release:
//! its deploy Job runs `pycharter db upgrade` (URL from `$DATABASE_URL`), its pods write
//! through the library and probe readiness with `pycharter db check`, while the next
//! release (the library with this build's migrations plus a compatible 1.3.0) migrates the
//! same database. Then a breaking 2.0.0, and the next release downgraded back.

mod common;

use common::*;
use pycharter_core::{
    BundledMigration, ConnectOptions, DowngradeOptions, Error, MetadataStoreExt, SchemaManager,
    UpgradeOptions,
};
use pycharter_postgres::PostgresMetadataStore;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// This binary's layout: the old release of this story.
const RUNNING: &str = "1.2.0";

/// This build's migrations plus 1.3.0 (a table, an index, a nullable column), declared
/// compatible with [`RUNNING`]; with `breaking`, also a 2.0.0 compatible with itself only.
fn next_release(breaking: bool) -> Vec<BundledMigration> {
    let mut migrations = postgres_migrations();
    migrations.push(
        BundledMigration::custom("1.3.0", "contract reviews (the next release)")
            .and_then(|m| m.with_compatibility(RUNNING))
            .expect("valid migration")
            .with_table("contract_reviews")
            .with_index("idx_schemas_created_at", "schemas")
            .with_sql(
                "CREATE TABLE IF NOT EXISTS contract_reviews (id BIGINT PRIMARY KEY, reviewer TEXT);\n\
                 CREATE INDEX IF NOT EXISTS idx_schemas_created_at ON schemas (created_at);\n\
                 ALTER TABLE schemas ADD COLUMN IF NOT EXISTS reviewed_at TIMESTAMPTZ;",
                "ALTER TABLE schemas DROP COLUMN IF EXISTS reviewed_at;\n\
                 DROP INDEX IF EXISTS idx_schemas_created_at;\n\
                 DROP TABLE IF EXISTS contract_reviews;",
            ),
    );
    if breaking {
        migrations.push(
            BundledMigration::custom("2.0.0", "rename reviewer (breaking)")
                .expect("valid migration")
                .with_sql(
                    "ALTER TABLE contract_reviews RENAME COLUMN reviewer TO reviewed_by;",
                    "ALTER TABLE contract_reviews RENAME COLUMN reviewed_by TO reviewer;",
                ),
        );
    }
    migrations
}

fn manual() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    }
}

/// What a pod of the running release uses: the Job migrates, the pod validates on connect.
fn pod() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        ..ConnectOptions::default()
    }
}

/// Operations of the running release: library writes and `pycharter db check` processes.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    upgrading: AtomicBool,
    writes: AtomicU64,
    checks: AtomicU64,
    during_upgrade: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Load {
    /// Returns once the running release has done `writes` writes and `checks` checks in
    /// all; the counters are polled (every 10 ms, for at most a minute).
    async fn until(&self, writes: u64, checks: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.writes.load(Ordering::SeqCst) < writes
            || self.checks.load(Ordering::SeqCst) < checks
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the running release stalled: {} writes, {} checks",
                self.writes.load(Ordering::SeqCst),
                self.checks.load(Ordering::SeqCst)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    fn book(&self, upgrading_at_start: bool, failure: Option<String>) {
        if upgrading_at_start || self.upgrading.load(Ordering::SeqCst) {
            self.during_upgrade.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(failure) = failure {
            self.failures.lock().expect("failures").push(failure);
        }
    }
}

#[test]
fn the_running_release_keeps_working_while_the_next_one_migrates() {
    let db = pg_database();
    let url = db.url.clone();
    // The running release's deploy Job, as the README writes it.
    let out = pycharter()
        .env("DATABASE_URL", &url)
        .args(["db", "upgrade"])
        .output()
        .expect("run");
    assert_code(&out, 0);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let load = Arc::new(Load::default());
    let written = runtime.block_on(async {
        let running = PostgresMetadataStore::connect(&url, pod())
            .await
            .expect("a pod of the running release connects");
        let mut tasks = Vec::new();
        for w in 0..3 {
            let (load, store) = (Arc::clone(&load), running.clone());
            tasks.push(tokio::spawn(async move {
                let mut written = Vec::new();
                let name = format!("writer-{w}");
                for n in 0.. {
                    if load.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let version = format!("1.{n}.0");
                    let upgrading = load.upgrading.load(Ordering::SeqCst);
                    let doc = serde_json::json!({"type": "object", "title": version});
                    let result = store.store_schema(&name, &version, &doc).await;
                    load.writes.fetch_add(1, Ordering::SeqCst);
                    load.book(upgrading, result.as_ref().err().map(|e| e.to_string()));
                    if result.is_ok() {
                        written.push((name.clone(), version));
                    }
                }
                written
            }));
        }
        // Readiness probes of the running release's pods: one `pycharter db check` after
        // the other, each must exit 0.
        let probe = {
            let (load, url) = (Arc::clone(&load), url.clone());
            tokio::task::spawn_blocking(move || {
                while !load.stop.load(Ordering::SeqCst) {
                    let upgrading = load.upgrading.load(Ordering::SeqCst);
                    let out = run(&["db", "check", &url]);
                    load.checks.fetch_add(1, Ordering::SeqCst);
                    let failed = (out.status.code() != Some(0))
                        .then(|| format!("db check: {}{}", stdout(&out), stderr(&out)));
                    load.book(upgrading, failed);
                }
            })
        };
        load.until(30, 2).await;

        let next =
            PostgresMetadataStore::connect_with_migrations(&url, manual(), next_release(false))
                .await
                .expect("the next release connects");
        load.upgrading.store(true, Ordering::SeqCst);
        let report = next
            .upgrade(UpgradeOptions::default())
            .await
            .expect("the next release migrates under load");
        load.upgrading.store(false, Ordering::SeqCst);
        assert_eq!(report.steps.len(), 1, "{report:?}");
        let (writes, checks) = (
            load.writes.load(Ordering::SeqCst),
            load.checks.load(Ordering::SeqCst),
        );
        // The running release goes on after the upgrade too.
        load.until(writes + 30, checks + 2).await;
        load.stop.store(true, Ordering::SeqCst);
        probe.await.expect("probe task");
        let mut written = Vec::new();
        for task in tasks {
            written.append(&mut task.await.expect("writer task"));
        }
        written
    });
    let failures = load.failures.lock().expect("failures").clone();
    eprintln!(
        "CLI rolling upgrade on Postgres: {} library writes and {} `db check` processes of the running release, {} of them while the upgrade ran, {} failed",
        load.writes.load(Ordering::SeqCst),
        load.checks.load(Ordering::SeqCst),
        load.during_upgrade.load(Ordering::SeqCst),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");

    // The running binary on the migrated database: ahead and compatible.
    let out = run(&["db", "check", &url]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).starts_with("Schema is ahead and compatible"),
        "{}",
        stdout(&out)
    );
    let info = json(&run(&["db", "check", &url, "--json"]));
    assert_eq!(
        (info["state"].as_str(), info["valid"].as_bool()),
        (Some("newer_compatible"), Some(true))
    );
    for command in ["upgrade", "init"] {
        let out = run(&["db", command, &url]);
        assert_code(&out, 0);
        assert!(
            stdout(&out).contains("is already at 1.3.0, nothing to do"),
            "{}",
            stdout(&out)
        );
    }
    assert_eq!(
        stdout(&run(&["db", "current", &url])),
        "1.3.0\n",
        "never downgraded"
    );
    let out = run(&["db", "check", "--wait", "5", &url]);
    assert_code(&out, 0);
    let rows = pg_i64(&url, "SELECT count(*) FROM schemas");
    assert_eq!(rows, written.len() as i64, "every write kept");

    runtime.block_on(async {
        // The next release, breaking: the running one is refused, and writes nothing.
        let breaking =
            PostgresMetadataStore::connect_with_migrations(&url, manual(), next_release(true))
                .await
                .expect("connect");
        breaking
            .upgrade(UpgradeOptions::default())
            .await
            .expect("2.0.0 applies");
        let err = PostgresMetadataStore::connect(&url, pod())
            .await
            .expect_err("a restarting pod of the running release is refused");
        assert!(
            matches!(&err, Error::SchemaNewer { incompatible, .. } if incompatible == "2.0.0"),
            "{err:?}"
        );
        let raw = PostgresMetadataStore::connect(&url, manual())
            .await
            .expect("connect");
        let err = raw
            .store_schema("refused", "1.0.0", &serde_json::json!({}))
            .await
            .expect_err("writes are refused");
        assert!(matches!(err, Error::SchemaNewer { .. }), "{err:?}");
    });
    assert_eq!(
        pg_i64(&url, "SELECT count(*) FROM schemas"),
        rows,
        "nothing written"
    );
    let out = run(&["db", "check", &url]);
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains("migration 2.0.0 does not keep 1.2.0 working"),
        "{}",
        stdout(&out)
    );
    let versions = pg_versions(&url);
    for command in ["upgrade", "init"] {
        let out = run(&["db", command, &url]);
        assert_code(&out, 1);
        assert!(
            stderr(&out).contains("does not keep 1.2.0 working"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        pg_versions(&url),
        versions,
        "the running release migrated nothing"
    );
    let started = std::time::Instant::now();
    let out = run(&["db", "check", "--wait", "60", &url]);
    assert_code(&out, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "waiting cannot fix it"
    );

    // The next release downgraded back: the running one works again.
    runtime.block_on(async {
        let breaking =
            PostgresMetadataStore::connect_with_migrations(&url, manual(), next_release(true))
                .await
                .expect("connect");
        breaking
            .downgrade(DowngradeOptions {
                to: RUNNING.parse().expect("version"),
                dry_run: false,
                allow_data_loss: false,
            })
            .await
            .expect("downgrade to the running release's layout");
        let running = PostgresMetadataStore::connect(&url, pod())
            .await
            .expect("the running release connects again");
        running
            .store_schema("after-downgrade", "1.0.0", &serde_json::json!({}))
            .await
            .expect("and writes");
    });
    let out = run(&["db", "check", &url]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).starts_with("Schema is valid"),
        "{}",
        stdout(&out)
    );
}
