//! Hostile names: stored and read back byte for byte, matched exactly (never as a pattern),
//! and the ones no backend can store refused up front.

use crate::support::{fresh, schema_doc, strings};
use crate::BackendHarness;
use pycharter_core::{Error, MetadataStore, MetadataStoreExt};

/// Names full of SQL metacharacters and non-ASCII text are stored, listed and read back
/// exactly.
pub async fn hostile_names_round_trip_exactly<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    let names = [
        "o'rders",
        "\"quoted\"",
        "semi;colon",
        "'; DROP TABLE schemas; --",
        "100%",
        "a_c",
        "%",
        "_",
        "back\\slash",
        "naïve-名前-🚀",
        "Ωmega",
    ];
    for name in names {
        let id = store
            .store_schema(name, "1.0.0", &schema_doc(name))
            .await
            .expect("store a hostile name");
        let record = store
            .get_schema(name, None)
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(record.id, id);
        assert_eq!(record.name, name);
        assert_eq!(*record.document, schema_doc(name));
        let versions = store.list_versions(name).await.expect("list versions");
        assert_eq!(strings(&versions), ["1.0.0"], "{name:?}");
    }
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(store.list_schemas().await.expect("list"), expected);
}

/// `%` and `_` are ordinary characters: storing `a_c` or `100%` makes no other name
/// visible, readable or deletable (no `LIKE` anywhere).
pub async fn like_wildcards_match_literally<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    for name in ["a_c", "100%", "%"] {
        store
            .store_schema(name, "1.0.0", &schema_doc(name))
            .await
            .expect("store");
    }
    for lookalike in ["abc", "aXc", "a__c", "100", "1000", "100x", "x", "a%"] {
        let found = store.get_schema(lookalike, None).await.expect("get");
        assert!(found.is_none(), "{lookalike:?} matched a pattern");
        let found = store
            .get_schema(lookalike, Some("1.0.0"))
            .await
            .expect("get");
        assert!(found.is_none(), "{lookalike:?} matched a pattern");
        let versions = store.list_versions(lookalike).await.expect("list");
        assert!(versions.is_empty(), "{lookalike:?} matched a pattern");
        let err = store
            .delete_schema(lookalike, "1.0.0")
            .await
            .expect_err("nothing to delete");
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
    assert_eq!(
        store.list_schemas().await.expect("list"),
        ["%", "100%", "a_c"],
        "the lookalike deletes removed nothing"
    );
}

/// A NUL in a name is `InvalidName` (no backend can store it faithfully); nothing written.
pub async fn nul_in_name_is_invalid_name<H: BackendHarness>(h: &H) {
    let store = fresh(h).await;
    for name in ["bad\0name", "\0", "trailing\0"] {
        let err = store
            .store_schema(name, "1.0.0", &schema_doc("x"))
            .await
            .expect_err("NUL in name");
        assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
        let err = store.get_schema(name, None).await.expect_err("NUL in name");
        assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
    }
    assert!(store.list_schemas().await.expect("list").is_empty());
}
