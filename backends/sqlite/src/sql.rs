//! The SQL of every store operation, exactly as it is sent: public so that tests and benches
//! can `EXPLAIN QUERY PLAN` it (and run it on differently configured pools) without a copy.
//! Every statement is constant text with `?n` parameters; table names are the bundled ones
//! ([`ArtifactKind::table`]), so nothing a user supplies is ever spliced into SQL.
//!
//! ```
//! use pycharter_core::ArtifactKind;
//! let latest = &pycharter_sqlite::sql::statements(ArtifactKind::Schema).latest;
//! assert!(latest.contains("ORDER BY version_sort_key DESC LIMIT 1"));
//! ```

use pycharter_core::sql::{ArtifactStatements, StatementsByKind};
use pycharter_core::ArtifactKind;
use std::sync::LazyLock;

/// The statements of one artifact kind (what each does: [`ArtifactStatements`]). Parameters:
/// `insert` takes `?1` name, `?2` version, `?3` document, `?4` created_at, and for schemas
/// `?5` sort key (its outcome is the rows changed); `existing` and `exact` take `?1` name,
/// `?2` version; `latest` takes `?1` name.
pub type Statements = ArtifactStatements;

/// Names of all stored schemas, ascending bytewise (SQLite's BINARY collation, Rust's
/// `String` order).
pub const SCHEMA_NAMES: &str = "SELECT DISTINCT name FROM schemas ORDER BY name";

/// Versions of `?1` name, ascending by semver precedence.
pub const SCHEMA_VERSIONS: &str =
    "SELECT version FROM schemas WHERE name = ?1 ORDER BY version_sort_key";

/// Deletes `?1` name at `?2` version; attached records go with it (ON DELETE CASCADE, foreign
/// keys are on for every connection of the pool).
pub const DELETE_SCHEMA_VERSION: &str = "DELETE FROM schemas WHERE name = ?1 AND version = ?2";

/// Created inside the migration transaction, so the first deployer creates it under the lock.
pub const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS pycharter_schema_version (
    version      TEXT PRIMARY KEY NOT NULL,
    description  TEXT NOT NULL,
    applied_at   TEXT NOT NULL,
    checksum     TEXT NOT NULL,
    execution_ms INTEGER NOT NULL
)";

/// Records an applied migration: version, description, applied_at, checksum, execution_ms.
pub const RECORD_APPLIED: &str = "INSERT INTO pycharter_schema_version \
     (version, description, applied_at, checksum, execution_ms) VALUES (?1, ?2, ?3, ?4, ?5)";

/// [`RECORD_APPLIED`] with `?6` compatible_with, for migrations from 1.2.0 on (the column
/// does not exist before).
pub const RECORD_APPLIED_WITH_COMPATIBILITY: &str = "INSERT INTO pycharter_schema_version \
     (version, description, applied_at, checksum, execution_ms, compatible_with) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Removes the version row whose version text is exactly `?1`.
pub const REMOVE_APPLIED: &str = "DELETE FROM pycharter_schema_version WHERE version = ?1";

static STATEMENTS: LazyLock<StatementsByKind> = LazyLock::new(|| StatementsByKind::build(build));

/// The statements of `kind`.
pub fn statements(kind: ArtifactKind) -> &'static Statements {
    STATEMENTS.get(kind)
}

fn build(kind: ArtifactKind) -> Statements {
    if kind == ArtifactKind::Schema {
        return Statements {
            kind,
            insert: "INSERT INTO schemas (name, version, document, created_at, version_sort_key) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"
                .into(),
            existing: "SELECT id, document, created_at FROM schemas \
                       WHERE name = ?1 AND version = ?2"
                .into(),
            exact: "SELECT id, version, document, created_at FROM schemas \
                    WHERE name = ?1 AND version = ?2"
                .into(),
            latest: "SELECT id, version, document, created_at FROM schemas \
                     WHERE name = ?1 ORDER BY version_sort_key DESC LIMIT 1"
                .into(),
        };
    }
    let table = kind.table();
    Statements {
        kind,
        // INSERT ... SELECT: the schema id is resolved in the same statement, so a missing
        // schema version inserts nothing (and a concurrent delete cannot slip in between).
        insert: format!(
            "INSERT INTO {table} (schema_id, document, created_at) \
             SELECT id, ?3, ?4 FROM schemas WHERE name = ?1 AND version = ?2 \
             ON CONFLICT DO NOTHING"
        ),
        existing: format!(
            "SELECT a.id, a.document, a.created_at \
             FROM schemas s LEFT JOIN {table} a ON a.schema_id = s.id \
             WHERE s.name = ?1 AND s.version = ?2"
        ),
        exact: format!(
            "SELECT a.id, s.version, a.document, a.created_at \
             FROM schemas s JOIN {table} a ON a.schema_id = s.id \
             WHERE s.name = ?1 AND s.version = ?2"
        ),
        // Of the highest schema version only: an older version's rules are not the latest
        // schema's rules.
        latest: format!(
            "SELECT a.id, s.version, a.document, a.created_at \
             FROM (SELECT id, version FROM schemas WHERE name = ?1 \
                   ORDER BY version_sort_key DESC LIMIT 1) s \
             JOIN {table} a ON a.schema_id = s.id"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_statements() {
        for kind in ArtifactKind::ALL {
            let st = statements(kind);
            assert_eq!(st.kind, kind);
            assert!(st.insert.contains(kind.table()), "{}", st.insert);
            assert!(st.latest.contains("version_sort_key DESC LIMIT 1"));
        }
    }
}
