//! A primary and a streaming hot standby on loopback, for the high-availability tests:
//! multi-host URLs, `target_session_attrs`, read-only errors, failover, replica reads.
//!
//! Each [`ReplicaPair::start`] builds its own pair (`initdb`, `pg_ctl start`,
//! `pg_basebackup -R`, `pg_ctl start` of the copy), because tests stop, promote and pause
//! it; it is stopped (`-m immediate`) and its directory removed when the value drops. Like
//! the single test server it runs as the `postgres` system user when the tests run as root,
//! listens on 127.0.0.1 only, and keeps its sockets under a short directory. Pairs left
//! behind are cleaned up twice over: a watchdog process started with each pair stops it as
//! soon as the test process is gone (even after SIGKILL), and the next pair started cleans
//! up directories whose process is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};

use super::system::{
    describe_output, find_bin_dir, free_port, lookup_user, pg_command, random_u64, run,
    shell_quote, spawn_watchdog, tail, write_private_file, RunAs,
};

/// Superuser of the pair (it also streams the WAL: a superuser may replicate).
const SUPERUSER: &str = "pycharter";
/// Prefix of the pairs' directories: `pycharter-ha-<pid>-<random>` in the temp dir.
const DIR_PREFIX: &str = "pycharter-ha-";
/// Bound on waiting for the standby to catch up, to be promoted, or to show a database.
const WAIT: Duration = Duration::from_secs(30);

/// How to configure the pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairOptions {
    /// `synchronous_standby_names = '*'`: a commit is acknowledged only once the standby
    /// has flushed it, so a promoted standby has every acknowledged write. Otherwise
    /// replication is asynchronous: the primary acknowledges a commit once it flushed it
    /// itself, and streams it right after (`fsync` is off on both: flushing is cheap).
    pub synchronous: bool,
}

/// One server of the pair.
#[derive(Debug, Clone)]
pub struct Node {
    port: u16,
    data_dir: PathBuf,
    log_file: PathBuf,
}

impl Node {
    /// Its TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, as a multi-host URL lists it.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A running primary with a streaming hot standby (see the module documentation).
pub struct ReplicaPair {
    root: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
    password: String,
    primary: Node,
    standby: Node,
    watchdog: Option<std::process::Child>,
}

impl std::fmt::Debug for ReplicaPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaPair")
            .field("root", &self.root)
            .field("primary", &self.primary.port)
            .field("standby", &self.standby.port)
            .finish_non_exhaustive()
    }
}

impl ReplicaPair {
    /// Starts a new pair; blocks for a few seconds (call it from `spawn_blocking` in async
    /// code, or use [`ReplicaPair::start_async`]).
    ///
    /// # Panics
    ///
    /// With the server log when a step fails, or with how to install PostgreSQL.
    pub fn start(options: PairOptions) -> ReplicaPair {
        let bin_dir = find_bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found — install \
                 them: apt-get install -y postgresql"
            )
        });
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(lookup_user("postgres").unwrap_or_else(|| {
                panic!("the tests run as root and PostgreSQL refuses root, but there is no `postgres` user — apt-get install -y postgresql creates it")
            }))
        } else {
            None
        };
        cleanup_stale_pairs(&bin_dir, run_as.as_ref());

        let root = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{:06x}",
            std::process::id(),
            random_u64() & 0xff_ffff
        ));
        std::fs::create_dir(&root)
            .unwrap_or_else(|e| panic!("could not create {}: {e}", root.display()));
        let node = |name: &str| Node {
            port: 0,
            data_dir: root.join(name),
            log_file: root.join(format!("{name}.log")),
        };
        let mut pair = ReplicaPair {
            password: format!("{:016x}{:016x}", random_u64(), random_u64()),
            primary: node("p"),
            standby: node("s"),
            root,
            bin_dir,
            run_as,
            watchdog: None,
        };
        // From here on, a panic drops `pair`, which stops whatever started.
        let socket_dir = pair.root.join("k");
        std::fs::create_dir(&socket_dir).expect("create the socket directory");
        let pwfile = pair.root.join("pw");
        write_private_file(&pwfile, &format!("{}\n", pair.password));
        if let Some(user) = &pair.run_as {
            for path in [&pair.root, &socket_dir, &pwfile] {
                std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                    .unwrap_or_else(|e| panic!("could not chown {}: {e}", path.display()));
            }
        }
        pair.watchdog = Some(spawn_watchdog(
            &pair.bin_dir,
            &[&pair.standby.data_dir, &pair.primary.data_dir],
            &pair.root,
            pair.run_as.as_ref(),
            "the replica pair",
        ));

        let mut initdb = pair.command("initdb");
        initdb
            .arg("-D")
            .arg(&pair.primary.data_dir)
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()));
        pair.check(run(&mut initdb, "initdb"), "initdb", None);
        let _ = std::fs::remove_file(&pwfile);

        let durability = if options.synchronous {
            "-c synchronous_commit=on -c synchronous_standby_names='*'"
        } else {
            "-c synchronous_commit=on"
        };
        let common = format!(
            "-c listen_addresses=127.0.0.1 -k {} -c max_connections=100 -c fsync=off \
             -c full_page_writes=off -c shared_buffers=32MB -c wal_level=replica \
             -c max_wal_senders=4 -c hot_standby=on -c wal_receiver_status_interval=1s",
            shell_quote(&socket_dir.to_string_lossy())
        );
        let primary_options = format!("{common} {durability}");
        pair.primary.port = pair.start_node(&pair.primary.clone(), &primary_options);

        let mut basebackup = pair.command("pg_basebackup");
        basebackup
            .args(["-h", "127.0.0.1", "-p"])
            .arg(pair.primary.port.to_string())
            .args(["-U", SUPERUSER, "-D"])
            .arg(&pair.standby.data_dir)
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
            .env("PGPASSWORD", &pair.password);
        pair.check(run(&mut basebackup, "pg_basebackup"), "pg_basebackup", None);
        // The standby streams asynchronously itself, whatever the primary asks of it.
        pair.standby.port = pair.start_node(&pair.standby.clone(), &common);
        pair.wait_until(
            &format!("the standby streams from the primary ({pair:?})"),
            || {
                pair.query_blocking(
                    &pair.primary,
                    "SELECT count(*)::text FROM pg_stat_replication WHERE state = 'streaming'",
                )
                .is_some_and(|n| n == "1")
            },
        );
        pair
    }

    /// [`ReplicaPair::start`] off the async thread.
    pub async fn start_async(options: PairOptions) -> ReplicaPair {
        match tokio::task::spawn_blocking(move || ReplicaPair::start(options)).await {
            Ok(pair) => pair,
            Err(error) => match error.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(error) => panic!("starting the replica pair was cancelled: {error}"),
            },
        }
    }

    /// The primary (after [`ReplicaPair::promote_standby`], the old one).
    pub fn primary(&self) -> &Node {
        &self.primary
    }

    /// The standby (after [`ReplicaPair::promote_standby`], the new primary).
    pub fn standby(&self) -> &Node {
        &self.standby
    }

    /// `postgres://pycharter:<password>@<host1>,<host2>,…/<database><query>`: a (multi-host)
    /// URL listing `hosts` (`host:port` entries) in that order. `query` starts with `?` or
    /// is empty.
    pub fn url(&self, hosts: &[String], database: &str, query: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@{}/{database}{query}",
            self.password,
            hosts.join(",")
        )
    }

    /// URL of `database` on one node.
    pub fn node_url(&self, node: &Node, database: &str) -> String {
        self.url(&[node.host_port()], database, "")
    }

    /// The password of the superuser (to check that messages never show it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Creates an empty database on the primary and waits until the standby has it too.
    pub async fn create_database(&self, name: &str) {
        let mut primary = self.connect(&self.primary, "postgres").await;
        // `name` comes from the test, never from user input.
        primary
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = primary.close().await;
        self.wait_replayed().await;
    }

    /// A direct connection to `database` on `node`.
    pub async fn connect(&self, node: &Node, database: &str) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.node_url(node, database))
            .expect("the pair's URL parses")
            .application_name("pycharter-test-harness")
            .disable_statement_logging();
        PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("connect to {database} on port {}: {e}", node.port))
    }

    /// Waits until the standby has replayed everything the primary has written so far
    /// (polls `pg_last_wal_replay_lsn()`; bounded).
    pub async fn wait_replayed(&self) {
        let mut primary = self.connect(&self.primary, "postgres").await;
        let target: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut primary)
            .await
            .expect("pg_current_wal_lsn");
        let _ = primary.close().await;
        let mut standby = self.connect(&self.standby, "postgres").await;
        let deadline = Instant::now() + WAIT;
        loop {
            let done: bool =
                sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn")
                    .bind(&target)
                    .fetch_one(&mut standby)
                    .await
                    .expect("pg_last_wal_replay_lsn");
            if done {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the standby did not replay {target} within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = standby.close().await;
    }

    /// Crashes the primary: `pg_ctl stop -m immediate` (no shutdown checkpoint; clients see
    /// their connections reset, new ones are refused).
    pub fn stop_primary_immediately(&self) {
        let mut stop = self.command("pg_ctl");
        stop.args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
            .arg(&self.primary.data_dir);
        self.check(
            run(&mut stop, "pg_ctl stop"),
            "pg_ctl stop",
            Some(&self.primary),
        );
    }

    /// `pg_ctl promote -w`: returns once the standby accepts writes.
    pub fn promote_standby(&self) {
        let mut promote = self.command("pg_ctl");
        promote
            .args(["promote", "-w", "-t", "30", "-D"])
            .arg(&self.standby.data_dir);
        self.check(
            run(&mut promote, "pg_ctl promote"),
            "pg_ctl promote",
            Some(&self.standby),
        );
    }

    /// `pg_ctl stop -m immediate` of both, then removes the directory. Best effort.
    fn stop_and_remove(&mut self) {
        for node in [&self.standby, &self.primary] {
            if node.data_dir.join("postmaster.pid").exists() {
                let mut stop = self.command("pg_ctl");
                stop.args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
                    .arg(&node.data_dir);
                let _ = stop.stdin(Stdio::null()).output();
            }
        }
        if let Err(error) = std::fs::remove_dir_all(&self.root) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("could not remove {}: {error}", self.root.display());
            }
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }

    fn command(&self, program: &str) -> Command {
        pg_command(&self.bin_dir, program, &self.root, self.run_as.as_ref())
    }

    /// `pg_ctl start` of `node` on a free port (retried when the port is taken meanwhile).
    fn start_node(&self, node: &Node, options: &str) -> u16 {
        for attempt in 1..=5 {
            let port = free_port();
            let before = std::fs::metadata(&node.log_file).map_or(0, |m| m.len()) as usize;
            let mut start = self.command("pg_ctl");
            start
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(&node.data_dir)
                .arg("-l")
                .arg(&node.log_file)
                .arg("-o")
                .arg(format!("-p {port} {options}"));
            let output = run(&mut start, "pg_ctl start");
            if output.status.success() {
                return port;
            }
            let log = std::fs::read(&node.log_file).unwrap_or_default();
            let new = String::from_utf8_lossy(log.get(before..).unwrap_or(&log[..])).into_owned();
            let port_taken = new.contains("could not bind") || new.contains("already in use");
            if port_taken && attempt < 5 {
                continue;
            }
            panic!(
                "pg_ctl start of {} failed: {}\n--- log ---\n{}",
                node.data_dir.display(),
                describe_output(&output),
                tail(&new, 40)
            );
        }
        unreachable!("the loop returns or panics")
    }

    fn check(&self, output: std::process::Output, what: &str, node: Option<&Node>) {
        if output.status.success() {
            return;
        }
        let log = node
            .and_then(|n| std::fs::read_to_string(&n.log_file).ok())
            .unwrap_or_default();
        panic!(
            "{what} failed for the replica pair in {}: {}\n--- log ---\n{}",
            self.root.display(),
            describe_output(&output),
            tail(&log, 40)
        );
    }

    /// One text value from `node`'s `postgres` database through `psql`-free plumbing: a
    /// blocking connection on a throwaway runtime (used while starting, before any runtime).
    fn query_blocking(&self, node: &Node, sql: &'static str) -> Option<String> {
        let url = self.node_url(node, "postgres");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async move {
            let mut conn = PgConnection::connect(&url).await.ok()?;
            let value: String = sqlx::query_scalar(sql).fetch_one(&mut conn).await.ok()?;
            let _ = conn.close().await;
            Some(value)
        })
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.standby.log_file).unwrap_or_default();
                panic!(
                    "timed out waiting until {what}\n--- standby log ---\n{}",
                    tail(&log, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ReplicaPair {
    fn drop(&mut self) {
        self.stop_and_remove();
    }
}

/// Stops and removes `pycharter-ha-<pid>-*` directories whose process is gone (a test
/// process killed before its watchdog could act, or a machine rebooted mid-run).
fn cleanup_stale_pairs(bin_dir: &Path, run_as: Option<&RunAs>) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let root = entry.path();
        for node in ["s", "p"] {
            let data_dir = root.join(node);
            if data_dir.join("postmaster.pid").exists() {
                let mut stop = pg_command(bin_dir, "pg_ctl", &root, run_as);
                stop.args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
                    .arg(&data_dir);
                let _ = stop.stdin(Stdio::null()).output();
            }
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
