//! The six kinds of data-contract metadata and their records.

use crate::version::ContractVersion;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// What a stored document is. Every kind is keyed by a schema `(name, version)`; the
/// non-schema kinds are attached to an existing schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// A JSON Schema document.
    Schema,
    /// Coercion rules applied before validation.
    CoercionRules,
    /// Validation rules beyond the JSON Schema.
    ValidationRules,
    /// Free-form metadata.
    Metadata,
    /// Owners and stewards.
    Ownership,
    /// Governance rules (retention, classification, …).
    GovernanceRules,
}

impl ArtifactKind {
    /// Every kind, schema first.
    pub const ALL: [ArtifactKind; 6] = [
        ArtifactKind::Schema,
        ArtifactKind::CoercionRules,
        ArtifactKind::ValidationRules,
        ArtifactKind::Metadata,
        ArtifactKind::Ownership,
        ArtifactKind::GovernanceRules,
    ];

    /// The kinds attached to a schema version (all but [`ArtifactKind::Schema`]).
    pub const ATTACHED: [ArtifactKind; 5] = [
        ArtifactKind::CoercionRules,
        ArtifactKind::ValidationRules,
        ArtifactKind::Metadata,
        ArtifactKind::Ownership,
        ArtifactKind::GovernanceRules,
    ];

    /// The table that holds this kind (same name on every backend).
    pub fn table(self) -> &'static str {
        match self {
            ArtifactKind::Schema => "schemas",
            ArtifactKind::CoercionRules => "coercion_rules",
            ArtifactKind::ValidationRules => "validation_rules",
            ArtifactKind::Metadata => "metadata",
            ArtifactKind::Ownership => "ownership",
            ArtifactKind::GovernanceRules => "governance_rules",
        }
    }

    /// Human name used in messages, e.g. `coercion rules`.
    pub fn label(self) -> &'static str {
        match self {
            ArtifactKind::Schema => "schema",
            ArtifactKind::CoercionRules => "coercion rules",
            ArtifactKind::ValidationRules => "validation rules",
            ArtifactKind::Metadata => "metadata",
            ArtifactKind::Ownership => "ownership",
            ArtifactKind::GovernanceRules => "governance rules",
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Identifier a backend assigned to a stored record.
///
/// What every backend promises (checked by the conformance suite, `ids.rs`), for the records
/// of one kind in one database:
///
/// - **positive**: the first record of a kind gets 1 or more, never 0 or less;
/// - **unique per kind**: no two records of the same kind share an id. Records of *different*
///   kinds may (a schema and its ownership can both be 1): an id names a record only together
///   with its [`ArtifactKind`];
/// - **stable**: a record keeps its id for as long as it exists; storing the same document
///   again returns that id, and every read returns it;
/// - **increasing, never reused**: a record stored after another one's store returned gets a
///   greater id, also after records were deleted (SQLite `AUTOINCREMENT`, a Postgres
///   sequence, the in-memory backend's per-table counter).
///
/// Not promised: contiguity (a refused or rolled-back insert can use up a number, so ids have
/// gaps), the order of ids among stores that run concurrently, and anything across
/// databases or kinds. A table that is dropped and recreated (a downgrade past the migration
/// that created it, then an upgrade) may count again from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ArtifactId(pub i64);

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored document of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Backend-assigned id.
    pub id: ArtifactId,
    /// What the document is.
    pub kind: ArtifactKind,
    /// Schema name it belongs to.
    pub name: String,
    /// Schema version it belongs to.
    pub version: ContractVersion,
    /// The document itself, shared: a backend that keeps documents in memory hands out a
    /// reference count, not a deep copy (the in-memory backend's reads depend on it).
    pub document: Arc<serde_json::Value>,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
}

/// A validated document about to be stored: what core hands a [`crate::Backend`]'s
/// [`insert_artifact`](crate::Backend::insert_artifact).
#[derive(Debug, Clone, PartialEq)]
pub struct NewArtifact {
    /// What the document is.
    pub kind: ArtifactKind,
    /// Schema name (validated).
    pub name: String,
    /// Schema version (validated).
    pub version: ContractVersion,
    /// The document (validated for its kind).
    pub document: serde_json::Value,
}

/// What a backend's insert-if-absent found. A backend reports facts; core decides what they
/// mean for the user (same document: the same id; different: `VersionConflict`; missing
/// schema version: `NotFound`; a race: try again).
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    /// The key was free; this is the new record.
    Inserted(ArtifactRecord),
    /// The key was taken; this is the record already there.
    Existing(ArtifactRecord),
    /// (Attached kinds) the schema version to attach to does not exist; nothing written.
    SchemaVersionMissing,
    /// The key was taken, but the row was gone before it could be read back (a concurrent
    /// delete); nothing written. Core retries the insert.
    Raced,
}

/// Which version of a schema a lookup wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// Exactly this version.
    Exact(ContractVersion),
    /// The highest by semver precedence.
    Latest,
}

/// `Some(v)`: exactly `v`; `None`: the latest.
///
/// ```
/// use pycharter_core::{ContractVersion, VersionSelector};
/// let v: ContractVersion = "1.2.0".parse()?;
/// assert_eq!(VersionSelector::from(Some(v.clone())), VersionSelector::Exact(v));
/// assert_eq!(VersionSelector::from(None), VersionSelector::Latest);
/// # Ok::<(), pycharter_core::Error>(())
/// ```
impl From<Option<ContractVersion>> for VersionSelector {
    fn from(version: Option<ContractVersion>) -> Self {
        version.map_or(VersionSelector::Latest, VersionSelector::Exact)
    }
}
