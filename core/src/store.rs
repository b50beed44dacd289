//! The two traits every backend implements.
//!
//! [`MetadataStore`]: a backend implements five generic methods (`put_artifact`,
//! `get_artifact`, `schema_names`, `schema_versions`, `delete_schema_version`); the typed
//! methods users call are default methods over them that validate input and apply the
//! immutability rule here, once.

use crate::artifact::{
    ArtifactId, ArtifactKind, ArtifactRecord, NewArtifact, PutOutcome, VersionSelector,
};
use crate::catalog::AppliedMigration;
use crate::document::{documents_equal, validate_document, validate_name};
use crate::error::{Error, Result};
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
///   different one is [`Error::VersionConflict`];
/// - attaching to a missing schema version is [`Error::NotFound`], nothing written;
/// - a schema must be a valid JSON Schema ([`Error::InvalidDocument`]);
/// - on an uninitialized, outdated, newer or damaged schema, operations fail with the
///   matching typed error (see [`crate::SchemaGate`]).
///
/// ```
/// use pycharter_core::MetadataStore;
/// use serde_json::json;
/// use std::sync::Arc;
///
/// async fn register(store: Arc<dyn MetadataStore>) -> pycharter_core::Result<()> {
///     store.store_schema("orders", "1.0.0", &json!({"type": "object"})).await?;
///     store.store_ownership("orders", "1.0.0", &json!({"owner": "team-a"})).await?;
///     let latest = store.get_schema("orders", None).await?.expect("just stored");
///     assert_eq!(latest.version.to_string(), "1.0.0");
///     Ok(())
/// }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MetadataStore: Send + Sync {
    /// Inserts `artifact` unless its key exists, atomically. For attached kinds, returns
    /// [`Error::NotFound`] when the schema version is missing.
    async fn put_artifact(&self, artifact: NewArtifact) -> Result<PutOutcome>;

    /// The record of `kind` for `name` at `version` (`Latest`: of the highest schema version).
    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>>;

    /// Names of all stored schemas, ascending.
    async fn schema_names(&self) -> Result<Vec<String>>;

    /// Versions of schema `name`, ascending by semver precedence (empty if unknown).
    async fn schema_versions(&self, name: &str) -> Result<Vec<ContractVersion>>;

    /// Deletes a schema version and its attached artifacts; false when it did not exist.
    async fn delete_schema_version(&self, name: &str, version: &ContractVersion) -> Result<bool>;

    /// Stores a document of any kind with the rules above; returns its id.
    async fn store_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &str,
        document: &Value,
    ) -> Result<ArtifactId> {
        validate_name(name)?;
        let version = ContractVersion::parse(version)?;
        validate_document(kind, document)?;
        let artifact = NewArtifact {
            kind,
            name: name.to_string(),
            version,
            document: document.clone(),
        };
        match self.put_artifact(artifact).await? {
            PutOutcome::Inserted(record) => Ok(record.id),
            PutOutcome::Existing(record) if documents_equal(&record.document, document) => {
                Ok(record.id)
            }
            PutOutcome::Existing(record) => Err(Error::VersionConflict {
                kind: kind.label().to_string(),
                name: record.name,
                version: record.version.to_string(),
            }),
        }
    }

    /// Reads a document of any kind; `version: None` means the latest schema version.
    async fn fetch_artifact<'v>(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: Option<&'v str>,
    ) -> Result<Option<ArtifactRecord>> {
        validate_name(name)?;
        let selector = match version {
            Some(v) => VersionSelector::Exact(ContractVersion::parse(v)?),
            None => VersionSelector::Latest,
        };
        self.get_artifact(kind, name, &selector).await
    }

    /// Stores JSON Schema `schema` as `name` `version`.
    async fn store_schema(&self, name: &str, version: &str, schema: &Value) -> Result<ArtifactId> {
        self.store_artifact(ArtifactKind::Schema, name, version, schema)
            .await
    }

    /// The schema `name` at `version` (None: latest by semver).
    async fn get_schema<'v>(
        &self,
        name: &str,
        version: Option<&'v str>,
    ) -> Result<Option<ArtifactRecord>> {
        self.fetch_artifact(ArtifactKind::Schema, name, version)
            .await
    }

    /// Names of all stored schemas, ascending.
    async fn list_schemas(&self) -> Result<Vec<String>> {
        self.schema_names().await
    }

    /// Versions of `name`, ascending by semver precedence.
    async fn list_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        validate_name(name)?;
        self.schema_versions(name).await
    }

    /// Deletes schema `name` `version` and everything attached to it.
    async fn delete_schema(&self, name: &str, version: &str) -> Result<()> {
        validate_name(name)?;
        let parsed = ContractVersion::parse(version)?;
        if self.delete_schema_version(name, &parsed).await? {
            Ok(())
        } else {
            Err(Error::schema_version_not_found(name, &parsed))
        }
    }

    /// Attaches coercion rules to schema `name` `version`.
    async fn store_coercion_rules(
        &self,
        name: &str,
        version: &str,
        rules: &Value,
    ) -> Result<ArtifactId> {
        self.store_artifact(ArtifactKind::CoercionRules, name, version, rules)
            .await
    }

    /// Coercion rules of `name` at `version` (None: latest schema version).
    async fn get_coercion_rules<'v>(
        &self,
        name: &str,
        version: Option<&'v str>,
    ) -> Result<Option<ArtifactRecord>> {
        self.fetch_artifact(ArtifactKind::CoercionRules, name, version)
            .await
    }

    /// Attaches validation rules to schema `name` `version`.
    async fn store_validation_rules(
        &self,
        name: &str,
        version: &str,
        rules: &Value,
    ) -> Result<ArtifactId> {
        self.store_artifact(ArtifactKind::ValidationRules, name, version, rules)
            .await
    }

    /// Validation rules of `name` at `version` (None: latest schema version).
    async fn get_validation_rules<'v>(
        &self,
        name: &str,
        version: Option<&'v str>,
    ) -> Result<Option<ArtifactRecord>> {
        self.fetch_artifact(ArtifactKind::ValidationRules, name, version)
            .await
    }

    /// Attaches metadata to schema `name` `version`.
    async fn store_metadata(
        &self,
        name: &str,
        version: &str,
        metadata: &Value,
    ) -> Result<ArtifactId> {
        self.store_artifact(ArtifactKind::Metadata, name, version, metadata)
            .await
    }

    /// Metadata of `name` at `version` (None: latest schema version).
    async fn get_metadata<'v>(
        &self,
        name: &str,
        version: Option<&'v str>,
    ) -> Result<Option<ArtifactRecord>> {
        self.fetch_artifact(ArtifactKind::Metadata, name, version)
            .await
    }

    /// Attaches ownership to schema `name` `version`.
    async fn store_ownership(
        &self,
        name: &str,
        version: &str,
        ownership: &Value,
    ) -> Result<ArtifactId> {
        self.store_artifact(ArtifactKind::Ownership, name, version, ownership)
            .await
    }

    /// Ownership of `name` at `version` (None: latest schema version).
    async fn get_ownership<'v>(
        &self,
        name: &str,
        version: Option<&'v str>,
    ) -> Result<Option<ArtifactRecord>> {
        self.fetch_artifact(ArtifactKind::Ownership, name, version)
            .await
    }

    /// Attaches governance rules to schema `name` `version`.
    async fn store_governance_rules(
        &self,
        name: &str,
        version: &str,
        rules: &Value,
    ) -> Result<ArtifactId> {
        self.store_artifact(ArtifactKind::GovernanceRules, name, version, rules)
            .await
    }

    /// Governance rules of `name` at `version` (None: latest schema version).
    async fn get_governance_rules<'v>(
        &self,
        name: &str,
        version: Option<&'v str>,
    ) -> Result<Option<ArtifactRecord>> {
        self.fetch_artifact(ArtifactKind::GovernanceRules, name, version)
            .await
    }
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
