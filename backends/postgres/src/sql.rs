//! The SQL of every store operation, exactly as it is sent: public so that DBAs and tests can
//! `EXPLAIN` it. Every statement is constant text with `$n` parameters; table names are the
//! bundled ones ([`ArtifactKind::table`]), and the namespace is the connection's
//! `search_path`, so nothing a user supplies is ever spliced into SQL.
//!
//! ```
//! use pycharter_core::ArtifactKind;
//! let latest = &pycharter_postgres::sql::statements(ArtifactKind::Schema).latest;
//! assert!(latest.contains("ORDER BY version_sort_key DESC LIMIT 1"));
//! ```

use pycharter_core::sql::{ArtifactStatements, StatementsByKind};
use pycharter_core::ArtifactKind;
use std::sync::LazyLock;

/// The statements of one artifact kind (what each does: [`ArtifactStatements`]). Parameters:
/// `insert` takes `$1` name, `$2` version, then for schemas `$3` sort key and `$4` document,
/// for attached kinds `$3` document, and returns `id, created_at`; a row inserted sends its
/// change notification from the same statement ([`CHANGES_CHANNEL`]). `existing` and `exact`
/// take `$1` name, `$2` version; `latest` takes `$1` name.
pub type Statements = ArtifactStatements;

/// Names of all stored schemas, ascending bytewise (Rust's `String` order).
pub const SCHEMA_NAMES: &str =
    r#"SELECT name FROM schemas GROUP BY name ORDER BY name COLLATE "C""#;

/// Versions of `$1` name, ascending by semver precedence.
pub const SCHEMA_VERSIONS: &str =
    "SELECT version FROM schemas WHERE name = $1 ORDER BY version_sort_key";

/// Deletes `$1` name at `$2` version; attached records go with it (ON DELETE CASCADE). One
/// row per deleted version, each having sent its change notification ([`CHANGES_CHANNEL`]).
pub const DELETE_SCHEMA_VERSION: &str = "WITH deleted AS (\
     DELETE FROM schemas WHERE name = $1 AND version = $2 RETURNING id) \
     SELECT deleted.id FROM deleted, LATERAL (SELECT pg_notify('pycharter_changes', \
     json_build_array('delete', 'schema', $1::text, $2::text, deleted.id)::text)) AS notified";

/// The `NOTIFY` channel of the change feed: every put and delete statement sends
/// `["put"|"delete", kind, name, version, id]` (JSON) on it, from the statement itself, so the
/// notification is part of the writing transaction: delivered when it commits, never for a
/// rolled-back one. Correlated with the written row (`LATERAL`), so a statement that wrote
/// nothing sends nothing.
pub const CHANGES_CHANNEL: &str = "pycharter_changes";

static STATEMENTS: LazyLock<StatementsByKind> = LazyLock::new(|| StatementsByKind::build(build));

/// The statements of `kind`.
pub fn statements(kind: ArtifactKind) -> &'static Statements {
    STATEMENTS.get(kind)
}

fn build(kind: ArtifactKind) -> Statements {
    if kind == ArtifactKind::Schema {
        return Statements {
            kind,
            insert: notifying(
                &kind_name(kind),
                "INSERT INTO schemas (name, version, version_sort_key, document) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name, version) DO NOTHING RETURNING id, created_at",
            ),
            existing: "SELECT id, document, created_at FROM schemas \
                       WHERE name = $1 AND version = $2"
                .into(),
            exact: "SELECT id, version, document, created_at FROM schemas \
                    WHERE name = $1 AND version = $2"
                .into(),
            latest: "SELECT id, version, document, created_at FROM schemas \
                     WHERE name = $1 ORDER BY version_sort_key DESC LIMIT 1"
                .into(),
        };
    }
    let table = kind.table();
    Statements {
        kind,
        // INSERT ... SELECT: the schema id is resolved in the same statement, so a missing
        // schema version inserts nothing (and a concurrent delete cannot slip in between).
        insert: notifying(
            &kind_name(kind),
            &format!(
                "INSERT INTO {table} (schema_id, document) \
                 SELECT id, $3 FROM schemas WHERE name = $1 AND version = $2 \
                 ON CONFLICT (schema_id) DO NOTHING RETURNING id, created_at"
            ),
        ),
        existing: format!(
            "SELECT a.id, a.document, a.created_at \
             FROM schemas s LEFT JOIN {table} a ON a.schema_id = s.id \
             WHERE s.name = $1 AND s.version = $2"
        ),
        exact: format!(
            "SELECT a.id, s.version, a.document, a.created_at \
             FROM schemas s JOIN {table} a ON a.schema_id = s.id \
             WHERE s.name = $1 AND s.version = $2"
        ),
        latest: format!(
            "SELECT a.id, s.version, a.document, a.created_at \
             FROM (SELECT id, version FROM schemas WHERE name = $1 \
                   ORDER BY version_sort_key DESC LIMIT 1) s \
             JOIN {table} a ON a.schema_id = s.id"
        ),
    }
}

/// `insert` (which returns `id, created_at`), made to send its change notification from the
/// same statement, for the row it inserted only.
fn notifying(kind: &str, insert: &str) -> String {
    format!(
        "WITH inserted AS ({insert}) \
         SELECT inserted.id, inserted.created_at FROM inserted, \
         LATERAL (SELECT pg_notify('{CHANGES_CHANNEL}', \
         json_build_array('put', '{kind}', $1::text, $2::text, inserted.id)::text)) AS notified"
    )
}

/// The name of `kind` in change notifications: its serde name (`schema`, `coercion_rules`),
/// which is what the feed decodes.
fn kind_name(kind: ArtifactKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        // A unit variant serializes to its name: nothing else can come out.
        other => unreachable!("ArtifactKind serialized to {other:?}"),
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
            let sends = format!("pg_notify('{CHANGES_CHANNEL}'");
            assert!(st.insert.contains(&sends), "{}", st.insert);
            assert!(st.insert.contains(&format!("'put', '{}'", kind_name(kind))));
        }
        assert!(DELETE_SCHEMA_VERSION.contains("pg_notify('pycharter_changes'"));
    }
}
