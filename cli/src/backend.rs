//! Which backend a database URL selects, and opening it. The only module that knows the
//! backend crates.

use pycharter_core::{redact_url, BundledMigration, ConnectOptions, Error, Result, SchemaManager};
use pycharter_memory::MemoryMetadataStore;
use pycharter_postgres::PostgresMetadataStore;
use pycharter_sqlite::SqliteMetadataStore;
use std::time::Duration;

/// The backends this binary ships; the URL rule that picks one is core's.
pub use pycharter_core::scheme::BackendKind;

/// A database URL whose scheme selects a backend this binary ships.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    kind: BackendKind,
}

// Hand-written so that a `{:?}` in a log line or a panic cannot print the password.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("url", &self.redacted())
            .field("kind", &self.kind)
            .finish()
    }
}

impl DatabaseUrl {
    /// Picks the backend from the scheme ([`BackendKind::from_url`]). Anything else is
    /// [`Error::InvalidUrl`], whose message lists the accepted forms.
    ///
    /// Only the scheme and the presence of a path are checked here; the backend parses the
    /// rest (host, port, options) and reports its own [`Error::InvalidUrl`].
    pub fn parse(raw: &str) -> Result<Self> {
        let kind = BackendKind::from_url(raw)?;
        Ok(DatabaseUrl {
            raw: raw.trim().to_string(),
            kind,
        })
    }

    /// The backend the scheme selects.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The URL with its password replaced by `***`: the only form ever printed or logged.
    pub fn redacted(&self) -> String {
        redact_url(&self.raw)
    }

    /// Connects to the backend, bounded by `options.connect_timeout` (plus
    /// `options.wait_for_schema` when waiting for the schema).
    pub async fn open(&self, options: ConnectOptions) -> Result<Box<dyn SchemaManager>> {
        let timeout = options.connect_timeout;
        let waiting = options.wait_for_schema.unwrap_or_default();
        tracing::info!(database = %self.redacted(), backend = ?self.kind, "connecting");
        // The backends bound their own connection attempts (and core the waiting between
        // them); this outer bound (with a little slack so their more precise error wins)
        // guarantees a deploy script never hangs here, whatever the backend does. A
        // multi-host Postgres URL may try each host.
        let budget = match self.kind {
            BackendKind::Postgres => pycharter_postgres::connect_budget(&self.raw, timeout),
            BackendKind::Sqlite | BackendKind::Memory => timeout,
        };
        let connecting = self.connect(options);
        let bound = waiting + budget + Duration::from_secs(2);
        match tokio::time::timeout(bound, connecting).await {
            Ok(result) => result,
            Err(_) => Err(Error::ConnectTimeout {
                target: self.redacted(),
                timeout,
            }),
        }
    }

    async fn connect(&self, options: ConnectOptions) -> Result<Box<dyn SchemaManager>> {
        Ok(match self.kind {
            BackendKind::Postgres => {
                Box::new(PostgresMetadataStore::connect(&self.raw, options).await?)
            }
            BackendKind::Sqlite => {
                Box::new(SqliteMetadataStore::connect(&self.raw, options).await?)
            }
            // A fresh, empty database (as a new file would be), so that `init` has work.
            BackendKind::Memory => Box::new(MemoryMetadataStore::connect(options).await?),
        })
    }
}

/// The migrations this binary ships, in the SQLite flavour (the default backend), read
/// without opening any database.
pub fn bundled_migrations() -> Result<Vec<BundledMigration>> {
    Ok(pycharter_sqlite::migrations())
}

/// `raw` safe to print even when it is not a URL (core's rule).
pub use pycharter_core::scheme::safe_display;

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(raw: &str) -> Result<BackendKind> {
        DatabaseUrl::parse(raw).map(|u| u.kind)
    }

    #[test]
    fn scheme_selects_backend() {
        assert_eq!(kind("postgres://u:p@h/db").unwrap(), BackendKind::Postgres);
        assert_eq!(kind("postgresql://h/db").unwrap(), BackendKind::Postgres);
        assert_eq!(kind("POSTGRES://h/db").unwrap(), BackendKind::Postgres);
        assert_eq!(kind("sqlite://pycharter.db").unwrap(), BackendKind::Sqlite);
        assert_eq!(kind("sqlite:meta.db").unwrap(), BackendKind::Sqlite);
        assert_eq!(kind("sqlite::memory:").unwrap(), BackendKind::Sqlite);
        assert_eq!(kind("memory://").unwrap(), BackendKind::Memory);
    }

    #[test]
    fn unknown_or_malformed_urls_are_invalid_and_list_the_forms() {
        for raw in [
            "mysql://x",
            "pycharter.db",
            "postgres:h/db",
            ":nothing",
            "memory:",
        ] {
            let err = kind(raw).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{raw}: {err:?}");
            assert!(
                err.to_string()
                    .ends_with(&format!("— use {}", pycharter_core::UrlForms::Any)),
                "{err}"
            );
        }
        assert!(kind("pycharter.db")
            .unwrap_err()
            .to_string()
            .contains("sqlite://pycharter.db"));
    }

    #[test]
    fn passwords_never_reach_messages_or_debug() {
        let err = kind("mysql://u:hunter2@h/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = kind("u:hunter2@h/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let url = DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.redacted(), "postgres://u:***@h/db");
    }
}
