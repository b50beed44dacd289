// tests/orders_service.rs: cargo test
//
// Application code takes `Arc<dyn MetadataStore>`; its unit tests hand it the in-memory
// store (the same rules as the real backends) or a mockall mock (to script a failure).

use pycharter_core::prelude::*;
use pycharter_core::{Error, MockMetadataStore, Result};
use pycharter_memory::MemoryMetadataStore;
use serde_json::json;
use std::sync::Arc;

/// Publishes version 1.2.0 of the orders contract: its schema, then its owner.
async fn publish_orders_contract(store: Arc<dyn MetadataStore>) -> Result<ArtifactId> {
    let schema = json!({
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "integer"}}
    });
    let id = store.store_schema("orders", "1.2.0", &schema).await?;
    let owner = json!({"owner": "team-orders"});
    store.store_ownership("orders", "1.2.0", &owner).await?;
    Ok(id)
}

#[tokio::test]
async fn publishes_the_schema_and_its_owner() -> Result<()> {
    let store = Arc::new(MemoryMetadataStore::new());
    let id = publish_orders_contract(store.clone()).await?;

    let latest = store.get_schema("orders", None).await?.expect("published");
    assert_eq!(latest.id, id);
    assert_eq!(latest.version, "1.2.0");
    let owner = store.get_ownership("orders", &latest.version).await?;
    assert_eq!(owner.expect("published").document["owner"], "team-orders");
    Ok(())
}

#[tokio::test]
async fn reports_a_version_conflict() {
    let mut store = MockMetadataStore::new();
    // The mock implements the five methods of `MetadataStore`; the typed ones
    // (`store_schema`, `get_ownership`, …) call them.
    store
        .expect_store_artifact()
        .returning(|kind, name, version, _| {
            Err(Error::VersionConflict {
                kind,
                name: name.into(),
                version: version.clone(),
            })
        });
    let err = publish_orders_contract(Arc::new(store)).await.unwrap_err();
    assert!(matches!(
        err,
        Error::VersionConflict {
            kind: ArtifactKind::Schema,
            ..
        }
    ));
    assert!(err.to_string().contains("versions are immutable"));
}
