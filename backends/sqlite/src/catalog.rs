//! Reading SQLite's catalog into a [`CatalogSnapshot`]: tables, indexes and the version
//! table's rows in one statement (two when the version table does not exist yet).

use crate::errors;
use chrono::{DateTime, Utc};
use pycharter_core::{AppliedMigration, CatalogSnapshot, Result, VERSION_TABLE};
use serde::Deserialize;
use sqlx::{AssertSqlSafe, SqliteConnection};
use std::collections::BTreeSet;

/// Names of user tables and indexes; SQLite's own objects (`sqlite_sequence`,
/// `sqlite_autoindex_*`) are not part of any layout.
const CATALOG_COLUMNS: &str = r"
    (SELECT json_group_array(name) FROM sqlite_master
      WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\') AS tables,
    (SELECT json_group_array(name) FROM sqlite_master
      WHERE type = 'index' AND name NOT LIKE 'sqlite\_%' ESCAPE '\') AS indexes";

/// The version table's rows as one JSON array, so the whole snapshot is one row.
///
/// `compatible_with` exists from layout 1.2.0 on. The statement must read it when it is
/// there and still parse when it is not (an older database, read before its upgrade), so it
/// runs over [`COMPATIBILITY_FALLBACK`]: SQLite resolves the unqualified name in the
/// innermost query that has it, the version table's own column when it exists, else the
/// fallback's NULL.
const APPLIED_COLUMN: &str = "
    (SELECT json_group_array(json_object(
        'version', version, 'description', description, 'applied_at', applied_at,
        'checksum', checksum, 'execution_ms', execution_ms,
        'compatible_with', compatible_with))
       FROM pycharter_schema_version) AS applied";

/// The one-row source [`APPLIED_COLUMN`] falls back on for `compatible_with`.
const COMPATIBILITY_FALLBACK: &str = "FROM (SELECT NULL AS compatible_with)";

/// One version-table row as stored; any column may be NULL in a hand-edited table.
#[derive(Deserialize)]
struct AppliedRow {
    version: Option<String>,
    description: Option<String>,
    applied_at: Option<String>,
    checksum: Option<String>,
    execution_ms: Option<i64>,
    compatible_with: Option<String>,
}

/// Reads the catalog on `conn`. Optimistic: the query that includes the version table is
/// tried first (the common, initialized case costs one statement); only when SQLite says
/// that table does not exist is the catalog read alone.
pub(crate) async fn snapshot(conn: &mut SqliteConnection, target: &str) -> Result<CatalogSnapshot> {
    let full = AssertSqlSafe(format!(
        "SELECT {CATALOG_COLUMNS}, {APPLIED_COLUMN} {COMPATIBILITY_FALLBACK}"
    ));
    let row: (String, String, Option<String>) =
        match sqlx::query_as(full).fetch_one(&mut *conn).await {
            Ok((tables, indexes, applied)) => (tables, indexes, Some(applied)),
            Err(err) if errors::is_missing_table(&err, VERSION_TABLE) => {
                let (tables, indexes): (String, String) =
                    sqlx::query_as(AssertSqlSafe(format!("SELECT {CATALOG_COLUMNS}")))
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(|e| errors::database(target, e))?;
                (tables, indexes, None)
            }
            Err(err) => return Err(errors::database(target, err)),
        };
    let (tables, indexes, applied) = row;
    let parse_names = |json: &str| -> Result<BTreeSet<String>> {
        serde_json::from_str::<Vec<String>>(json)
            .map(|names| names.into_iter().collect())
            .map_err(|e| corrupt(target, "catalog names", &e))
    };
    let tables = parse_names(&tables)?;
    let applied = match &applied {
        Some(json) => serde_json::from_str::<Vec<AppliedRow>>(json)
            .map_err(|e| corrupt(target, VERSION_TABLE, &e))?
            .into_iter()
            .map(applied_migration)
            .collect(),
        None => Vec::new(),
    };
    Ok(CatalogSnapshot {
        version_table_exists: tables.contains(VERSION_TABLE),
        tables,
        indexes: parse_names(&indexes)?,
        // SQLite builds an index in one statement, under its one writer: never half-built.
        invalid_indexes: Default::default(),
        applied,
        ..CatalogSnapshot::default()
    })
}

/// A row as core sees it. Missing values become empty strings (core reports an empty or
/// unparseable version as an unknown migration, which is what a hand-edited row is).
fn applied_migration(row: AppliedRow) -> AppliedMigration {
    let applied_at = row
        .applied_at
        .as_deref()
        .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| {
            tracing::warn!(target: "pycharter::sqlite", version = ?row.version, applied_at = ?row.applied_at, "unreadable applied_at in the version table");
            DateTime::<Utc>::UNIX_EPOCH
        });
    AppliedMigration {
        version: row.version.unwrap_or_default(),
        description: row.description.unwrap_or_default(),
        checksum: row.checksum.unwrap_or_default(),
        applied_at,
        execution_ms: row.execution_ms.unwrap_or_default(),
        compatible_with: row.compatible_with,
    }
}

fn corrupt(target: &str, what: &str, err: &serde_json::Error) -> pycharter_core::Error {
    pycharter_core::Error::Database {
        target: target.to_string(),
        reason: format!("unreadable {what}: {err}"),
    }
}

/// Row counts of those of `tables` that exist (a downgrade checks them before dropping).
pub(crate) async fn count_rows(
    conn: &mut SqliteConnection,
    tables: &[String],
    target: &str,
) -> Result<Vec<(String, u64)>> {
    let mut counts = Vec::with_capacity(tables.len());
    for table in tables {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| errors::database(target, e))?;
        if !exists {
            continue;
        }
        // Table names come from the bundled migrations, never from users; quoting anyway
        // keeps an odd name from being read as SQL.
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let sql = AssertSqlSafe(format!("SELECT count(*) FROM {quoted}"));
        let rows: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| errors::database(target, e))?;
        counts.push((table.clone(), u64::try_from(rows).unwrap_or(0)));
    }
    Ok(counts)
}
