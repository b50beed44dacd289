//! A counting TCP proxy for the PostgreSQL wire protocol: put it between a store and the
//! server, and it records every frontend message (by type) while forwarding bytes unchanged.
//!
//! - a **round trip** is a `Sync` (`S`, end of an extended-protocol exchange) or a simple
//!   `Query` (`Q`): the client then waits for `ReadyForQuery`;
//! - a **statement** is a simple `Query` or an `Execute` (`E`);
//! - `Parse` (`P`) counts statements prepared (sqlx caches them per connection).
//!
//! sqlx's pool adds its own round trips: a `Sync` "ping" when a connection is taken from the
//! pool (`test_before_acquire`, default on) and another when it is given back (always, in a
//! background task). On a current-thread runtime, [`CountingProxy::counts`] read right after
//! an operation returns holds exactly what the operation waited for; the give-back ping shows
//! up only once the runtime runs again ([`CountingProxy::quiesced`]).
//!
//! ```no_run
//! # async fn demo(url: &str) {
//! use pycharter_benches::proxy::CountingProxy;
//! let proxy = CountingProxy::start(url).await;
//! let through_proxy = proxy.url(); // connect the store here
//! let before = proxy.counts();
//! // ... one operation ...
//! let spent = proxy.counts() - before;
//! println!("{} round trips, {} statements", spent.round_trips(), spent.statements());
//! # }
//! ```

use std::ops::Sub;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `SSLRequest` / `GSSENCRequest` codes: untyped startup-phase messages that are followed by
/// another untyped one (the real startup message).
const NEGOTIATION_CODES: [u32; 2] = [80_877_103, 80_877_104];

/// What the proxy has seen so far (all connections together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: u64,
    /// Simple `Query` messages.
    pub queries: u64,
    /// `Sync` messages (one per extended-protocol exchange, and sqlx's pings).
    pub syncs: u64,
    /// `Parse` messages (statements prepared).
    pub parses: u64,
    /// `Execute` messages (prepared statements run).
    pub executes: u64,
    /// Every typed frontend message, startup excluded.
    pub messages: u64,
}

impl Counts {
    /// Exchanges after which the client waits for the server: `Query` + `Sync`.
    pub fn round_trips(&self) -> u64 {
        self.queries + self.syncs
    }

    /// Statements run: `Query` + `Execute`.
    pub fn statements(&self) -> u64 {
        self.queries + self.executes
    }
}

impl Sub for Counts {
    type Output = Counts;

    /// What was seen between two snapshots (`later - earlier`).
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            connections: self.connections - earlier.connections,
            queries: self.queries - earlier.queries,
            syncs: self.syncs - earlier.syncs,
            parses: self.parses - earlier.parses,
            executes: self.executes - earlier.executes,
            messages: self.messages - earlier.messages,
        }
    }
}

/// A running proxy; it stops accepting when dropped (open connections finish on their own).
#[derive(Debug)]
pub struct CountingProxy {
    url: String,
    counts: Arc<Mutex<Counts>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Starts a proxy on a free loopback port in front of the server of `url`
    /// (`postgres://user:password@host:port/db`).
    ///
    /// # Panics
    ///
    /// When `url` is not a URL with a host and port, or no local port can be bound.
    pub async fn start(url: &str) -> CountingProxy {
        let mut parsed = url::Url::parse(url).expect("a postgres:// URL");
        let upstream = format!(
            "{}:{}",
            parsed.host_str().expect("the URL names a host"),
            parsed.port().unwrap_or(5432)
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on a loopback port");
        let address = listener.local_addr().expect("proxy address");
        parsed.set_host(Some("127.0.0.1")).expect("set host");
        parsed.set_port(Some(address.port())).expect("set port");
        // Plain text, so the proxy can read the protocol.
        parsed.query_pairs_mut().append_pair("sslmode", "disable");

        let counts = Arc::new(Mutex::new(Counts::default()));
        let seen = Arc::clone(&counts);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue; // the client sees the connection close
                };
                lock(&seen).connections += 1;
                tokio::spawn(relay(client, server, Arc::clone(&seen)));
            }
        });
        CountingProxy {
            url: parsed.to_string(),
            counts,
            accept,
        }
    }

    /// The URL to connect to instead of the server's (same user, password and database).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything seen so far.
    pub fn counts(&self) -> Counts {
        *lock(&self.counts)
    }

    /// Waits until no message has arrived for `quiet` (background pings have landed), then
    /// returns everything seen.
    pub async fn quiesced(&self, quiet: Duration) -> Counts {
        let mut last = self.counts();
        loop {
            tokio::time::sleep(quiet).await;
            let now = self.counts();
            if now == last {
                return now;
            }
            last = now;
        }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forwards both directions; parses the client's stream into messages and counts them.
async fn relay(client: TcpStream, server: TcpStream, counts: Arc<Mutex<Counts>>) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
        let _ = client_tx.shutdown().await;
    });
    let mut parser = Parser::default();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match client_rx.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Count before forwarding: by the time the server answers, the message is counted.
        parser.feed(&chunk[..n], &mut lock(&counts));
        if server_tx.write_all(&chunk[..n]).await.is_err() {
            break;
        }
    }
    let _ = server_tx.shutdown().await;
}

/// Splits a frontend byte stream into messages.
#[derive(Debug)]
struct Parser {
    pending: Vec<u8>,
    /// Still in the startup phase (untyped messages: length first).
    startup: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            pending: Vec::new(),
            startup: true,
        }
    }
}

impl Parser {
    fn feed(&mut self, bytes: &[u8], counts: &mut Counts) {
        self.pending.extend_from_slice(bytes);
        loop {
            let len_at = usize::from(!self.startup);
            if self.pending.len() < len_at + 4 {
                return;
            }
            let len = u32::from_be_bytes(
                self.pending[len_at..len_at + 4]
                    .try_into()
                    .expect("four length bytes"),
            ) as usize;
            let total = len_at + len;
            if total < len_at + 4 || self.pending.len() < total {
                return;
            }
            if self.startup {
                let code = self
                    .pending
                    .get(4..8)
                    .map(|b| u32::from_be_bytes(b.try_into().expect("four code bytes")));
                self.startup = code.is_some_and(|c| NEGOTIATION_CODES.contains(&c));
            } else {
                counts.messages += 1;
                match self.pending[0] {
                    b'Q' => counts.queries += 1,
                    b'S' => counts.syncs += 1,
                    b'P' => counts.parses += 1,
                    b'E' => counts.executes += 1,
                    _ => {}
                }
            }
            self.pending.drain(..total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn parser_counts_messages_split_across_reads() {
        let mut stream = Vec::new();
        // SSLRequest, then the startup message (both untyped).
        stream.extend_from_slice(&8u32.to_be_bytes());
        stream.extend_from_slice(&NEGOTIATION_CODES[0].to_be_bytes());
        stream.extend_from_slice(&9u32.to_be_bytes());
        stream.extend_from_slice(&196_608u32.to_be_bytes());
        stream.push(0);
        stream.extend(message(b'p', b"password"));
        stream.extend(message(b'Q', b"SELECT 1\0"));
        stream.extend(message(b'P', b"\0SELECT $1\0\0\0"));
        stream.extend(message(b'B', b"\0\0\0\0\0\0\0"));
        stream.extend(message(b'E', b"\0\0\0\0\0"));
        stream.extend(message(b'S', b""));

        let mut parser = Parser::default();
        let mut counts = Counts::default();
        for byte in stream.chunks(3) {
            parser.feed(byte, &mut counts);
        }
        assert_eq!(counts.messages, 6);
        assert_eq!(
            (counts.queries, counts.syncs, counts.parses, counts.executes),
            (1, 1, 1, 1)
        );
        assert_eq!(counts.round_trips(), 2);
        assert_eq!(counts.statements(), 2);
    }
}
