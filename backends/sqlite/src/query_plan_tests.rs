//! The "latest version" lookups are answered from idx_schemas_name_sort_key without a sort.
//! A unit test rather than an integration test so that it explains the crate's real SQL
//! ([`crate::sql`]), not a copy of it.

use crate::sql::statements;
use crate::SqliteMetadataStore;
use pycharter_core::{ArtifactKind, MetadataStoreExt};
use serde_json::json;
use sqlx::{AssertSqlSafe, SqliteConnection};

async fn plan(conn: &mut SqliteConnection, sql: &str) -> String {
    // Not cached: an EXPLAIN statement is never re-prepared after a schema change, so a
    // cached one would keep describing a plan from before it.
    let rows: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .persistent(false)
            .bind("orders")
            .fetch_all(conn)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(_, _, _, detail)| detail)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn latest_lookups_use_the_sort_key_index_without_sorting() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("plan.db").display());
    let store = SqliteMetadataStore::new(&url).await.unwrap();
    // Some rows, several names, so the planner is not looking at an empty table.
    for name in ["orders", "payments", "users"] {
        for minor in 0..20 {
            let version = format!("1.{minor}.0");
            store
                .store_schema(name, &version, &json!({"type": "object"}))
                .await
                .unwrap();
        }
    }

    // A connection opened after the layout was created: EXPLAIN does not notice schema
    // changes made by other connections, so an older one could describe a stale catalog.
    let mut conn = store.pool().acquire().await.unwrap();
    for kind in [ArtifactKind::Schema, ArtifactKind::Ownership] {
        let plan = plan(&mut conn, &statements(kind).latest).await;
        assert!(
            plan.contains("idx_schemas_name_sort_key"),
            "{kind}: plan does not use the index:\n{plan}"
        );
        assert!(
            !plan.contains("TEMP B-TREE"),
            "{kind}: plan sorts instead of walking the index:\n{plan}"
        );
    }
}
