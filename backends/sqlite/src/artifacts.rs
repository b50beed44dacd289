//! The storage primitives of [`SqliteMetadataStore`]: core's [`Backend`] over the statements
//! of [`crate::sql`]. Every value is a bound parameter; what a statement found is reported as
//! a value and core applies the rules (immutability, "not found", retrying a race). A write
//! that committed is published to the change feed ([`crate::feed`]).

use crate::feed;
use crate::sql::{self, DELETE_SCHEMA_VERSION, SCHEMA_NAMES, SCHEMA_VERSIONS};
use crate::store::SqliteMetadataStore;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use pycharter_core::feed::ChangeOp;
use pycharter_core::{
    ArtifactId, ArtifactKind, ArtifactRecord, Backend, ContractVersion, Error, InsertOutcome,
    NewArtifact, Result, SchemaGate, VersionSelector,
};
use std::sync::Arc;

/// `id, version, document, created_at` of a lookup.
type StoredRow = (i64, String, String, String);
/// `id, document, created_at` of an existing record (NULLs: schema version without it).
type ExistingRow = (Option<i64>, Option<String>, Option<String>);

/// Now, at the precision stored, so a returned record equals the one read back later.
fn now() -> (DateTime<Utc>, String) {
    let now = Utc::now();
    let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let text = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    (now, text)
}

impl SqliteMetadataStore {
    fn corrupt(&self, what: &str, reason: impl std::fmt::Display) -> Error {
        Error::Database {
            target: self.target().to_string(),
            reason: format!("unreadable {what} in the database: {reason}"),
        }
    }

    /// Versions were validated when stored; one that does not parse was edited by hand.
    fn parse_version(&self, stored: &str) -> Result<ContractVersion> {
        ContractVersion::parse(stored).map_err(|e| self.corrupt("version", e))
    }

    fn record(
        &self,
        artifact: (ArtifactKind, &str, ContractVersion),
        id: i64,
        document: &str,
        created_at: &str,
    ) -> Result<ArtifactRecord> {
        let (kind, name, version) = artifact;
        Ok(ArtifactRecord {
            id: ArtifactId(id),
            kind,
            name: name.to_string(),
            version,
            document: Arc::new(
                serde_json::from_str(document).map_err(|e| self.corrupt("document", e))?,
            ),
            created_at: DateTime::parse_from_rfc3339(created_at)
                .map_err(|e| self.corrupt("created_at", e))?
                .with_timezone(&Utc),
        })
    }
}

#[async_trait]
impl Backend for SqliteMetadataStore {
    fn gate(&self) -> &SchemaGate {
        &self.gate
    }

    async fn insert_artifact(&self, artifact: &NewArtifact) -> Result<InsertOutcome> {
        let statements = sql::statements(artifact.kind);
        let version = artifact.version.to_string();
        let document =
            serde_json::to_string(&artifact.document).map_err(|e| Error::InvalidDocument {
                reason: e.to_string(),
            })?;
        let (created_at, created_text) = now();
        let mut insert = sqlx::query(statements.insert.as_str())
            .bind(&artifact.name)
            .bind(&version)
            .bind(&document)
            .bind(&created_text);
        if artifact.kind == ArtifactKind::Schema {
            insert = insert.bind(artifact.version.sort_key());
        }
        // ON CONFLICT DO NOTHING makes a concurrent writer of the same key lose quietly; the
        // read below then finds the winner's row.
        let done = insert
            .execute(&self.pool)
            .await
            .map_err(|e| self.db_error(e))?;
        if done.rows_affected() == 1 {
            feed::publish(
                self,
                artifact.kind,
                &artifact.name,
                &artifact.version,
                ChangeOp::Put,
            );
            return Ok(InsertOutcome::Inserted(ArtifactRecord {
                id: ArtifactId(done.last_insert_rowid()),
                kind: artifact.kind,
                name: artifact.name.clone(),
                version: artifact.version.clone(),
                document: Arc::new(artifact.document.clone()),
                created_at,
            }));
        }
        let existing: Option<ExistingRow> = sqlx::query_as(statements.existing.as_str())
            .bind(&artifact.name)
            .bind(&version)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db_error(e))?;
        Ok(match existing {
            Some((Some(id), Some(document), Some(created_at))) => {
                let key = (
                    artifact.kind,
                    artifact.name.as_str(),
                    artifact.version.clone(),
                );
                InsertOutcome::Existing(self.record(key, id, &document, &created_at)?)
            }
            None if artifact.kind != ArtifactKind::Schema => InsertOutcome::SchemaVersionMissing,
            // The row we collided with was deleted before it could be read back.
            _ => InsertOutcome::Raced,
        })
    }

    async fn read_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        let statements = sql::statements(kind);
        let query = match version {
            VersionSelector::Exact(version) => {
                sqlx::query_as::<_, StoredRow>(statements.exact.as_str())
                    .bind(name)
                    .bind(version.to_string())
            }
            VersionSelector::Latest => {
                sqlx::query_as::<_, StoredRow>(statements.latest.as_str()).bind(name)
            }
        };
        let row = query
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db_error(e))?;
        let Some((id, stored_version, document, created_at)) = row else {
            return Ok(None);
        };
        let key = (kind, name, self.parse_version(&stored_version)?);
        self.record(key, id, &document, &created_at).map(Some)
    }

    async fn read_schema_names(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(SCHEMA_NAMES)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db_error(e))
    }

    async fn read_schema_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        let versions: Vec<String> = sqlx::query_scalar(SCHEMA_VERSIONS)
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db_error(e))?;
        versions.iter().map(|v| self.parse_version(v)).collect()
    }

    async fn delete_schema_version(&self, name: &str, version: &ContractVersion) -> Result<bool> {
        let done = sqlx::query(DELETE_SCHEMA_VERSION)
            .bind(name)
            .bind(version.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| self.db_error(e))?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            feed::publish(self, ArtifactKind::Schema, name, version, ChangeOp::Delete);
        }
        Ok(deleted)
    }
}
