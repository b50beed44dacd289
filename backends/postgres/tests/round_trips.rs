//! Validation is one round trip. A TCP proxy between the store and the server records the
//! type of every frontend message; a round trip is a `Sync` ('S', extended protocol) or a
//! simple `Query` ('Q'). Connecting to a valid database sends exactly one query, and waits
//! for nothing else; sqlx's own pool pings are counted separately.

mod common;

use pycharter_core::{ConnectOptions, SchemaManager};
use pycharter_postgres::PostgresMetadataStore;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `SSLRequest` / `GSSENCRequest` codes: untyped, and followed by another untyped message.
const NEGOTIATION_CODES: [u32; 2] = [80_877_103, 80_877_104];

/// Frontend message types seen by the proxy, in order, over all connections.
type Seen = Arc<Mutex<Vec<char>>>;

/// Starts the proxy in front of `upstream` (`host:port`); returns its address.
async fn start_proxy(upstream: String, seen: Seen) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let address = listener.local_addr().expect("proxy address").to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.expect("reach server");
            tokio::spawn(relay(client, server, Arc::clone(&seen)));
        }
    });
    address
}

async fn relay(client: TcpStream, server: TcpStream, seen: Seen) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
    });
    let mut pending: Vec<u8> = Vec::new();
    let mut startup = true;
    let mut chunk = [0u8; 8192];
    loop {
        let n = match client_rx.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        // Parse whole messages only; forward bytes unchanged.
        loop {
            let header = if startup { 4 } else { 5 };
            if pending.len() < header {
                break;
            }
            let len_at = if startup { 0 } else { 1 };
            let len_bytes: [u8; 4] = pending[len_at..len_at + 4].try_into().expect("4 bytes");
            let total = len_at + u32::from_be_bytes(len_bytes) as usize;
            if pending.len() < total {
                break;
            }
            if startup {
                let code = u32::from_be_bytes(pending[4..8].try_into().expect("4 bytes"));
                startup = NEGOTIATION_CODES.contains(&code);
            } else {
                seen.lock().expect("lock").push(pending[0] as char);
            }
            pending.drain(..total);
        }
        if server_tx.write_all(&chunk[..n]).await.is_err() {
            return;
        }
    }
}

/// The protocol messages that cost a round trip or a statement: Query, Sync, Parse.
fn exchanges(messages: &[char]) -> Vec<char> {
    messages
        .iter()
        .copied()
        .filter(|t| matches!(t, 'Q' | 'S' | 'P'))
        .collect()
}

/// Waits until the proxy has seen no new message for a while (sqlx releases connections to
/// its pool in a background task), then returns everything seen so far.
async fn quiesced(seen: &Seen) -> Vec<char> {
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = seen.lock().expect("lock").clone();
        if now.len() == last {
            return now;
        }
        last = now.len();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_a_valid_database_validates_in_one_round_trip() {
    let url = common::fresh_url().await;
    // Initialize without the proxy, so that connecting below only validates.
    PostgresMetadataStore::new(&url)
        .await
        .expect("initialize")
        .close()
        .await;

    let mut parsed = url::Url::parse(&url).expect("test URL");
    let upstream = format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().expect("port")
    );
    let seen: Seen = Arc::default();
    let proxy = start_proxy(upstream, Arc::clone(&seen)).await;
    let (host, port) = proxy.rsplit_once(':').expect("host:port");
    parsed.set_host(Some(host)).expect("host");
    parsed
        .set_port(Some(port.parse().expect("port")))
        .expect("port");
    // Plain text, so the proxy can read the protocol.
    parsed.query_pairs_mut().append_pair("sslmode", "disable");

    let store = PostgresMetadataStore::connect(parsed.as_str(), ConnectOptions::default())
        .await
        .expect("connect through the proxy (defaults: validate on connect)");
    let released = std::time::Instant::now();
    let when_connected = seen.lock().expect("lock").clone();
    let awaited: Vec<char> = exchanges(&when_connected)
        .into_iter()
        .filter(|t| *t != 'S')
        .collect();
    assert_eq!(
        awaited,
        vec!['Q'],
        "connect() must validate with one simple query: {when_connected:?}"
    );
    // After connect() returned, sqlx's pool pings the connection it gets back ('S'): pool
    // hygiene after the answer, not part of the validation.
    let after_connect = quiesced(&seen).await;
    assert_eq!(
        exchanges(&after_connect),
        vec!['Q', 'S'],
        "{after_connect:?}"
    );

    // On a warm pool: the one query, then sqlx's ping on release. The store pings before use
    // only a connection idle for a second or more (see `pool_options`), which a loaded
    // machine can reach here: then, and only then, one leading ping is expected.
    let idle = released.elapsed();
    let info = store.validate().await.expect("validate");
    assert!(info.valid, "{}", info.message);
    let all = quiesced(&seen).await;
    let warm = exchanges(&all[after_connect.len()..]);
    let no_ping = vec!['Q', 'S'];
    let idle_ping = vec!['S', 'Q', 'S'];
    // `idle` slightly underestimates the pool's own idle time, hence the grey zone.
    if idle < Duration::from_millis(900) {
        assert_eq!(warm, no_ping, "idle {idle:?}: {all:?}");
    } else if idle >= Duration::from_secs(1) {
        assert_eq!(warm, idle_ping, "idle {idle:?}: {all:?}");
    } else {
        assert!(
            warm == no_ping || warm == idle_ping,
            "idle {idle:?}: {all:?}"
        );
    }
}
