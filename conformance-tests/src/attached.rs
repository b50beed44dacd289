//! The five kinds attached to a schema version: coercion rules, validation rules, metadata,
//! ownership, governance rules.

use crate::support::{attached_doc, fresh, fresh_at, get_kind, schema_doc, store_kind, Contents};
use crate::BackendHarness;
use pycharter_core::{ArtifactKind, Error, MetadataStore, MetadataStoreExt};
use serde_json::json;

/// Each kind round-trips through its typed methods at an exact version, and
/// `get_*(name, None)` gives the artifact of the latest schema version.
pub async fn attached_kinds_round_trip<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    for version in ["1.9.0", "1.10.0"] {
        store
            .store_schema("orders", version, &schema_doc(version))
            .await
            .expect("store schema");
    }
    for kind in ArtifactKind::ATTACHED {
        let mut ids = Vec::new();
        for version in ["1.10.0", "1.9.0"] {
            let doc = attached_doc(kind, version);
            let id = store_kind(&store, kind, "orders", version, &doc)
                .await
                .expect("attach");
            ids.push(id);
            let record = get_kind(&store, kind, "orders", Some(version))
                .await
                .expect("get")
                .expect("attached");
            assert_eq!(record.id, id, "{kind}");
            assert_eq!(record.kind, kind);
            assert_eq!(record.name, "orders");
            assert_eq!(record.version.to_string(), version);
            assert_eq!(*record.document, doc);
        }
        let latest = get_kind(&store, kind, "orders", None)
            .await
            .expect("get latest")
            .expect("attached to the latest version");
        assert_eq!(latest.version.to_string(), "1.10.0", "{kind}");
        assert_eq!(latest.id, ids[0]);
        assert_eq!(*latest.document, attached_doc(kind, "1.10.0"));
    }
    // Attachments never show up as schemas.
    let schema = store
        .get_schema("orders", None)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(*schema.document, schema_doc("1.10.0"));
}

/// Attaching any kind to a schema version that does not exist is `NotFound`; nothing is
/// written, not even once the schema version is stored later.
pub async fn attaching_to_a_missing_schema_version_is_not_found<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("1.0.0"))
        .await
        .expect("store schema");
    let before = Contents::of(h, &database, &store).await;
    for kind in ArtifactKind::ATTACHED {
        for (name, version) in [("orders", "2.0.0"), ("ghost", "1.0.0")] {
            let err = store_kind(&store, kind, name, version, &attached_doc(kind, "x"))
                .await
                .expect_err("no such schema version");
            assert!(matches!(err, Error::NotFound { .. }), "{kind}: {err:?}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }
    before
        .assert_unchanged(h, &database, &store, "attaching to a missing version")
        .await;
    store
        .store_schema("orders", "2.0.0", &schema_doc("2.0.0"))
        .await
        .expect("store 2.0.0");
    for kind in ArtifactKind::ATTACHED {
        let found = get_kind(&store, kind, "orders", Some("2.0.0"))
            .await
            .expect("get");
        assert!(found.is_none(), "{kind} was written despite NotFound");
    }
    assert_eq!(store.list_schemas().await.expect("list"), ["orders"]);
}

/// Attached artifacts follow the schema rule: same document again → same id; a different
/// one → `VersionConflict`, the original kept.
pub async fn attached_artifacts_are_immutable<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("1.0.0"))
        .await
        .expect("store schema");
    for kind in ArtifactKind::ATTACHED {
        let original = attached_doc(kind, "original");
        let id = store_kind(&store, kind, "orders", "1.0.0", &original)
            .await
            .expect("attach");
        let again = store_kind(&store, kind, "orders", "1.0.0", &original)
            .await
            .expect("attach again");
        assert_eq!(id, again, "{kind}");
        let err = store_kind(
            &store,
            kind,
            "orders",
            "1.0.0",
            &attached_doc(kind, "changed"),
        )
        .await
        .expect_err("immutable");
        assert!(
            matches!(err, Error::VersionConflict { .. }),
            "{kind}: {err:?}"
        );
        let kept = get_kind(&store, kind, "orders", Some("1.0.0"))
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(*kept.document, original, "{kind}");
    }
}

/// `get_*(name, None)` answers for the latest *schema* version: when that version has no
/// artifact of the kind, the answer is `None`, not an older version's artifact.
pub async fn latest_attached_artifact_follows_the_latest_schema_version<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("1.0.0"))
        .await
        .expect("store 1.0.0");
    for kind in ArtifactKind::ATTACHED {
        store_kind(
            &store,
            kind,
            "orders",
            "1.0.0",
            &attached_doc(kind, "1.0.0"),
        )
        .await
        .expect("attach to 1.0.0");
        let latest = get_kind(&store, kind, "orders", None).await.expect("get");
        assert!(latest.is_some(), "{kind} of 1.0.0 while it is the latest");
    }
    store
        .store_schema("orders", "2.0.0", &schema_doc("2.0.0"))
        .await
        .expect("store 2.0.0");
    for kind in ArtifactKind::ATTACHED {
        let latest = get_kind(&store, kind, "orders", None).await.expect("get");
        assert!(latest.is_none(), "{kind}: 2.0.0 has none, got {latest:?}");
        let older = get_kind(&store, kind, "orders", Some("1.0.0"))
            .await
            .expect("get");
        assert!(older.is_some(), "{kind} of 1.0.0 is still readable");
    }
}

/// Attached documents must be JSON objects (`InvalidDocument` otherwise); nothing written.
pub async fn attached_documents_must_be_objects<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("1.0.0"))
        .await
        .expect("store schema");
    for kind in ArtifactKind::ATTACHED {
        for doc in [json!(["a"]), json!("text"), json!(42), json!(null)] {
            let err = store_kind(&store, kind, "orders", "1.0.0", &doc)
                .await
                .expect_err("not an object");
            assert!(
                matches!(err, Error::InvalidDocument { .. }),
                "{kind}: {err:?}"
            );
        }
        let found = get_kind(&store, kind, "orders", Some("1.0.0"))
            .await
            .expect("get");
        assert!(found.is_none(), "{kind} was written");
    }
}
