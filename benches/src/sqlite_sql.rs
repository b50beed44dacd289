//! Copies of the SQLite backend's statements, for `EXPLAIN QUERY PLAN` and for the reference
//! benches that run them on pools configured differently from the backend's (the backend's
//! own `lookup_sql` is private). Kept identical to `backends/sqlite/src/artifacts.rs`.

/// Latest version of `?1` name.
pub const LATEST: &str = "SELECT s.id, s.name, s.version, s.document, s.created_at \
     FROM schemas s WHERE s.name = ?1 ORDER BY s.version_sort_key DESC LIMIT 1";

/// `?1` name at `?2` version.
pub const EXACT: &str = "SELECT s.id, s.name, s.version, s.document, s.created_at \
     FROM schemas s WHERE s.name = ?1 AND s.version = ?2";

/// Insert-if-absent of a schema: name, version, sort key, document, created_at.
pub const INSERT_SCHEMA: &str = "INSERT INTO schemas \
     (name, version, version_sort_key, document, created_at) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
