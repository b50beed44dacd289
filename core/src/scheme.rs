//! Which backend a database URL's scheme selects — one rule for every front end (the
//! `pycharter` CLI, the Python binding's `initialize_schema(url)` / `validate_schema(url)`),
//! so they accept the same URLs and refuse the others with the same message.

use crate::error::{Error, Result, UrlForms};
use crate::redact::redact_url;

/// The backends a URL can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `postgres://`, `postgresql://`
    Postgres,
    /// `sqlite:` (`sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`)
    Sqlite,
    /// `memory://`: a fresh in-memory store.
    Memory,
}

impl BackendKind {
    /// Picks the backend from the scheme of `raw` (surrounding whitespace ignored). Anything
    /// else is [`Error::InvalidUrl`], whose message lists the accepted forms and never shows
    /// a password.
    ///
    /// Only the scheme and the `//` after it are checked here; the backend parses the rest
    /// (host, port, path, options) and reports its own [`Error::InvalidUrl`].
    ///
    /// ```
    /// use pycharter_core::scheme::BackendKind;
    /// assert_eq!(BackendKind::from_url("postgresql://h/db")?, BackendKind::Postgres);
    /// assert_eq!(BackendKind::from_url("sqlite::memory:")?, BackendKind::Sqlite);
    /// let err = BackendKind::from_url("mysql://u:hunter2@h/db").unwrap_err();
    /// assert!(err.to_string().contains("unsupported scheme \"mysql\""));
    /// assert!(!err.to_string().contains("hunter2"));
    /// # Ok::<(), pycharter_core::Error>(())
    /// ```
    pub fn from_url(raw: &str) -> Result<BackendKind> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: safe_display(raw),
            reason,
            accepted: UrlForms::Any,
        };
        let url = raw.trim();
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(invalid(format!(
                "it has no scheme (for a file, write sqlite://{url})"
            )));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" if rest.starts_with("//") => Ok(BackendKind::Postgres),
            "memory" if rest.starts_with("//") => Ok(BackendKind::Memory),
            "postgres" | "postgresql" | "memory" => {
                Err(invalid(format!("a {scheme} URL starts with {scheme}://")))
            }
            // The SQLite backend parses the path and options and reports its own errors.
            "sqlite" => Ok(BackendKind::Sqlite),
            "" => Err(invalid("it has no scheme".into())),
            other => Err(invalid(format!(
                "unsupported scheme {other:?} (postgres:// and postgresql:// select \
                 PostgreSQL, sqlite: selects SQLite, memory:// the in-memory store)"
            ))),
        }
    }
}

/// `raw` safe to print even when it is not a URL: [`redact_url`] handles everything with a
/// `://`; a scheme-less `user:password@host` would pass through it untouched.
///
/// ```
/// use pycharter_core::scheme::safe_display;
/// assert_eq!(safe_display("u:hunter2@h/db"), "u:***@h/db");
/// assert_eq!(safe_display("postgres://u:hunter2@h/db"), "postgres://u:***@h/db");
/// ```
pub fn safe_display(raw: &str) -> String {
    if raw.contains("://") {
        return redact_url(raw);
    }
    match raw.rfind('@') {
        Some(at) => match raw[..at].find(':') {
            Some(colon) => format!("{}:***{}", &raw[..colon], &raw[at..]),
            None => raw.to_string(),
        },
        None => raw.to_string(),
    }
}
