//! The one place where sqlx errors become pycharter errors.
//!
//! Every reason that leaves this module is scrubbed: the password of the URL (raw and
//! percent-decoded) is replaced by `***`, and any URL found in a driver message goes through
//! [`redact_url`]. sqlx messages do not normally embed the URL, but a password must never
//! depend on "normally".

use pycharter_core::{redact_url, Error, Privilege, TlsProblem, UrlForms};
use sqlx::postgres::PgConnectOptions;
use std::fmt::Display;
use std::time::Duration;

/// SQLSTATE `invalid_password`.
const INVALID_PASSWORD: &str = "28P01";
/// SQLSTATE `admin_shutdown`: the session was terminated (server shutdown, pg_terminate_backend).
const ADMIN_SHUTDOWN: &str = "57P01";
/// SQLSTATE `crash_shutdown`: another server process crashed; the server is resetting.
const CRASH_SHUTDOWN: &str = "57P02";
/// SQLSTATE `cannot_connect_now`: the server is starting up or shutting down.
const CANNOT_CONNECT_NOW: &str = "57P03";
/// SQLSTATE `invalid_authorization_specification` (e.g. no pg_hba.conf entry, unknown role).
const INVALID_AUTHORIZATION: &str = "28000";
/// SQLSTATE `invalid_catalog_name`: the database named in the URL does not exist.
const INVALID_CATALOG_NAME: &str = "3D000";
/// SQLSTATE `read_only_sql_transaction`: a write on a standby or in a read-only session
/// ("cannot execute INSERT in a read-only transaction").
const READ_ONLY_SQL_TRANSACTION: &str = "25006";
/// SQLSTATE `insufficient_privilege` ("permission denied for …", "must be owner of …").
const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// Its relatives: `invalid_grantor`, `invalid_grant_operation`, `invalid_role_specification`.
const PRIVILEGE_RELATIVES: [&str; 3] = ["0L000", "0LP01", "0P000"];
/// SQLSTATE `lock_not_available`: `lock_timeout` expired.
pub(crate) const LOCK_NOT_AVAILABLE: &str = "55P03";

/// What every error of one database carries: its redacted URL, the secrets to scrub from
/// driver messages, and the connect timeout (reported by [`Error::ConnectTimeout`]).
#[derive(Clone)]
pub(crate) struct ErrorContext {
    target: String,
    secrets: Vec<String>,
    connect_timeout: Duration,
    /// Where the URL points (never its password), once it parsed: what
    /// [`Error::DatabaseMissing`] names.
    endpoint: Option<Endpoint>,
}

/// Database, host, port and user a URL names.
#[derive(Debug, Clone)]
struct Endpoint {
    database: String,
    host: String,
    port: u16,
    user: String,
}

// Hand-written so that the secrets can never end up in a `{:?}`.
impl std::fmt::Debug for ErrorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorContext")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ErrorContext {
    /// `target` must already be redacted; `secrets` are scrubbed from every reason.
    pub(crate) fn new(target: String, secrets: Vec<String>, connect_timeout: Duration) -> Self {
        let secrets = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        ErrorContext {
            target,
            secrets,
            connect_timeout,
            endpoint: None,
        }
    }

    /// Remembers where `options` point, for [`Error::DatabaseMissing`].
    pub(crate) fn with_endpoint(mut self, options: &PgConnectOptions) -> Self {
        self.endpoint = Some(Endpoint {
            // Postgres defaults the database to the user name, as libpq does.
            database: options
                .get_database()
                .unwrap_or(options.get_username())
                .to_string(),
            host: options.get_host().to_string(),
            port: options.get_port(),
            user: options.get_username().to_string(),
        });
        self
    }

    /// The redacted URL shown in every message.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// The connect timeout this database was opened with.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// `text` without any secret or unredacted URL.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = redact_urls_in(text);
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }

    /// [`Error::Database`] with a scrubbed reason.
    pub(crate) fn database(&self, reason: impl Display) -> Error {
        Error::Database {
            target: self.target.clone(),
            reason: self.scrub(&reason.to_string()),
        }
    }

    /// [`Error::ConnectTimeout`] for this database.
    pub(crate) fn connect_timed_out(&self) -> Error {
        Error::ConnectTimeout {
            target: self.target.clone(),
            timeout: self.connect_timeout,
        }
    }

    /// [`ErrorContext::map`] for a migration statement run under the DDL lock timeout
    /// `waited`: giving up on a table lock is [`Error::TableLockTimeout`] (one attempt), which
    /// core's driver retries.
    pub(crate) fn map_ddl(&self, err: sqlx::Error, waited: Option<Duration>) -> Error {
        match &err {
            sqlx::Error::Database(db) if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
                Error::TableLockTimeout {
                    target: self.target.clone(),
                    reason: self.scrub(db.message()),
                    attempts: 1,
                    waited: waited.unwrap_or_default(),
                }
            }
            _ => self.map(err),
        }
    }

    /// Maps a sqlx error to the pycharter error a user can act on.
    pub(crate) fn map(&self, err: sqlx::Error) -> Error {
        let target = self.target.clone();
        match err {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let reason = self.scrub(db.message());
                match code.as_str() {
                    // "no pg_hba.conf entry for host …, no encryption": the server takes this
                    // client only over TLS (hostssl), and the URL said sslmode=disable.
                    INVALID_AUTHORIZATION if reason.ends_with("no encryption") => Error::Tls {
                        target,
                        problem: TlsProblem::Required,
                    },
                    INVALID_PASSWORD | INVALID_AUTHORIZATION => {
                        Error::AuthenticationFailed { target, reason }
                    }
                    INVALID_CATALOG_NAME => match &self.endpoint {
                        Some(endpoint) => Error::DatabaseMissing {
                            database: endpoint.database.clone(),
                            target,
                            host: endpoint.host.clone(),
                            port: endpoint.port,
                            user: endpoint.user.clone(),
                        },
                        None => Error::Database {
                            target,
                            reason: format!("{reason} (SQLSTATE {code})"),
                        },
                    },
                    INSUFFICIENT_PRIVILEGE => self.insufficient_privilege(&reason),
                    code if PRIVILEGE_RELATIVES.contains(&code) => {
                        self.insufficient_privilege(&reason)
                    }
                    // Whatever the statement, the server refuses every write: the fix is to
                    // reach the primary, and the transaction it was in is rolled back.
                    READ_ONLY_SQL_TRANSACTION => Error::ReadOnlyServer { target, reason },
                    // The server ended the session (restart, failover, pg_terminate_backend)
                    // or is starting up: the fix is the server's, not a schema check.
                    ADMIN_SHUTDOWN | CRASH_SHUTDOWN | CANNOT_CONNECT_NOW => Error::Unreachable {
                        target,
                        reason: format!("{reason} (SQLSTATE {code})"),
                    },
                    "" => Error::Database { target, reason },
                    _ => Error::Database {
                        target,
                        reason: format!("{reason} (SQLSTATE {code})"),
                    },
                }
            }
            // sqlx reports a failed certificate verification as an I/O error of the handshake.
            sqlx::Error::Io(io) if rustls_error(&io).is_some() => Error::Tls {
                target,
                problem: self.tls_problem(&io),
            },
            // Refused, reset, DNS failure: the server is not there (or went away).
            sqlx::Error::Io(io) => Error::Unreachable {
                target,
                reason: self.scrub(&io.to_string()),
            },
            sqlx::Error::Tls(tls) => Error::Tls {
                target,
                problem: self.tls_problem(&*tls),
            },
            // The pool's acquire deadline is the connect timeout (see `connect`).
            sqlx::Error::PoolTimedOut => self.connect_timed_out(),
            sqlx::Error::Configuration(cfg) => Error::InvalidUrl {
                url: target,
                reason: self.scrub(&cfg.to_string()),
                accepted: UrlForms::Postgres,
            },
            other => self.database(other),
        }
    }
}

/// The rustls error inside `err` (sqlx boxes it, or wraps it in an `io::Error`), if any.
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(found) = err.downcast_ref::<rustls::Error>() {
        return Some(found);
    }
    let io = err.downcast_ref::<std::io::Error>()?;
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

impl ErrorContext {
    /// What a failed TLS handshake (or sqlx's refusal to go on without TLS) means.
    fn tls_problem(&self, err: &(dyn std::error::Error + 'static)) -> TlsProblem {
        use rustls::CertificateError as Cert;
        match rustls_error(err) {
            Some(rustls::Error::InvalidCertificate(cert)) => match cert {
                Cert::UnknownIssuer | Cert::BadSignature => TlsProblem::UnknownIssuer,
                Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                    TlsProblem::WrongHost {
                        host: self
                            .endpoint
                            .as_ref()
                            .map_or_else(String::new, |e| e.host.clone()),
                    }
                }
                Cert::Expired
                | Cert::ExpiredContext { .. }
                | Cert::NotValidYet
                | Cert::NotValidYetContext { .. } => TlsProblem::Expired,
                other => TlsProblem::Other {
                    reason: format!("invalid server certificate: {other:?}"),
                },
            },
            _ => {
                let reason = self.scrub(&err.to_string());
                // sqlx's words when the server answers the SSLRequest with 'N'.
                if reason.contains("server does not support TLS") {
                    TlsProblem::NotOffered
                } else {
                    TlsProblem::Other { reason }
                }
            }
        }
    }

    /// [`Error::InsufficientPrivilege`] for the URL's role, the right read from the server's
    /// (scrubbed) message. [`Privilege::Data`]: core's migration driver turns it into
    /// [`Privilege::Migrate`] when a migration was refused.
    fn insufficient_privilege(&self, reason: &str) -> Error {
        let role = self
            .endpoint
            .as_ref()
            .map_or_else(String::new, |endpoint| endpoint.user.clone());
        Error::InsufficientPrivilege {
            role,
            right: missing_right(reason),
            privilege: Privilege::Data,
            target: self.target.clone(),
        }
    }

    /// The short, scrubbed reason of a failed connection attempt, as one host's entry in the
    /// error of a multi-host connect (`connection refused`, `password authentication failed …`).
    pub(crate) fn reason(&self, err: &sqlx::Error) -> String {
        match err {
            sqlx::Error::Database(db) => match db.code() {
                Some(code) => format!("{} (SQLSTATE {code})", self.scrub(db.message())),
                None => self.scrub(db.message()),
            },
            other => self.scrub(&other.to_string()),
        }
    }

    /// Whether the server refused the credentials.
    pub(crate) fn is_authentication(&self, err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some(INVALID_PASSWORD | INVALID_AUTHORIZATION)))
    }
}

/// The right a Postgres "permission denied" message says is missing, in words.
fn missing_right(reason: &str) -> String {
    if let Some(object) = reason.strip_prefix("permission denied for ") {
        if let Some(schema) = object.strip_prefix("schema ") {
            // CREATE when a migration was refused, USAGE when a query was: the server's
            // message is the same.
            return format!("create tables in (or use) schema {schema}");
        }
        if let Some(table) = object.strip_prefix("table ") {
            return format!("read or write table {table}");
        }
        if let Some(sequence) = object.strip_prefix("sequence ") {
            return format!("use sequence {sequence} (ids of new rows)");
        }
        return format!("use {object}");
    }
    if let Some(object) = reason.strip_prefix("must be owner of ") {
        return format!("alter or drop {object}, which only its owner may");
    }
    format!("do this ({reason})")
}

/// Replaces every `postgres://…` / `postgresql://…` token in `text` with its redacted form.
fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("postgres") {
        let candidate = &rest[start..];
        let is_url = candidate.starts_with("postgres://") || candidate.starts_with("postgresql://");
        if !is_url {
            out.push_str(&rest[..start + "postgres".len()]);
            rest = &rest[start + "postgres".len()..];
            continue;
        }
        let len = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')' | '>'))
            .unwrap_or(candidate.len());
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&candidate[..len]));
        rest = &candidate[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrorContext {
        ErrorContext::new(
            "postgres://app:***@db/meta".into(),
            vec!["s3cret".into(), String::new()],
            Duration::from_secs(2),
        )
    }

    #[test]
    fn scrub_removes_secrets_and_urls() {
        let text = "failed: postgres://app:other@db/meta said s3cret; postgresql is fine";
        let scrubbed = ctx().scrub(text);
        assert!(!scrubbed.contains("s3cret"), "{scrubbed}");
        assert!(!scrubbed.contains("other"), "{scrubbed}");
        assert!(
            scrubbed.contains("postgres://app:***@db/meta"),
            "{scrubbed}"
        );
        assert!(scrubbed.ends_with("postgresql is fine"), "{scrubbed}");
    }

    #[test]
    fn maps_io_pool_and_config_errors() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            ctx().map(sqlx::Error::Io(refused)),
            Error::Unreachable { .. }
        ));
        assert!(matches!(
            ctx().map(sqlx::Error::PoolTimedOut),
            Error::ConnectTimeout { timeout, .. } if timeout == Duration::from_secs(2)
        ));
        let cfg = sqlx::Error::Configuration("bad s3cret".into());
        let err = ctx().map(cfg);
        assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
        assert!(!format!("{err} {err:?}").contains("s3cret"));
    }

    #[test]
    fn debug_hides_secrets() {
        assert!(!format!("{:?}", ctx()).contains("s3cret"));
    }
}
