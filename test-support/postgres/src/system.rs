//! Operating-system plumbing for the private cluster: finding the PostgreSQL binaries, the
//! `postgres` system user, building and running commands, private files, free ports, and
//! randomness.

use std::collections::hash_map::RandomState;
use std::ffi::CString;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The system user the cluster runs as when the tests run as root.
#[derive(Debug, Clone)]
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// Directory holding `initdb` and `pg_ctl`: `initdb` on `PATH` (symlinks resolved), else the
/// highest `/usr/lib/postgresql/<version>/bin`.
pub(super) fn find_bin_dir() -> Option<PathBuf> {
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
pub(super) fn lookup_user(name: &str) -> Option<RunAs> {
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
pub(super) fn pg_command(
    bin_dir: &Path,
    program: &str,
    cwd: &Path,
    run_as: Option<&RunAs>,
) -> Command {
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

pub(super) fn run(command: &mut Command, what: &str) -> Output {
    command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("could not run {what} ({command:?}): {error}"))
}

pub(super) fn describe_output(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end()
    )
}

pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Quotes for `/bin/sh` (`pg_ctl -o` goes through the shell).
pub(super) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A shell loop that, once this process is gone (checked every second through /proc, which
/// works across users), stops the servers of `data_dirs` still running and removes `root`:
/// a test killed before its `Drop` ran leaves no server behind. Runs as `run_as` when given.
pub(super) fn spawn_watchdog(
    bin_dir: &Path,
    data_dirs: &[&Path],
    root: &Path,
    run_as: Option<&RunAs>,
    what: &str,
) -> std::process::Child {
    let dirs: Vec<String> = data_dirs
        .iter()
        .map(|d| shell_quote(&d.to_string_lossy()))
        .collect();
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; \
         for d in {dirs}; do [ -f \"$d/postmaster.pid\" ] && {pg_ctl} stop -m immediate -D \"$d\" >/dev/null 2>&1; done; \
         rm -rf {root}",
        pid = std::process::id(),
        dirs = dirs.join(" "),
        pg_ctl = shell_quote(&bin_dir.join("pg_ctl").to_string_lossy()),
        root = shell_quote(&root.to_string_lossy()),
    );
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", &script])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid);
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {what}'s watchdog: {e}"))
}

pub(super) fn write_private_file(path: &Path, contents: &str) {
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
pub(super) fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("could not find a free loopback port: {error}"))
}

/// Unpredictable 64 bits (SipHash with the process's random keys over pid, time and a counter).
pub(super) fn random_u64() -> u64 {
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
