//! A real PgBouncer (Debian's `pgbouncer`) in `pool_mode = transaction` in front of the test
//! server ([`crate::test_server`]), for the PgBouncer tests of the Postgres backend
//! and of the CLI. Loopback only; stopped (SIGKILL, then reaped) and its directory removed
//! when the guard drops.
//!
//! Missing `pgbouncer` is a failure that says how to install it, never a skip.

use crate::{test_server, TestServer};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the failure message tells a developer (and what `.ci/run` runs).
pub const INSTALL_HINT: &str =
    "pgbouncer is not installed — install it: apt-get install -y pgbouncer";

/// How long PgBouncer may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running PgBouncer; killed on drop.
pub struct PgBouncer {
    child: Child,
    dir: ScratchDir,
    port: u16,
    user: String,
    password: String,
}

impl PgBouncer {
    /// Starts PgBouncer in transaction pooling mode with at most `pool_size` server
    /// connections per database (so concurrent clients really share them).
    pub fn start(pool_size: u32) -> PgBouncer {
        let binary = find_binary().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let server = test_server();
        let run_as = non_root_user(server.data_dir());
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = ScratchDir::new();
            let port = free_port();
            write_config(dir.path(), port, pool_size, server);
            if let Some((uid, gid)) = run_as {
                chown_all(dir.path(), uid, gid);
            }
            let mut command = Command::new(&binary);
            command
                .arg(dir.path().join("pgbouncer.ini"))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some((uid, gid)) = run_as {
                // PgBouncer refuses to run as root, like PostgreSQL.
                command.uid(uid).gid(gid);
            }
            let child = command.spawn().expect("spawn pgbouncer");
            let mut bouncer = PgBouncer {
                child,
                dir,
                port,
                user: server.user().to_string(),
                password: server.password().to_string(),
            };
            if bouncer.wait_until_listening() {
                return bouncer;
            }
            last_log = bouncer.log();
            // Port taken between free_port() and bind: try another one.
        }
        panic!("pgbouncer did not start; last log:\n{last_log}");
    }

    /// `postgres://user:password@127.0.0.1:<bouncer port>/<database><query>`.
    pub fn url(&self, database: &str, query: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{database}{query}",
            self.user, self.password, self.port
        )
    }

    /// PgBouncer's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    fn wait_until_listening(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: bad config or port taken
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGKILL: nothing to flush, and a test must not wait on a graceful shutdown.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private directory under the temp dir, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "pycharter-pgbouncer-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path).expect("create the pgbouncer directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        ScratchDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_config(dir: &Path, port: u16, pool_size: u32, server: &TestServer) {
    let userlist = dir.join("userlist.txt");
    // The harness password is hex; a user name with a quote would need doubling.
    std::fs::write(
        &userlist,
        format!(
            "\"{}\" \"{}\"\n",
            server.user().replace('"', "\"\""),
            server.password().replace('"', "\"\"")
        ),
    )
    .expect("write userlist");
    std::fs::set_permissions(&userlist, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = format!(
        "[databases]\n\
         * = host={host} port={server_port}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = scram-sha-256\n\
         auth_file = {userlist}\n\
         pool_mode = transaction\n\
         default_pool_size = {pool_size}\n\
         max_db_connections = {pool_size}\n\
         min_pool_size = 0\n\
         reserve_pool_size = 0\n\
         max_client_conn = 200\n\
         server_reset_query =\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         logfile = {log}\n\
         pidfile = {pid}\n",
        host = server.host(),
        server_port = server.port(),
        userlist = userlist.display(),
        log = dir.join("pgbouncer.log").display(),
        pid = dir.join("pgbouncer.pid").display(),
    );
    std::fs::write(dir.join("pgbouncer.ini"), config).expect("write pgbouncer.ini");
}

fn find_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    // Debian installs it in /usr/sbin, which a non-root PATH may lack.
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("pgbouncer"))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// `(uid, gid)` to run PgBouncer as when the tests run as root: the owner of the cluster's
/// data directory (the harness runs PostgreSQL as `postgres` then), else `postgres`.
fn non_root_user(data_dir: Option<&Path>) -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    if me != 0 {
        return None;
    }
    if let Some(meta) = data_dir.and_then(|d| std::fs::metadata(d).ok()) {
        if meta.uid() != 0 {
            return Some((meta.uid(), meta.gid()));
        }
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let found = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    });
    Some(found.unwrap_or_else(|| {
        panic!("the tests run as root and PgBouncer refuses root, but there is no `postgres` user — {INSTALL_HINT} (it creates none either: apt-get install -y postgresql does)")
    }))
}

fn chown_all(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).expect("chown pgbouncer dir");
    for entry in std::fs::read_dir(dir)
        .expect("read pgbouncer dir")
        .flatten()
    {
        std::os::unix::fs::chown(entry.path(), Some(uid), Some(gid)).expect("chown file");
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}
