//! How many statements and round trips the Postgres backend's operations send, measured with
//! the [`CountingProxy`] (shared by the `round_trips` bench, which prints them, and the
//! `round_trips` test, which asserts them).

use crate::proxy::{CountingProxy, Counts};
use crate::workload::schema_document;
use pycharter_core::{ConnectOptions, MetadataStoreExt, SchemaManager};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::fresh_database;
use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

/// How long the proxy must see nothing before background messages count as landed.
const QUIET: Duration = Duration::from_millis(200);

/// What one operation sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// What was done, e.g. `connect() (validate on, initialized database)`.
    pub operation: String,
    /// Messages sent before the operation returned: what it waited for.
    pub awaited: Counts,
    /// Everything the operation caused, including sqlx's background ping when the
    /// connection went back to the pool.
    pub total: Counts,
}

/// The operations measured, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One entry per operation.
    pub operations: Vec<Measured>,
}

impl Report {
    /// The measurement of the operation whose name starts with `prefix`.
    ///
    /// # Panics
    ///
    /// When no operation matches.
    pub fn get(&self, prefix: &str) -> &Measured {
        self.operations
            .iter()
            .find(|m| m.operation.starts_with(prefix))
            .unwrap_or_else(|| panic!("no operation {prefix:?} was measured"))
    }

    /// A markdown table of the report.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| operation | statements | round trips awaited | + background pings | prepares | connections opened |\n\
             |---|---:|---:|---:|---:|---:|\n",
        );
        for m in &self.operations {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                m.operation,
                m.total.statements(),
                m.awaited.round_trips(),
                m.total.round_trips() - m.awaited.round_trips(),
                m.total.parses,
                m.total.connections,
            );
        }
        out
    }
}

/// Runs `op` and records what it sent: on a current-thread runtime the snapshot taken right
/// after it returns holds exactly the awaited messages (background tasks have not run yet).
async fn measure<T, F>(proxy: &CountingProxy, operation: &str, op: F) -> (T, Measured)
where
    F: Future<Output = T>,
{
    let before = proxy.quiesced(QUIET).await;
    let value = op.await;
    let awaited = proxy.counts() - before;
    let total = proxy.quiesced(QUIET).await - before;
    let measured = Measured {
        operation: operation.to_string(),
        awaited,
        total,
    };
    (value, measured)
}

/// Measures, on a fresh database of the test server: `connect()` (validate on) to an
/// initialized database, `store_schema` (first and second: the second reuses sqlx's cached
/// prepared statement), `get_schema` latest (same), and `validate()` on a warm pool.
///
/// Must run on a **current-thread** tokio runtime (see [`measure`]).
///
/// # Panics
///
/// When the server cannot be reached or an operation fails.
pub async fn measure_postgres() -> Report {
    let url = fresh_database().await.url;
    PostgresMetadataStore::new(&url)
        .await
        .expect("initialize the database (without the proxy)")
        .close()
        .await;
    let proxy = CountingProxy::start(&url).await;
    let mut operations = Vec::new();

    let (store, m) = measure(
        &proxy,
        "connect() (validate on, initialized database)",
        PostgresMetadataStore::connect(proxy.url(), ConnectOptions::default()),
    )
    .await;
    let store = store.expect("connect through the proxy");
    operations.push(m);

    for (label, version) in [("first", "1.0.0"), ("second", "1.1.0")] {
        let document = schema_document(0);
        let (id, m) = measure(
            &proxy,
            &format!("store_schema ({label})"),
            store.store_schema("round_trips", version, &document),
        )
        .await;
        id.expect("store_schema");
        operations.push(m);
    }
    for label in ["first", "second"] {
        let (found, m) = measure(
            &proxy,
            &format!("get_schema latest ({label})"),
            store.get_schema("round_trips", None),
        )
        .await;
        found.expect("get_schema").expect("stored above");
        operations.push(m);
    }
    let (info, m) = measure(&proxy, "validate() (warm pool)", store.validate()).await;
    assert!(info.expect("validate").valid);
    operations.push(m);

    store.close().await;
    Report { operations }
}
