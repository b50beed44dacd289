//! # pycharter-postgres
//!
//! The PostgreSQL backend of pycharter-rs: [`PostgresMetadataStore`] implements core's
//! [`MetadataStore`](pycharter_core::MetadataStore) and
//! [`SchemaManager`](pycharter_core::SchemaManager) over an sqlx [`PgPool`](sqlx::PgPool).
//!
//! - **Migrations** are the `.sql` files of `backends/postgres/migrations/`, embedded at
//!   compile time ([`PostgresMetadataStore::migrations`]); their SHA-256 is recorded in
//!   `pycharter_schema_version` and compared on validation.
//! - **Migrating** (`initialize` / `upgrade` / `downgrade`) is one transaction (per round,
//!   when a step has an online statement such as `CREATE INDEX CONCURRENTLY`, which runs
//!   between rounds on a connection of its own: see the README's "Online migrations") that first
//!   takes `pg_advisory_xact_lock(`[`MIGRATION_LOCK_KEY`]`)` (or, with
//!   [`LockStrategy::Table`], a row lock), then re-reads the applied
//!   versions, then applies what is still pending: concurrent deployers wait, then find
//!   nothing to do; a failing step rolls everything back (DDL is transactional). The lock is
//!   transaction-level, so it also works behind PgBouncer in transaction pooling mode.
//! - **Online steps** (`CREATE INDEX CONCURRENTLY` on an existing table, as 1.1.0's index):
//!   the transaction commits, the statement runs outside it, and a next transaction (under
//!   the same lock) records the migration; the application keeps writing meanwhile. How a
//!   deployer claims the table and why no waiter may hold a snapshot: `online.rs`. On a fresh
//!   database the table is the transaction's own, so the index is built inside it, as before.
//! - **Lock queue**: migration statements run with `lock_timeout` = `ddl_lock_timeout`
//!   (default 2 s): one that needs a strong lock gives up instead of parking in front of the
//!   application's queries, and core retries the migration with backoff.
//! - **Lint**: [`lint`] rejects the migration forms that block writes on an existing table;
//!   `tests/migration_lint.rs` runs it over the bundled migrations.
//! - **Validation** is one catalog query, one round trip (simple protocol, no parameters).
//!   It reads the version table through `XMLTABLE`, so that the query parses even when the
//!   table does not exist; on a server built without libxml (no mainstream package or
//!   managed service is) it falls back to two round trips.
//! - **Latest version** by semver precedence is an index lookup on
//!   `(name, version_sort_key)` ([`sql::Statements::latest`]).
//! - **Options** ([`ConnectOptions`](pycharter_core::ConnectOptions)): `namespace` (the
//!   Postgres schema holding the tables; unset: the server's `current_schema()`, i.e.
//!   `public` on a stock server), `connect_timeout`, `statement_timeout`, `lock_timeout`.
//!   TLS through the URL's `sslmode` and `sslrootcert`: a failed verification is
//!   [`Error::Tls`](pycharter_core::Error::Tls) saying which (wrong CA, wrong host name,
//!   expired certificate, no TLS on the server; `tests/tls.rs` proves each on a real server).
//! - **Least privilege**: [`application_grants`] are the `GRANT`s of an application role
//!   that reads and writes but never migrates (`pycharter db grants`); a refused right is
//!   [`Error::InsufficientPrivilege`](pycharter_core::Error::InsufficientPrivilege).
//!
//! ## High availability
//!
//! - **Multi-host URLs** as libpq writes them (`postgres://app@db1:5432,db2:5432/meta`, or
//!   `?host=db1,db2&port=5432,5432`) with [`TargetSessionAttrs`]
//!   (`?target_session_attrs=read-write`; all six values, libpq's meaning): hosts are tried
//!   in order, each attempt bounded by `connect_timeout` ([`connect_budget`] is the total);
//!   when none fits, the error lists every host's reason. sqlx's pool knows one host, so
//!   the store steers it: the pool connects to the selected host, every new connection is
//!   checked against `target_session_attrs`, and a lost connection, a refused reconnect or
//!   a read-only answer makes the store select again — after a failover it finds the new
//!   primary by itself ([`PostgresMetadataStore::connected_host`] says where it is).
//! - **Standbys**: writes and migrations on a server in recovery or in read-only mode fail
//!   with [`Error::ReadOnlyServer`](pycharter_core::Error::ReadOnlyServer) (SQLSTATE 25006),
//!   in a transaction that is rolled back; validation works there and reports
//!   [`ServerRole::Standby`](pycharter_core::ServerRole).
//! - **Read replicas**: [`PostgresMetadataStore::builder`] with
//!   [`PostgresBuilder::read_replicas`] builds core's
//!   [`ReadReplicas`](pycharter_core::ReadReplicas) layer, with read-your-writes by WAL
//!   position (`pg_current_wal_lsn()` after a write, `pg_last_wal_replay_lsn()` on the
//!   standby).
//! - **Migration lock**: `?migration_lock=advisory` (default) or `?migration_lock=table`
//!   ([`LockStrategy`]) for Postgres-wire engines without advisory locks (see
//!   `docs/distributed.md`).
//!
//! ## PgBouncer
//!
//! Migrations take only transaction-level locks and run inside transactions (an online step
//! is one autocommit statement, and needs one more server connection than the deployers
//! running at once), so they are safe in transaction pooling mode. Two things are per session, though:
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

mod artifacts;
mod catalog;
mod connector;
mod errors;
mod executor;
mod feed;
mod grants;
mod hosts;
pub mod lint;
mod online;
mod pool;
mod replicas;
pub mod sql;
mod store;
mod url;

pub use executor::{LockStrategy, LOCK_TABLE, MIGRATION_LOCK_KEY};
pub use feed::FEED_APPLICATION_NAME;
pub use grants::{application_grants, database_name, DEFAULT_NAMESPACE};
pub use hosts::TargetSessionAttrs;
pub use replicas::{PostgresBuilder, ReplicatedBuilder};
pub use store::{initialize_schema, validate_schema, PostgresMetadataStore};

/// The sqlx this crate is built with: queries of your own on [`PostgresMetadataStore::pool`]
/// need no sqlx dependency of yours (and no version of it to keep in step).
pub use sqlx;
/// The pool of [`PostgresMetadataStore::pool`], [`initialize_schema`] and [`validate_schema`].
pub use sqlx::PgPool;

/// How long connecting to `url` may take at most with `connect_timeout`: libpq's rule,
/// each host of a multi-host URL gets the whole timeout, plus one for the first operation
/// on the selected host (a single host with `target_session_attrs` is checked, then used).
/// A URL that does not parse gets one timeout (it fails at once).
///
/// ```
/// use std::time::Duration;
/// let second = Duration::from_secs(1);
/// assert_eq!(pycharter_postgres::connect_budget("postgres://h/db", second), second);
/// assert_eq!(pycharter_postgres::connect_budget("postgres://a,b/db", second), 3 * second);
/// ```
pub fn connect_budget(url: &str, connect_timeout: std::time::Duration) -> std::time::Duration {
    let Ok(split) = hosts::split(url) else {
        return connect_timeout;
    };
    if split.hosts.len() <= 1 && split.attrs == TargetSessionAttrs::Any {
        return connect_timeout;
    }
    let attempts = split.hosts.len().max(1) + 1;
    connect_timeout.saturating_mul(u32::try_from(attempts).unwrap_or(u32::MAX))
}

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
                    .map(|i| format!("IF EXISTS {};", i.name))
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
