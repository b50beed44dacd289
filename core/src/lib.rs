//! # pycharter-core
//!
//! The rules of pycharter-rs, written once: the domain types of data-contract metadata,
//! the [`MetadataStore`] and [`SchemaManager`] traits every backend implements, the logical
//! database layout ([`spec`]), the migration [`plan`]ner and the schema [`validate`]or.
//!
//! A backend is an executor: it reports what its database holds (a [`CatalogSnapshot`]) and
//! applies migration steps. Core decides what is valid, what is pending, what drifted, and
//! which [`Error`] a user sees.
//!
//! ```
//! use pycharter_core::{spec, validate::validate_catalog, CatalogSnapshot, SchemaState};
//!
//! let bundled = spec::bundle_logical("memory");
//! let info = validate_catalog(&CatalogSnapshot::default(), &bundled, "memory://");
//! assert!(!info.valid);
//! assert_eq!(info.state, SchemaState::Uninitialized);
//! assert!(info.message.contains("run: pycharter db init memory://"));
//! ```

pub mod artifact;
pub mod backend;
pub mod catalog;
pub mod document;
pub mod error;
pub mod feed;
pub mod gate;
pub mod migrate;
pub mod online;
pub mod options;
pub mod plan;
pub mod redact;
pub mod replica;
pub mod report;
pub mod scheme;
pub mod spec;
pub mod sql;
pub mod store;
pub mod typed;
pub mod validate;
pub mod version;
pub mod wait;

pub use artifact::{
    ArtifactId, ArtifactKind, ArtifactRecord, InsertOutcome, NewArtifact, VersionSelector,
};
pub use backend::Backend;
pub use catalog::{AppliedMigration, CatalogSnapshot, ServerRole};
pub use error::{Error, Privilege, Result, TlsProblem, UrlForms};
pub use feed::{ChangeEvent, ChangeFeed, ChangeObserver, ChangeOp, FeedMessage};
pub use gate::SchemaGate;
pub use migrate::{MigrationExecutor, MigrationTransaction};
pub use online::{OnlineEffect, OnlineStep, Script};
pub use options::{
    ConnectOptions, DowngradeOptions, InitializeOptions, UpgradeOptions,
    DEFAULT_DDL_LOCK_RETRY_FOR, DEFAULT_DDL_LOCK_TIMEOUT,
};
pub use plan::{Direction, DowngradeTarget, MigrationPlan, PlanStep};
pub use redact::redact_url;
pub use replica::{ReadReplicas, ReplicaStats, Replicated, ReplicationPosition};
pub use report::{MigrationReport, MigrationState, MigrationStatus, Postcondition, StepReport};
pub use spec::{
    application_rights, BundledMigration, Index, IndexSpec, MigrationSpec, TableRight, TableRights,
    COMPATIBILITY_RECORDED_SINCE, MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE,
};
pub use store::{prepare_schema, MetadataStore, SchemaManager};
pub use typed::{IntoSelector, IntoVersion, MetadataStoreExt};
pub use validate::{SchemaInfo, SchemaState};
pub use version::ContractVersion;
pub use wait::connect_with_wait;

#[cfg(feature = "mock")]
pub use store::{MockMetadataStore, MockSchemaManager};

/// The traits a user of a store needs in scope: `use pycharter_core::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ArtifactId, ArtifactKind, ArtifactRecord, ContractVersion, MetadataStore, MetadataStoreExt,
        SchemaManager,
    };
}
