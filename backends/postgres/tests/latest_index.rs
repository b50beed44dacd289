//! "Latest version of a name" is answered from `idx_schemas_name_sort_key` (a backward index
//! scan), not by sorting the versions: EXPLAIN on a table of a few thousand rows.

mod common;

use pycharter_core::{ArtifactKind, ContractVersion, MetadataStoreExt};
use pycharter_postgres::{sql, PostgresMetadataStore};
use serde_json::json;
use sqlx::AssertSqlSafe;

const NAMES: usize = 200;
const VERSIONS_PER_NAME: usize = 20;

/// Versions whose string order differs from semver order (1.10.0 vs 1.9.0, pre-releases).
fn version(i: usize) -> String {
    match i % 4 {
        0 => format!("1.{i}.0"),
        1 => format!("1.{i}.0-rc.{}", i % 11),
        2 => format!("{}.0.{i}", i / 4),
        _ => format!("0.{i}.{}", i * 7),
    }
}

async fn plan(store: &PostgresMetadataStore, statement: &str, name: &str) -> String {
    let lines: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN {statement}")))
        .bind(name)
        .fetch_all(store.pool())
        .await
        .expect("EXPLAIN");
    lines.join("\n")
}

#[tokio::test]
async fn latest_version_lookup_is_an_index_scan() {
    let url = common::fresh_url().await;
    let store = PostgresMetadataStore::new(&url).await.expect("connect");

    let (mut names, mut versions, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..NAMES {
        for i in 0..VERSIONS_PER_NAME {
            let parsed = ContractVersion::parse(&version(i)).expect("valid version");
            names.push(format!("contract-{n}"));
            versions.push(parsed.to_string());
            keys.push(parsed.sort_key());
        }
    }
    sqlx::query(
        "INSERT INTO schemas (name, version, version_sort_key, document) \
         SELECT n, v, k, '{\"type\": \"object\"}'::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(n, v, k)",
    )
    .bind(&names)
    .bind(&versions)
    .bind(&keys)
    .execute(store.pool())
    .await
    .expect("bulk insert");
    sqlx::query("ANALYZE schemas")
        .execute(store.pool())
        .await
        .expect("ANALYZE");

    let target = "contract-42";
    for kind in [ArtifactKind::Schema, ArtifactKind::Ownership] {
        let plan = plan(&store, &sql::statements(kind).latest, target).await;
        assert!(plan.contains("Index"), "{kind}: {plan}");
        assert!(plan.contains("idx_schemas_name_sort_key"), "{kind}: {plan}");
        assert!(
            !plan.contains("Sort"),
            "{kind} latest must not sort: {plan}"
        );
    }

    // And the index order is semver precedence.
    let expected = (0..VERSIONS_PER_NAME)
        .map(|i| ContractVersion::parse(&version(i)).expect("valid"))
        .max()
        .expect("versions");
    store
        .store_ownership(target, &expected.to_string(), &json!({"owner": "team-a"}))
        .await
        .expect("attach to the latest version");
    let latest = store
        .get_schema(target, None)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(latest.version, expected);
    let owner = store
        .get_ownership(target, None)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(owner.version, expected);
}
