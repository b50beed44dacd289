//! Version strings that are not versions: refused with `InvalidVersion` everywhere, nothing
//! written.
//!
//! Build metadata: `1.0.0+a` and `1.0.0+b` have the same semver precedence, so pycharter
//! does not treat them as versions at all: both are rejected with `Error::InvalidVersion`
//! (writes and reads alike), so "the document of 1.0.0" can never be ambiguous.

use crate::support::{assert_bounded, assert_still_valid, fresh_at, schema_doc, Contents};
use crate::BackendHarness;
use pycharter_core::{ArtifactKind, Error, MetadataStoreExt};
use serde_json::json;

/// Version strings that are not semantic versions pycharter accepts: `InvalidVersion`.
pub(crate) fn invalid_versions() -> Vec<String> {
    let schemas = ArtifactKind::Schema.table();
    vec![
        String::new(),
        "1.0".into(),
        "v1.0.0".into(),
        "01.0.0".into(),
        "1.0.0-01".into(),
        "1.0.0-".into(),
        "latest".into(),
        format!("1.0.0; DROP TABLE {schemas}"),
        "1.0.0'--".into(),
        "1.0.0\0".into(),
        "1.0.0 ".into(),
        "1.0.0+a".into(),
        "1.0.0+b".into(),
        "1.0.0+build.1".into(),
        "1.0.0-rc.1+build.5".into(),
        format!("1.0.0-{}", "a".repeat(10_000)),
        "9".repeat(10_000),
    ]
}

/// Each invalid version is `InvalidVersion` for a schema write, an attached write (to a
/// schema that exists), a read and a delete; the message does not echo it in full; nothing
/// is written and the layout stays valid.
pub async fn invalid_versions_are_refused_and_nothing_written<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("o'rders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let before = Contents::of(h, &database, &store).await;
    for version in invalid_versions() {
        let what = format!("version {version:?}");
        let err = store
            .store_schema("orders-v", &version, &schema_doc("x"))
            .await
            .expect_err("not a version");
        assert!(
            matches!(err, Error::InvalidVersion { .. }),
            "{what}: {err:?}"
        );
        assert_bounded(&err, 1_000, &what);
        let err = store
            .store_ownership("o'rders", &version, &json!({"team": "a"}))
            .await
            .expect_err("not a version");
        assert!(
            matches!(err, Error::InvalidVersion { .. }),
            "{what}: {err:?}"
        );
        let err = store
            .get_schema("o'rders", Some(version.as_str()))
            .await
            .expect_err("not a version");
        assert!(
            matches!(err, Error::InvalidVersion { .. }),
            "{what}: {err:?}"
        );
        let err = store
            .delete_schema("o'rders", &version)
            .await
            .expect_err("not a version");
        assert!(
            matches!(err, Error::InvalidVersion { .. }),
            "{what}: {err:?}"
        );
        before.assert_unchanged(h, &database, &store, &what).await;
    }
    assert_still_valid(h, &database).await;
}

/// `1.0.0` exists: neither `1.0.0+a` nor `1.0.0+b` reads, replaces or deletes it (each is
/// `InvalidVersion`, the message says "build metadata"); 1.0.0 is kept as it was.
pub async fn build_metadata_neither_reads_nor_replaces_a_version<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    let id = store
        .store_schema("o'rders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let before = Contents::of(h, &database, &store).await;
    for build in ["1.0.0+a", "1.0.0+b"] {
        let err = store
            .get_schema("o'rders", Some(build))
            .await
            .expect_err("build metadata");
        assert!(matches!(err, Error::InvalidVersion { .. }), "{err:?}");
        assert!(err.to_string().contains("build metadata"), "{err}");
        let err = store
            .store_schema("o'rders", build, &json!({"type": "string"}))
            .await
            .expect_err("build metadata");
        assert!(matches!(err, Error::InvalidVersion { .. }), "{err:?}");
        let err = store
            .delete_schema("o'rders", build)
            .await
            .expect_err("build metadata");
        assert!(matches!(err, Error::InvalidVersion { .. }), "{err:?}");
        before.assert_unchanged(h, &database, &store, build).await;
    }
    let kept = store
        .get_schema("o'rders", Some("1.0.0"))
        .await
        .expect("get")
        .expect("kept");
    assert_eq!((kept.id, &*kept.document), (id, &schema_doc("kept")));
}
