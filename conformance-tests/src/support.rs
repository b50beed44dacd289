//! Helpers shared by the cases: opening stores, documents, typed calls by kind, the
//! assertions every schema-state error must pass, and "nothing was written".

use crate::BackendHarness;
use pycharter_core::{
    ArtifactId, ArtifactKind, ArtifactRecord, ConnectOptions, Error, MetadataStore,
    MetadataStoreExt, Result, SchemaManager, MIGRATIONS, SCHEMA_VERSION,
};
use serde_json::{json, Value};

/// Options that make `open` touch nothing: no initialization, no validation.
pub(crate) fn raw() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    }
}

/// A new database opened with the default options (initialized and valid), and its locator.
pub(crate) async fn fresh_at<H: BackendHarness>(h: &H) -> (String, H::Store) {
    let database = h.new_database().await;
    let store = h
        .open(&database, ConnectOptions::default())
        .await
        .expect("open a new database with the default options");
    (database, store)
}

/// A new database opened with the default options (initialized and valid).
pub(crate) async fn fresh<H: BackendHarness>(h: &H) -> H::Store {
    fresh_at(h).await.1
}

/// A second handle on `database` that neither initializes nor validates on open.
pub(crate) async fn open_raw<H: BackendHarness>(h: &H, database: &str) -> H::Store {
    h.open(database, raw())
        .await
        .expect("open without initializing or validating")
}

/// A valid JSON Schema that records `title`, so documents of different versions differ.
pub(crate) fn schema_doc(title: &str) -> Value {
    json!({"type": "object", "title": title, "properties": {"id": {"type": "integer"}}})
}

/// A document for an attached kind.
pub(crate) fn attached_doc(kind: ArtifactKind, tag: &str) -> Value {
    json!({"kind": kind.label(), "tag": tag})
}

/// Every bundled migration's version, in order.
pub(crate) fn all_versions() -> Vec<String> {
    MIGRATIONS.iter().map(|m| m.version.to_string()).collect()
}

/// The first migration's version (the oldest layout a database can be at).
pub(crate) fn first_version() -> semver::Version {
    semver::Version::parse(MIGRATIONS[0].version).expect("bundled versions parse")
}

/// Asserts `err` is a schema-state error whose message names the fix `run: pycharter db <command>`.
pub(crate) fn assert_fix(err: &Error, command: &str) {
    assert!(err.is_schema_state(), "not a schema-state error: {err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("run: pycharter db {command}")),
        "{message:?} does not say `run: pycharter db {command}`"
    );
}

/// The expected version named by `SchemaOutdated` / `SchemaNewer`.
pub(crate) fn expected() -> String {
    SCHEMA_VERSION.to_string()
}

/// Stores `document` as `kind` through the typed method of that kind.
pub async fn store_kind<S: MetadataStore + ?Sized>(
    store: &S,
    kind: ArtifactKind,
    name: &str,
    version: &str,
    document: &Value,
) -> Result<ArtifactId> {
    match kind {
        ArtifactKind::Schema => store.store_schema(name, version, document).await,
        ArtifactKind::CoercionRules => store.store_coercion_rules(name, version, document).await,
        ArtifactKind::ValidationRules => {
            store.store_validation_rules(name, version, document).await
        }
        ArtifactKind::Metadata => store.store_metadata(name, version, document).await,
        ArtifactKind::Ownership => store.store_ownership(name, version, document).await,
        ArtifactKind::GovernanceRules => {
            store.store_governance_rules(name, version, document).await
        }
    }
}

/// Reads `kind` through the typed getter of that kind.
pub async fn get_kind<S: MetadataStore + ?Sized>(
    store: &S,
    kind: ArtifactKind,
    name: &str,
    version: Option<&str>,
) -> Result<Option<ArtifactRecord>> {
    match kind {
        ArtifactKind::Schema => store.get_schema(name, version).await,
        ArtifactKind::CoercionRules => store.get_coercion_rules(name, version).await,
        ArtifactKind::ValidationRules => store.get_validation_rules(name, version).await,
        ArtifactKind::Metadata => store.get_metadata(name, version).await,
        ArtifactKind::Ownership => store.get_ownership(name, version).await,
        ArtifactKind::GovernanceRules => store.get_governance_rules(name, version).await,
    }
}

/// The version strings of `versions`.
pub(crate) fn strings<T: ToString>(versions: &[T]) -> Vec<String> {
    versions.iter().map(ToString::to_string).collect()
}

/// The error `open` must fail with (the store type need not be `Debug`).
pub(crate) async fn open_error<H: BackendHarness>(
    h: &H,
    database: &str,
    options: ConnectOptions,
    why: &str,
) -> Error {
    match h.open(database, options).await {
        Ok(_) => panic!("open succeeded, expected it to fail: {why}"),
        Err(err) => err,
    }
}

/// What "nothing was written" compares: the rows of the six artifact tables (counted behind
/// the library's back) and the schema names the store lists.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Contents {
    rows: u64,
    listed: Vec<String>,
}

impl Contents {
    /// The contents of `database` now, `store` being a handle on it.
    pub(crate) async fn of<H: BackendHarness>(h: &H, database: &str, store: &H::Store) -> Self {
        Contents {
            rows: h.row_count(database).await,
            listed: store.list_schemas().await.expect("list schemas"),
        }
    }

    /// Rows counted behind the library's back.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Asserts that `database` still holds exactly these contents after `what`.
    pub(crate) async fn assert_unchanged<H: BackendHarness>(
        &self,
        h: &H,
        database: &str,
        store: &H::Store,
        what: &str,
    ) {
        let now = Contents::of(h, database, store).await;
        assert_eq!(now.rows, self.rows, "{what}: a row was written or removed");
        assert_eq!(now.listed, self.listed, "{what}: the listed names changed");
    }
}

/// Asserts that a new handle finds `database` valid: hostile input left the layout alone.
pub(crate) async fn assert_still_valid<H: BackendHarness>(h: &H, database: &str) {
    let info = open_raw(h, database)
        .await
        .validate()
        .await
        .expect("validate");
    assert!(info.valid, "the layout was damaged: {info:?}");
}

/// Asserts that `err`'s message is shorter than `limit` bytes: hostile input is not echoed
/// in full.
pub(crate) fn assert_bounded(err: &Error, limit: usize, what: &str) {
    let length = err.to_string().len();
    assert!(
        length < limit,
        "{what}: a {length}-byte message echoes the input"
    );
}
