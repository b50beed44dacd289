//! The catalog snapshot: tables, indexes (valid, and invalid: `pg_index.indisvalid` is false
//! after an interrupted `CREATE INDEX CONCURRENTLY`) and version rows of the namespace, in
//! **one** round trip.
//!
//! One statement, sent with the simple query protocol (a single `Query` message: the extended
//! protocol would cost a Parse/Describe round trip before the Bind/Execute one on a fresh
//! connection). It takes no parameter because the namespace is `current_schema()` (see
//! `config`). The version table may not exist, so it is never named in the SQL text (that
//! would fail at parse time): its rows are read through `table_to_xml(regclass)` on the
//! table's oid, which is only evaluated when the table was found in `pg_class`.
//!
//! `XMLTABLE` needs a server built with libxml (every mainstream package and managed
//! service is). On one without it, the snapshot falls back to two round trips.

use crate::errors::ErrorContext;
use pycharter_core::{AppliedMigration, CatalogSnapshot, Result};
use sqlx::postgres::PgConnection;
use sqlx::{Executor as _, Row as _};
use std::sync::LazyLock;

/// SQLSTATE `feature_not_supported`: "unsupported XML feature" on a server without libxml.
const FEATURE_NOT_SUPPORTED: &str = "0A000";

/// The version rows as a JSON array, read through `table_to_xml` so that the SQL parses
/// whether or not the table exists. NULLs (a hand-edited table) become neutral values that
/// core then reports (an empty version is an unknown migration). `compatible_with` (from
/// layout 1.2.0 on) is NULL when the row or the table has none.
const VERSION_ROWS_VIA_XML: &str = r#"COALESCE((
        SELECT json_agg(json_build_object(
            'version', COALESCE(v.version, ''),
            'description', COALESCE(v.description, ''),
            'checksum', COALESCE(v.checksum, ''),
            'applied_at', COALESCE(v.applied_at, 'epoch'::timestamptz),
            'execution_ms', COALESCE(v.execution_ms, 0),
            'compatible_with', v.compatible_with
        ) ORDER BY v.version)
        FROM version_table t,
             XMLTABLE('/*/row' PASSING table_to_xml(t.reg, false, false, '')
                      COLUMNS version text PATH 'version',
                              description text PATH 'description',
                              checksum text PATH 'checksum',
                              applied_at timestamptz PATH 'applied_at',
                              execution_ms bigint PATH 'execution_ms',
                              compatible_with text PATH 'compatible_with') v
    ), '[]')"#;

/// The same rows with a plain SELECT: only valid once the table is known to exist.
/// `compatible_with` (from layout 1.2.0 on) is read from the row as JSON, so the statement
/// also parses on an older version table without the column (NULL then).
const VERSION_ROWS_SQL: &str = r#"SELECT COALESCE(json_agg(json_build_object(
        'version', COALESCE(v.version, ''),
        'description', COALESCE(v.description, ''),
        'checksum', COALESCE(v.checksum, ''),
        'applied_at', COALESCE(v.applied_at, 'epoch'::timestamptz),
        'execution_ms', COALESCE(v.execution_ms, 0),
        'compatible_with', to_jsonb(v) ->> 'compatible_with'
    ) ORDER BY v.version), '[]')::text
    FROM pycharter_schema_version v"#;

/// The snapshot query: one text column, a JSON document shaped like [`CatalogSnapshot`]
/// (which core deserializes as is).
pub(crate) static SNAPSHOT_SQL: LazyLock<String> =
    LazyLock::new(|| catalog_sql(VERSION_ROWS_VIA_XML));

/// The snapshot query without the version rows (`applied` is always empty).
static CATALOG_ONLY_SQL: LazyLock<String> = LazyLock::new(|| catalog_sql("'[]'::json"));

fn catalog_sql(applied: &str) -> String {
    format!(
        r#"
WITH ns AS (
    SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = current_schema()
), rel AS (
    SELECT c.oid, c.relname::text AS name, c.relkind, COALESCE(x.indisvalid, true) AS valid
    FROM pg_catalog.pg_class c
    LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid
    WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'i', 'I')
), version_table AS (
    SELECT oid::regclass AS reg FROM rel
    WHERE name = 'pycharter_schema_version' AND relkind IN ('r', 'p')
)
SELECT json_build_object(
    'version_table_exists', EXISTS (SELECT 1 FROM version_table),
    'tables', COALESCE(
        (SELECT json_agg(name ORDER BY name) FROM rel WHERE relkind IN ('r', 'p')), '[]'),
    'indexes', COALESCE(
        (SELECT json_agg(name ORDER BY name) FROM rel WHERE relkind IN ('i', 'I') AND valid), '[]'),
    'invalid_indexes', COALESCE(
        (SELECT json_agg(name ORDER BY name) FROM rel WHERE relkind IN ('i', 'I') AND NOT valid),
        '[]'),
    'applied', {applied},
    'server_role', CASE
        WHEN pg_is_in_recovery() THEN 'standby'
        WHEN current_setting('transaction_read_only') = 'on' THEN 'read_only'
        ELSE 'primary' END
)::text
"#
    )
}

/// Reads the catalog of `current_schema()` in one round trip (two on a server without
/// libxml).
pub(crate) async fn snapshot(
    conn: &mut PgConnection,
    errors: &ErrorContext,
) -> Result<CatalogSnapshot> {
    match fetch_text(conn, &SNAPSHOT_SQL).await {
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(FEATURE_NOT_SUPPORTED) => {
            tracing::debug!(target: "pycharter::postgres", database = errors.target(), "server without XML support: reading the version table separately");
            snapshot_without_xml(conn, errors).await
        }
        result => decode(result, errors),
    }
}

/// The snapshot in two statements, without XML functions. Migration transactions use it:
/// there the version table exists by construction, and a failing statement would abort the
/// transaction, so trying the XML path first is not an option.
pub(crate) async fn snapshot_without_xml(
    conn: &mut PgConnection,
    errors: &ErrorContext,
) -> Result<CatalogSnapshot> {
    let mut snapshot: CatalogSnapshot = decode(fetch_text(conn, &CATALOG_ONLY_SQL).await, errors)?;
    if snapshot.version_table_exists {
        let applied: Vec<AppliedMigration> =
            decode(fetch_text(conn, VERSION_ROWS_SQL).await, errors)?;
        snapshot.applied = applied;
    }
    Ok(snapshot)
}

/// Runs `sql` with the simple protocol and returns its single text value.
async fn fetch_text(conn: &mut PgConnection, sql: &'static str) -> Result<String, sqlx::Error> {
    // Executor::fetch_one (a boxed, Send future) rather than RawSql::fetch_one, whose future
    // is not Send for every lifetime and so cannot live in an async_trait method.
    let row = conn.fetch_one(sqlx::raw_sql(sql)).await?;
    row.try_get(0)
}

fn decode<T: serde::de::DeserializeOwned>(
    text: Result<String, sqlx::Error>,
    errors: &ErrorContext,
) -> Result<T> {
    let text = text.map_err(|e| errors.map(e))?;
    serde_json::from_str(&text)
        .map_err(|e| errors.database(format!("unexpected catalog snapshot: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostgresMetadataStore;
    use pycharter_core::ConnectOptions;
    use pycharter_test_postgres::fresh_database;
    use std::time::Duration;

    /// Both ways of reading the catalog agree, before and after initialization.
    #[tokio::test]
    async fn xml_and_fallback_snapshots_agree() {
        let url = fresh_database().await.url;
        let manual = ConnectOptions {
            auto_initialize: false,
            validate_schema_on_connect: false,
            ..ConnectOptions::default()
        };
        let store = PostgresMetadataStore::connect(&url, manual)
            .await
            .expect("connect");
        let errors = ErrorContext::new("t".into(), Vec::new(), Duration::from_secs(5));
        for initialize in [false, true] {
            if initialize {
                pycharter_core::SchemaManager::initialize(&store, Default::default())
                    .await
                    .expect("initialize");
            }
            let mut conn = store.pool().acquire().await.expect("acquire");
            let one = snapshot(&mut conn, &errors).await.expect("xml path");
            let two = snapshot_without_xml(&mut conn, &errors)
                .await
                .expect("fallback path");
            assert_eq!(one, two);
            assert_eq!(one.version_table_exists, initialize);
            assert_eq!(
                one.applied.len(),
                if initialize {
                    pycharter_core::MIGRATIONS.len()
                } else {
                    0
                }
            );
        }
    }
}
