//! Hostile and malformed input for any [`MetadataStore`]: the same cases run on PostgreSQL
//! and on SQLite (each backend's `tests/hostile_input.rs`). Every rejection is a typed error, and after each one the test
//! checks that nothing was written (row count of all six tables, and `list_schemas`).
//!
//! Build metadata: `1.0.0+a` and `1.0.0+b` have the same semver precedence, so pycharter
//! does not treat them as versions at all: both are rejected with `Error::InvalidVersion`
//! (writes and reads alike), so "the document of 1.0.0" can never be ambiguous.

use pycharter_core::document::{MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH};
use pycharter_core::{Error, MetadataStore, MetadataStoreExt};
use serde_json::{json, Value};

/// Rows of the six artifact tables together (same SQL on both backends).
pub const TOTAL_ROWS_SQL: &str = "SELECT (SELECT count(*) FROM schemas) \
     + (SELECT count(*) FROM coercion_rules) + (SELECT count(*) FROM validation_rules) \
     + (SELECT count(*) FROM metadata) + (SELECT count(*) FROM ownership) \
     + (SELECT count(*) FROM governance_rules)";

/// How many hostile inputs each section tried, for the report.
#[derive(Debug, Default)]
pub struct Tried {
    /// Hostile but valid names, stored and read back exactly.
    pub accepted_names: usize,
    /// Names rejected with `InvalidName`.
    pub rejected_names: usize,
    /// Versions rejected with `InvalidVersion`.
    pub rejected_versions: usize,
    /// Documents rejected with `InvalidDocument`.
    pub rejected_documents: usize,
    /// Unusual but valid documents, stored and read back equal.
    pub accepted_documents: usize,
}

impl Tried {
    /// All inputs tried.
    pub fn total(&self) -> usize {
        self.accepted_names
            + self.rejected_names
            + self.rejected_versions
            + self.rejected_documents
            + self.accepted_documents
    }
}

/// Names every backend must store and return byte for byte, and never treat as SQL or as
/// a `LIKE` pattern.
fn odd_but_valid_names() -> Vec<String> {
    vec![
        "o'rders".into(),
        "\"quoted\"".into(),
        "a;b; DROP TABLE schemas; --".into(),
        "'); DELETE FROM schemas; --".into(),
        "100%".into(),
        "%".into(),
        "a_c".into(),
        "abc".into(),
        "back\\slash".into(),
        "名前-データ".into(),
        "emoji 🚀 ñ".into(),
        "x".repeat(255),
        "é".repeat(127), // 254 bytes
    ]
}

/// Names that are not names: `Error::InvalidName`.
fn invalid_names() -> Vec<String> {
    vec![
        String::new(),
        "bad\0name".into(),
        "\0".into(),
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

/// Version strings that are not semantic versions pycharter accepts: `InvalidVersion`.
fn invalid_versions() -> Vec<String> {
    vec![
        String::new(),
        "1.0".into(),
        "v1.0.0".into(),
        "01.0.0".into(),
        "1.0.0-01".into(),
        "1.0.0-".into(),
        "latest".into(),
        "1.0.0; DROP TABLE schemas".into(),
        "1.0.0'--".into(),
        "1.0.0\0".into(),
        "1.0.0 ".into(),
        "1.0.0+a".into(),
        "1.0.0+b".into(),
        "1.0.0-rc.1+build.5".into(),
        format!("1.0.0-{}", "a".repeat(10_000)),
        "9".repeat(10_000),
    ]
}

/// Documents no schema may be: `InvalidDocument`.
fn invalid_schema_documents() -> Vec<(&'static str, Value)> {
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
        ("string", json!("{\"type\": \"object\"}")),
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

/// `depth` levels of nested objects, as core counts them (`{}` is 1; a scalar value inside
/// an object is a level too, hence the empty innermost object).
fn nested(depth: usize) -> Value {
    let mut doc = json!({});
    for _ in 1..depth {
        doc = json!({ "a": doc });
    }
    doc
}

/// Runs every case on `store` (initialized, empty). `total_rows` counts the rows of the six
/// tables behind the store's back.
pub async fn run_all<S>(store: &S, total_rows: impl AsyncFn() -> i64) -> Tried
where
    S: MetadataStore + ?Sized,
{
    let mut tried = Tried::default();
    let schema = json!({"type": "object", "properties": {"id": {"type": "integer"}}});

    // --- Odd names round-trip exactly -------------------------------------------------
    let names = odd_but_valid_names();
    for name in &names {
        store
            .store_schema(name, "1.0.0", &schema)
            .await
            .unwrap_or_else(|e| panic!("{name:?} must be accepted: {e}"));
        let got = store.get_schema(name, None).await.unwrap().expect("stored");
        assert_eq!(&got.name, name);
        assert_eq!(*got.document, schema);
        assert_eq!(
            store.list_versions(name).await.unwrap().len(),
            1,
            "{name:?}"
        );
        tried.accepted_names += 1;
    }
    let mut want = names.clone();
    want.sort();
    assert_eq!(
        store.list_schemas().await.unwrap(),
        want,
        "names stored exactly"
    );
    // `%` and `_` are matched literally: no LIKE anywhere.
    assert!(store.get_schema("a%", None).await.unwrap().is_none());
    assert!(store.get_schema("ab_", None).await.unwrap().is_none());
    assert!(store.list_versions("a%c").await.unwrap().is_empty());

    let rows = total_rows().await;
    assert_eq!(
        rows,
        names.len() as i64,
        "the injection-shaped names ran no SQL"
    );
    let listed = store.list_schemas().await.unwrap();
    let unchanged = async |what: &str| {
        assert_eq!(total_rows().await, rows, "{what}: a row was written");
        assert_eq!(store.list_schemas().await.unwrap(), listed, "{what}");
    };

    // --- Invalid names --------------------------------------------------------------
    for name in invalid_names() {
        let err = store
            .store_schema(&name, "2.0.0", &schema)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidName { .. }),
            "{name:?}: {err:?}"
        );
        assert!(
            err.to_string().len() < 1_000,
            "echo of hostile input is bounded"
        );
        let err = store.get_schema(&name, None).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidName { .. }),
            "read {name:?}: {err:?}"
        );
        unchanged(&format!("name {name:?}")).await;
        tried.rejected_names += 1;
    }

    // --- Invalid versions, build metadata included ----------------------------------
    for version in invalid_versions() {
        let err = store
            .store_schema("orders-v", &version, &schema)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidVersion { .. }),
            "{version:?}: {err:?}"
        );
        assert!(
            err.to_string().len() < 1_000,
            "echo of hostile input is bounded"
        );
        let err = store
            .store_ownership("o'rders", &version, &json!({"team": "a"}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidVersion { .. }), "{err:?}");
        unchanged(&format!("version {version:?}")).await;
        tried.rejected_versions += 1;
    }
    // 1.0.0 of "o'rders" exists; neither `1.0.0+a` nor `1.0.0+b` reads or replaces it.
    for build in ["1.0.0+a", "1.0.0+b"] {
        let err = store.get_schema("o'rders", Some(build)).await.unwrap_err();
        assert!(err.to_string().contains("build metadata"), "{err}");
        let err = store
            .store_schema("o'rders", build, &json!({"type": "string"}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidVersion { .. }), "{err:?}");
    }
    unchanged("build metadata").await;

    // --- Invalid documents -----------------------------------------------------------
    for (what, doc) in invalid_schema_documents() {
        let err = store.store_schema("docs", "1.0.0", &doc).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidDocument { .. }),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().len() < 10_000,
            "{what}: the document is not echoed"
        );
        unchanged(what).await;
        tried.rejected_documents += 1;
    }
    for (what, doc) in [
        ("attached array", json!(["owner"])),
        ("attached too deep", nested(MAX_DOCUMENT_DEPTH + 1)),
        ("attached NUL", json!({"owner": "\u{0}"})),
    ] {
        let err = store
            .store_metadata("o'rders", "1.0.0", &doc)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidDocument { .. }),
            "{what}: {err:?}"
        );
        unchanged(what).await;
        tried.rejected_documents += 1;
    }

    // --- Large, deep (at the limit) and odd documents are stored and read back equal ----
    let long = format!("{}'\";%_\\ é 🚀", "y".repeat(10_000));
    let odd_schema = json!({"type": "object", "title": long, "description": "z".repeat(1 << 20)});
    store
        .store_schema("docs", "1.0.0", &odd_schema)
        .await
        .unwrap();
    let got = store
        .get_schema("docs", Some("1.0.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*got.document, odd_schema);
    let deepest = nested(MAX_DOCUMENT_DEPTH);
    store
        .store_metadata("docs", "1.0.0", &deepest)
        .await
        .unwrap();
    let got = store
        .get_metadata("docs", Some("1.0.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*got.document, deepest);
    tried.accepted_documents += 2;
    assert_eq!(total_rows().await, rows + 2);

    tried
}
