//! The shape every SQL backend's statements take (the text is the backend's, in its dialect):
//! four statements per artifact kind, built once and looked up by kind.
//!
//! ```
//! use pycharter_core::sql::{ArtifactStatements, StatementsByKind};
//! use pycharter_core::ArtifactKind;
//!
//! let all = StatementsByKind::build(|kind| ArtifactStatements {
//!     kind,
//!     insert: format!("INSERT INTO {} ...", kind.table()),
//!     existing: String::new(),
//!     exact: String::new(),
//!     latest: String::new(),
//! });
//! assert!(all.get(ArtifactKind::Ownership).insert.contains("ownership"));
//! ```

use crate::artifact::ArtifactKind;

/// The statements of one artifact kind, exactly as a backend sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactStatements {
    /// The kind they serve.
    pub kind: ArtifactKind,
    /// Insert-if-absent: inserts nothing when the key exists or, for an attached kind, when
    /// the schema version is missing (the schema id is resolved by the same statement).
    pub insert: String,
    /// After an insert that inserted nothing: `id, document, created_at` of the stored record
    /// (all NULL when an attached kind's schema version exists without it; no row when the
    /// schema version is missing).
    pub existing: String,
    /// `id, version, document, created_at` of a name at an exact version.
    pub exact: String,
    /// `id, version, document, created_at` of a name at its highest version by semver
    /// precedence (answered from the `(name, version_sort_key)` index, no sort).
    pub latest: String,
}

/// One [`ArtifactStatements`] per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementsByKind(Vec<ArtifactStatements>);

impl StatementsByKind {
    /// Builds the statements of every kind with `build`.
    pub fn build(build: impl Fn(ArtifactKind) -> ArtifactStatements) -> Self {
        StatementsByKind(ArtifactKind::ALL.into_iter().map(build).collect())
    }

    /// The statements of `kind`.
    pub fn get(&self, kind: ArtifactKind) -> &ArtifactStatements {
        let index = ArtifactKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        &self.0[index]
    }
}
