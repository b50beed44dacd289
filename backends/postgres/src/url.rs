//! A URL and [`ConnectOptions`] in, sqlx options out.
//!
//! Namespace and statement timeout travel in the startup packet (`options=-c search_path=…
//! -c statement_timeout=…`): they cost no round trip, hold for every pooled connection, and
//! let every SQL text stay constant (no identifier spliced into queries, one cached prepared
//! statement per query). The namespace is then simply `current_schema()` on the server.

use crate::connector::Candidate;
use crate::errors::ErrorContext;
use crate::executor::LockStrategy;
use crate::hosts::{self, TargetSessionAttrs};
use percent_encoding::percent_decode_str;
use pycharter_core::{redact_url, ConnectOptions, Error, Result, UrlForms};
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;

/// Longest Postgres identifier (NAMEDATALEN - 1); longer names are silently truncated by the
/// server, which would make the namespace we check differ from the one we use.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// sqlx's own URL parameter; `0` also makes this backend use unnamed statements.
const STATEMENT_CACHE_PARAM: &str = "statement-cache-capacity";

/// Everything `connect` derives from its inputs.
pub(crate) struct Settings {
    /// One per host of the URL, in its order (they hold the password: never log or `Debug`
    /// them); a URL without a host list has one.
    pub(crate) candidates: Vec<Candidate>,
    /// The URL's `target_session_attrs` (default `any`).
    pub(crate) attrs: TargetSessionAttrs,
    /// Redacted target, secrets to scrub, connect timeout.
    pub(crate) errors: ErrorContext,
    /// False when the URL disables sqlx's statement cache: queries then use unnamed
    /// statements instead of leaking a named statement per execution.
    pub(crate) persistent: bool,
    /// The validated namespace, if one was configured.
    pub(crate) namespace: Option<String>,
    /// `migration_lock=advisory|table` (default advisory).
    pub(crate) lock: LockStrategy,
}

/// Parses `url` and applies `options`; errors never contain the password.
pub(crate) fn settings(url: &str, options: &ConnectOptions) -> Result<Settings> {
    let target = redact_url(url);
    let invalid = |reason: String| Error::InvalidUrl {
        url: target.clone(),
        reason,
        accepted: UrlForms::Postgres,
    };
    let split = hosts::split(url).map_err(invalid)?;
    let lock = match &split.migration_lock {
        Some(value) => value.parse().map_err(invalid)?,
        None => LockStrategy::default(),
    };
    let url = split.single.as_str();
    let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(invalid(format!(
            "scheme {:?} is not postgres:// or postgresql://",
            parsed.scheme()
        )));
    }
    let mut secrets = Vec::new();
    if let Some(password) = parsed.password() {
        secrets.push(password.to_string());
        secrets.push(
            percent_decode_str(password)
                .decode_utf8_lossy()
                .into_owned(),
        );
    }
    let mut persistent = true;
    for (key, value) in parsed.query_pairs() {
        if key.eq_ignore_ascii_case("password") {
            secrets.push(value.to_string());
        } else if key == STATEMENT_CACHE_PARAM && value.trim() == "0" {
            persistent = false;
        }
    }
    let errors = ErrorContext::new(target, secrets, options.connect_timeout);

    let mut connect = PgConnectOptions::from_str(url).map_err(|e| errors.map(e))?;
    let errors = errors.with_endpoint(&connect);
    if connect.get_application_name().is_none() {
        // Lets a DBA see in pg_stat_activity who holds the migration lock.
        connect = connect.application_name("pycharter");
    }
    let namespace = match &options.namespace {
        Some(ns) => Some(validate_namespace(ns, &errors)?.to_string()),
        None => None,
    };
    let mut startup: Vec<(&str, String)> = Vec::new();
    if let Some(ns) = &namespace {
        // sqlx escapes spaces and backslashes for the server's option splitting; the other
        // whitespace characters are control characters, which the namespace check refuses.
        startup.push(("search_path", quote_ident(ns)));
    }
    if let Some(timeout) = options.statement_timeout {
        // 0 would mean "no timeout": never round a tiny timeout down to that.
        let ms = timeout.as_millis().max(1);
        startup.push(("statement_timeout", ms.to_string()));
    }
    if !startup.is_empty() {
        connect = connect.options(startup);
    }
    let candidates = if split.hosts.is_empty() {
        let label = hosts::HostSpec {
            host: connect.get_socket().map_or_else(
                || connect.get_host().to_string(),
                |socket| socket.display().to_string(),
            ),
            port: Some(connect.get_port()),
        }
        .label(connect.get_port());
        vec![Candidate {
            label,
            options: connect,
        }]
    } else {
        split
            .hosts
            .iter()
            .map(|host| {
                let mut options = if host.host.starts_with('/') {
                    connect.clone().socket(&host.host)
                } else {
                    connect.clone().host(&host.host)
                };
                if let Some(port) = host.port {
                    options = options.port(port);
                }
                Candidate {
                    label: host.label(connect.get_port()),
                    options,
                }
            })
            .collect()
    };
    Ok(Settings {
        candidates,
        attrs: split.attrs,
        errors,
        persistent,
        namespace,
        lock,
    })
}

fn validate_namespace<'a>(namespace: &'a str, errors: &ErrorContext) -> Result<&'a str> {
    let reason = if namespace.is_empty() {
        Some("is empty")
    } else if namespace.len() > MAX_IDENTIFIER_BYTES {
        Some("is longer than 63 bytes, which PostgreSQL would truncate")
    } else if namespace.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    };
    match reason {
        None => Ok(namespace),
        Some(reason) => Err(Error::InvalidRequest {
            action: "connect".into(),
            reason: format!("namespace {namespace:?} {reason}"),
            target: errors.target().to_string(),
        }),
    }
}

/// `ident` as a quoted SQL identifier (`"` doubled), for the few places SQL cannot take a
/// parameter (DDL); only ever applied to configuration and bundled names, never user input.
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn namespace_and_timeout_go_to_the_startup_options() {
        let options = ConnectOptions {
            namespace: Some("Tenant \"A\" b".into()),
            statement_timeout: Some(Duration::from_micros(10)),
            ..ConnectOptions::default()
        };
        let s = settings("postgres://u:pw@localhost/db", &options).unwrap();
        assert_eq!(
            s.candidates[0].options.get_options(),
            Some(r#"-c search_path="Tenant\ ""A""\ b" -c statement_timeout=1"#)
        );
        assert!(s.persistent);
        assert_eq!(s.errors.target(), "postgres://u:***@localhost/db");
    }

    #[test]
    fn a_host_list_gives_one_candidate_per_host_with_the_shared_settings() {
        let url = "postgres://u:pw@a:1,%2Ftmp%2Fs,[::1]:3/db?sslmode=disable&migration_lock=table\
                   &target_session_attrs=standby";
        let s = settings(url, &ConnectOptions::default()).unwrap();
        let labels: Vec<&str> = s.candidates.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["a:1", "/tmp/s:5432", "[::1]:3"]);
        let first = &s.candidates[0].options;
        assert_eq!((first.get_host(), first.get_port()), ("a", 1));
        assert_eq!(first.get_database(), Some("db"));
        assert!(s.candidates[1].options.get_socket().is_some());
        assert_eq!(s.attrs, TargetSessionAttrs::Standby);
        assert_eq!(s.lock, LockStrategy::Table);
        assert_eq!(s.errors.target(), "postgres://u:***@a:1,%2Ftmp%2Fs,[::1]:3/db?sslmode=disable&migration_lock=table&target_session_attrs=standby");
        let bad = settings(
            "postgres://u:pw@h/db?migration_lock=gap",
            &ConnectOptions::default(),
        );
        assert!(matches!(bad, Err(Error::InvalidUrl { .. })));
    }

    #[test]
    fn statement_cache_knob_disables_named_statements() {
        let url = "postgresql://u@h/db?statement-cache-capacity=0";
        let s = settings(url, &ConnectOptions::default()).unwrap();
        assert!(!s.persistent);
    }

    #[test]
    fn rejects_bad_urls_and_namespaces_without_the_password() {
        for url in [
            "mysql://u:hunter2@h/db",
            "postgres://u:hunter2@h:notaport/db",
        ] {
            let err = settings(url, &ConnectOptions::default())
                .err()
                .expect("invalid");
            assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
            assert!(!format!("{err}{err:?}").contains("hunter2"), "{err}");
        }
        let err = settings("mysql://u:hunter2@h/db", &ConnectOptions::default())
            .err()
            .expect("invalid");
        assert_eq!(
            err.to_string(),
            "Invalid database URL mysql://u:***@h/db: scheme \"mysql\" is not postgres:// or \
             postgresql:// — use postgres://USER:PASSWORD@HOST:PORT/DATABASE or \
             postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        );
        let long = ConnectOptions {
            namespace: Some("n".repeat(64)),
            ..ConnectOptions::default()
        };
        let err = settings("postgres://u:hunter2@h/db", &long)
            .err()
            .expect("invalid");
        assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    }

    #[test]
    fn quote_ident_doubles_quotes() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }
}
