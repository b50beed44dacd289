//! # pycharter-postgres
//!
//! The PostgreSQL backend of pycharter-rs: [`PostgresMetadataStore`] implements core's
//! [`MetadataStore`](pycharter_core::MetadataStore) and
//! [`SchemaManager`](pycharter_core::SchemaManager) over an sqlx [`PgPool`](sqlx::PgPool).
//!
//! - **Migrations** are the `.sql` files of `backends/postgres/migrations/`, embedded at
//!   compile time ([`PostgresMetadataStore::migrations`]); their SHA-256 is recorded in
//!   `pycharter_schema_version` and compared on validation.
//! - **Migrating** (`initialize` / `upgrade` / `downgrade`) is one transaction that first
//!   takes `pg_advisory_xact_lock(`[`MIGRATION_LOCK_KEY`]`)`, then re-reads the applied
//!   versions, then applies what is still pending: concurrent deployers wait, then find
//!   nothing to do; a failing step rolls everything back (DDL is transactional). The lock is
//!   transaction-level, so it also works behind PgBouncer in transaction pooling mode.
//! - **Validation** is one catalog query, one round trip (simple protocol, no parameters).
//!   It reads the version table through `XMLTABLE`, so that the query parses even when the
//!   table does not exist; on a server built without libxml (no mainstream package or
//!   managed service is) it falls back to two round trips.
//! - **Latest version** by semver precedence is an index lookup on
//!   `(name, version_sort_key)` ([`sql::Statements::latest`]).
//! - **Options** ([`ConnectOptions`](pycharter_core::ConnectOptions)): `namespace` (the
//!   Postgres schema holding the tables; unset: the server's `current_schema()`, i.e.
//!   `public` on a stock server), `connect_timeout`, `statement_timeout`, `lock_timeout`.
//!   TLS through the URL's `sslmode`.
//!
//! ## PgBouncer
//!
//! Migrations take only transaction-level locks and run inside one transaction, so they are
//! safe in transaction pooling mode. Two things are per session, though:
//!
//! - `namespace` and `statement_timeout` are sent as startup `options`, which PgBouncer does
//!   not forward. Behind PgBouncer leave them unset and set them on the role instead
//!   (`ALTER ROLE app SET search_path = contracts`).
//! - sqlx caches named prepared statements per connection. PgBouncer 1.21+ handles that with
//!   `max_prepared_statements`; with an older PgBouncer add `statement-cache-capacity=0` to
//!   the URL (`postgres://app:pw@bouncer/app?statement-cache-capacity=0`): this backend then
//!   sends unnamed statements only, each store statement in a transaction of its own (sqlx
//!   parses and executes in two round trips, which PgBouncer could otherwise send to two
//!   different server connections). Migration commands (`pycharter db …`) need no knob:
//!   they use the simple protocol and unnamed statements inside their one transaction.
//!   `backends/postgres/tests/pgbouncer.rs` and the CLI's `reliability_pgbouncer` test run
//!   all of this through a real PgBouncer.
//!
//! ## Example
//!
//! ```no_run
//! use pycharter_core::prelude::*;
//! use pycharter_postgres::PostgresMetadataStore;
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! # async fn demo() -> pycharter_core::Result<()> {
//! let store = PostgresMetadataStore::new("postgres://app:secret@db:5432/contracts").await?;
//! let info = store.get_schema_info().await?;
//! assert!(info.valid, "{}", info.message);
//!
//! let store: Arc<dyn MetadataStore> = Arc::new(store);
//! store.store_schema("orders", "1.10.0", &json!({"type": "object"})).await?;
//! store.store_schema("orders", "1.9.0", &json!({"type": "object"})).await?;
//! let latest = store.get_schema("orders", None).await?.expect("stored");
//! assert_eq!(latest.version.to_string(), "1.10.0");
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod artifacts;
mod catalog;
mod errors;
mod executor;
mod feed;
mod pool;
pub mod sql;
mod store;
mod url;

pub use executor::MIGRATION_LOCK_KEY;
pub use feed::FEED_APPLICATION_NAME;
pub use store::{initialize_schema, validate_schema, PostgresMetadataStore};

#[cfg(test)]
mod tests {
    use super::*;
    use pycharter_core::{MIGRATIONS, SCHEMA_VERSION};

    #[test]
    fn embedded_migrations_pair_with_the_spec() {
        let bundled = PostgresMetadataStore::migrations();
        assert_eq!(bundled.len(), MIGRATIONS.len());
        let last = bundled.last().expect("at least one migration");
        assert_eq!(last.version.to_string(), SCHEMA_VERSION);
        for (migration, spec) in bundled.iter().zip(MIGRATIONS) {
            for name in spec
                .tables
                .iter()
                .chain(spec.indexes.iter().map(|i| &i.name))
            {
                assert!(
                    migration.up_sql.contains(&format!("IF NOT EXISTS {name} ")),
                    "{} must create {name} idempotently",
                    spec.version
                );
            }
            // Down drops what up created; indexes of dropped tables go with them.
            let drops: Vec<String> = if spec.tables.is_empty() {
                spec.indexes
                    .iter()
                    .map(|i| format!("DROP INDEX IF EXISTS {};", i.name))
                    .collect()
            } else {
                spec.tables
                    .iter()
                    .map(|t| format!("DROP TABLE IF EXISTS {t};"))
                    .collect()
            };
            for drop in drops {
                assert!(
                    migration.down_sql.contains(&drop),
                    "{}: {drop}",
                    spec.version
                );
            }
        }
    }

    #[test]
    fn lock_key_is_the_documented_one() {
        assert_eq!(MIGRATION_LOCK_KEY, 8_104_618_304_392_557_669);
    }
}
