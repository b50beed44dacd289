//! A PostgreSQL server with TLS, for the tests that prove verification is enforced: a
//! throwaway certificate chain generated at test time with the `openssl` command (a CA, a
//! second CA that signed nothing the server shows, a server certificate for `localhost` and
//! `127.0.0.1`, and an expired one), and a server with `ssl = on` that accepts TCP clients
//! only over TLS (`hostssl` lines alone in `pg_hba.conf`).
//!
//! The server listens on 127.0.0.1 and 127.0.0.2 (both loopback): its certificate names the
//! first, so connecting to the second is a wrong host name. Like the replica pair it runs
//! as the `postgres` system user when the tests run as root, lives in its own temporary
//! directory, and a watchdog process stops it once the test process is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::system::{
    describe_output, find_bin_dir, free_port, lookup_user, pg_command, random_u64, run,
    shell_quote, spawn_watchdog, tail, write_private_file, RunAs,
};

/// Superuser of the TLS server.
const SUPERUSER: &str = "pycharter";

/// The `openssl` configuration: the extensions of a CA and of a server certificate, and a
/// minimal `openssl ca` (which alone can set a validity window in the past).
const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = pycharter
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
[any]
commonName = supplied
";

/// A certificate chain generated for one test process (files in a temporary directory,
/// removed on drop).
#[derive(Debug)]
pub struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    /// Generates the chain with `openssl` (P-256 keys: a few milliseconds each).
    ///
    /// # Panics
    ///
    /// When `openssl` is missing or fails, saying how to install it.
    pub fn generate() -> Certificates {
        let dir = tempfile::Builder::new()
            .prefix("pycharter-certs-")
            .tempdir()
            .expect("a temporary directory for the certificates");
        std::fs::write(dir.path().join("openssl.cnf"), OPENSSL_CONFIG).expect("write openssl.cnf");
        std::fs::write(dir.path().join("index.txt"), "").expect("write index.txt");
        std::fs::write(dir.path().join("serial"), "10\n").expect("write serial");
        let certs = Certificates { dir };
        let new_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for (ca, name) in [("ca", "pycharter test CA"), ("other-ca", "another CA")] {
            certs.openssl(&[
                &[
                    "req",
                    "-x509",
                    "-config",
                    "openssl.cnf",
                    "-extensions",
                    "ca_ext",
                ],
                &new_key[..],
                &[
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.crt"),
                ],
                &["-days", "3", "-subj", &format!("/CN={name}")],
            ]);
        }
        certs.openssl(&[
            &["req", "-new", "-config", "openssl.cnf"],
            &new_key[..],
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]);
        certs.openssl(&[
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
            ],
            &["-set_serial", "2", "-days", "3", "-extfile", "openssl.cnf"],
            &["-extensions", "server_ext", "-out", "server.crt"],
        ]);
        // Same key and names, valid for one day in 2020 only.
        certs.openssl(&[
            &[
                "ca",
                "-batch",
                "-config",
                "openssl.cnf",
                "-extensions",
                "server_ext",
            ],
            &[
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
                "-notext",
            ],
            &[
                "-in",
                "server.csr",
                "-out",
                "expired.crt",
                "-keyfile",
                "ca.key",
                "-cert",
                "ca.crt",
            ],
        ]);
        certs
    }

    fn openssl(&self, args: &[&[&str]]) {
        let mut command = Command::new("openssl");
        command
            .args(args.iter().flat_map(|part| part.iter()))
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        let output = command.output().unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}) — install it: apt-get install -y openssl")
        });
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            describe_output(&output)
        );
    }

    /// The CA that signed the server's certificates (what `sslrootcert` must name).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A CA that signed nothing the server shows (a wrong `sslrootcert`).
    pub fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.crt")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Which certificate the server shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCertificate {
    /// Signed by [`Certificates::ca`], valid now, for `localhost` and `127.0.0.1`.
    Valid,
    /// The same, but valid only on 1 January 2020.
    Expired,
}

/// A running PostgreSQL with TLS (see the module documentation); stopped and removed on drop.
pub struct TlsServer {
    root: PathBuf,
    data_dir: PathBuf,
    log_file: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
    password: String,
    port: u16,
    watchdog: Option<std::process::Child>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Starts a server showing `certificate` of `certs`; blocks for a second or two (use
    /// [`TlsServer::start_async`] from async code).
    ///
    /// # Panics
    ///
    /// With the server log when a step fails, or with how to install PostgreSQL.
    pub fn start(certs: &Certificates, certificate: ServerCertificate) -> TlsServer {
        let bin_dir = find_bin_dir().unwrap_or_else(|| {
            panic!("PostgreSQL server binaries (initdb, pg_ctl) not found — apt-get install -y postgresql")
        });
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(lookup_user("postgres").unwrap_or_else(|| {
                panic!("the tests run as root and PostgreSQL refuses root, but there is no `postgres` user — apt-get install -y postgresql creates it")
            }))
        } else {
            None
        };
        let root = std::env::temp_dir().join(format!(
            "pycharter-tls-{}-{:06x}",
            std::process::id(),
            random_u64() & 0xff_ffff
        ));
        std::fs::create_dir(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
        let mut server = TlsServer {
            data_dir: root.join("data"),
            log_file: root.join("server.log"),
            root,
            bin_dir,
            run_as,
            password: format!("{:016x}{:016x}", random_u64(), random_u64()),
            port: 0,
            watchdog: None,
        };
        // From here on, a panic drops `server`, which stops whatever started.
        let socket_dir = server.root.join("k");
        std::fs::create_dir(&socket_dir).expect("create the socket directory");
        let pwfile = server.root.join("pw");
        write_private_file(&pwfile, &format!("{}\n", server.password));
        let cert_name = match certificate {
            ServerCertificate::Valid => "server.crt",
            ServerCertificate::Expired => "expired.crt",
        };
        let cert_file = server.root.join("server.crt");
        let key_file = server.root.join("server.key");
        let read = |name: &str| {
            std::fs::read_to_string(certs.file(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
        };
        write_private_file(&cert_file, &read(cert_name));
        write_private_file(&key_file, &read("server.key"));
        server.chown(&[&server.root, &socket_dir, &pwfile, &cert_file, &key_file]);
        server.watchdog = Some(spawn_watchdog(
            &server.bin_dir,
            &[&server.data_dir],
            &server.root,
            server.run_as.as_ref(),
            "the TLS server",
        ));

        let mut initdb = server.command("initdb");
        initdb
            .arg("-D")
            .arg(&server.data_dir)
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()));
        server.check(run(&mut initdb, "initdb"), "initdb");
        let _ = std::fs::remove_file(&pwfile);

        // TCP only over TLS; the harness's own socket connections need none.
        let hba = server.data_dir.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all scram-sha-256\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all 127.0.0.2/32 scram-sha-256\n",
        )
        .expect("write pg_hba.conf");
        server.chown(&[&hba]);

        let options = format!(
            "-c listen_addresses=127.0.0.1,127.0.0.2 -k {} -c max_connections=50 -c fsync=off \
             -c shared_buffers=16MB -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            shell_quote(&socket_dir.to_string_lossy()),
            shell_quote(&cert_file.to_string_lossy()),
            shell_quote(&key_file.to_string_lossy()),
        );
        server.port = server.start_on_free_port(&options);
        server
    }

    /// [`TlsServer::start`] off the async thread.
    pub async fn start_async(
        certs: std::sync::Arc<Certificates>,
        certificate: ServerCertificate,
    ) -> TlsServer {
        match tokio::task::spawn_blocking(move || TlsServer::start(&certs, certificate)).await {
            Ok(server) => server,
            Err(error) => match error.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(error) => panic!("starting the TLS server was cancelled: {error}"),
            },
        }
    }

    /// Its TCP port (on 127.0.0.1 and 127.0.0.2).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://pycharter:<password>@<host>:<port>/postgres?<query>`.
    pub fn url(&self, host: &str, query: &str) -> String {
        let separator = if query.is_empty() { "" } else { "?" };
        format!(
            "postgres://{SUPERUSER}:{}@{host}:{}/postgres{separator}{query}",
            self.password, self.port
        )
    }

    /// The server's log so far (what it saw of each connection).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    fn chown(&self, paths: &[&Path]) {
        if let Some(user) = &self.run_as {
            for path in paths {
                std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                    .unwrap_or_else(|e| panic!("could not chown {}: {e}", path.display()));
            }
        }
    }

    fn command(&self, program: &str) -> Command {
        pg_command(&self.bin_dir, program, &self.root, self.run_as.as_ref())
    }

    fn start_on_free_port(&self, options: &str) -> u16 {
        for attempt in 1..=5 {
            let port = free_port();
            let before = std::fs::metadata(&self.log_file).map_or(0, |m| m.len()) as usize;
            let mut start = self.command("pg_ctl");
            start
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&self.log_file)
                .arg("-o")
                .arg(format!("-p {port} {options}"));
            let output = run(&mut start, "pg_ctl start");
            if output.status.success() {
                return port;
            }
            let log = std::fs::read(&self.log_file).unwrap_or_default();
            let new = String::from_utf8_lossy(log.get(before..).unwrap_or(&log[..])).into_owned();
            if (new.contains("could not bind") || new.contains("already in use")) && attempt < 5 {
                continue;
            }
            panic!(
                "pg_ctl start of the TLS server in {} failed: {}\n--- log ---\n{}",
                self.root.display(),
                describe_output(&output),
                tail(&new, 40)
            );
        }
        unreachable!("the loop returns or panics")
    }

    fn check(&self, output: std::process::Output, what: &str) {
        assert!(
            output.status.success(),
            "{what} failed for the TLS server in {}: {}",
            self.root.display(),
            describe_output(&output)
        );
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if self.data_dir.join("postmaster.pid").exists() {
            let mut stop = self.command("pg_ctl");
            stop.args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
                .arg(&self.data_dir);
            let _ = stop.stdin(Stdio::null()).output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}
