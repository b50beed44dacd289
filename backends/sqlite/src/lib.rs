//! # pycharter-sqlite
//!
//! The SQLite backend of pycharter-rs, the embedded default of the `pycharter` CLI: one
//! database file, WAL journal mode, foreign keys on, and the migrations of
//! [`pycharter_core::MIGRATIONS`] in SQLite dialect, embedded in the binary and checksummed.
//!
//! The rules (what is valid, what is pending, which error a user sees) live in
//! `pycharter-core`; this crate reads SQLite's catalog and runs SQL. Every migration runs in
//! one `BEGIN IMMEDIATE` transaction, SQLite's write lock, so several processes initializing
//! one file at once is safe: the first migrates, the others wait, then find nothing to do.
//!
//! ```no_run
//! use pycharter_core::prelude::*;
//! use pycharter_sqlite::SqliteMetadataStore;
//! use serde_json::json;
//!
//! # async fn demo() -> pycharter_core::Result<()> {
//! // Creates the file if needed and migrates it to this build's layout.
//! let store = SqliteMetadataStore::new("sqlite://pycharter.db").await?;
//! store.store_schema("orders", "1.0.0", &json!({"type": "object"})).await?;
//! assert_eq!(store.list_versions("orders").await?.len(), 1);
//! # Ok(())
//! # }
//! ```

mod add_column;
mod artifacts;
mod catalog;
mod errors;
mod executor;
mod feed;
mod pool;
pub mod sql;
mod store;
mod url;

#[cfg(test)]
mod query_plan_tests;

pub use store::SqliteMetadataStore;

/// The sqlx this crate is built with: queries of your own on [`SqliteMetadataStore::pool`]
/// need no sqlx dependency of yours (and no version of it to keep in step).
pub use sqlx;
/// The pool of [`SqliteMetadataStore::pool`], [`initialize_schema`] and [`validate_schema`].
pub use sqlx::SqlitePool;

use pycharter_core::spec::{self, BundledMigration};
use pycharter_core::{InitializeOptions, MigrationReport, Result, SchemaInfo, SchemaManager};

/// `(up, down)` SQL of each migration of [`pycharter_core::MIGRATIONS`], in order.
const MIGRATION_SQL: [(&str, &str); 3] = [
    (
        include_str!("../migrations/1.0.0.up.sql"),
        include_str!("../migrations/1.0.0.down.sql"),
    ),
    (
        include_str!("../migrations/1.1.0.up.sql"),
        include_str!("../migrations/1.1.0.down.sql"),
    ),
    (
        include_str!("../migrations/1.2.0.up.sql"),
        include_str!("../migrations/1.2.0.down.sql"),
    ),
];

/// The migrations this build ships for SQLite, in order (what `pycharter db history` lists
/// without a URL).
///
/// ```
/// let migrations = pycharter_sqlite::migrations();
/// assert_eq!(migrations.last().unwrap().version.to_string(), pycharter_core::SCHEMA_VERSION);
/// assert!(migrations[0].up_sql.contains("CREATE TABLE IF NOT EXISTS schemas"));
/// ```
pub fn migrations() -> Vec<BundledMigration> {
    // The SQL pairs are compiled in and `bundle_has_one_sql_pair_per_migration` checks the
    // count, so this cannot fail in a released build.
    spec::bundle(&MIGRATION_SQL).expect("one SQL pair per migration in MIGRATIONS")
}

/// Applies every pending migration to the database behind `pool`, as PyCharter's
/// `initialize_schema` does. Idempotent and safe to run from several processes at once.
///
/// ```no_run
/// # async fn demo() -> pycharter_core::Result<()> {
/// let pool = pycharter_sqlite::SqlitePool::connect("sqlite://pycharter.db?mode=rwc").await.unwrap();
/// let report = pycharter_sqlite::initialize_schema(&pool).await?;
/// println!("{} steps applied", report.steps.len());
/// # Ok(())
/// # }
/// ```
pub async fn initialize_schema(pool: &SqlitePool) -> Result<MigrationReport> {
    SqliteMetadataStore::from_pool(pool.clone())
        .initialize(InitializeOptions::default())
        .await
}

/// Validates the database behind `pool` against this build, as PyCharter's
/// `validate_schema` does. An invalid schema is a result (`valid: false` and a message), not
/// an error.
///
/// ```no_run
/// # async fn demo() -> pycharter_core::Result<()> {
/// let pool = pycharter_sqlite::SqlitePool::connect("sqlite://pycharter.db").await.unwrap();
/// let info = pycharter_sqlite::validate_schema(&pool).await?;
/// if !info.valid {
///     eprintln!("{}", info.message);
/// }
/// # Ok(())
/// # }
/// ```
pub async fn validate_schema(pool: &SqlitePool) -> Result<SchemaInfo> {
    SqliteMetadataStore::from_pool(pool.clone())
        .validate()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_has_one_sql_pair_per_migration() {
        let bundled = migrations();
        assert_eq!(bundled.len(), pycharter_core::MIGRATIONS.len());
        for m in &bundled {
            for table in &m.tables {
                assert!(
                    m.up_sql
                        .contains(&format!("CREATE TABLE IF NOT EXISTS {table} ")),
                    "{} creates {table}",
                    m.version
                );
                assert!(m
                    .down_sql
                    .contains(&format!("DROP TABLE IF EXISTS {table};")));
            }
            for index in m.index_names() {
                assert!(
                    m.up_sql.contains(&format!("INDEX IF NOT EXISTS {index} ")),
                    "{} creates {index}",
                    m.version
                );
                assert!(m
                    .down_sql
                    .contains(&format!("DROP INDEX IF EXISTS {index};")));
            }
        }
    }
}
