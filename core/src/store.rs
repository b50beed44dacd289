//! The two traits users depend on.
//!
//! [`MetadataStore`] is the dyn-compatible surface (inject it as `Arc<dyn MetadataStore>`;
//! mock it with `MockMetadataStore`); the typed methods users call (`store_schema`,
//! `get_ownership`, …) are [`crate::MetadataStoreExt`], implemented for every store.
//! [`SchemaManager`] versions the backend's own database layout. Backends implement neither
//! by hand: they implement [`crate::Backend`] and core wires both (see [`crate::backend`]).

use crate::artifact::{ArtifactId, ArtifactKind, ArtifactRecord, VersionSelector};
use crate::catalog::AppliedMigration;
use crate::error::Result;
use crate::options::{ConnectOptions, DowngradeOptions, InitializeOptions, UpgradeOptions};
use crate::report::{MigrationReport, MigrationStatus};
use crate::spec::BundledMigration;
use crate::validate::{SchemaInfo, SchemaState};
use crate::version::ContractVersion;
use async_trait::async_trait;
use serde_json::Value;

/// Storage of data-contract metadata. Inject it as `Arc<dyn MetadataStore>`.
///
/// Semantics every backend obeys (checked by `pycharter-conformance`):
/// - versions are semver; "latest" is semver precedence (`1.10.0 > 1.9.0 > 1.9.0-rc.1`);
/// - `(kind, name, version)` is immutable: the same document again returns the same id, a
///   different one is [`Error::VersionConflict`](crate::Error::VersionConflict);
/// - attaching to a missing schema version is [`Error::NotFound`](crate::Error::NotFound),
///   nothing written;
/// - a schema must be a valid JSON Schema
///   ([`Error::InvalidDocument`](crate::Error::InvalidDocument));
/// - on an uninitialized, outdated, newer or damaged schema, operations fail with the
///   matching typed error (see [`crate::SchemaGate`]).
///
/// These five methods take parsed versions; the typed methods of [`crate::MetadataStoreExt`]
/// (`store_schema(name, "1.0.0", &doc)`, `get_schema(name, None)`, …) call them.
///
/// ```
/// use pycharter_core::prelude::*;
/// use serde_json::json;
/// use std::sync::Arc;
///
/// async fn register(store: Arc<dyn MetadataStore>) -> pycharter_core::Result<()> {
///     let id = store.store_schema("orders", "1.0.0", &json!({"type": "object"})).await?;
///     let latest = store.get_schema("orders", None).await?.expect("just stored");
///     assert_eq!(latest.id, id);
///     // A record's version is typed: pass it back as is, no re-parse.
///     store.store_ownership("orders", &latest.version, &json!({"owner": "team-a"})).await?;
///     Ok(())
/// }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MetadataStore: Send + Sync {
    /// Stores `document` as the `kind` of schema `name` at `version`; returns its id.
    ///
    /// `async fn store_artifact(&self, kind: ArtifactKind, name: &str, version: &ContractVersion, document: &Value) -> Result<ArtifactId>`
    async fn store_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &ContractVersion,
        document: &Value,
    ) -> Result<ArtifactId>;

    /// The `kind` of schema `name` at `version` (`Latest`: of the highest schema version;
    /// an older version's artifact never stands in for the latest one's).
    ///
    /// `async fn get_artifact(&self, kind: ArtifactKind, name: &str, version: &VersionSelector) -> Result<Option<ArtifactRecord>>`
    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>>;

    /// Names of all stored schemas, ascending.
    ///
    /// `async fn list_schemas(&self) -> Result<Vec<String>>`
    async fn list_schemas(&self) -> Result<Vec<String>>;

    /// Versions of schema `name`, ascending by semver precedence (empty if unknown).
    ///
    /// `async fn list_versions(&self, name: &str) -> Result<Vec<ContractVersion>>`
    async fn list_versions(&self, name: &str) -> Result<Vec<ContractVersion>>;

    /// Deletes schema `name` at `version` and everything attached to it;
    /// [`Error::NotFound`](crate::Error::NotFound) when it does not exist.
    ///
    /// `async fn delete_version(&self, name: &str, version: &ContractVersion) -> Result<()>`
    async fn delete_version(&self, name: &str, version: &ContractVersion) -> Result<()>;
}

/// Versioning of the backend's own database layout (`pycharter db ...`).
///
/// An invalid schema is a *result* of [`SchemaManager::validate`], not an error; errors are
/// I/O and refusals.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SchemaManager: Send + Sync {
    /// The migrations this backend ships, in order.
    fn bundled_migrations(&self) -> &[BundledMigration];

    /// Applies every pending migration (idempotent, safe to race); with `force`, first
    /// recreates missing tables and indexes of applied migrations, never dropping anything.
    /// Like `upgrade` and `downgrade`, `Ok` means the database is sound at the version asked
    /// for: a damaged one is refused before anything changes, and a result that does not
    /// validate is [`crate::Error::PostconditionFailed`] (see `MigrationReport::postcondition`).
    async fn initialize(&self, options: InitializeOptions) -> Result<MigrationReport>;

    /// Checks the schema (see [`crate::validate::validate_catalog`]).
    async fn validate(&self) -> Result<SchemaInfo>;

    /// The highest recorded migration (None: uninitialized).
    async fn current(&self) -> Result<Option<AppliedMigration>>;

    /// Bundled migrations marked applied / pending / drifted, then unknown recorded ones.
    async fn history(&self) -> Result<Vec<MigrationStatus>>;

    /// Applies pending migrations up to `options.to`.
    async fn upgrade(&self, options: UpgradeOptions) -> Result<MigrationReport>;

    /// Reverts migrations above `options.to`, refusing to drop tables that hold rows unless
    /// `allow_data_loss`.
    async fn downgrade(&self, options: DowngradeOptions) -> Result<MigrationReport>;
}

/// What `connect` does to the schema, the same for every backend: validate (one catalog
/// read); if `auto_initialize` and the database is uninitialized or older, initialize and
/// validate again; if `validate_schema_on_connect`, fail unless valid. Returns the last
/// [`SchemaInfo`] read (None when both options are off: nothing is read).
pub async fn prepare_schema<M>(manager: &M, options: &ConnectOptions) -> Result<Option<SchemaInfo>>
where
    M: SchemaManager + ?Sized,
{
    if !options.auto_initialize && !options.validate_schema_on_connect {
        return Ok(None);
    }
    let mut info = manager.validate().await?;
    let needs_migration = matches!(
        info.state,
        SchemaState::Uninitialized | SchemaState::Outdated
    );
    if options.auto_initialize && needs_migration {
        manager.initialize(InitializeOptions::default()).await?;
        info = manager.validate().await?;
    }
    if options.validate_schema_on_connect {
        info.ensure_valid()?;
    }
    Ok(Some(info))
}
