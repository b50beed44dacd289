//! What the cache remembers: one entry per question asked of the store (an artifact at a
//! version or the latest, the versions of a name, the names), each with when it was fetched
//! and what it weighs in bytes.

use pycharter_core::{ArtifactKind, ArtifactRecord, ContractVersion, VersionSelector};
use quick_cache::{Equivalent, Weighter};
use serde_json::Value;
use std::mem::size_of;

/// A question asked of the store (owned: what the cache keeps).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// `get_artifact(kind, name, version)`; `None`: the latest version.
    Artifact {
        kind: ArtifactKind,
        name: String,
        version: Option<ContractVersion>,
    },
    /// `list_versions(name)`.
    Versions(String),
    /// `list_schemas()`.
    Names,
}

/// The same question, borrowed: what a lookup builds, so a hit allocates nothing for its key.
/// Same variants and field order as [`Key`], so the derived hashes agree.
#[derive(Debug, Clone, Copy, Hash)]
pub(crate) enum KeyRef<'a> {
    Artifact {
        kind: ArtifactKind,
        name: &'a str,
        version: Option<&'a ContractVersion>,
    },
    Versions(&'a str),
    Names,
}

impl<'a> KeyRef<'a> {
    pub(crate) fn artifact(
        kind: ArtifactKind,
        name: &'a str,
        selector: &'a VersionSelector,
    ) -> Self {
        let version = match selector {
            VersionSelector::Exact(version) => Some(version),
            VersionSelector::Latest => None,
        };
        KeyRef::Artifact {
            kind,
            name,
            version,
        }
    }

    pub(crate) fn owned(self) -> Key {
        match self {
            KeyRef::Artifact {
                kind,
                name,
                version,
            } => Key::Artifact {
                kind,
                name: name.to_string(),
                version: version.cloned(),
            },
            KeyRef::Versions(name) => Key::Versions(name.to_string()),
            KeyRef::Names => Key::Names,
        }
    }

    /// The schema name the answer depends on (None: every name).
    pub(crate) fn name(self) -> Option<&'a str> {
        match self {
            KeyRef::Artifact { name, .. } | KeyRef::Versions(name) => Some(name),
            KeyRef::Names => None,
        }
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (*self, key) {
            (
                KeyRef::Artifact {
                    kind,
                    name,
                    version,
                },
                Key::Artifact {
                    kind: k,
                    name: n,
                    version: v,
                },
            ) => kind == *k && name == n && version == v.as_ref(),
            (KeyRef::Versions(name), Key::Versions(n)) => name == n,
            (KeyRef::Names, Key::Names) => true,
            _ => false,
        }
    }
}

/// What the store answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// An artifact, or None: not found (negative answers are cached under the same rule).
    Record(Option<ArtifactRecord>),
    Versions(Vec<ContractVersion>),
    Names(Vec<String>),
}

/// One remembered answer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) answer: Answer,
    /// When the question was sent to the store (the cache's clock, see `freshness`).
    pub(crate) fetched: u64,
    /// Estimated bytes held by the key and the answer (computed once, at insert).
    pub(crate) weight: u64,
}

impl Entry {
    pub(crate) fn new(key: &Key, answer: Answer, fetched: u64) -> Self {
        let weight = key_bytes(key) + answer_bytes(&answer) + ENTRY_OVERHEAD;
        Entry {
            answer,
            fetched,
            weight,
        }
    }
}

/// Per entry, besides the heap data of key and answer: the key and entry themselves in the
/// cache's slot, and the slot's bookkeeping (hash table index, links, flags).
const ENTRY_OVERHEAD: u64 = (size_of::<Key>() + size_of::<Entry>() + 48) as u64;

/// quick_cache's weigher: the weight computed at insert.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bytes;

impl Weighter<Key, Entry> for Bytes {
    fn weight(&self, _key: &Key, entry: &Entry) -> u64 {
        entry.weight
    }
}

fn key_bytes(key: &Key) -> u64 {
    match key {
        Key::Artifact { name, version, .. } => {
            (name.capacity() + version.as_ref().map_or(0, version_bytes)) as u64
        }
        Key::Versions(name) => name.capacity() as u64,
        Key::Names => 0,
    }
}

fn answer_bytes(answer: &Answer) -> u64 {
    let bytes = match answer {
        Answer::Record(None) => 0,
        Answer::Record(Some(record)) => {
            record.name.capacity()
                + version_bytes(&record.version)
                // The Arc's allocation: two counters and the root value.
                + 2 * size_of::<usize>()
                + size_of::<Value>()
                + value_bytes(&record.document)
        }
        Answer::Versions(versions) => {
            versions.capacity() * size_of::<ContractVersion>()
                + versions.iter().map(version_bytes).sum::<usize>()
        }
        Answer::Names(names) => {
            names.capacity() * size_of::<String>()
                + names.iter().map(String::capacity).sum::<usize>()
        }
    };
    bytes as u64
}

/// Heap bytes of a version: its pre-release text when too long to be stored inline.
fn version_bytes(version: &ContractVersion) -> usize {
    let pre = version.as_semver().pre.as_str().len();
    if pre > size_of::<usize>() {
        pre + size_of::<usize>()
    } else {
        0
    }
}

/// Slots of a B-tree node of `serde_json::Map` (a `BTreeMap<String, Value>`).
const BTREE_NODE_SLOTS: usize = 11;
/// Bytes of one such node: its keys and values, plus parent link, index and length.
const BTREE_NODE_BYTES: usize = BTREE_NODE_SLOTS * (size_of::<String>() + size_of::<Value>()) + 16;

/// Heap bytes of a JSON value below its own slot: strings, arrays' buffers, maps' B-tree
/// nodes (a node holds up to 11 entries, a map of more is about two thirds full), recursively.
pub(crate) fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.capacity(),
        Value::Array(items) => {
            items.capacity() * size_of::<Value>() + items.iter().map(value_bytes).sum::<usize>()
        }
        Value::Object(map) => {
            let nodes = match map.len() {
                0 => 0,
                n if n <= BTREE_NODE_SLOTS => 1,
                n => n * 3 / (2 * BTREE_NODE_SLOTS) + 1,
            };
            nodes * BTREE_NODE_BYTES
                + map
                    .iter()
                    .map(|(k, v)| k.capacity() + value_bytes(v))
                    .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn hash<T: Hash>(value: &T) -> u64 {
        let mut h = DefaultHasher::new();
        value.hash(&mut h);
        h.finish()
    }

    #[test]
    fn a_borrowed_key_finds_its_owned_key() {
        let v: ContractVersion = "1.2.0".parse().unwrap();
        let exact = VersionSelector::Exact(v.clone());
        let latest = VersionSelector::Latest;
        let keys = [
            KeyRef::artifact(ArtifactKind::Schema, "orders", &exact),
            KeyRef::artifact(ArtifactKind::Schema, "orders", &latest),
            KeyRef::artifact(ArtifactKind::Ownership, "orders", &exact),
            KeyRef::Versions("orders"),
            KeyRef::Names,
        ];
        for (i, borrowed) in keys.iter().enumerate() {
            for (j, other) in keys.iter().enumerate() {
                let owned = other.owned();
                assert_eq!(
                    borrowed.equivalent(&owned),
                    i == j,
                    "{borrowed:?} vs {owned:?}"
                );
                if i == j {
                    assert_eq!(hash(borrowed), hash(&owned), "{borrowed:?}");
                }
            }
        }
    }

    #[test]
    fn weight_grows_with_the_document() {
        let small = Value::Object(Default::default());
        let big = serde_json::json!({"a": "x".repeat(10_000), "b": [1, 2, 3]});
        assert!(value_bytes(&big) > 10_000);
        assert_eq!(value_bytes(&small), 0);
        let many: serde_json::Map<String, Value> =
            (0..100).map(|i| (format!("k{i}"), Value::Null)).collect();
        assert!(
            value_bytes(&Value::Object(many)) >= 100 * (size_of::<String>() + size_of::<Value>())
        );
    }
}
