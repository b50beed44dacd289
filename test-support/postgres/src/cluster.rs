//! The private, throwaway cluster: start (initdb, pg_ctl start on a free port), stop at process
//! exit, and clean up clusters left behind by killed test processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::system::{
    describe_output, find_bin_dir, free_port, lookup_user, pg_command, random_u64, run,
    shell_quote, tail, write_private_file, RunAs,
};
use super::TestServer;

/// Superuser name of the private cluster.
const SUPERUSER: &str = "pycharter";
/// Prefix of the private clusters' temporary directories: `pycharter-pg-<pid>-<random>`.
const DIR_PREFIX: &str = "pycharter-pg-";
/// How many free ports are tried before giving up starting the private cluster.
const START_ATTEMPTS: usize = 5;

const NOT_FOUND_MESSAGE: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found — install them: \
     apt-get install -y postgresql (or set PYCHARTER_TEST_DATABASE_URL=postgres://user:password@host:port/postgres)";

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

pub(super) fn start_private_cluster() -> TestServer {
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

/// `pg_ctl restart -m fast` of this process's private cluster (same port, same options):
/// every session is dropped, the server comes back. None when no private cluster runs here.
pub(super) fn restart_private_cluster() -> Option<Result<(), String>> {
    let cluster = CLUSTER.get()?;
    let mut restart = cluster.command("pg_ctl");
    restart
        .args(["restart", "-m", "fast", "-w", "-t", "60", "-D"])
        .arg(&cluster.data_dir)
        .arg("-l")
        .arg(cluster.root.join("server.log"));
    let output = run(&mut restart, "pg_ctl restart");
    Some(if output.status.success() {
        Ok(())
    } else {
        Err(describe_output(&output))
    })
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
