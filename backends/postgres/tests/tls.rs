//! TLS on real servers, with a certificate chain generated at test time: `verify-full` with
//! the right CA connects (and the session is encrypted); a wrong CA, a wrong host name and an
//! expired certificate are each refused with the `Tls` error that says which; `require`
//! against a server without TLS sends nothing but the TLS request (a capturing proxy sees
//! every byte); `disable` against a `hostssl`-only server is a clear error.

use pycharter_core::{ConnectOptions, Error, SchemaManager, TlsProblem};
use pycharter_postgres::PostgresMetadataStore;
use pycharter_test_postgres::test_server;
use pycharter_test_postgres::tls::{Certificates, ServerCertificate, TlsServer};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OnceCell;

/// The PostgreSQL `SSLRequest` packet: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

static CERTS: LazyLock<Arc<Certificates>> = LazyLock::new(|| Arc::new(Certificates::generate()));

/// One server with the valid certificate for the whole binary (stopped by its watchdog when
/// the process exits).
static SERVER: OnceCell<TlsServer> = OnceCell::const_new();

async fn server() -> &'static TlsServer {
    SERVER
        .get_or_init(|| TlsServer::start_async(Arc::clone(&CERTS), ServerCertificate::Valid))
        .await
}

fn options() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        connect_timeout: Duration::from_secs(5),
        max_connections: 1,
        ..ConnectOptions::default()
    }
}

fn verify(mode: &str, root: &std::path::Path) -> String {
    format!("sslmode={mode}&sslrootcert={}", root.display())
}

async fn connect(url: &str) -> pycharter_core::Result<PostgresMetadataStore> {
    PostgresMetadataStore::connect(url, options()).await
}

fn tls_problem(result: pycharter_core::Result<PostgresMetadataStore>) -> (TlsProblem, String) {
    match result {
        Err(Error::Tls { problem, target }) => {
            let message = Error::Tls {
                problem: problem.clone(),
                target,
            }
            .to_string();
            (problem, message)
        }
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, the connection succeeded"),
    }
}

#[tokio::test]
async fn verify_full_with_the_right_ca_connects_over_tls() {
    let server = server().await;
    for host in ["localhost", "127.0.0.1"] {
        let url = server.url(host, &verify("verify-full", &CERTS.ca()));
        let store = connect(&url).await.expect("the certificate verifies");
        let encrypted: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(store.pool())
                .await
                .expect("read pg_stat_ssl");
        assert!(encrypted, "{host}: the session is not encrypted");
        assert!(store.validate().await.is_ok());
        store.close().await;
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_as_the_wrong_ca() {
    let server = server().await;
    let url = server.url("localhost", &verify("verify-full", &CERTS.other_ca()));
    let (problem, message) = tls_problem(connect(&url).await);
    assert_eq!(problem, TlsProblem::UnknownIssuer);
    assert!(message.contains("(wrong CA)"), "{message}");
    assert!(
        message.contains("set sslrootcert to the CA file"),
        "{message}"
    );
    assert!(!message.contains(server.password()), "{message}");
    // verify-ca checks the chain too.
    let url = server.url("localhost", &verify("verify-ca", &CERTS.other_ca()));
    assert_eq!(
        tls_problem(connect(&url).await).0,
        TlsProblem::UnknownIssuer
    );
}

#[tokio::test]
async fn a_host_name_the_certificate_does_not_name_is_refused_by_verify_full_only() {
    let server = server().await;
    let url = server.url("127.0.0.2", &verify("verify-full", &CERTS.ca()));
    let (problem, message) = tls_problem(connect(&url).await);
    assert_eq!(
        problem,
        TlsProblem::WrongHost {
            host: "127.0.0.2".into()
        }
    );
    assert!(message.contains("(wrong host name)"), "{message}");
    // verify-ca trusts the chain and ignores names: the same server connects.
    let url = server.url("127.0.0.2", &verify("verify-ca", &CERTS.ca()));
    connect(&url).await.expect("verify-ca").close().await;
}

#[tokio::test]
async fn an_expired_certificate_is_refused_as_expired() {
    let expired = TlsServer::start_async(Arc::clone(&CERTS), ServerCertificate::Expired).await;
    let url = expired.url("localhost", &verify("verify-full", &CERTS.ca()));
    let (problem, message) = tls_problem(connect(&url).await);
    assert_eq!(problem, TlsProblem::Expired);
    assert!(message.contains("has expired"), "{message}");
}

#[tokio::test]
async fn disable_against_a_server_that_takes_only_tls_is_a_clear_error() {
    let server = server().await;
    let url = server.url("127.0.0.1", "sslmode=disable");
    let (problem, message) = tls_problem(connect(&url).await);
    assert_eq!(problem, TlsProblem::Required);
    assert!(
        message.contains("accepts only TLS connections") && message.contains("sslmode=verify-full"),
        "{message}"
    );
}

/// A TCP proxy to `upstream` that records every byte each client sends, per connection.
async fn capturing_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let captured = Arc::clone(&sent);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let index = {
                let mut sent = captured.lock().expect("capture");
                sent.push(Vec::new());
                sent.len() - 1
            };
            let captured = Arc::clone(&captured);
            tokio::spawn(async move {
                let server = TcpStream::connect(upstream).await.expect("upstream");
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let downstream = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buffer = [0u8; 4096];
                while let Ok(n) = client_read.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    captured.lock().expect("capture")[index].extend_from_slice(&buffer[..n]);
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = server_write.shutdown().await;
                let _ = downstream.await;
            });
        }
    });
    (address, sent)
}

#[tokio::test]
async fn require_against_a_server_without_tls_is_refused_before_anything_else_is_sent() {
    let plain = test_server();
    let upstream: SocketAddr = format!("{}:{}", plain.host(), plain.port())
        .parse()
        .expect("the test server listens on an IP address");
    let (proxy, sent) = capturing_proxy(upstream).await;
    let url = |mode: &str| {
        format!(
            "postgres://{}:{}@{proxy}/postgres?sslmode={mode}",
            plain.user(),
            plain.password()
        )
    };

    for mode in ["require", "verify-full"] {
        sent.lock().expect("capture").clear();
        let (problem, message) = tls_problem(connect(&url(mode)).await);
        assert_eq!(problem, TlsProblem::NotOffered, "{mode}");
        assert!(message.contains("nothing was sent"), "{message}");
        let connections = sent.lock().expect("capture").clone();
        assert!(
            !connections.is_empty(),
            "{mode}: the proxy saw no connection"
        );
        for bytes in connections {
            assert_eq!(bytes, SSL_REQUEST, "{mode}: sent more than the TLS request");
        }
    }

    // The control: without TLS the same proxy does see the login, user name and password
    // exchange ('p' messages) — the capture above would have caught them.
    sent.lock().expect("capture").clear();
    connect(&url("disable"))
        .await
        .expect("plain connection")
        .close()
        .await;
    let connections = sent.lock().expect("capture").clone();
    let login = connections.concat();
    let user = plain.user().as_bytes();
    assert!(
        login.windows(user.len()).any(|w| w == user),
        "no startup message seen"
    );
    assert!(login.contains(&b'p'), "no password message seen");
}
