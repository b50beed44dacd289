//! Store semantics of schemas: semver "latest", exact reads, immutability, ordering of
//! lists (input checks: `names`, `versions`, `documents`).

use crate::support::{fresh, schema_doc, strings};
use crate::BackendHarness;
use pycharter_core::{ArtifactKind, Error, MetadataStore, MetadataStoreExt};

/// "Latest" is semver precedence: `1.10.0 > 1.9.0`, a release beats its pre-releases,
/// pre-release identifiers compare numerically, and insertion order does not matter.
pub async fn latest_is_semver_precedence<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let cases: [(&str, &[&str], &str); 4] = [
        ("ascending", &["1.2.0", "1.9.0", "1.10.0"], "1.10.0"),
        ("descending", &["1.10.0", "1.9.0", "1.2.0"], "1.10.0"),
        ("release", &["2.0.0", "2.0.0-rc.1"], "2.0.0"),
        (
            "pre",
            &["2.0.0-beta.2", "2.0.0-rc.1", "2.0.0-beta.11"],
            "2.0.0-rc.1",
        ),
    ];
    for (name, versions, latest) in cases {
        for version in versions {
            store
                .store_schema(name, version, &schema_doc(version))
                .await
                .expect("store");
        }
        let record = store
            .get_schema(name, None)
            .await
            .expect("get latest")
            .expect("stored");
        assert_eq!(record.version.to_string(), latest, "latest of {name}");
        assert_eq!(*record.document, schema_doc(latest), "document of {name}");
    }
}

/// `get_schema(name, Some(v))` returns exactly that version, with its id and document.
pub async fn get_exact_version<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let mut ids = Vec::new();
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let id = store
            .store_schema("orders", version, &schema_doc(version))
            .await
            .expect("store");
        ids.push((version, id));
    }
    for (version, id) in ids {
        let record = store
            .get_schema("orders", Some(version))
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(record.id, id);
        assert_eq!(record.kind, ArtifactKind::Schema);
        assert_eq!(record.name, "orders");
        assert_eq!(record.version.to_string(), version);
        assert_eq!(*record.document, schema_doc(version));
    }
    for (name, version) in [
        ("orders", "1.5.0"),
        ("orders", "1.0.0-rc.1"),
        ("ghost", "1.0.0"),
    ] {
        let missing = store.get_schema(name, Some(version)).await.expect("get");
        assert!(missing.is_none(), "{name} {version} was never stored");
    }
    assert!(store
        .get_schema("ghost", None)
        .await
        .expect("get")
        .is_none());
}

/// Storing the same `(name, version, document)` again is a no-op returning the same id.
pub async fn same_document_again_returns_the_same_id<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let doc = schema_doc("v1");
    let first = store
        .store_schema("orders", "1.0.0", &doc)
        .await
        .expect("store");
    let again = store
        .store_schema("orders", "1.0.0", &doc)
        .await
        .expect("again");
    assert_eq!(first, again);
    let versions = store.list_versions("orders").await.expect("list");
    assert_eq!(strings(&versions), ["1.0.0"], "nothing duplicated");
}

/// A different document for a stored `(name, version)` is `VersionConflict`; the original
/// stays stored, untouched.
pub async fn different_document_is_a_version_conflict<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let original = schema_doc("original");
    let id = store
        .store_schema("orders", "1.0.0", &original)
        .await
        .expect("store");
    let err = store
        .store_schema("orders", "1.0.0", &schema_doc("changed"))
        .await
        .expect_err("versions are immutable");
    assert!(
        matches!(err, Error::VersionConflict { ref name, ref version, .. } if name == "orders" && version == "1.0.0"),
        "{err:?}"
    );
    assert!(err.to_string().contains("new version"), "{err}");
    let record = store
        .get_schema("orders", Some("1.0.0"))
        .await
        .expect("get")
        .expect("still stored");
    assert_eq!(record.id, id);
    assert_eq!(*record.document, original);
}

/// `list_schemas` lists each name once, ascending by bytes (Rust `str` order; SQL backends
/// compare with a binary collation such as `COLLATE "C"`, never the server's locale).
pub async fn list_schemas_is_sorted<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    assert!(store.list_schemas().await.expect("list").is_empty());
    let names = [
        "orders",
        "Orders",
        "customers",
        "b-2",
        "b_1",
        "zeta",
        "alpha",
    ];
    for name in names {
        for version in ["1.0.0", "2.0.0"] {
            store
                .store_schema(name, version, &schema_doc(name))
                .await
                .expect("store");
        }
    }
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(store.list_schemas().await.expect("list"), expected);
}

/// `list_versions` is ascending by semver precedence, whatever the insertion order; an
/// unknown name has no versions.
pub async fn list_versions_is_semver_ascending<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let inserted = [
        "1.10.0",
        "2.0.0-alpha",
        "1.9.0",
        "1.0.0",
        "1.0.0-rc.1",
        "1.0.0-beta.11",
    ];
    for version in inserted {
        store
            .store_schema("orders", version, &schema_doc(version))
            .await
            .expect("store");
    }
    let versions = store.list_versions("orders").await.expect("list");
    assert_eq!(
        strings(&versions),
        [
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.9.0",
            "1.10.0",
            "2.0.0-alpha"
        ]
    );
    assert!(store.list_versions("ghost").await.expect("list").is_empty());
}
