//! Store and schema calls through a real PgBouncer in `pool_mode = transaction`, with fewer
//! server connections than clients, so that consecutive transactions of one client land on
//! different server connections and server connections carry other clients' leftovers.
//!
//! What is needed (and what the crate documentation says): `?statement-cache-capacity=0` in
//! the URL, for PgBouncer releases older than 1.21 (no `max_prepared_statements`).

mod common;

use common::admin;
use pycharter_core::{ConnectOptions, MetadataStore, MetadataStoreExt, SchemaManager};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::pgbouncer::PgBouncer;
use pycharter_test_postgres::{fresh_database, test_server};
use serde_json::json;
use sqlx::AssertSqlSafe;
use std::time::Duration;

/// Server connections PgBouncer may open to the database.
const POOL_SIZE: u32 = 2;
/// Concurrent clients, each with its own sqlx pool of `CLIENT_POOL` connections.
const CLIENTS: usize = 8;
const CLIENT_POOL: u32 = 3;
/// Schema versions each client stores (each with ownership and metadata attached).
const VERSIONS_PER_CLIENT: usize = 12;

fn options() -> ConnectOptions {
    ConnectOptions {
        max_connections: CLIENT_POOL,
        connect_timeout: Duration::from_secs(20),
        ..ConnectOptions::default()
    }
}

/// One client's work: connect (the default options initialize the schema, so the first
/// clients race to migrate through the pooler), then store and read back its contracts.
async fn client(url: String, n: usize) -> Result<(), String> {
    let store = PostgresMetadataStore::connect(&url, options())
        .await
        .map_err(|e| format!("client {n} connect: {e}"))?;
    let name = format!("contract_{n}");
    for v in 0..VERSIONS_PER_CLIENT {
        let version = format!("1.{v}.0");
        let doc = json!({"type": "object", "title": format!("{name} {version}")});
        let step = |what: &str, e: pycharter_core::Error| format!("client {n} {what}: {e}");
        store
            .store_schema(&name, &version, &doc)
            .await
            .map_err(|e| step("store_schema", e))?;
        store
            .store_ownership(&name, &version, &json!({"owner": n}))
            .await
            .map_err(|e| step("store_ownership", e))?;
        store
            .store_metadata(&name, &version, &json!({"v": v}))
            .await
            .map_err(|e| step("store_metadata", e))?;
        let got = store
            .get_schema(&name, &version)
            .await
            .map_err(|e| step("get_schema", e))?
            .ok_or_else(|| format!("client {n}: {version} not found after storing it"))?;
        if *got.document != doc {
            return Err(format!("client {n}: {version} read back differently"));
        }
    }
    let latest = store
        .get_schema(&name, None)
        .await
        .map_err(|e| format!("client {n} latest: {e}"))?
        .ok_or("latest missing")?;
    let want = format!("1.{}.0", VERSIONS_PER_CLIENT - 1);
    if latest.version.to_string() != want {
        return Err(format!("client {n}: latest {} != {want}", latest.version));
    }
    let versions = store
        .list_versions(&name)
        .await
        .map_err(|e| format!("client {n} list_versions: {e}"))?;
    if versions.len() != VERSIONS_PER_CLIENT {
        return Err(format!("client {n}: {} versions listed", versions.len()));
    }
    if !store.validate().await.map_err(|e| e.to_string())?.valid {
        return Err(format!("client {n}: schema not valid"));
    }
    store.close().await;
    Ok(())
}

/// Runs every client at once; returns the failures.
async fn run_clients(url: &str) -> Vec<String> {
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(client(url.to_string(), n)))
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.expect("client task") {
            failures.push(e);
        }
    }
    failures
}

async fn count(url: &str, sql: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(&mut admin(url).await)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Server connections to `database` observed while the clients run: the most seen at once,
/// and how many times the server was polled.
#[derive(Debug, Clone, Copy, Default)]
struct Observed {
    max: i64,
    samples: u64,
}

/// Polls `pg_stat_activity` (from a connection to the server's admin database, so not
/// counted itself) every few milliseconds until `stop` is set. During the run only
/// PgBouncer connects to `database`: the test's own direct connections come after.
async fn sample_server_connections(
    database: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Observed {
    let mut conn = admin(test_server().admin_url()).await;
    let mut observed = Observed::default();
    loop {
        let now: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = $1 AND backend_type = 'client backend'",
        )
        .bind(&database)
        .fetch_one(&mut conn)
        .await
        .expect("sample pg_stat_activity");
        observed.max = observed.max.max(now);
        observed.samples += 1;
        if *stop.borrow() {
            return observed;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_through_transaction_pooling_lose_nothing() {
    let db = fresh_database().await;
    let bouncer = tokio::task::spawn_blocking(|| PgBouncer::start(POOL_SIZE))
        .await
        .expect("start pgbouncer");
    let url = bouncer.url(&db.name, "?statement-cache-capacity=0");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_server_connections(db.name.clone(), stopped));
    let failures = run_clients(&url).await;
    stop.send(true).expect("sampler running");
    let observed = sampler.await.expect("sampler task");
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients failed through PgBouncer:\n{}\n--- pgbouncer log ---\n{}",
        failures.len(),
        failures.join("\n"),
        bouncer.log()
    );

    // Directly on the server: every row is there, each migration recorded once.
    let expected = (CLIENTS * VERSIONS_PER_CLIENT) as i64;
    assert_eq!(
        count(&db.url, "SELECT count(*) FROM schemas").await,
        expected
    );
    assert_eq!(
        count(&db.url, "SELECT count(*) FROM ownership").await,
        expected
    );
    assert_eq!(
        count(&db.url, "SELECT count(*) FROM metadata").await,
        expected
    );
    assert_eq!(
        common::version_rows(&db.url).await,
        vec!["1.0.0", "1.1.0", "1.2.0"]
    );
    // The clients really shared server connections: while they ran, the server never had
    // more than POOL_SIZE connections to this database (all of them PgBouncer's), and it
    // had some (the sampler saw the run).
    assert!(
        observed.max <= i64::from(POOL_SIZE),
        "{observed:?}: more than {POOL_SIZE} server connections for {} client connections",
        CLIENTS as u32 * CLIENT_POOL
    );
    assert!(
        observed.max >= 1 && observed.samples >= 2,
        "the sampler saw no server connection: {observed:?}"
    );
}
