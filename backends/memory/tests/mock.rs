//! How a user unit-tests code that takes an `Arc<dyn MetadataStore>`: with a mockall mock
//! (feature `mock` of `pycharter-core`) when the test is about a call or an error, with
//! `MemoryMetadataStore::new()` when it is about behaviour.

use pycharter_core::{
    ArtifactId, ArtifactKind, ArtifactRecord, ContractVersion, Error, MetadataStore,
    MetadataStoreExt, MockMetadataStore, VersionSelector,
};
use pycharter_memory::MemoryMetadataStore;
use serde_json::{json, Value};
use std::sync::Arc;

/// Application code under test: the required fields of the latest version of a contract
/// (None when there is no such contract).
async fn required_fields(
    store: Arc<dyn MetadataStore>,
    name: &str,
) -> Result<Option<Vec<String>>, Error> {
    let Some(record) = store.get_schema(name, None).await? else {
        return Ok(None);
    };
    Ok(Some(
        record.document["required"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
    ))
}

fn record(name: &str, version: &str, document: Value) -> ArtifactRecord {
    ArtifactRecord {
        id: ArtifactId(7),
        kind: ArtifactKind::Schema,
        name: name.to_string(),
        version: ContractVersion::parse(version).expect("valid version"),
        document: document.into(),
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn a_mock_answers_the_latest_schema() {
    let mut mock = MockMetadataStore::new();
    mock.expect_get_artifact()
        .withf(|kind, name, version| {
            *kind == ArtifactKind::Schema && name == "orders" && *version == VersionSelector::Latest
        })
        .times(1)
        .returning(|_, name, _| {
            Ok(Some(record(
                name,
                "2.0.0",
                json!({"type": "object", "required": ["id", "total"]}),
            )))
        });
    let fields = required_fields(Arc::new(mock), "orders")
        .await
        .expect("the mock answers");
    assert_eq!(fields, Some(vec!["id".to_string(), "total".to_string()]));
}

#[tokio::test]
async fn a_mock_injects_a_schema_state_error() {
    let mut mock = MockMetadataStore::new();
    mock.expect_get_artifact().returning(|_, _, _| {
        Err(Error::SchemaOutdated {
            found: "1.0.0".into(),
            expected: "1.1.0".into(),
            target: "postgres://app:***@db/meta".into(),
        })
    });
    let err = required_fields(Arc::new(mock), "orders")
        .await
        .expect_err("the error propagates");
    assert!(err.is_schema_state());
    assert!(
        err.to_string().contains("run: pycharter db upgrade"),
        "{err}"
    );
}

#[tokio::test]
async fn the_same_code_runs_on_the_memory_store() {
    let store = Arc::new(MemoryMetadataStore::new());
    store
        .store_schema(
            "orders",
            "1.9.0",
            &json!({"type": "object", "required": ["id"]}),
        )
        .await
        .expect("store 1.9.0");
    store
        .store_schema(
            "orders",
            "1.10.0",
            &json!({"type": "object", "required": ["id", "total"]}),
        )
        .await
        .expect("store 1.10.0");
    let fields = required_fields(store.clone(), "orders")
        .await
        .expect("stored");
    assert_eq!(
        fields,
        Some(vec!["id".to_string(), "total".to_string()]),
        "1.10.0 is the latest, not 1.9.0"
    );
    let missing = required_fields(store, "missing").await.expect("a read");
    assert_eq!(missing, None, "no such contract");
}
