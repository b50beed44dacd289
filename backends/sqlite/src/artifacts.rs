//! The generic [`MetadataStore`] surface in SQL. Core's default methods validate input and
//! apply the immutability rule; here every value is a bound parameter, and table names come
//! from [`ArtifactKind::table`], a closed list.

use crate::errors;
use crate::store::SqliteMetadataStore;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use pycharter_core::{
    ArtifactId, ArtifactKind, ArtifactRecord, ContractVersion, Error, MetadataStore, NewArtifact,
    PutOutcome, Result, VersionSelector,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row};
use std::sync::Arc;

/// Columns every lookup returns, in the order [`record`] reads them.
const SCHEMA_COLUMNS: &str = "s.id, s.name, s.version, s.document, s.created_at";
const ATTACHED_COLUMNS: &str = "a.id, s.name, s.version, a.document, a.created_at";

/// Now, at the precision stored, so a returned record equals the one read back later.
fn now() -> (DateTime<Utc>, String) {
    let now = Utc::now();
    let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let text = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    (now, text)
}

/// The lookup of one record: `?1` is the name, `?2` the exact version (when there is one).
pub(crate) fn lookup_sql(kind: ArtifactKind, version: &VersionSelector) -> String {
    // "Latest" walks idx_schemas_name_sort_key backwards and stops at the first row: the
    // byte order of version_sort_key is semver precedence, so no sort is needed.
    let latest_id = "SELECT id FROM schemas WHERE name = ?1 ORDER BY version_sort_key DESC LIMIT 1";
    match (kind, version) {
        (ArtifactKind::Schema, VersionSelector::Exact(_)) => {
            format!("SELECT {SCHEMA_COLUMNS} FROM schemas s WHERE s.name = ?1 AND s.version = ?2")
        }
        (ArtifactKind::Schema, VersionSelector::Latest) => format!(
            "SELECT {SCHEMA_COLUMNS} FROM schemas s
             WHERE s.name = ?1 ORDER BY s.version_sort_key DESC LIMIT 1"
        ),
        (_, VersionSelector::Exact(_)) => format!(
            "SELECT {ATTACHED_COLUMNS} FROM {} a JOIN schemas s ON s.id = a.schema_id
             WHERE s.name = ?1 AND s.version = ?2",
            kind.table()
        ),
        // Of the highest schema version only: an older version's rules are not the latest
        // schema's rules.
        (_, VersionSelector::Latest) => format!(
            "SELECT {ATTACHED_COLUMNS} FROM {} a JOIN schemas s ON s.id = a.schema_id
             WHERE a.schema_id = ({latest_id})",
            kind.table()
        ),
    }
}

impl SqliteMetadataStore {
    fn db_error(&self, err: sqlx::Error) -> Error {
        errors::database(&self.target, err)
    }

    fn corrupt(&self, what: &str, reason: impl std::fmt::Display) -> Error {
        Error::Database {
            target: self.target.to_string(),
            reason: format!("unreadable {what} in the database: {reason}"),
        }
    }

    /// Decodes a row of `SCHEMA_COLUMNS` / `ATTACHED_COLUMNS`.
    fn record(&self, kind: ArtifactKind, row: &SqliteRow) -> Result<ArtifactRecord> {
        let get_text = |i: usize| row.try_get::<String, _>(i).map_err(|e| self.db_error(e));
        let id: i64 = row.try_get(0).map_err(|e| self.db_error(e))?;
        let version = get_text(2)?;
        let created_at = get_text(4)?;
        Ok(ArtifactRecord {
            id: ArtifactId(id),
            kind,
            name: get_text(1)?,
            version: ContractVersion::parse(&version).map_err(|e| self.corrupt("version", e))?,
            document: Arc::new(
                serde_json::from_str(&get_text(3)?).map_err(|e| self.corrupt("document", e))?,
            ),
            created_at: DateTime::parse_from_rfc3339(&created_at)
                .map_err(|e| self.corrupt("created_at", e))?
                .with_timezone(&Utc),
        })
    }

    /// The record of `kind` at `name`/`version` (unguarded; callers hold the gate).
    async fn lookup(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        let sql = lookup_sql(kind, version);
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(name);
        if let VersionSelector::Exact(v) = version {
            query = query.bind(v.to_string());
        }
        let row = query
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db_error(e))?;
        row.map(|row| self.record(kind, &row)).transpose()
    }

    /// Insert-if-absent; returns the new id, or None when the key was taken (or, for an
    /// attached kind, when the schema version does not exist: then nothing matched).
    async fn insert(
        &self,
        artifact: &NewArtifact,
        document: &str,
        created_at: &str,
    ) -> Result<Option<i64>> {
        let version = artifact.version.to_string();
        // ON CONFLICT DO NOTHING makes a concurrent writer of the same key lose quietly,
        // and the caller reads back the winner's row.
        let result = if artifact.kind == ArtifactKind::Schema {
            sqlx::query(
                "INSERT INTO schemas (name, version, version_sort_key, document, created_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&artifact.name)
            .bind(&version)
            .bind(artifact.version.sort_key())
            .bind(document)
            .bind(created_at)
            .execute(&self.pool)
            .await
        } else {
            // Resolving schema_id in the same statement: there is no moment at which the
            // schema could be deleted between lookup and insert.
            let sql = format!(
                "INSERT INTO {} (schema_id, document, created_at)
                 SELECT id, ?, ? FROM schemas WHERE name = ? AND version = ?
                 ON CONFLICT DO NOTHING",
                artifact.kind.table()
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(document)
                .bind(created_at)
                .bind(&artifact.name)
                .bind(&version)
                .execute(&self.pool)
                .await
        }
        .map_err(|e| self.db_error(e))?;
        Ok((result.rows_affected() == 1).then(|| result.last_insert_rowid()))
    }

    async fn put(&self, artifact: NewArtifact) -> Result<PutOutcome> {
        let document =
            serde_json::to_string(&artifact.document).map_err(|e| Error::InvalidDocument {
                reason: e.to_string(),
            })?;
        let (created_at, created_text) = now();
        if let Some(id) = self.insert(&artifact, &document, &created_text).await? {
            return Ok(PutOutcome::Inserted(ArtifactRecord {
                id: ArtifactId(id),
                kind: artifact.kind,
                name: artifact.name,
                version: artifact.version,
                document: Arc::new(artifact.document),
                created_at,
            }));
        }
        let exact = VersionSelector::Exact(artifact.version.clone());
        match self.lookup(artifact.kind, &artifact.name, &exact).await? {
            Some(existing) => Ok(PutOutcome::Existing(existing)),
            None if artifact.kind != ArtifactKind::Schema => Err(Error::schema_version_not_found(
                &artifact.name,
                &artifact.version,
            )),
            // The conflicting schema row was deleted between our insert and the read-back.
            None => Err(Error::Database {
                target: self.target.to_string(),
                reason: format!(
                    "schema {:?} {} was deleted while being stored; store it again",
                    artifact.name, artifact.version
                ),
            }),
        }
    }
}

#[async_trait]
impl MetadataStore for SqliteMetadataStore {
    async fn put_artifact(&self, artifact: NewArtifact) -> Result<PutOutcome> {
        self.guarded(true, || self.put(artifact)).await
    }

    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        self.guarded(false, || self.lookup(kind, name, version))
            .await
    }

    async fn schema_names(&self) -> Result<Vec<String>> {
        self.guarded(false, || async {
            sqlx::query_scalar("SELECT DISTINCT name FROM schemas ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.db_error(e))
        })
        .await
    }

    async fn schema_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        self.guarded(false, || async {
            let versions: Vec<String> = sqlx::query_scalar(
                "SELECT version FROM schemas WHERE name = ? ORDER BY version_sort_key",
            )
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db_error(e))?;
            versions
                .iter()
                .map(|v| ContractVersion::parse(v).map_err(|e| self.corrupt("version", e)))
                .collect()
        })
        .await
    }

    async fn delete_schema_version(&self, name: &str, version: &ContractVersion) -> Result<bool> {
        self.guarded(true, || async {
            // Attached rows go with it: ON DELETE CASCADE, foreign keys are on for every
            // connection of the pool.
            let result = sqlx::query("DELETE FROM schemas WHERE name = ? AND version = ?")
                .bind(name)
                .bind(version.to_string())
                .execute(&self.pool)
                .await
                .map_err(|e| self.db_error(e))?;
            Ok(result.rows_affected() > 0)
        })
        .await
    }
}
