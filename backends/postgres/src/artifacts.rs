//! The storage primitives of [`PostgresMetadataStore`]: core's [`Backend`] over the
//! statements of [`crate::sql`]. What a statement found is reported as a value; core applies
//! the rules (validation, immutability, "not found", retrying a race) on top.

use crate::sql::{self, DELETE_SCHEMA_VERSION, SCHEMA_NAMES, SCHEMA_VERSIONS};
use crate::store::PostgresMetadataStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pycharter_core::{
    ArtifactId, ArtifactKind, ArtifactRecord, Backend, ContractVersion, InsertOutcome, NewArtifact,
    Result, SchemaGate, VersionSelector,
};
use serde_json::Value;
use std::sync::Arc;

/// `id, version, document, created_at`.
type StoredRow = (i64, String, Value, DateTime<Utc>);
/// `id, document, created_at` of an existing record (NULLs: schema version without it).
type ExistingRow = (Option<i64>, Option<Value>, Option<DateTime<Utc>>);

/// Runs one parameterised sqlx query (`$query` without an executor) with `$fetch`
/// (`fetch_all`, `fetch_optional`, `execute`), honouring the statement-cache knob.
///
/// With `statement-cache-capacity=0` (PgBouncer in transaction pooling mode) the statement
/// runs in a transaction of its own. sqlx sends an unnamed statement as Parse+Sync, then
/// Bind+Execute+Sync; outside a transaction PgBouncer may hand the second half to another
/// server connection, where the unnamed statement is missing, or is another client's (same
/// parameter types: a read could execute someone's DELETE). A transaction pins one server
/// connection for both halves.
macro_rules! run {
    ($store:expr, $query:expr, $fetch:ident) => {{
        let store = $store;
        let query = $query.persistent(store.persistent());
        let mut conn = store.acquire().await?;
        if store.persistent() {
            query.$fetch(&mut *conn).await
        } else {
            async {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let out = query.$fetch(&mut *tx).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(out)
            }
            .await
        }
        .map_err(|e| store.fail(e))
    }};
}

#[async_trait]
impl Backend for PostgresMetadataStore {
    fn gate(&self) -> &SchemaGate {
        &self.inner.gate
    }

    /// INSERT ... ON CONFLICT DO NOTHING, else read what is there. The read is a separate
    /// statement on purpose: under READ COMMITTED it gets a fresh snapshot, so it sees the
    /// row a concurrent writer committed while the insert waited on it.
    async fn insert_artifact(&self, artifact: &NewArtifact) -> Result<InsertOutcome> {
        let statements = sql::statements(artifact.kind);
        let version = artifact.version.to_string();
        let is_schema = artifact.kind == ArtifactKind::Schema;
        let mut insert = sqlx::query_as::<_, (i64, DateTime<Utc>)>(statements.insert.as_str())
            .bind(&artifact.name)
            .bind(&version);
        if is_schema {
            insert = insert.bind(artifact.version.sort_key());
        }
        let inserted = run!(self, insert.bind(&artifact.document), fetch_optional)?;
        if let Some((id, created_at)) = inserted {
            let document = artifact.document.clone();
            return Ok(InsertOutcome::Inserted(record(
                artifact, id, document, created_at,
            )));
        }
        let existing = sqlx::query_as::<_, ExistingRow>(statements.existing.as_str())
            .bind(&artifact.name)
            .bind(&version);
        Ok(match run!(self, existing, fetch_optional)? {
            Some((Some(id), Some(document), Some(created_at))) => {
                InsertOutcome::Existing(record(artifact, id, document, created_at))
            }
            None if !is_schema => InsertOutcome::SchemaVersionMissing,
            // The row we collided with was deleted meanwhile, or the schema version was
            // committed after our insert's snapshot.
            _ => InsertOutcome::Raced,
        })
    }

    async fn read_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        selector: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        let statements = sql::statements(kind);
        let query = match selector {
            VersionSelector::Exact(version) => {
                sqlx::query_as::<_, StoredRow>(statements.exact.as_str())
                    .bind(name)
                    .bind(version.to_string())
            }
            VersionSelector::Latest => {
                sqlx::query_as::<_, StoredRow>(statements.latest.as_str()).bind(name)
            }
        };
        let row = run!(self, query, fetch_optional)?;
        let Some((id, version, document, created_at)) = row else {
            return Ok(None);
        };
        Ok(Some(ArtifactRecord {
            id: ArtifactId(id),
            kind,
            name: name.to_string(),
            version: self.parse_version(&version)?,
            document: Arc::new(document),
            created_at,
        }))
    }

    async fn read_schema_names(&self) -> Result<Vec<String>> {
        run!(self, sqlx::query_scalar(SCHEMA_NAMES), fetch_all)
    }

    async fn read_schema_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        let rows: Vec<String> = run!(
            self,
            sqlx::query_scalar(SCHEMA_VERSIONS).bind(name),
            fetch_all
        )?;
        rows.iter().map(|v| self.parse_version(v)).collect()
    }

    async fn delete_schema_version(&self, name: &str, version: &ContractVersion) -> Result<bool> {
        let delete = sqlx::query(DELETE_SCHEMA_VERSION)
            .bind(name)
            .bind(version.to_string());
        let done = run!(self, delete, execute)?;
        Ok(done.rows_affected() > 0)
    }
}

impl PostgresMetadataStore {
    /// Versions were validated when stored; one that does not parse was edited by hand.
    fn parse_version(&self, stored: &str) -> Result<ContractVersion> {
        ContractVersion::parse(stored).map_err(|e| {
            self.errors()
                .database(format!("stored version {stored:?} is not valid: {e}"))
        })
    }
}

fn record(
    artifact: &NewArtifact,
    id: i64,
    document: Value,
    created_at: DateTime<Utc>,
) -> ArtifactRecord {
    ArtifactRecord {
        id: ArtifactId(id),
        kind: artifact.kind,
        name: artifact.name.clone(),
        version: artifact.version.clone(),
        document: Arc::new(document),
        created_at,
    }
}
