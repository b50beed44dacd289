//! The one error type of pycharter-rs. Every message says what happened and the command or
//! action that fixes it; `target` fields always hold a URL whose password is redacted.

use crate::artifact::ArtifactKind;
use crate::report::MigrationReport;
use crate::version::ContractVersion;
use std::time::Duration;

/// Result alias used across pycharter-rs.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure a pycharter-rs library call can report.
///
/// ```
/// use pycharter_core::Error;
/// let err = Error::NotInitialized { target: "sqlite://pycharter.db".into() };
/// assert_eq!(
///     err.to_string(),
///     "Schema not initialized in sqlite://pycharter.db — run: pycharter db init sqlite://pycharter.db"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database has no pycharter schema (no version table or no applied migration).
    #[error("Schema not initialized in {target} — run: pycharter db init {target}")]
    NotInitialized {
        /// Redacted database URL.
        target: String,
    },
    /// The database is at an older layout than this build expects.
    #[error(
        "Schema version mismatch: database is at {found}, this build expects {expected} — run: pycharter db upgrade {target}"
    )]
    SchemaOutdated {
        /// Version recorded in the database.
        found: String,
        /// [`crate::SCHEMA_VERSION`] of this build (or of the bundled migrations).
        expected: String,
        /// Redacted database URL.
        target: String,
    },
    /// The database was migrated by a newer pycharter build with a migration that does not
    /// keep this build working; this build refuses to write.
    #[error(
        "Schema version mismatch: database is at {found}, newer than this build ({expected}), and migration {incompatible} does not keep {expected} working; writes are refused — use a pycharter release that ships {found}, or with it run: pycharter db downgrade {target} --to {expected}"
    )]
    SchemaNewer {
        /// Version recorded in the database.
        found: String,
        /// Version this build expects.
        expected: String,
        /// The first migration above this build that does not declare it keeps this build
        /// working.
        incompatible: String,
        /// Redacted database URL.
        target: String,
    },
    /// The version table records a migration this build does not ship and that is not newer.
    #[error(
        "Database records migration {version}, which this build does not ship (hand-edited version table?) — run: pycharter db history {target}, then restore the version table or the database from a backup"
    )]
    UnknownMigration {
        /// The unknown version string as found.
        version: String,
        /// Redacted database URL.
        target: String,
    },
    /// Tables required by the recorded version are missing.
    #[error("Missing tables: {} — run: pycharter db init {target} --force", tables.join(", "))]
    MissingTables {
        /// Names of the missing tables.
        tables: Vec<String>,
        /// Redacted database URL.
        target: String,
    },
    /// Indexes required by the recorded version are missing.
    #[error("Missing indexes: {} — run: pycharter db init {target} --force", indexes.join(", "))]
    MissingIndexes {
        /// Names of the missing indexes.
        indexes: Vec<String>,
        /// Redacted database URL.
        target: String,
    },
    /// An applied migration's recorded checksum differs from the bundled migration.
    #[error(
        "Checksum drift: migration {} was applied with different SQL than this build ships — run: pycharter db history {target} to compare, then use the pycharter release that applied it or restore the database from a backup", versions.join(", ")
    )]
    ChecksumDrift {
        /// Versions whose checksum differs.
        versions: Vec<String>,
        /// Redacted database URL.
        target: String,
    },
    /// The requested artifact does not exist (e.g. attaching rules to a schema version
    /// that was never stored, or deleting one that is gone).
    #[error(
        "{kind} {name:?} version {version} not found — list what exists with MetadataStore::list_schemas / list_versions"
    )]
    NotFound {
        /// What was looked for ([`ArtifactKind::Schema`] when the schema version is missing).
        kind: ArtifactKind,
        /// Schema name.
        name: String,
        /// Schema version.
        version: ContractVersion,
    },
    /// `(kind, name, version)` already holds a different document; versions are immutable.
    #[error(
        "{kind} for {name} {version} already exists with a different document; versions are immutable — store the change as a new version"
    )]
    VersionConflict {
        /// What was being stored.
        kind: ArtifactKind,
        /// Schema name.
        name: String,
        /// Schema version.
        version: ContractVersion,
    },
    /// A document is not acceptable (not a JSON Schema, too large, too deep, …).
    #[error("Invalid document: {reason} — fix the document and store it again")]
    InvalidDocument {
        /// Why it was rejected.
        reason: String,
    },
    /// A version string is not a semantic version pycharter accepts.
    #[error(
        "Invalid version {input:?}: {reason} — use a semantic version such as 1.2.3 or 1.2.3-rc.1"
    )]
    InvalidVersion {
        /// The rejected input.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A schema name is not acceptable.
    #[error(
        "Invalid name {name:?}: {reason} — use 1 to 255 bytes of UTF-8 with no control characters and no leading or trailing whitespace"
    )]
    InvalidName {
        /// The rejected name (escaped by `Debug` formatting).
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A database URL could not be parsed or names an unsupported backend.
    #[error("Invalid database URL {url}: {reason} — use {accepted}")]
    InvalidUrl {
        /// Redacted URL.
        url: String,
        /// Why it was rejected.
        reason: String,
        /// The forms the caller accepts (a backend lists only its own).
        accepted: UrlForms,
    },
    /// The server is there, but the database named in the URL is not (Postgres SQLSTATE
    /// `3D000`). The `createdb` line names host, port and user, never the password.
    #[error(
        "Database {database:?} does not exist on {target} — create it, e.g. createdb{} {}", create_options(host, *port, user), shell_word(database)
    )]
    DatabaseMissing {
        /// Name of the missing database.
        database: String,
        /// Redacted database URL.
        target: String,
        /// Server host (or Unix socket directory).
        host: String,
        /// Server port.
        port: u16,
        /// User name of the URL.
        user: String,
    },
    /// The server could not be reached.
    #[error(
        "Cannot connect to {target}: {reason} — check that the server is running and reachable at that host and port"
    )]
    Unreachable {
        /// Redacted database URL.
        target: String,
        /// Driver's reason (never contains the password).
        reason: String,
    },
    /// Connecting took longer than the connect timeout.
    #[error(
        "Connecting to {target} timed out after {}s — check that the server is running and reachable, or raise the connect timeout", timeout.as_secs_f64()
    )]
    ConnectTimeout {
        /// Redacted database URL.
        target: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// TLS was asked for (or required by the server) and could not be established or
    /// verified; with a verifying `sslmode` nothing, the password included, was sent.
    ///
    /// ```
    /// use pycharter_core::{Error, TlsProblem};
    /// let err = Error::Tls {
    ///     target: "postgres://app:***@db/meta?sslmode=verify-full".into(),
    ///     problem: TlsProblem::UnknownIssuer,
    /// };
    /// assert!(err.to_string().contains("not signed by a CA in sslrootcert"));
    /// ```
    #[error("TLS to {target} failed: {problem} — {}", problem.fix())]
    Tls {
        /// Redacted database URL.
        target: String,
        /// What went wrong, and so what to do.
        problem: TlsProblem,
    },
    /// The server rejected the credentials.
    #[error("Authentication failed for {target}: {reason} — check the user name and password in the URL")]
    AuthenticationFailed {
        /// Redacted database URL.
        target: String,
        /// Server's reason.
        reason: String,
    },
    /// Another process held the migration lock for longer than the lock timeout.
    #[error(
        "Timed out after {}s waiting for the migration lock on {target}: another deployer is migrating — retry when it finishes, or raise --lock-timeout", waited.as_secs_f64()
    )]
    LockTimeout {
        /// Redacted database URL.
        target: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The server accepts no writes: a hot standby in recovery, or a server whose sessions
    /// are read-only (`default_transaction_read_only`). Nothing was changed.
    #[error(
        "{target} is a read-only standby ({reason}) — run migrations and writes against the primary, e.g. list every host in the URL with target_session_attrs=read-write"
    )]
    ReadOnlyServer {
        /// Redacted database URL.
        target: String,
        /// What the server said (e.g. `cannot execute INSERT in a read-only transaction`).
        reason: String,
    },
    /// Migration statements that need a table lock kept giving up after the DDL lock timeout
    /// (so that they never queued in front of the application's queries for longer), until
    /// the retry bound: something holds the table. What those attempts did was rolled back.
    #[error(
        "Gave up migrating {target} after {attempts} attempts over {}s: {reason}; a long-running query or transaction holds the table (see pg_stat_activity) — end it or wait for it, then run: pycharter db upgrade {target} (or raise --ddl-lock-retry-for)", waited.as_secs_f64()
    )]
    TableLockTimeout {
        /// Redacted database URL.
        target: String,
        /// The last attempt's reason (the statement and the lock it waited for).
        reason: String,
        /// How many times the migration tried.
        attempts: u32,
        /// How long it kept trying.
        waited: Duration,
    },
    /// The database refused an operation because the role lacks a right (Postgres SQLSTATE
    /// `42501` and its relatives), or the SQLite file (or its directory) is read-only to this
    /// process. Nothing was changed; the fix depends on what was attempted ([`Privilege`]).
    ///
    /// ```
    /// use pycharter_core::{Error, Privilege};
    /// let err = Error::InsufficientPrivilege {
    ///     role: "app".into(),
    ///     right: "create tables in schema public".into(),
    ///     privilege: Privilege::Migrate,
    ///     target: "postgres://app:***@db/meta".into(),
    /// };
    /// assert_eq!(
    ///     err.to_string(),
    ///     "role \"app\" may not create tables in schema public on postgres://app:***@db/meta \
    ///      — run migrations with the deploy role: pycharter db upgrade <migration-role URL>"
    /// );
    /// ```
    #[error("role {role:?} may not {right} on {target} — {}", privilege.fix(role, target))]
    InsufficientPrivilege {
        /// Who was refused: the Postgres role, or for SQLite the operating-system user.
        role: String,
        /// The missing right, in words (`create tables in schema public`, `INSERT into table
        /// schemas`, `write the database file /srv/meta.db`).
        right: String,
        /// What the refused operation needed the right for, which decides the fix.
        privilege: Privilege,
        /// Redacted database URL.
        target: String,
    },
    /// A migration step failed; its transaction was rolled back.
    #[error(
        "Migration {version} failed and was rolled back; the database is still at {previous}: {reason} — fix the cause, then run: pycharter db upgrade {target}"
    )]
    MigrationFailed {
        /// The failing migration.
        version: String,
        /// The version the database stayed at (`none` when uninitialized).
        previous: String,
        /// Database's reason.
        reason: String,
        /// Redacted database URL.
        target: String,
    },
    /// A downgrade would drop tables that hold rows.
    #[error(
        "Downgrade to {to} would drop tables holding rows ({}) — back the data up, then run: pycharter db downgrade {target} --to {to} --allow-data-loss", tables.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
    )]
    DataLoss {
        /// The downgrade target.
        to: String,
        /// Tables with their row counts.
        tables: Vec<(String, u64)>,
        /// Redacted database URL.
        target: String,
    },
    /// A migration request that cannot be satisfied (unknown target version, wrong direction, …).
    #[error("Cannot {action}: {reason} — run: pycharter db history {target} to see the versions")]
    InvalidRequest {
        /// What was asked, e.g. `upgrade to 9.0.0`.
        action: String,
        /// Why it cannot be done.
        reason: String,
        /// Redacted database URL.
        target: String,
    },
    /// A migration command ran, but the database it left is not sound at the version it
    /// was asked to reach (see [`crate::report::Postcondition`]): `report` says what was
    /// done (committed), `cause` is the validator's error for the state found, with its fix.
    #[error("{}, but the database is not sound: {cause}", report.message)]
    PostconditionFailed {
        /// What the command did.
        report: Box<MigrationReport>,
        /// The validator's error for the state the command left.
        cause: Box<Error>,
    },
    /// Any other database failure.
    #[error("Database error on {target}: {reason} — run: pycharter db check {target} to diagnose")]
    Database {
        /// Redacted database URL.
        target: String,
        /// Driver's reason.
        reason: String,
    },
}

/// Why a TLS connection failed ([`Error::Tls`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The server's certificate is not signed by a CA of `sslrootcert`.
    UnknownIssuer,
    /// The server's certificate does not name the host the URL connects to.
    WrongHost {
        /// The host name (or address) of the URL.
        host: String,
    },
    /// The server's certificate has expired, or is not valid yet.
    Expired,
    /// The server does not offer TLS, and the URL's `sslmode` requires it.
    NotOffered,
    /// The server accepts only TLS connections, and the URL's `sslmode=disable` forbids it.
    Required,
    /// Any other failure of the handshake or of verification.
    Other {
        /// The TLS library's reason.
        reason: String,
    },
}

impl std::fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsProblem::UnknownIssuer => f.write_str(
                "the server's certificate is not signed by a CA in sslrootcert (wrong CA)",
            ),
            TlsProblem::WrongHost { host } => write!(
                f,
                "the server's certificate is not valid for host {host:?} (wrong host name)"
            ),
            TlsProblem::Expired => {
                f.write_str("the server's certificate has expired or is not valid yet")
            }
            TlsProblem::NotOffered => f.write_str(
                "the server does not offer TLS and the URL's sslmode requires it; nothing was \
                 sent, not even the password",
            ),
            TlsProblem::Required => f.write_str(
                "the server accepts only TLS connections (hostssl) and the URL says \
                 sslmode=disable",
            ),
            TlsProblem::Other { reason } => write!(f, "{reason}"),
        }
    }
}

impl TlsProblem {
    /// The fix named by [`Error::Tls`].
    fn fix(&self) -> &'static str {
        match self {
            TlsProblem::UnknownIssuer => {
                "set sslrootcert to the CA file that signed the server's certificate"
            }
            TlsProblem::WrongHost { .. } => {
                "connect with a host name the certificate names, or reissue the certificate \
                 for this one"
            }
            TlsProblem::Expired => {
                "renew the server's certificate (and check this machine's clock)"
            }
            TlsProblem::NotOffered => {
                "turn TLS on at the server (ssl = on), or connect to a server that has it"
            }
            TlsProblem::Required => {
                "connect with sslmode=verify-full and sslrootcert=<the server's CA file>"
            }
            TlsProblem::Other { .. } => "check sslmode, sslrootcert and the server's TLS settings",
        }
    }
}

/// What a refused operation needed a right for ([`Error::InsufficientPrivilege`]): the
/// two roles of a production database, and so the two fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Privilege {
    /// Changing the layout (`pycharter db init/upgrade/downgrade`, or `connect` with
    /// `auto_initialize` on a database that needs migrating): the deploy role's job.
    Migrate,
    /// Reading or writing metadata rows: the application role's rights.
    Data,
}

impl Privilege {
    /// The fix named by [`Error::InsufficientPrivilege`].
    fn fix(self, role: &str, target: &str) -> String {
        let sqlite = target.starts_with("sqlite:");
        match self {
            Privilege::Migrate => "run migrations with the deploy role: pycharter db upgrade \
                                   <migration-role URL>"
                .to_string(),
            Privilege::Data if sqlite => format!(
                "open the database as a user who may write the file and its directory (not \
                 {role:?}), without mode=ro"
            ),
            Privilege::Data => format!(
                "grant the role its rights: pycharter db grants --role {} {target} prints the \
                 GRANT statements, to run as the deploy role",
                shell_word(role)
            ),
        }
    }
}

/// The URL forms a caller accepts, listed by [`Error::InvalidUrl`]: a backend's constructor
/// names only the forms it can open, the `pycharter` CLI every backend it ships.
///
/// ```
/// use pycharter_core::{Error, UrlForms};
/// let err = Error::InvalidUrl {
///     url: "mysql://app:***@db/contracts".into(),
///     reason: "scheme \"mysql\" is not postgres:// or postgresql://".into(),
///     accepted: UrlForms::Postgres,
/// };
/// assert!(err.to_string().ends_with("— use postgres://USER:PASSWORD@HOST:PORT/DATABASE or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"));
/// assert!(!err.to_string().contains("sqlite"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlForms {
    /// What `PostgresMetadataStore` opens.
    Postgres,
    /// What `SqliteMetadataStore` opens.
    Sqlite,
    /// What the `pycharter` CLI opens: every backend of this workspace.
    Any,
}

impl std::fmt::Display for UrlForms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlForms::Postgres => {
                "postgres://USER:PASSWORD@HOST:PORT/DATABASE or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            }
            UrlForms::Sqlite => "sqlite://PATH, sqlite:///ABSOLUTE/PATH or sqlite::memory:",
            UrlForms::Any => {
                "sqlite://PATH, sqlite::memory:, postgres://USER:PASSWORD@HOST:PORT/DATABASE or memory://"
            }
        })
    }
}

/// ` -h HOST -p PORT -U USER` for the `createdb` hint (empty parts left out).
fn create_options(host: &str, port: u16, user: &str) -> String {
    let mut options = String::new();
    if !host.is_empty() {
        options.push_str(&format!(" -h {}", shell_word(host)));
    }
    options.push_str(&format!(" -p {port}"));
    if !user.is_empty() {
        options.push_str(&format!(" -U {}", shell_word(user)));
    }
    options
}

/// `word` as one POSIX shell word: as is when it is plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b':'));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl Error {
    /// `NotFound` for a schema version.
    pub fn schema_version_not_found(name: &str, version: &ContractVersion) -> Self {
        Error::NotFound {
            kind: ArtifactKind::Schema,
            name: name.to_string(),
            version: version.clone(),
        }
    }

    /// True for errors that describe the state of the database schema (not I/O, not input):
    /// these are what [`crate::SchemaInfo::to_error`] produces.
    pub fn is_schema_state(&self) -> bool {
        if let Error::PostconditionFailed { cause, .. } = self {
            return cause.is_schema_state();
        }
        matches!(
            self,
            Error::NotInitialized { .. }
                | Error::SchemaOutdated { .. }
                | Error::SchemaNewer { .. }
                | Error::UnknownMigration { .. }
                | Error::MissingTables { .. }
                | Error::MissingIndexes { .. }
                | Error::ChecksumDrift { .. }
        )
    }

    /// The same error, as seen by a migration: a refused right becomes one that only the
    /// deploy role has ([`Privilege::Migrate`]). Core's migration driver applies it to every
    /// error of a migration transaction.
    pub fn in_migration(self) -> Self {
        match self {
            Error::InsufficientPrivilege {
                role,
                right,
                target,
                ..
            } => Error::InsufficientPrivilege {
                role,
                right,
                privilege: Privilege::Migrate,
                target,
            },
            other => other,
        }
    }

    /// The message as `pycharter db {command}` shows it: [`Display`](std::fmt::Display),
    /// except that a fix which would be the very command being run names the next step
    /// instead (an [`Error::Database`] during `db check` does not say "run: pycharter db
    /// check").
    pub fn message_for_command(&self, command: &str) -> String {
        match self {
            Error::Database { target, reason } if command == "check" => format!(
                "Database error on {target}: {reason} — the check could not read the catalog; \
                 see the server's log for the cause (rerun with -vv for the driver's detail)"
            ),
            other => other.to_string(),
        }
    }

    /// True for errors that mean the database could not be reached or logged into (or is not
    /// there at all).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::ConnectTimeout { .. }
                | Error::AuthenticationFailed { .. }
                | Error::Tls { .. }
                | Error::DatabaseMissing { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_missing_names_the_createdb_command_without_a_password() {
        let err = Error::DatabaseMissing {
            database: "contracts".into(),
            target: "postgres://app:***@db:5432/contracts".into(),
            host: "db".into(),
            port: 5432,
            user: "app".into(),
        };
        assert_eq!(
            err.to_string(),
            "Database \"contracts\" does not exist on postgres://app:***@db:5432/contracts \
             — create it, e.g. createdb -h db -p 5432 -U app contracts"
        );
        assert!(err.is_connection());
    }

    #[test]
    fn database_missing_quotes_names_for_the_shell() {
        let err = Error::DatabaseMissing {
            database: "it's; rm".into(),
            target: "postgres://localhost/x".into(),
            host: "/var/run/postgresql".into(),
            port: 5433,
            user: String::new(),
        };
        assert!(
            err.to_string()
                .ends_with(r"createdb -h /var/run/postgresql -p 5433 'it'\''s; rm'"),
            "{err}"
        );
    }

    #[test]
    fn insufficient_privilege_names_role_right_and_the_fix_for_what_was_attempted() {
        let refused = |privilege, target: &str| Error::InsufficientPrivilege {
            role: "app".into(),
            right: "create tables in schema public".into(),
            privilege,
            target: target.into(),
        };
        let pg = "postgres://app:***@db/meta";
        let migrate = refused(Privilege::Data, pg).in_migration();
        assert_eq!(
            migrate.to_string(),
            "role \"app\" may not create tables in schema public on postgres://app:***@db/meta \
             — run migrations with the deploy role: pycharter db upgrade <migration-role URL>"
        );
        assert!(refused(Privilege::Data, pg).to_string().ends_with(
            "— grant the role its rights: pycharter db grants --role app \
             postgres://app:***@db/meta prints the GRANT statements, to run as the deploy role"
        ));
        let file = refused(Privilege::Data, "sqlite:///srv/meta.db").to_string();
        assert!(
            file.contains("open the database as a user who may write"),
            "{file}"
        );
        assert!(!file.contains("grants"), "{file}");
    }

    #[test]
    fn no_message_names_the_command_being_run_as_its_fix() {
        let err = Error::Database {
            target: "sqlite://t.db".into(),
            reason: "disk I/O error".into(),
        };
        assert!(err
            .to_string()
            .contains("run: pycharter db check sqlite://t.db"));
        let during_check = err.message_for_command("check");
        assert!(!during_check.contains("db check"), "{during_check}");
        assert!(during_check.contains("disk I/O error"), "{during_check}");
        assert_eq!(err.message_for_command("upgrade"), err.to_string());
    }

    #[test]
    fn each_caller_lists_only_the_url_forms_it_accepts() {
        let invalid = |accepted| {
            Error::InvalidUrl {
                url: "mysql://h/db".into(),
                reason: "unsupported scheme".into(),
                accepted,
            }
            .to_string()
        };
        let postgres = invalid(UrlForms::Postgres);
        assert!(postgres.contains("use postgres://USER:PASSWORD@HOST:PORT/DATABASE"));
        assert!(!postgres.contains("sqlite") && !postgres.contains("memory://"));
        let sqlite = invalid(UrlForms::Sqlite);
        assert!(sqlite.contains("use sqlite://PATH"));
        assert!(!sqlite.contains("postgres") && !sqlite.contains("memory://"));
        let any = invalid(UrlForms::Any);
        for form in ["sqlite://PATH", "postgres://", "memory://"] {
            assert!(any.contains(form), "{any}");
        }
    }
}
