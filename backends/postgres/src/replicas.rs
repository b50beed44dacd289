//! Read replicas for [`PostgresMetadataStore`]: the WAL positions core's
//! [`ReadReplicas`] layer waits on, and the builder that assembles the layer from URLs.
//!
//! The position of a write is `pg_current_wal_lsn()` on the primary, read after the write
//! committed (so it is at or after the commit record); a standby has the write once
//! `pg_last_wal_replay_lsn()` reaches it. A "replica" that is not in recovery (a promoted
//! standby, or a second URL of the primary itself) has every write it will ever show.

use crate::store::PostgresMetadataStore;
use async_trait::async_trait;
use pycharter_core::{
    BundledMigration, ConnectOptions, ReadReplicas, Replicated, ReplicationPosition, Result,
};
use std::time::Duration;
use tokio::time::Instant;

/// The primary's WAL write position, in bytes.
const WRITE_POSITION: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint";
/// Whether this server has replayed `$1` (bytes), or is not a standby at all.
const HAS_REPLAYED: &str = "SELECT NOT pg_is_in_recovery() \
     OR COALESCE(pg_last_wal_replay_lsn() - '0/0'::pg_lsn >= $1::numeric, false)";
/// First and largest pause between two replay checks (one connection, held while waiting).
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(20);

#[async_trait]
impl Replicated for PostgresMetadataStore {
    async fn write_position(&self) -> Result<Option<ReplicationPosition>> {
        let mut conn = self.acquire().await?;
        let bytes: i64 = sqlx::query_scalar(WRITE_POSITION)
            .persistent(self.persistent())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(Some(ReplicationPosition(u64::try_from(bytes).unwrap_or(0))))
    }

    async fn wait_for_replay(
        &self,
        position: ReplicationPosition,
        within: Duration,
    ) -> Result<bool> {
        let deadline = Instant::now() + within;
        let bytes = i64::try_from(position.0).unwrap_or(i64::MAX);
        let mut conn = self.acquire().await?;
        let mut pause = POLL_FIRST;
        loop {
            let replayed: bool = sqlx::query_scalar(HAS_REPLAYED)
                .persistent(self.persistent())
                .bind(bytes)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| self.fail(e))?;
            let now = Instant::now();
            if replayed || now >= deadline {
                return Ok(replayed);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

/// Builds a [`PostgresMetadataStore`], or with [`PostgresBuilder::read_replicas`] the
/// read-replica layer around one.
///
/// ```no_run
/// use pycharter_core::prelude::*;
/// use pycharter_postgres::PostgresMetadataStore;
/// use std::time::Duration;
///
/// # async fn demo() -> pycharter_core::Result<()> {
/// let store = PostgresMetadataStore::builder(
///     "postgres://app:secret@db1,db2/meta?target_session_attrs=read-write",
/// )
/// .read_replicas(["postgres://app:secret@db2/meta"])
/// .replica_wait(Duration::from_millis(200))
/// .connect()
/// .await?;
/// store.store_schema("orders", "1.0.0", &serde_json::json!({"type": "object"})).await?;
/// // Read from the replica once it has replayed the write (else from the primary).
/// assert!(store.get_schema("orders", None).await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresBuilder {
    url: String,
    options: ConnectOptions,
    migrations: Option<Vec<BundledMigration>>,
}

impl PostgresMetadataStore {
    /// A builder for `url` with [`ConnectOptions::default()`].
    pub fn builder(url: &str) -> PostgresBuilder {
        PostgresBuilder {
            url: url.to_string(),
            options: ConnectOptions::default(),
            migrations: None,
        }
    }
}

impl PostgresBuilder {
    /// The connect options (of the primary; replicas never initialize).
    pub fn options(mut self, options: ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// Another migration list than this build's (see
    /// [`PostgresMetadataStore::connect_with_migrations`]).
    pub fn migrations(mut self, migrations: Vec<BundledMigration>) -> Self {
        self.migrations = Some(migrations);
        self
    }

    /// Sends reads to these URLs (standbys of the primary, each possibly a multi-host URL),
    /// in turn; writes and schema commands go to the primary.
    pub fn read_replicas<I, U>(self, urls: I) -> ReplicatedBuilder
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        ReplicatedBuilder {
            primary: self,
            replicas: urls.into_iter().map(Into::into).collect(),
            wait: pycharter_core::replica::DEFAULT_REPLICA_WAIT,
        }
    }

    /// Connects (see [`PostgresMetadataStore::connect`]).
    pub async fn connect(self) -> Result<PostgresMetadataStore> {
        let migrations = self
            .migrations
            .unwrap_or_else(PostgresMetadataStore::migrations);
        PostgresMetadataStore::connect_with_migrations(&self.url, self.options, migrations).await
    }
}

/// [`PostgresBuilder`] with read replicas: builds a [`ReadReplicas`] layer.
#[derive(Debug, Clone)]
pub struct ReplicatedBuilder {
    primary: PostgresBuilder,
    replicas: Vec<String>,
    wait: Duration,
}

impl ReplicatedBuilder {
    /// How long a read after this handle's own write waits for its replica to replay the
    /// write before the primary answers instead (default 500 ms).
    pub fn replica_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Connects the primary (doing to the schema what its options ask), then each replica
    /// (which only reads: no initialization, validated on first use); the first reads wait
    /// for the replicas to replay what the primary has, e.g. a migration just applied.
    pub async fn connect(self) -> Result<ReadReplicas<PostgresMetadataStore>> {
        let replica_options = ConnectOptions {
            auto_initialize: false,
            validate_schema_on_connect: false,
            ..self.primary.options.clone()
        };
        let migrations = self.primary.migrations.clone();
        let primary = self.primary.connect().await?;
        let mut replicas = Vec::with_capacity(self.replicas.len());
        for url in &self.replicas {
            let migrations = migrations
                .clone()
                .unwrap_or_else(PostgresMetadataStore::migrations);
            let replica = PostgresMetadataStore::connect_with_migrations(
                url,
                replica_options.clone(),
                migrations,
            )
            .await;
            match replica {
                Ok(replica) => replicas.push(replica),
                Err(err) => {
                    primary.close().await;
                    for replica in &replicas {
                        replica.close().await;
                    }
                    return Err(err);
                }
            }
        }
        let routed = ReadReplicas::new(primary, replicas).with_wait(self.wait);
        routed.sync_with_primary().await;
        Ok(routed)
    }
}
