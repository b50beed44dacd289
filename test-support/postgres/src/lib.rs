//! # pycharter-test-postgres
//!
//! Real PostgreSQL (and PgBouncer) servers for the workspace's tests and benches. Test
//! support only (`publish = false`): the backend-agnostic conformance suite lives in
//! `pycharter-conformance`, which does not depend on this crate, so SQLite and memory test
//! builds never compile the PostgreSQL driver.
//!
//! ## How a test gets a real server
//!
//! Every PostgreSQL test in the workspace runs against a **real** server:
//!
//! * If `PYCHARTER_TEST_DATABASE_URL` is set (e.g.
//!   `postgres://user:password@host:5432/postgres`), that server is used. The database part of
//!   the URL is ignored: fresh databases are created through the `postgres` maintenance
//!   database, so the user needs the `CREATEDB` privilege.
//! * Otherwise the harness starts a private, throwaway cluster from the system's PostgreSQL
//!   binaries (`initdb` and `pg_ctl`, found on `PATH` or under `/usr/lib/postgresql/*/bin`),
//!   once per test process, on a free loopback port, with password (`scram-sha-256`)
//!   authentication. When the tests run as root the cluster runs as the `postgres` system
//!   user, because PostgreSQL refuses to run as root. The cluster is stopped and its
//!   directory removed when the process exits; clusters left behind by killed test processes
//!   are cleaned up the next time a test process starts one.
//!
//! No test is ever skipped silently: if no server can be had, [`test_server`] panics with a
//! message that says how to get one.
//!
//! Each test gets its own empty database from [`fresh_database`]:
//!
//! ```no_run
//! # async fn example() {
//! let db = pycharter_test_postgres::fresh_database().await;
//! // connect to `db.url` with sqlx, run the test ...
//! # }
//! ```
//!
//! [`pgbouncer::PgBouncer`] puts a real PgBouncer in transaction pooling mode in front of
//! that server (also run as a non-root user when the tests run as root). [`load::Load`] is an
//! application's writers and readers, timed, for tests of what a migration does to them.
//!
//! [`replication::ReplicaPair`] starts a primary and a streaming hot standby of their own
//! (`pg_basebackup -R`), for the high-availability tests: tests stop, promote and pause it,
//! so each gets its own pair.
//!
//! ## Modules
//!
//! Split by concern, one kind of server per module: this file is the public API of the
//! single test server; `external` turns `PYCHARTER_TEST_DATABASE_URL` into a [`TestServer`];
//! `cluster` starts, stops and cleans up the private cluster; [`pgbouncer`] is the pooler in
//! front of it; `system` holds the OS plumbing the servers need (finding binaries, switching
//! user, running commands, ports, files). Another topology (e.g. a primary with a streaming
//! standby) belongs in its own module beside `cluster`, reusing `system`.

mod cluster;
mod external;
pub mod load;
pub mod pgbouncer;
pub mod replication;
pub mod roles;
mod system;
#[cfg(test)]
mod tests;
pub mod tls;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};

use cluster::start_private_cluster;
use external::external_server;
use system::random_u64;

/// Environment variable naming an external PostgreSQL server to test against.
pub const TEST_DATABASE_URL_ENV: &str = "PYCHARTER_TEST_DATABASE_URL";

/// Upper bound for one `fresh_database()` call (connect + `CREATE DATABASE`).
const CREATE_DATABASE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running PostgreSQL server usable by tests.
///
/// Obtained from [`test_server`]; either the external server named by
/// `PYCHARTER_TEST_DATABASE_URL` or the private cluster the harness started.
pub struct TestServer {
    host: String,
    port: u16,
    user: String,
    password: String,
    /// URL with everything but the path (database), which [`TestServer::url_for`] sets.
    base_url: url::Url,
    admin_url: String,
    bin_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
}

impl TestServer {
    /// URL of the `postgres` maintenance database, including the password.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Host name or address of the server (`127.0.0.1` for the private cluster).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// TCP port of the server.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Name of the (super)user the harness connects as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Password of [`TestServer::user`] (empty if the external URL has none).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// URL of `database` on this server: `postgres://user:password@host:port/database`
    /// (plus the query parameters of `PYCHARTER_TEST_DATABASE_URL`, if any).
    pub fn url_for(&self, database: &str) -> String {
        let mut url = self.base_url.clone();
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    /// Directory of the PostgreSQL binaries, when the harness started its own cluster
    /// (`None` for an external server).
    pub fn bin_dir(&self) -> Option<&Path> {
        self.bin_dir.as_deref()
    }

    /// Data directory of the private cluster (`None` for an external server).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// [`TestServer::url_for`] with the password replaced by `***`, for messages.
    fn redacted_url_for(&self, database: &str) -> String {
        let mut url = self.base_url.clone();
        url.set_path(&format!("/{database}"));
        if url.password().is_some() {
            // Cannot fail: the URL already has a host, or it would have no password.
            let _ = url.set_password(Some("***"));
        }
        url.to_string()
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.redacted_url_for("postgres"))
            .field("bin_dir", &self.bin_dir)
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

static SERVER: OnceLock<TestServer> = OnceLock::new();

/// The server for this test process: the one named by `PYCHARTER_TEST_DATABASE_URL` if that
/// variable is set, else a private throwaway cluster, started on first use (once per process,
/// thread-safe) and stopped at process exit.
///
/// This blocks while the cluster starts (a second or two); async code should prefer
/// [`fresh_database`], which starts it off the async thread.
///
/// # Panics
///
/// With an actionable message if the URL is invalid, the PostgreSQL binaries are missing, or
/// the cluster cannot be started.
pub fn test_server() -> &'static TestServer {
    SERVER.get_or_init(|| match std::env::var(TEST_DATABASE_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => external_server(url.trim()),
        _ => start_private_cluster(),
    })
}

/// Restarts the private test cluster (`pg_ctl restart -m fast`, same port): every session
/// of the process is dropped and the server comes back, as after a failover or an upgrade of
/// the server. It disturbs every test of the process, so it belongs in a test binary of its
/// own. Blocks until the server accepts connections again.
///
/// # Panics
///
/// When the tests run against an external server (`PYCHARTER_TEST_DATABASE_URL`: restarting
/// it is not the harness's to do), or when the restart fails.
pub fn restart_test_server() {
    let server = test_server();
    match cluster::restart_private_cluster() {
        Some(Ok(())) => tracing::info!(
            "restarted the PostgreSQL test cluster on port {}",
            server.port()
        ),
        Some(Err(output)) => {
            panic!("pg_ctl restart of the PostgreSQL test cluster failed: {output}")
        }
        None => panic!(
            "this test restarts the PostgreSQL server, which only the harness's private cluster \
             allows: unset {TEST_DATABASE_URL_ENV} to run it"
        ),
    }
}

/// A database that exists only for one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDatabase {
    /// Connection URL of the database, including user and password.
    pub url: String,
    /// Name of the database.
    pub name: String,
}

/// Creates a fresh, empty database with a unique name (`pyc_<pid>_<counter>_<random>`) on
/// [`test_server`] and returns its URL.
///
/// Opens (and closes) one connection per call, so it can be used from any number of
/// concurrent tests, each with its own tokio runtime. Bounded by a 30 s timeout.
///
/// # Panics
///
/// If the server cannot be started or reached, or the database cannot be created.
pub async fn fresh_database() -> TestDatabase {
    let server = match SERVER.get() {
        Some(server) => server,
        // Starting the cluster blocks for a while: keep it off the runtime's thread.
        None => match tokio::task::spawn_blocking(test_server).await {
            Ok(server) => server,
            Err(error) => match error.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(error) => panic!("starting the PostgreSQL test server was cancelled: {error}"),
            },
        },
    };

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "pyc_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        random_u64() as u32
    );

    match tokio::time::timeout(CREATE_DATABASE_TIMEOUT, create_database(server, &name)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!(
            "could not create test database {name:?} on {}: {error}",
            server.redacted_url_for("postgres")
        ),
        Err(_) => panic!(
            "creating test database {name:?} on {} did not finish within {:?}",
            server.redacted_url_for("postgres"),
            CREATE_DATABASE_TIMEOUT
        ),
    }

    TestDatabase {
        url: server.url_for(&name),
        name,
    }
}

/// Connects to the maintenance database and runs `CREATE DATABASE`, retrying transient
/// "object in use" / "too many connections" errors.
async fn create_database(server: &TestServer, name: &str) -> Result<(), sqlx::Error> {
    let options = PgConnectOptions::from_str(server.admin_url())?
        .application_name("pycharter-test-harness")
        .disable_statement_logging();
    // `name` is generated by `fresh_database`, never user input.
    let statement = format!("CREATE DATABASE \"{name}\"");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let mut connection = PgConnection::connect_with(&options).await?;
            connection
                .execute(AssertSqlSafe(statement.as_str()))
                .await?;
            connection.close().await
        }
        .await;
        match result {
            Err(sqlx::Error::Database(error))
                if attempt < 20
                    // object_in_use: the template database is busy; too_many_connections.
                    && matches!(error.code().as_deref(), Some("55006") | Some("53300")) =>
            {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            other => return other,
        }
    }
}
