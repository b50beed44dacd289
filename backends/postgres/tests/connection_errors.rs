//! Connection failures map to typed errors within the connect timeout, and neither errors
//! nor log lines ever contain the password.

mod common;

use pycharter_core::{ConnectOptions, Error, MetadataStoreExt};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::fresh_database;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(2);
const BOUND: Duration = Duration::from_secs(5);
const PASSWORD: &str = "pw-that-must-not-leak";

fn options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: TIMEOUT,
        ..ConnectOptions::default()
    }
}

fn assert_no_password(err: &Error, password: &str) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(password), "password leaked: {shown}");
}

#[tokio::test]
async fn closed_port_is_unreachable_within_the_timeout() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }; // dropped: nothing listens there any more
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/db");
    let started = Instant::now();
    let err = PostgresMetadataStore::connect(&url, options())
        .await
        .expect_err("nothing listens");
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_no_password(&err, PASSWORD);
}

#[tokio::test]
async fn silent_server_is_a_connect_timeout() {
    // Accepts TCP (the kernel's backlog) but never answers the protocol.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/db");
    let started = Instant::now();
    let err = PostgresMetadataStore::connect(&url, options())
        .await
        .expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(elapsed >= TIMEOUT && elapsed < BOUND, "took {elapsed:?}");
    assert!(
        matches!(err, Error::ConnectTimeout { timeout, .. } if timeout == TIMEOUT),
        "{err:?}"
    );
    assert_no_password(&err, PASSWORD);
    drop(listener);
}

/// A database that does not exist (SQLSTATE 3D000) is named, with the `createdb` command
/// that creates it; neither that command nor anything else shown holds the password. Both
/// ways of connecting say so: with the schema work of `connect`, and without it.
#[tokio::test]
async fn missing_database_is_named_with_the_command_that_creates_it() {
    let db = fresh_database().await;
    let mut url = url::Url::parse(&db.url).expect("test URL");
    let missing = format!("{}_missing", db.name);
    url.set_path(&format!("/{missing}"));
    let password = url
        .password()
        .expect("the test server uses passwords")
        .to_string();
    let expected = format!(
        "Database \"{missing}\" does not exist on {} — create it, e.g. createdb -h {} -p {} -U {} {missing}",
        pycharter_core::redact_url(url.as_str()),
        url.host_str().expect("host"),
        url.port().expect("port"),
        url.username(),
    );
    let manual = ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..options()
    };
    for options in [options(), manual] {
        let started = Instant::now();
        let err = PostgresMetadataStore::connect(url.as_str(), options)
            .await
            .expect_err("the database does not exist");
        assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
        assert!(
            matches!(&err, Error::DatabaseMissing { database, .. } if *database == missing),
            "{err:?}"
        );
        assert_eq!(err.to_string(), expected);
        assert_no_password(&err, &password);
    }
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn wrong_password_is_authentication_failed_and_never_shown_or_logged() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let db = fresh_database().await;
    let mut url = url::Url::parse(&db.url).expect("test URL");
    let real_password = url
        .password()
        .expect("the test server uses passwords")
        .to_string();
    url.set_password(Some(PASSWORD)).expect("set password");

    let err = PostgresMetadataStore::connect(url.as_str(), options())
        .await
        .expect_err("wrong password");
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("check the user name and password"),
        "{err}"
    );
    assert_no_password(&err, PASSWORD);

    // A successful session logs too (connect, statements); none of it may hold a password.
    let store = PostgresMetadataStore::connect(&db.url, options())
        .await
        .expect("right password");
    store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("store");
    assert!(format!("{store:?}").contains("***"), "{store:?}");
    assert!(!format!("{store:?}").contains(&real_password));

    let logged = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(logged.contains("connected"), "logs were captured: {logged}");
    assert!(!logged.contains(PASSWORD), "{logged}");
    assert!(!logged.contains(&real_password), "{logged}");
}
