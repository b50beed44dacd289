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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_through_transaction_pooling_lose_nothing() {
    let db = fresh_database().await;
    let bouncer = tokio::task::spawn_blocking(|| PgBouncer::start(POOL_SIZE))
        .await
        .expect("start pgbouncer");
    let url = bouncer.url(&db.name, "?statement-cache-capacity=0");

    let failures = run_clients(&url).await;
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
        vec!["1.0.0".to_string(), "1.1.0".to_string()]
    );
    // The clients really shared server connections: PgBouncer never opened more than
    // POOL_SIZE to this database (the admin connections above go straight to the server
    // and are closed by now).
    let server_side = count(
        test_server().admin_url(),
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        ),
    )
    .await;
    assert!(
        server_side <= i64::from(POOL_SIZE),
        "{server_side} server connections for {} client connections",
        CLIENTS as u32 * CLIENT_POOL
    );
}
