//! `delete_schema`: removes a version and everything attached to it, nothing else.

use crate::support::{attached_doc, fresh, get_kind, schema_doc, store_kind, strings};
use crate::BackendHarness;
use pycharter_core::{ArtifactKind, Error, MetadataStore, MetadataStoreExt};

/// Deleting a version removes it and its attached artifacts (cascade), keeps other
/// versions and their artifacts, and frees the key (a new document may be stored there).
pub async fn delete_removes_the_version_and_its_attachments<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    for version in ["1.0.0", "2.0.0"] {
        store
            .store_schema("orders", version, &schema_doc(version))
            .await
            .expect("store schema");
        for kind in ArtifactKind::ATTACHED {
            store_kind(
                &store,
                kind,
                "orders",
                version,
                &attached_doc(kind, version),
            )
            .await
            .expect("attach");
        }
    }
    store
        .delete_schema("orders", "2.0.0")
        .await
        .expect("delete");

    for kind in ArtifactKind::ALL {
        let gone = get_kind(&store, kind, "orders", Some("2.0.0"))
            .await
            .expect("get");
        assert!(gone.is_none(), "{kind} of 2.0.0 survived the delete");
        let kept = get_kind(&store, kind, "orders", Some("1.0.0"))
            .await
            .expect("get");
        assert!(kept.is_some(), "{kind} of 1.0.0 was deleted too");
    }
    let versions = store.list_versions("orders").await.expect("list");
    assert_eq!(strings(&versions), ["1.0.0"]);

    // Re-storing after a delete is a new record, not a conflict with the deleted one.
    store
        .store_schema("orders", "2.0.0", &schema_doc("2.0.0 again"))
        .await
        .expect("the key is free again");
    let attached = get_kind(&store, ArtifactKind::Ownership, "orders", Some("2.0.0"))
        .await
        .expect("get");
    assert!(attached.is_none(), "old attachments do not come back");

    store
        .delete_schema("orders", "1.0.0")
        .await
        .expect("delete");
    store
        .delete_schema("orders", "2.0.0")
        .await
        .expect("delete");
    assert!(
        store.list_schemas().await.expect("list").is_empty(),
        "a name without versions is not listed"
    );
}

/// Deleting a version that does not exist is `NotFound` and deletes nothing.
pub async fn delete_of_a_missing_version_is_not_found<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("1.0.0"))
        .await
        .expect("store");
    for (name, version) in [("orders", "1.0.1"), ("ghost", "1.0.0")] {
        let err = store
            .delete_schema(name, version)
            .await
            .expect_err("nothing to delete");
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains(version), "{err}");
    }
    store
        .delete_schema("orders", "1.0.0")
        .await
        .expect("delete");
    let err = store
        .delete_schema("orders", "1.0.0")
        .await
        .expect_err("deleted twice");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// After the latest version is deleted, "latest" is the previous version by semver.
pub async fn latest_falls_back_after_delete<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    for version in ["1.9.0", "1.10.0", "1.2.0"] {
        store
            .store_schema("orders", version, &schema_doc(version))
            .await
            .expect("store");
        store
            .store_metadata(
                "orders",
                version,
                &attached_doc(ArtifactKind::Metadata, version),
            )
            .await
            .expect("attach");
    }
    store
        .delete_schema("orders", "1.10.0")
        .await
        .expect("delete");
    let latest = store
        .get_schema("orders", None)
        .await
        .expect("get")
        .expect("1.9.0 remains");
    assert_eq!(latest.version.to_string(), "1.9.0");
    let metadata = store
        .get_metadata("orders", None)
        .await
        .expect("get")
        .expect("1.9.0 has metadata");
    assert_eq!(metadata.version.to_string(), "1.9.0");
}
