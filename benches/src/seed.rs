//! Bulk seeding of the scale benches: up to a million schema versions written by one SQL
//! statement per step (Postgres `generate_series`, SQLite a recursive CTE), never through a
//! million store calls.
//!
//! ## The data set
//!
//! Row `i` (`0 <= i < n`) of a data set of `n` rows is:
//!
//! - when `i % 10 == 0`, a *cold* row: `j = i / 10`, name `cold_{j % 1000:04}`, version
//!   `1.0.{j / 1000}`, so 10% of the rows are spread over up to 1000 names;
//! - else a row of the *hot* name [`HOT`]: `h = i - i / 10 - 1` (0, 1, 2, … without gaps),
//!   version `{h / 10000}.{(h / 100) % 100}.{h % 100}`, so the hot name holds 90% of the rows
//!   and its versions are ordered like `h`, while their string order is not semver order
//!   (`10.0.0 > 9.99.99`).
//!
//! Growing from `n1` to `n2` rows inserts rows `n1..n2`: the scale curve seeds one database
//! incrementally (1k, then 100k, then 1M).
//!
//! `version_sort_key` is computed in SQL with the layout of
//! [`ContractVersion::sort_key`] for release versions (three zero-padded 20-digit numbers and
//! `~`); [`verify_postgres`] / [`verify_sqlite`] check sampled rows against the Rust function,
//! so the bench fails loudly if the two ever disagree.

use pycharter_core::ContractVersion;
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

/// The name holding 90% of the rows: "latest of a name with many versions" is measured on it.
pub const HOT: &str = "hot";

/// Fixed `created_at` of seeded rows (SQLite stores RFC 3339 text).
const SEEDED_AT: &str = "2026-01-01T00:00:00.000000Z";

/// Rows among the first `n` that belong to [`HOT`].
pub fn hot_count(n: u64) -> u64 {
    n - n.div_ceil(10)
}

/// Version of the `h`-th row of [`HOT`].
pub fn hot_version(h: u64) -> String {
    format!("{}.{}.{}", h / 10_000, (h / 100) % 100, h % 100)
}

/// The name and version of row `i` (the same formula the SQL uses).
pub fn row(i: u64) -> (String, String) {
    if i.is_multiple_of(10) {
        let j = i / 10;
        (format!("cold_{:04}", j % 1000), format!("1.0.{}", j / 1000))
    } else {
        (HOT.to_string(), hot_version(i - i / 10 - 1))
    }
}

/// The latest version of [`HOT`] in a data set of `n` rows.
///
/// # Panics
///
/// When `n < 2` (no hot row).
pub fn latest_hot(n: u64) -> String {
    let count = hot_count(n);
    assert!(count > 0, "a data set of {n} rows has no hot row");
    hot_version(count - 1)
}

/// `count` versions of [`HOT`] spread evenly over a data set of `n` rows (for exact lookups
/// that do not all hit the same page).
pub fn spread_hot_versions(n: u64, count: u64) -> Vec<String> {
    let hot = hot_count(n);
    let count = count.clamp(1, hot.max(1));
    (0..count).map(|k| hot_version(k * hot / count)).collect()
}

/// The columns of a seeded row, computed from the series value `i`.
const ROW_PARTS: &str = "
    CASE WHEN i % 10 = 0 THEN 1 ELSE (i - i / 10 - 1) / 10000 END AS major,
    CASE WHEN i % 10 = 0 THEN 0 ELSE ((i - i / 10 - 1) / 100) % 100 END AS minor,
    CASE WHEN i % 10 = 0 THEN i / 10 / 1000 ELSE (i - i / 10 - 1) % 100 END AS patch";

/// Inserts rows `from..to` into the Postgres `schemas` table (one statement).
///
/// # Errors
///
/// The database's, e.g. when the table does not exist.
pub async fn seed_postgres(
    pool: &PgPool,
    from: u64,
    to: u64,
    document: &Value,
) -> Result<(), sqlx::Error> {
    if from >= to {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO schemas (name, version, version_sort_key, document, created_at)
         SELECT name, major || '.' || minor || '.' || patch,
                lpad(major::text, 20, '0') || '.' || lpad(minor::text, 20, '0') || '.'
                    || lpad(patch::text, 20, '0') || '~',
                $3::jsonb, $4::timestamptz
         FROM (SELECT CASE WHEN i % 10 = 0 THEN 'cold_' || lpad(((i / 10) % 1000)::text, 4, '0')
                           ELSE '{HOT}' END AS name,
                      {ROW_PARTS}
               FROM generate_series($1::bigint, $2::bigint - 1) AS i) r"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(to_i64(from))
        .bind(to_i64(to))
        .bind(document)
        .bind(SEEDED_AT)
        .execute(pool)
        .await?;
    // What autovacuum would do soon after a bulk load: fresh statistics and visibility map,
    // so the measurement is not disturbed by it.
    sqlx::query("VACUUM (ANALYZE) schemas")
        .execute(pool)
        .await?;
    Ok(())
}

/// Inserts rows `from..to` into the SQLite `schemas` table (one statement, one transaction),
/// then checkpoints the WAL.
///
/// # Errors
///
/// The database's, e.g. when the table does not exist.
pub async fn seed_sqlite(
    pool: &SqlitePool,
    from: u64,
    to: u64,
    document: &Value,
) -> Result<(), sqlx::Error> {
    if from >= to {
        return Ok(());
    }
    let sql = format!(
        "WITH RECURSIVE seq(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?2),
         r AS (SELECT CASE WHEN i % 10 = 0 THEN printf('cold_%04d', (i / 10) % 1000)
                           ELSE '{HOT}' END AS name,
                      {ROW_PARTS}
               FROM seq)
         INSERT INTO schemas (name, version, version_sort_key, document, created_at)
         SELECT name, major || '.' || minor || '.' || patch,
                printf('%020d.%020d.%020d~', major, minor, patch), ?3, ?4
         FROM r"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(to_i64(from))
        .bind(to_i64(to))
        .bind(document.to_string())
        .bind(SEEDED_AT)
        .execute(pool)
        .await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    Ok(())
}

/// Checks the data set of `n` rows loaded in bulk: the row count, `version_sort_key` of about
/// `samples` rows against [`ContractVersion::sort_key`], and that the highest key of [`HOT`]
/// is [`latest_hot`].
///
/// # Panics
///
/// On any mismatch (the bulk-loaded key scheme no longer matches the backend's), or when the
/// rows cannot be read.
pub async fn verify_postgres(pool: &PgPool, n: u64, samples: u64) {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM schemas")
        .fetch_one(pool)
        .await
        .expect("count seeded rows");
    let sampled: Vec<(String, String)> =
        sqlx::query_as("SELECT version, version_sort_key FROM schemas WHERE id % $1 = 0")
            .bind(to_i64(sample_step(n, samples)))
            .fetch_all(pool)
            .await
            .expect("read back sampled rows");
    let top: String = sqlx::query_scalar(
        "SELECT version FROM schemas WHERE name = $1 ORDER BY version_sort_key DESC LIMIT 1",
    )
    .bind(HOT)
    .fetch_one(pool)
    .await
    .expect("read the highest hot version");
    check(n, count, &sampled, &top);
}

/// [`verify_postgres`] for SQLite.
///
/// # Panics
///
/// As [`verify_postgres`].
pub async fn verify_sqlite(pool: &SqlitePool, n: u64, samples: u64) {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM schemas")
        .fetch_one(pool)
        .await
        .expect("count seeded rows");
    let sampled: Vec<(String, String)> =
        sqlx::query_as("SELECT version, version_sort_key FROM schemas WHERE id % ?1 = 0")
            .bind(to_i64(sample_step(n, samples)))
            .fetch_all(pool)
            .await
            .expect("read back sampled rows");
    let top: String = sqlx::query_scalar(
        "SELECT version FROM schemas WHERE name = ?1 ORDER BY version_sort_key DESC LIMIT 1",
    )
    .bind(HOT)
    .fetch_one(pool)
    .await
    .expect("read the highest hot version");
    check(n, count, &sampled, &top);
}

fn sample_step(n: u64, samples: u64) -> u64 {
    (n / samples.max(1)).max(1)
}

fn check(n: u64, count: i64, sampled: &[(String, String)], top: &str) {
    assert_eq!(u64::try_from(count).ok(), Some(n), "seeded row count");
    assert!(!sampled.is_empty(), "no sampled rows");
    for (version, key) in sampled {
        let parsed = ContractVersion::parse(version).expect("seeded version is semver");
        assert_eq!(key, &parsed.sort_key(), "version_sort_key of {version}");
    }
    assert_eq!(top, latest_hot(n), "latest version of {HOT}");
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).expect("row numbers fit in i64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unique_and_hot_versions_follow_semver() {
        let n = 25_000;
        let mut seen = std::collections::HashSet::new();
        for i in 0..n {
            assert!(seen.insert(row(i)), "row {i} repeats");
        }
        let hot: Vec<ContractVersion> = (0..hot_count(n))
            .map(|h| ContractVersion::parse(&hot_version(h)).unwrap())
            .collect();
        assert!(hot.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(hot.last().unwrap().to_string(), latest_hot(n));
        let hot_rows = (0..n).filter(|i| row(*i).0 == HOT).count() as u64;
        assert_eq!(hot_rows, hot_count(n));
    }

    #[test]
    fn spread_versions_are_hot_versions() {
        let versions = spread_hot_versions(1_000, 16);
        assert_eq!(versions.len(), 16);
        assert_eq!(versions[0], "0.0.0");
    }
}
