//! What a backend implements, and the wiring core puts around it.
//!
//! A backend is storage primitives plus an executor:
//!
//! - [`MigrationExecutor`]: read the catalog, open a migration transaction holding the
//!   backend's migration lock (with [`MigrationTransaction`]: run a step, record it);
//! - [`Backend`]: insert-if-absent, read, list and delete artifacts, reporting what it found
//!   as values ([`InsertOutcome`]), plus the [`SchemaGate`] of this handle.
//!
//! Everything else is core's, written once: every type that implements [`Backend`] *is* a
//! [`MetadataStore`] and a [`SchemaManager`] through the blanket implementations below —
//! input validation, the schema gate (a bad schema gives its typed error, a raw database
//! error caused by a damaged schema is re-explained), the immutability rule, the
//! missing-schema-version rule, retrying an insert that raced a delete, and the migration
//! driver ([`crate::migrate`]).
//!
//! Why blanket implementations rather than a generic `Store<B>` wrapper: each backend keeps
//! its own public type with its own constructors (`SqliteMetadataStore::new(url)`,
//! `MemoryMetadataStore::new()`, `pool()`, the memory backend's simulation methods), and that
//! very type is what users inject as `Arc<dyn MetadataStore>`. Layers (a cache, replica
//! routing) wrap any `MetadataStore` and implement the two traits themselves.
//!
//! A complete backend is therefore three trait implementations and no wiring; the in-memory
//! backend (`backends/memory`) is the smallest example, the SQLite one the reference for SQL.

use crate::artifact::{
    ArtifactId, ArtifactKind, ArtifactRecord, InsertOutcome, NewArtifact, VersionSelector,
};
use crate::catalog::AppliedMigration;
use crate::document::{documents_equal, validate_document, validate_name};
use crate::error::{Error, Result};
use crate::gate::SchemaGate;
use crate::migrate::{self, MigrationExecutor};
use crate::options::{DowngradeOptions, InitializeOptions, UpgradeOptions};
use crate::report::{MigrationReport, MigrationStatus};
use crate::spec::BundledMigration;
use crate::store::{MetadataStore, SchemaManager};
use crate::validate::SchemaInfo;
use crate::version::ContractVersion;
use async_trait::async_trait;
use serde_json::Value;
use std::future::Future;

// Used by the docs above.
#[allow(unused_imports)]
use crate::migrate::MigrationTransaction;

/// How often an insert that raced a concurrent delete is retried before the store reports
/// that the key keeps changing under concurrent writers.
const INSERT_ATTEMPTS: usize = 3;

/// The storage primitives of a backend. Core calls them with validated input, behind the
/// schema gate; they run their statement and report what they found.
///
/// Implementing it (and [`MigrationExecutor`]) makes the type a [`MetadataStore`] and a
/// [`SchemaManager`].
#[async_trait]
pub trait Backend: MigrationExecutor {
    /// This handle's schema gate (one per handle, like a connection pool's).
    fn gate(&self) -> &SchemaGate;

    /// Inserts `artifact` unless its `(kind, name, version)` exists, atomically; for an
    /// attached kind, resolves the schema version in the same statement (or transaction) so
    /// that a concurrent delete cannot slip in between. Reports what it found.
    async fn insert_artifact(&self, artifact: &NewArtifact) -> Result<InsertOutcome>;

    /// The record of `kind` for `name` at `version`; for [`VersionSelector::Latest`], the
    /// record attached to the highest schema version by semver precedence (None when that
    /// version has none).
    async fn read_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>>;

    /// Distinct schema names, ascending.
    async fn read_schema_names(&self) -> Result<Vec<String>>;

    /// Versions of `name`, ascending by semver precedence.
    async fn read_schema_versions(&self, name: &str) -> Result<Vec<ContractVersion>>;

    /// Deletes a schema version and what is attached to it; false when it did not exist.
    async fn delete_schema_version(&self, name: &str, version: &ContractVersion) -> Result<bool>;
}

/// Runs a store operation behind `backend`'s gate: refused with the schema's typed error
/// when the schema is not usable (reads are allowed on a newer schema), and a database error
/// caused by a damaged schema (a table dropped behind our back) is reported as that damage.
async fn gated<B, T, Fut>(backend: &B, write: bool, operation: Fut) -> Result<T>
where
    B: Backend + ?Sized,
    Fut: Future<Output = Result<T>>,
{
    let gate = backend.gate();
    gate.ensure(write, || migrate::validate(backend)).await?;
    match operation.await {
        Err(err) => Err(gate.explain(err, || migrate::validate(backend)).await),
        ok => ok,
    }
}

/// Insert-if-absent with core's rules on top of what the backend found.
async fn store<B: Backend + ?Sized>(backend: &B, artifact: NewArtifact) -> Result<ArtifactId> {
    for _ in 0..INSERT_ATTEMPTS {
        match backend.insert_artifact(&artifact).await? {
            InsertOutcome::Inserted(record) => return Ok(record.id),
            InsertOutcome::Existing(record)
                if documents_equal(&record.document, &artifact.document) =>
            {
                return Ok(record.id)
            }
            InsertOutcome::Existing(_) => {
                return Err(Error::VersionConflict {
                    kind: artifact.kind,
                    name: artifact.name,
                    version: artifact.version,
                })
            }
            InsertOutcome::SchemaVersionMissing => {
                return Err(Error::schema_version_not_found(
                    &artifact.name,
                    &artifact.version,
                ))
            }
            InsertOutcome::Raced => {
                tracing::debug!(target: "pycharter::store", kind = %artifact.kind, name = %artifact.name, version = %artifact.version, "insert raced a concurrent delete; retrying");
            }
        }
    }
    Err(Error::Database {
        target: backend.target().to_string(),
        reason: format!(
            "{} for {} {} kept changing under concurrent writers and deletes; retry",
            artifact.kind, artifact.name, artifact.version
        ),
    })
}

#[async_trait]
impl<B: Backend> MetadataStore for B {
    async fn store_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &ContractVersion,
        document: &Value,
    ) -> Result<ArtifactId> {
        validate_name(name)?;
        validate_document(kind, document)?;
        let artifact = NewArtifact {
            kind,
            name: name.to_string(),
            version: version.clone(),
            document: document.clone(),
        };
        gated(self, true, store(self, artifact)).await
    }

    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        validate_name(name)?;
        gated(self, false, self.read_artifact(kind, name, version)).await
    }

    async fn list_schemas(&self) -> Result<Vec<String>> {
        gated(self, false, self.read_schema_names()).await
    }

    async fn list_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        validate_name(name)?;
        gated(self, false, self.read_schema_versions(name)).await
    }

    async fn delete_version(&self, name: &str, version: &ContractVersion) -> Result<()> {
        validate_name(name)?;
        if gated(self, true, self.delete_schema_version(name, version)).await? {
            Ok(())
        } else {
            Err(Error::schema_version_not_found(name, version))
        }
    }
}

/// Every command is core's migration driver over the backend's executor; after a command
/// that may have changed the layout the gate forgets what it knew, so this handle
/// re-validates before its next store operation.
#[async_trait]
impl<B: Backend> SchemaManager for B {
    fn bundled_migrations(&self) -> &[BundledMigration] {
        self.bundled()
    }

    async fn initialize(&self, options: InitializeOptions) -> Result<MigrationReport> {
        let report = migrate::initialize(self, options).await;
        self.gate().reset();
        report
    }

    async fn validate(&self) -> Result<SchemaInfo> {
        let info = migrate::validate(self).await?;
        self.gate().record(&info);
        Ok(info)
    }

    async fn current(&self) -> Result<Option<AppliedMigration>> {
        migrate::current(self).await
    }

    async fn history(&self) -> Result<Vec<MigrationStatus>> {
        migrate::history(self).await
    }

    async fn upgrade(&self, options: UpgradeOptions) -> Result<MigrationReport> {
        let report = migrate::upgrade(self, options).await;
        self.gate().reset();
        report
    }

    async fn downgrade(&self, options: DowngradeOptions) -> Result<MigrationReport> {
        let report = migrate::downgrade(self, options).await;
        self.gate().reset();
        report
    }
}
