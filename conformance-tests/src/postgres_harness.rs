//! The real-PostgreSQL test harness.
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
//! let db = pycharter_conformance::postgres_harness::fresh_database().await;
//! // connect to `db.url` with sqlx, run the test ...
//! # }
//! ```

use std::collections::hash_map::RandomState;
use std::ffi::CString;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _};

/// Environment variable naming an external PostgreSQL server to test against.
pub const TEST_DATABASE_URL_ENV: &str = "PYCHARTER_TEST_DATABASE_URL";

/// Superuser name of the private cluster.
const SUPERUSER: &str = "pycharter";
/// Prefix of the private clusters' temporary directories: `pycharter-pg-<pid>-<random>`.
const DIR_PREFIX: &str = "pycharter-pg-";
/// Upper bound for one `fresh_database()` call (connect + `CREATE DATABASE`).
const CREATE_DATABASE_TIMEOUT: Duration = Duration::from_secs(30);
/// How many free ports are tried before giving up starting the private cluster.
const START_ATTEMPTS: usize = 5;

const NOT_FOUND_MESSAGE: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found — install them: \
     apt-get install -y postgresql (or set PYCHARTER_TEST_DATABASE_URL=postgres://user:password@host:port/postgres)";

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
            connection.execute(statement.as_str()).await?;
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

// ---------------------------------------------------------------------------------------------
// External server
// ---------------------------------------------------------------------------------------------

fn external_server(raw: &str) -> TestServer {
    let invalid = |why: String| -> ! {
        panic!(
            "{TEST_DATABASE_URL_ENV} is not a valid PostgreSQL URL ({why}); expected \
             postgres://user:password@host:port/postgres"
        )
    };
    let mut url = url::Url::parse(raw).unwrap_or_else(|error| invalid(error.to_string()));
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        invalid(format!("scheme is {:?}", url.scheme()));
    }
    let options =
        PgConnectOptions::from_str(raw).unwrap_or_else(|error| invalid(error.to_string()));
    let password = url
        .password()
        .map(percent_decode)
        .transpose()
        .unwrap_or_else(|why| invalid(why))
        .unwrap_or_default();
    url.set_path("/postgres");
    url.set_fragment(None);
    TestServer {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        user: options.get_username().to_owned(),
        password,
        admin_url: url.to_string(),
        base_url: url,
        bin_dir: None,
        data_dir: None,
    }
}

/// Decodes `%XX` escapes (URL user-info encoding; `+` stays `+`).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "password is not UTF-8 after percent-decoding".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Private cluster
// ---------------------------------------------------------------------------------------------

/// The system user the cluster runs as when the tests run as root.
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

/// What is needed to stop a private cluster and remove its directory.
#[derive(Debug, Clone)]
struct Cluster {
    /// The temporary directory holding everything below.
    root: PathBuf,
    data_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        pg_command(&self.bin_dir, program, &self.root, self.run_as.as_ref())
    }

    /// `pg_ctl stop -m immediate` (if a server runs there) and remove the directory. Best effort.
    fn stop_and_remove(&self) {
        if self.data_dir.join("postmaster.pid").exists() {
            let mut command = self.command("pg_ctl");
            command
                .args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
                .arg(&self.data_dir);
            match command.output() {
                Ok(output) if output.status.success() => {}
                Ok(output) => tracing::warn!(
                    "pg_ctl stop for {} failed: {}",
                    self.data_dir.display(),
                    describe_output(&output)
                ),
                Err(error) => tracing::warn!("could not run pg_ctl stop: {error}"),
            }
        }
        if let Err(error) = std::fs::remove_dir_all(&self.root) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("could not remove {}: {error}", self.root.display());
            }
        }
    }
}

/// Stops and removes a cluster on drop unless disarmed: cleans up after a failed start.
struct ClusterGuard(Option<Cluster>);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if let Some(cluster) = self.0.take() {
            cluster.stop_and_remove();
        }
    }
}

/// The started cluster, for the `atexit` handler.
static CLUSTER: OnceLock<Cluster> = OnceLock::new();

extern "C" fn stop_cluster_at_exit() {
    // A panic must not unwind out of an `extern "C"` function.
    let _ = std::panic::catch_unwind(|| {
        if let Some(cluster) = CLUSTER.get() {
            cluster.stop_and_remove();
        }
    });
}

fn start_private_cluster() -> TestServer {
    let bin_dir = find_bin_dir().unwrap_or_else(|| panic!("{NOT_FOUND_MESSAGE}"));
    let run_as = if unsafe { libc::geteuid() } == 0 {
        Some(lookup_user("postgres").unwrap_or_else(|| {
            panic!(
                "the tests run as root, and PostgreSQL refuses to run as root, but there is no \
                 `postgres` system user to run the test cluster as — create one (apt-get install -y \
                 postgresql creates it; or useradd --system postgres), run the tests as a non-root \
                 user, or set PYCHARTER_TEST_DATABASE_URL=postgres://user:password@host:port/postgres"
            )
        }))
    } else {
        None
    };

    cleanup_stale_clusters(&bin_dir, run_as.as_ref());

    let root = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .unwrap_or_else(|error| {
            panic!(
                "could not create a temporary directory for the PostgreSQL test cluster in {}: {error}",
                std::env::temp_dir().display()
            )
        })
        .keep();
    let cluster = Cluster {
        data_dir: root.join("data"),
        bin_dir: bin_dir.clone(),
        run_as: run_as.clone(),
        root: root.clone(),
    };
    let mut guard = ClusterGuard(Some(cluster.clone()));

    let password = format!("{:016x}{:016x}", random_u64(), random_u64());
    let socket_dir = root.join("sock");
    let pwfile = root.join("pwfile");
    let log_file = root.join("server.log");
    std::fs::create_dir(&socket_dir)
        .unwrap_or_else(|error| panic!("could not create {}: {error}", socket_dir.display()));
    write_private_file(&pwfile, &format!("{password}\n"));
    if let Some(user) = &run_as {
        for path in [&root, &socket_dir, &pwfile] {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).unwrap_or_else(
                |error| {
                    panic!(
                        "could not chown {} to {}: {error}",
                        path.display(),
                        user.name
                    )
                },
            );
        }
    }

    // initdb
    let mut initdb = cluster.command("initdb");
    initdb
        .arg("-D")
        .arg(&cluster.data_dir)
        .args([
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .arg("--no-sync");
    let output = run(&mut initdb, "initdb");
    if !output.status.success() {
        panic!(
            "initdb failed for the PostgreSQL test cluster in {} (as {}): {}{}",
            cluster.data_dir.display(),
            run_as
                .as_ref()
                .map_or("the current user", |user| user.name.as_str()),
            describe_output(&output),
            if run_as.is_some() {
                " — note: the `postgres` user must be able to reach the temporary directory \
                 (set TMPDIR to a world-traversable directory such as /tmp)"
            } else {
                ""
            }
        );
    }
    // The password is in the cluster now; the file is no longer needed.
    let _ = std::fs::remove_file(&pwfile);

    // pg_ctl start, on a free port; retry when the port got taken in between.
    let mut port = 0;
    for attempt in 1..=START_ATTEMPTS {
        port = free_port();
        let log_len_before = std::fs::metadata(&log_file).map_or(0, |m| m.len()) as usize;
        let server_options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=300 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB",
            shell_quote(&socket_dir.to_string_lossy())
        );
        let mut start = cluster.command("pg_ctl");
        start
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&cluster.data_dir)
            .arg("-l")
            .arg(&log_file)
            .arg("-o")
            .arg(server_options);
        let output = run(&mut start, "pg_ctl start");
        if output.status.success() {
            break;
        }
        let log = std::fs::read(&log_file).unwrap_or_default();
        let new_log = String::from_utf8_lossy(log.get(log_len_before..).unwrap_or(&log[..]));
        let port_taken = new_log.contains("could not bind")
            || new_log.contains("Address already in use")
            || new_log.contains("could not create any TCP/IP sockets");
        if port_taken && attempt < START_ATTEMPTS {
            tracing::debug!("port {port} was taken, retrying the PostgreSQL test cluster start");
            continue;
        }
        panic!(
            "could not start the PostgreSQL test cluster in {} on port {port} (attempt {attempt}): \
             {}\n--- server.log ---\n{}",
            cluster.data_dir.display(),
            describe_output(&output),
            tail(&new_log, 40)
        );
    }

    // Started: from now on the cluster is stopped at process exit instead of on unwind.
    guard.0 = None;
    if CLUSTER.set(cluster).is_ok() {
        // SAFETY: registering a plain `extern "C" fn()` without captured state.
        if unsafe { libc::atexit(stop_cluster_at_exit) } != 0 {
            tracing::warn!(
                "could not register the atexit handler; the PostgreSQL test cluster in {} will be \
                 cleaned up by the next test run",
                root.display()
            );
        }
    }
    tracing::info!(
        "started PostgreSQL test cluster in {} on 127.0.0.1:{port}",
        root.display()
    );

    let admin_url = format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres");
    let base_url = url::Url::parse(&admin_url).expect("the generated admin URL is a valid URL");
    TestServer {
        host: "127.0.0.1".to_owned(),
        port,
        user: SUPERUSER.to_owned(),
        password,
        admin_url,
        base_url,
        bin_dir: Some(bin_dir),
        data_dir: Some(root.join("data")),
    }
}

/// Removes `pycharter-pg-<pid>-*` directories (stopping their servers) whose process is gone.
fn cleanup_stale_clusters(bin_dir: &Path, run_as: Option<&RunAs>) {
    let temp_dir = std::env::temp_dir();
    let Ok(entries) = std::fs::read_dir(&temp_dir) else {
        return;
    };
    let own_pid = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if pid <= 0 || pid as u32 == own_pid || process_alive(pid) {
            continue;
        }
        let root = entry.path();
        tracing::info!(
            "cleaning up stale PostgreSQL test cluster {}",
            root.display()
        );
        Cluster {
            data_dir: root.join("data"),
            bin_dir: bin_dir.to_owned(),
            run_as: run_as.cloned(),
            root,
        }
        .stop_and_remove();
    }
}

/// `kill(pid, 0)`: only `ESRCH` means the process is gone (`EPERM` means it exists).
fn process_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 performs only the existence and permission checks.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Directory holding `initdb` and `pg_ctl`: `initdb` on `PATH` (symlinks resolved), else the
/// highest `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    let has_both =
        |dir: &Path| is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl"));
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if !is_executable(&initdb) {
                continue;
            }
            // Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb).
            if let Some(real_dir) = std::fs::canonicalize(&initdb)
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf))
            {
                if has_both(&real_dir) {
                    return Some(real_dir);
                }
            }
            if has_both(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Looks a system user up with `getpwnam_r`.
fn lookup_user(name: &str) -> Option<RunAs> {
    let c_name = CString::new(name).ok()?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: `passwd` is plain old data; all-zero is a valid (if meaningless) value.
    let mut passwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; `buffer` outlives every use of `passwd`.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut passwd,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(RunAs {
        name: name.to_owned(),
        uid: passwd.pw_uid,
        gid: passwd.pw_gid,
    })
}

/// A command for a PostgreSQL program, run as `run_as` if given, in `cwd`, with the `PG*`
/// variables that could redirect it removed.
fn pg_command(bin_dir: &Path, program: &str, cwd: &Path, run_as: Option<&RunAs>) -> Command {
    let mut command = Command::new(bin_dir.join(program));
    command.current_dir(cwd);
    for var in [
        "PGDATA",
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGDATABASE",
        "PGOPTIONS",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGCTLTIMEOUT",
        "PGTZ",
    ] {
        command.env_remove(var);
    }
    if let Some(user) = run_as {
        // std drops the supplementary groups too when switching user as root.
        command.uid(user.uid).gid(user.gid);
        command
            .env("HOME", cwd)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
    }
    command
}

fn run(command: &mut Command, what: &str) -> Output {
    command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("could not run {what} ({command:?}): {error}"))
}

fn describe_output(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end()
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Quotes for `/bin/sh` (`pg_ctl -o` goes through the shell).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn write_private_file(path: &Path, contents: &str) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|error| panic!("could not create {}: {error}", path.display()));
    file.write_all(contents.as_bytes())
        .unwrap_or_else(|error| panic!("could not write {}: {error}", path.display()));
}

/// A free loopback TCP port (bind port 0, read it back, release it).
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("could not find a free loopback port: {error}"))
}

/// Unpredictable 64 bits (SipHash with the process's random keys over pid, time and a counter).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect(url).await
    }

    #[tokio::test]
    async fn server_starts_and_answers_on_a_fresh_database() {
        let db = fresh_database().await;
        let mut connection = connect(&db.url)
            .await
            .expect("connect to the fresh database");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut connection)
            .await
            .expect("SELECT 1");
        assert_eq!(one, 1);
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut connection)
            .await
            .expect("current_database()");
        assert_eq!(current, db.name);
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut connection)
        .await
        .expect("count tables");
        assert_eq!(tables, 0, "a fresh database is empty");
        connection.close().await.expect("close");
    }

    #[tokio::test]
    async fn two_fresh_databases_are_distinct_and_reachable() {
        let a = fresh_database().await;
        let b = fresh_database().await;
        assert_ne!(a.name, b.name);
        assert_ne!(a.url, b.url);

        let mut conn_a = connect(&a.url).await.expect("connect to a");
        let mut conn_b = connect(&b.url).await.expect("connect to b");
        conn_a
            .execute("CREATE TABLE only_in_a (x int)")
            .await
            .expect("create table in a");
        let in_b: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'",
        )
        .fetch_one(&mut conn_b)
        .await
        .expect("query b");
        assert_eq!(in_b, 0, "databases are isolated");
        let name_b: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn_b)
            .await
            .expect("current_database() on b");
        assert_eq!(name_b, b.name);
    }

    #[tokio::test]
    async fn wrong_password_is_rejected() {
        let db = fresh_database().await;
        let server = test_server();
        let wrong = server.password().to_owned() + "-wrong";
        let mut url = url::Url::parse(&db.url).expect("parse db url");
        url.set_password(Some(&wrong)).expect("set password");
        let error = connect(url.as_str())
            .await
            .expect_err("connecting with a wrong password must fail");
        let code = error
            .as_database_error()
            .and_then(|e| e.code().map(|c| c.into_owned()));
        // 28P01 invalid_password; 28000 invalid_authorization_specification.
        assert!(
            matches!(code.as_deref(), Some("28P01") | Some("28000")),
            "expected an authentication error, got {error:?}"
        );
        // The right password still works.
        connect(&db.url).await.expect("correct password connects");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_fresh_databases() {
        let handles: Vec<_> = (0..8).map(|_| tokio::spawn(fresh_database())).collect();
        let mut names = std::collections::HashSet::new();
        for handle in handles {
            let db = handle.await.expect("task");
            assert!(names.insert(db.name));
        }
        assert_eq!(names.len(), 8);
    }

    #[test]
    fn accessors_are_consistent() {
        let server = test_server();
        let url = url::Url::parse(&server.url_for("some_db")).expect("parse");
        assert_eq!(url.path(), "/some_db");
        assert_eq!(url.port(), Some(server.port()));
        assert_eq!(url.username(), server.user());
        let admin = url::Url::parse(server.admin_url()).expect("parse admin url");
        assert_eq!(admin.path(), "/postgres");
        assert_eq!(
            admin.password().map(percent_decode),
            Some(Ok(server.password().to_owned()))
        );
        assert!(!format!("{server:?}").contains(server.password()) || server.password().is_empty());
        if std::env::var_os(TEST_DATABASE_URL_ENV).is_none() {
            assert_eq!(server.host(), "127.0.0.1");
            assert!(server.bin_dir().is_some_and(|d| d.join("pg_ctl").exists()));
            assert!(server
                .data_dir()
                .is_some_and(|d| d.join("PG_VERSION").exists()));
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%2Fc+d").as_deref(), Ok("a@b/c+d"));
        assert!(percent_decode("bad%4").is_err());
    }
}
