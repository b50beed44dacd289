//! A real primary and streaming standby (`pycharter_test_postgres::replication`): multi-host
//! URLs pick the server `target_session_attrs` asks for, and a standby refuses writes and
//! migrations with the typed error while it serves reads and says what it is.
//!
//! One pair for the whole binary: these tests only read the topology (each in a database
//! of its own); the tests that stop, promote or pause a server start their own pair.

use pycharter_core::prelude::*;
use pycharter_core::{
    ConnectOptions, DowngradeOptions, DowngradeTarget, Error, InitializeOptions, ServerRole,
    UpgradeOptions,
};
use pycharter_postgres::{PostgresMetadataStore, TargetSessionAttrs};
use pycharter_test_postgres::replication::{PairOptions, ReplicaPair};
use serde_json::json;
use sqlx::Connection as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

static PAIR: OnceCell<ReplicaPair> = OnceCell::const_new();

async fn pair() -> &'static ReplicaPair {
    PAIR.get_or_init(|| ReplicaPair::start_async(PairOptions::default()))
        .await
}

/// A database of its own on the pair, replicated to the standby.
async fn database(pair: &ReplicaPair) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("ha_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    pair.create_database(&name).await;
    name
}

fn manual() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        connect_timeout: Duration::from_secs(5),
        max_connections: 2,
        ..ConnectOptions::default()
    }
}

/// A port nothing listens on (bound, then released).
fn dead_host() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!(
        "127.0.0.1:{}",
        listener.local_addr().expect("address").port()
    )
}

/// Whether the store's pool really reaches a server in recovery.
async fn pool_in_recovery(store: &PostgresMetadataStore) -> bool {
    sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(store.pool())
        .await
        .expect("ask the selected server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_session_attrs_value_picks_the_right_server_in_both_orders() {
    use TargetSessionAttrs::*;
    let pair = pair().await;
    let db = database(pair).await;
    let (p, s) = (pair.primary().host_port(), pair.standby().host_port());
    // (attrs, expected host with the primary listed first, with the standby listed first)
    let expectations = [
        (Any, &p, &s),
        (ReadWrite, &p, &p),
        (ReadOnly, &s, &s),
        (Primary, &p, &p),
        (Standby, &s, &s),
        (PreferStandby, &s, &s),
    ];
    for (attrs, primary_first, standby_first) in expectations {
        for (hosts, expected) in [
            ([p.clone(), s.clone()], primary_first),
            ([s.clone(), p.clone()], standby_first),
        ] {
            let url = pair.url(&hosts, &db, &format!("?target_session_attrs={attrs}"));
            let store = PostgresMetadataStore::connect(&url, manual())
                .await
                .unwrap_or_else(|e| panic!("{attrs} over {hosts:?}: {e}"));
            assert_eq!(
                store.connected_host(),
                expected.as_str(),
                "{attrs} over {hosts:?}"
            );
            assert_eq!(
                pool_in_recovery(&store).await,
                *expected == s,
                "{attrs} over {hosts:?}: the pool reaches the selected server"
            );
            store.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_host_is_skipped_and_every_reason_is_listed_when_none_fits() {
    let pair = pair().await;
    let db = database(pair).await;
    let (p, s, dead) = (
        pair.primary().host_port(),
        pair.standby().host_port(),
        dead_host(),
    );
    for (attrs, expected) in [("any", &p), ("standby", &s), ("read-write", &p)] {
        let hosts = [dead.clone(), p.clone(), s.clone()];
        let url = pair.url(&hosts, &db, &format!("?target_session_attrs={attrs}"));
        let store = PostgresMetadataStore::connect(&url, manual())
            .await
            .unwrap_or_else(|e| panic!("{attrs}: {e}"));
        assert_eq!(store.connected_host(), expected.as_str(), "{attrs}");
        store.close().await;
    }

    // Query parameter lists are libpq's other spelling of the same list.
    let ports = format!(
        "?host=127.0.0.1,127.0.0.1&port={},{}&target_session_attrs=primary",
        pair.standby().port(),
        pair.primary().port()
    );
    let url = format!("postgres://pycharter:{}@/{db}{ports}", pair.password());
    let store = PostgresMetadataStore::connect(&url, manual())
        .await
        .expect("host= and port= lists");
    assert_eq!(store.connected_host(), p);
    store.close().await;

    let url = pair.url(
        &[dead.clone(), s.clone()],
        &db,
        "?target_session_attrs=read-write",
    );
    let started = std::time::Instant::now();
    let err = PostgresMetadataStore::connect(&url, manual())
        .await
        .expect_err("no read-write host");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("{dead}: ")), "{message}");
    assert!(message.contains("refused"), "{message}");
    assert!(
        message.contains(&format!("{s} is a read-only standby")),
        "{message}"
    );
    assert!(!message.contains(pair.password()), "{message}");
    assert!(message.contains("pycharter:***@"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_through_a_standby_first_url_land_on_the_primary_with_read_write() {
    let pair = pair().await;
    let db = database(pair).await;
    let hosts = [pair.standby().host_port(), pair.primary().host_port()];
    let url = pair.url(&hosts, &db, "?target_session_attrs=read-write");
    let store = PostgresMetadataStore::connect(&url, manual())
        .await
        .expect("connect");
    let report = store
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize on the primary");
    assert_eq!(
        report.steps.len(),
        PostgresMetadataStore::migrations().len()
    );
    assert_eq!(
        store.validate().await.expect("validate").server_role,
        ServerRole::Primary
    );

    let mut primary = pair.connect(pair.primary(), &db).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM pycharter_schema_version")
        .fetch_one(&mut primary)
        .await
        .expect("the primary has the version table");
    assert_eq!(applied as usize, report.steps.len());
    let _ = primary.close().await;
    pair.wait_replayed().await;
    let standby = PostgresMetadataStore::connect(&pair.node_url(pair.standby(), &db), manual())
        .await
        .expect("standby");
    let info = standby.validate().await.expect("validate the standby");
    assert!(info.valid, "{}", info.message);
    assert_eq!(info.server_role, ServerRole::Standby);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_with_any_hit_the_standby_and_are_refused_with_the_typed_error() {
    let pair = pair().await;
    let db = database(pair).await;
    let hosts = [pair.standby().host_port(), pair.primary().host_port()];
    let url = pair.url(&hosts, &db, "?target_session_attrs=any");
    let store = PostgresMetadataStore::connect(&url, manual())
        .await
        .expect("connect");
    let refusals = [
        store
            .initialize(InitializeOptions::default())
            .await
            .map(drop),
        store.upgrade(UpgradeOptions::default()).await.map(drop),
        store
            .downgrade(DowngradeOptions {
                to: DowngradeTarget::Base,
                dry_run: false,
                allow_data_loss: false,
            })
            .await
            .map(drop),
    ];
    for refused in refusals {
        let err = refused.expect_err("a standby cannot migrate");
        assert!(matches!(err, Error::ReadOnlyServer { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("is a read-only standby"), "{message}");
        assert!(
            message.contains("target_session_attrs=read-write"),
            "{message}"
        );
        assert!(!message.contains(pair.password()), "{message}");
    }
    // Nothing half-done anywhere: the primary has no table, the standby neither.
    for node in [pair.primary(), pair.standby()] {
        let mut conn = pair.connect(node, &db).await;
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                .fetch_one(&mut conn)
                .await
                .expect("count tables");
        assert_eq!(tables, 0, "port {}", node.port());
        let _ = conn.close().await;
    }
    let info = store.validate().await.expect("check works on a standby");
    assert_eq!(info.server_role, ServerRole::Standby);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_serves_reads_says_what_it_is_and_refuses_every_write() {
    let pair = pair().await;
    let db = database(pair).await;
    let primary = PostgresMetadataStore::connect(
        &pair.node_url(pair.primary(), &db),
        ConnectOptions::default(),
    )
    .await
    .expect("initialize through the primary");
    primary
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("write on the primary");
    pair.wait_replayed().await;

    let hosts = [pair.primary().host_port(), pair.standby().host_port()];
    let url = pair.url(&hosts, &db, "?target_session_attrs=standby");
    // The defaults validate on connect: a valid standby is valid.
    let standby = PostgresMetadataStore::connect(&url, ConnectOptions::default())
        .await
        .expect("a valid standby connects with the defaults");
    let info = standby.validate().await.expect("validate");
    assert!(info.valid);
    assert_eq!(info.server_role, ServerRole::Standby);
    assert!(
        info.message.contains("read-only standby"),
        "{}",
        info.message
    );
    assert!(standby.current().await.expect("current").is_some());
    assert!(!standby.history().await.expect("history").is_empty());
    let found = standby.get_schema("orders", None).await.expect("read");
    assert_eq!(found.expect("replicated").version.to_string(), "1.0.0");
    assert_eq!(standby.list_schemas().await.expect("list"), ["orders"]);

    let writes = [
        standby
            .store_schema("orders", "2.0.0", &json!({"type": "object"}))
            .await
            .map(drop),
        standby
            .store_ownership("orders", "1.0.0", &json!({"owner": "team"}))
            .await
            .map(drop),
        standby.delete_schema("orders", "1.0.0").await,
    ];
    for refused in writes {
        let err = refused.expect_err("a standby refuses writes");
        assert!(matches!(err, Error::ReadOnlyServer { .. }), "{err:?}");
    }
    assert_eq!(
        primary.list_versions("orders").await.expect("list"),
        [ContractVersion::parse("1.0.0").unwrap()],
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_answers_costs_one_connect_timeout_then_the_next_is_tried() {
    let pair = pair().await;
    let db = database(pair).await;
    // Accepts connections (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent = format!("127.0.0.1:{}", silent.local_addr().expect("address").port());
    let timeout = Duration::from_secs(1);
    let options = ConnectOptions {
        connect_timeout: timeout,
        ..manual()
    };

    let url = pair.url(&[silent.clone(), pair.primary().host_port()], &db, "");
    let started = std::time::Instant::now();
    let store = PostgresMetadataStore::connect(&url, options.clone())
        .await
        .expect("the second host answers");
    let took = started.elapsed();
    assert_eq!(store.connected_host(), pair.primary().host_port());
    assert!(took >= timeout && took < timeout * 3, "{took:?}");
    store.close().await;

    let url = pair.url(
        &[silent.clone(), pair.standby().host_port()],
        &db,
        "?target_session_attrs=primary",
    );
    let err = PostgresMetadataStore::connect(&url, options)
        .await
        .expect_err("no primary among them");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{silent}: no answer within 1s")),
        "{message}"
    );
    assert!(message.contains("is a read-only standby"), "{message}");
}
