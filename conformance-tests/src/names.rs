//! Hostile names: stored and read back byte for byte, matched exactly (never as SQL or as a
//! `LIKE` pattern), and the ones that are not names refused up front with nothing written.

use crate::support::{
    assert_bounded, assert_still_valid, fresh, fresh_at, schema_doc, strings, Contents,
};
use crate::BackendHarness;
use pycharter_core::{ArtifactKind, Error, MetadataStore, MetadataStoreExt, VERSION_TABLE};

/// Names every backend must store and return byte for byte, and never treat as SQL or as a
/// `LIKE` pattern: quotes, `;`, statements aimed at the real tables, `%`, `_`, backslashes,
/// non-ASCII, and the longest names allowed (255 bytes, in 1- and 2-byte characters).
pub(crate) fn hostile_names() -> Vec<String> {
    let schemas = ArtifactKind::Schema.table();
    vec![
        "o'rders".into(),
        "\"quoted\"".into(),
        "semi;colon".into(),
        format!("a;b; DROP TABLE {schemas}; --"),
        format!("'; DROP TABLE {schemas}; --"),
        format!("'); DELETE FROM {schemas}; --"),
        format!("x'); DELETE FROM {VERSION_TABLE}; --"),
        "100%".into(),
        "%".into(),
        "_".into(),
        "a_c".into(),
        "abc".into(),
        "back\\slash".into(),
        "名前-データ".into(),
        "naïve-名前-🚀".into(),
        "emoji 🚀 ñ".into(),
        "Ωmega".into(),
        "x".repeat(255),
        "é".repeat(127), // 254 bytes
    ]
}

/// Names that are not names: `Error::InvalidName` (empty, NUL, control characters,
/// surrounding whitespace, more than 255 bytes).
pub(crate) fn invalid_names() -> Vec<String> {
    vec![
        String::new(),
        "bad\0name".into(),
        "\0".into(),
        "trailing\0".into(),
        "line\nbreak".into(),
        "tab\tname".into(),
        "del\u{7f}".into(),
        " leading".into(),
        "trailing ".into(),
        "x".repeat(256),
        "x".repeat(10_000),
        "é".repeat(128), // 128 characters, 256 bytes
    ]
}

/// Names full of SQL metacharacters, statements and non-ASCII text are stored, listed and
/// read back exactly; the rows counted behind the store's back are exactly one per name
/// (no injected statement ran), and the layout is still valid.
pub async fn hostile_names_round_trip_exactly_and_run_no_sql<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    let names = hostile_names();
    for name in &names {
        let id = store
            .store_schema(name, "1.0.0", &schema_doc(name))
            .await
            .unwrap_or_else(|e| panic!("{name:?} must be accepted: {e}"));
        let record = store
            .get_schema(name, None)
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(record.id, id, "{name:?}");
        assert_eq!(&record.name, name);
        assert_eq!(*record.document, schema_doc(name), "{name:?}");
        let versions = store.list_versions(name).await.expect("list versions");
        assert_eq!(strings(&versions), ["1.0.0"], "{name:?}");
    }
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(store.list_schemas().await.expect("list"), expected);
    assert_eq!(
        h.row_count(&database).await,
        names.len() as u64,
        "the injection-shaped names ran no SQL"
    );
    assert_still_valid(h, &database).await;
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
    let lookalikes = [
        "abc", "aXc", "a__c", "ab_", "a%", "a%c", "100", "1000", "100x", "x",
    ];
    for lookalike in lookalikes {
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

/// A name that is not a name is `InvalidName` for writes, reads, lists and deletes alike, the
/// message does not echo it in full, nothing is written, and the layout stays valid.
pub async fn invalid_names_are_refused_and_nothing_written<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let before = Contents::of(h, &database, &store).await;
    for name in invalid_names() {
        let what = format!("name {name:?}");
        let err = store
            .store_schema(&name, "2.0.0", &schema_doc("x"))
            .await
            .expect_err("not a name");
        assert!(matches!(err, Error::InvalidName { .. }), "{what}: {err:?}");
        assert_bounded(&err, 1_000, &what);
        let err = store
            .store_ownership(&name, "1.0.0", &serde_json::json!({"team": "a"}))
            .await
            .expect_err("not a name");
        assert!(matches!(err, Error::InvalidName { .. }), "{what}: {err:?}");
        let err = store.get_schema(&name, None).await.expect_err("not a name");
        assert!(matches!(err, Error::InvalidName { .. }), "{what}: {err:?}");
        let err = store.list_versions(&name).await.expect_err("not a name");
        assert!(matches!(err, Error::InvalidName { .. }), "{what}: {err:?}");
        let err = store
            .delete_schema(&name, "1.0.0")
            .await
            .expect_err("not a name");
        assert!(matches!(err, Error::InvalidName { .. }), "{what}: {err:?}");
        before.assert_unchanged(h, &database, &store, &what).await;
    }
    assert_still_valid(h, &database).await;
}
