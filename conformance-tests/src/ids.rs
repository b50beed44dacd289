//! The id contract of [`pycharter_core::ArtifactId`]: per kind and database, ids are positive,
//! unique, stable, and increase with every new record, also after deletes. Nothing is checked
//! across kinds: two kinds may share a number.

use crate::support::{attached_doc, fresh_at, get_kind, schema_doc, store_kind};
use crate::BackendHarness;
use pycharter_core::{ArtifactId, ArtifactKind, ConnectOptions, MetadataStore, MetadataStoreExt};
use std::collections::BTreeMap;

/// Stores a schema version and every attached kind for it; returns the id of each kind.
async fn store_every_kind<S: MetadataStore + ?Sized>(
    store: &S,
    version: &str,
    tag: &str,
) -> BTreeMap<ArtifactKind, ArtifactId> {
    let mut ids = BTreeMap::new();
    for kind in ArtifactKind::ALL {
        let document = match kind {
            ArtifactKind::Schema => schema_doc(tag),
            attached => attached_doc(attached, tag),
        };
        let id = store_kind(store, kind, "orders", version, &document)
            .await
            .unwrap_or_else(|e| panic!("store {kind} of {version}: {e}"));
        ids.insert(kind, id);
    }
    ids
}

/// Ids are positive and increase with each new record of a kind; the same document again and
/// every read (exact, latest, through a second handle) return the id the store returned.
pub async fn ids_are_positive_increasing_and_stable<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    let versions = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"];
    let mut stored = Vec::new();
    for version in versions {
        stored.push(store_every_kind(&store, version, version).await);
    }

    for kind in ArtifactKind::ALL {
        let ids: Vec<i64> = stored.iter().map(|by_kind| by_kind[&kind].0).collect();
        assert!(
            ids[0] > 0,
            "{kind}: the first id is {}, not positive",
            ids[0]
        );
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "{kind}: ids of records stored one after another do not increase: {ids:?}"
        );
    }

    let second = h
        .open(&database, ConnectOptions::default())
        .await
        .expect("a second handle on the same database");
    for (version, by_kind) in versions.iter().zip(&stored) {
        let again = store_every_kind(&store, version, version).await;
        assert_eq!(
            &again, by_kind,
            "storing the same documents again at {version}"
        );
        for (kind, id) in by_kind {
            for handle in [&store, &second] {
                let record = get_kind(handle, *kind, "orders", Some(version))
                    .await
                    .expect("get")
                    .unwrap_or_else(|| panic!("{kind} of {version} was stored"));
                assert_eq!(record.id, *id, "{kind} of {version} read back");
            }
        }
    }
    let latest = store
        .get_schema("orders", None)
        .await
        .expect("get latest")
        .expect("stored");
    assert_eq!(latest.id, stored[3][&ArtifactKind::Schema], "latest schema");
}

/// A record stored after a delete gets a greater id than every record before it, the deleted
/// ones included: deleting the newest record does not hand its id out again (SQLite without
/// `AUTOINCREMENT` would).
pub async fn ids_are_never_reused_after_a_delete<H: BackendHarness>(h: &H) {
    let (_, store) = fresh_at(h).await;
    store_every_kind(&store, "1.0.0", "first").await;
    let deleted = store_every_kind(&store, "2.0.0", "deleted").await;
    store
        .delete_schema("orders", "2.0.0")
        .await
        .expect("delete 2.0.0 and what is attached to it");

    let same_key = store_every_kind(&store, "2.0.0", "stored again").await;
    let new_key = store_every_kind(&store, "3.0.0", "after").await;
    for kind in ArtifactKind::ALL {
        let old = deleted[&kind];
        assert!(
            same_key[&kind] > old,
            "{kind}: 2.0.0 stored again got id {}, the deleted record had {old}",
            same_key[&kind]
        );
        assert!(
            new_key[&kind] > same_key[&kind],
            "{kind}: ids after a delete still increase"
        );
    }
}
