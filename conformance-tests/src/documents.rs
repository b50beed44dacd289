//! Documents: what no schema or attached artifact may be (refused with `InvalidDocument`,
//! nothing written), and unusual documents at the limits that must round-trip exactly.

use crate::support::{
    assert_bounded, assert_still_valid, fresh_at, get_kind, schema_doc, store_kind, Contents,
};
use crate::BackendHarness;
use pycharter_core::document::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH};
use pycharter_core::{ArtifactKind, Error, MetadataStoreExt};
use serde_json::{json, Value};

/// How many documents [`large_deep_and_odd_documents_round_trip`] stores.
pub(crate) const ACCEPTED_ODD_DOCUMENTS: usize = 2;

/// Documents no schema may be: `InvalidDocument` (too big, too deep, not a JSON Schema,
/// not an object, NUL characters).
pub(crate) fn invalid_schema_documents() -> Vec<(&'static str, Value)> {
    let mut too_deep = json!({"type": "string"});
    for _ in 0..MAX_DOCUMENT_DEPTH {
        too_deep = json!({ "not": too_deep });
    }
    let huge = json!({
        "type": "object",
        "description": "x".repeat(MAX_DOCUMENT_BYTES + 1),
    });
    vec![
        ("huge (> 16 MiB)", huge),
        ("nested deeper than 64", too_deep),
        ("unknown type", json!({"type": "nonsense"})),
        ("negative minLength", json!({"minLength": -1})),
        ("required not an array", json!({"required": "id"})),
        ("array", json!([1, 2, 3])),
        ("array of a schema", json!([{"type": "object"}])),
        ("string", json!("{\"type\": \"object\"}")),
        ("bare type name", json!("object")),
        ("number", json!(42)),
        ("null", Value::Null),
        (
            "NUL in a value",
            json!({"type": "object", "title": "a\u{0}b"}),
        ),
        (
            "NUL in a key",
            json!({"type": "object", "properties": {"a\u{0}": {}}}),
        ),
    ]
}

/// Documents no attached artifact may be: `InvalidDocument`.
pub(crate) fn invalid_attached_documents() -> Vec<(&'static str, Value)> {
    vec![
        ("attached array", json!(["owner"])),
        ("attached too deep", nested(MAX_DOCUMENT_DEPTH + 1)),
        ("attached NUL", json!({"owner": "\u{0}"})),
    ]
}

/// `depth` levels of nested objects, as core counts them (`{}` is 1; a scalar value inside
/// an object is a level too, hence the empty innermost object).
fn nested(depth: usize) -> Value {
    let mut doc = json!({});
    for _ in 1..depth {
        doc = json!({ "a": doc });
    }
    doc
}

/// Each document that is not a JSON Schema is `InvalidDocument`, without the document
/// echoed in the message; nothing is written and the layout stays valid.
pub async fn invalid_schema_documents_are_refused_and_nothing_written<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let before = Contents::of(h, &database, &store).await;
    for (what, doc) in invalid_schema_documents() {
        let err = store
            .store_schema("docs", "1.0.0", &doc)
            .await
            .expect_err("not a JSON Schema");
        assert!(
            matches!(err, Error::InvalidDocument { .. }),
            "{what}: {err:?}"
        );
        assert_bounded(&err, 10_000, what);
        before.assert_unchanged(h, &database, &store, what).await;
    }
    assert!(store.get_schema("docs", None).await.expect("get").is_none());
    assert_still_valid(h, &database).await;
}

/// Each invalid attached document is `InvalidDocument` for every attached kind, on a schema
/// version that exists; nothing is written.
pub async fn invalid_attached_documents_are_refused_and_nothing_written<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("o'rders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let before = Contents::of(h, &database, &store).await;
    for (what, doc) in invalid_attached_documents() {
        for kind in ArtifactKind::ATTACHED {
            let err = store_kind(&store, kind, "o'rders", "1.0.0", &doc)
                .await
                .expect_err("not an attached document");
            assert!(
                matches!(err, Error::InvalidDocument { .. }),
                "{kind}, {what}: {err:?}"
            );
            before.assert_unchanged(h, &database, &store, what).await;
        }
    }
    assert_still_valid(h, &database).await;
}

/// A 1 MiB schema whose title holds quotes, `;`, `%`, `_`, backslashes and non-ASCII, and
/// an attached document nested exactly as deep as allowed, are stored and read back equal:
/// two rows more, no other change.
pub async fn large_deep_and_odd_documents_round_trip<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    let before = Contents::of(h, &database, &store).await;
    let title = format!("{}'\";%_\\ é 🚀", "y".repeat(10_000));
    let odd_schema = json!({"type": "object", "title": title, "description": "z".repeat(1 << 20)});
    store
        .store_schema("docs", "1.0.0", &odd_schema)
        .await
        .expect("a large, odd schema is valid");
    let got = store
        .get_schema("docs", Some("1.0.0"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(*got.document, odd_schema);
    let deepest = nested(MAX_DOCUMENT_DEPTH);
    store_kind(&store, ArtifactKind::Metadata, "docs", "1.0.0", &deepest)
        .await
        .expect("nested exactly as deep as allowed");
    let got = get_kind(&store, ArtifactKind::Metadata, "docs", Some("1.0.0"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(*got.document, deepest);
    assert_eq!(
        h.row_count(&database).await,
        before.rows() + ACCEPTED_ODD_DOCUMENTS as u64
    );
    // The other kinds are untouched by the deep document.
    let untouched = get_kind(&store, ArtifactKind::Ownership, "docs", Some("1.0.0"))
        .await
        .expect("get");
    assert!(untouched.is_none(), "{untouched:?}");
}
