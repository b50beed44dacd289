//! Read replicas as a layer: [`ReadReplicas`] wraps a primary store and replica stores of the
//! same database and is itself a [`MetadataStore`] + [`SchemaManager`], so anything that
//! wraps a store (a cache, say) wraps it too.
//!
//! - Writes (`store_artifact`, `delete_version`) and every schema command go to the primary.
//! - Reads (`get_artifact`, `list_schemas`, `list_versions`) go to the replicas in turn.
//! - **Read-your-writes** for this handle (and its clones): after a write through it, the
//!   primary's [`Replicated::write_position`] is recorded; a later read waits until its
//!   replica has replayed that position ([`Replicated::wait_for_replay`]), for at most
//!   the configured wait, then reads from the primary instead. Once a replica has caught up
//!   it is not asked again until the next write, so a read costs one round trip as before.
//! - A replica that cannot be reached is skipped for that read: the primary answers.
//!
//! What other processes wrote reaches the replicas with the replication lag: that is the
//! promise of asynchronous replication, and why only this handle's own writes are waited for.

use crate::artifact::{ArtifactId, ArtifactKind, ArtifactRecord, VersionSelector};
use crate::catalog::AppliedMigration;
use crate::error::{Error, Result};
use crate::options::{DowngradeOptions, InitializeOptions, UpgradeOptions};
use crate::report::{MigrationReport, MigrationStatus};
use crate::spec::BundledMigration;
use crate::store::{MetadataStore, SchemaManager};
use crate::validate::SchemaInfo;
use crate::version::ContractVersion;
use async_trait::async_trait;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A position in the primary's history of writes (for PostgreSQL, a WAL LSN): a replica
/// that has replayed it has every write committed before it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplicationPosition(pub u64);

/// What [`ReadReplicas`] needs from a store beyond the two traits. The defaults describe a
/// store without replication (SQLite, memory): nothing to wait for.
#[async_trait]
pub trait Replicated: MetadataStore + SchemaManager {
    /// On the primary: a position at or after every write committed so far.
    async fn write_position(&self) -> Result<Option<ReplicationPosition>> {
        Ok(None)
    }

    /// On a replica: waits until it has replayed everything up to `position`, for at most
    /// `within`; false when it has not by then.
    async fn wait_for_replay(
        &self,
        position: ReplicationPosition,
        within: Duration,
    ) -> Result<bool> {
        let _ = (position, within);
        Ok(true)
    }
}

/// Default bound on waiting for a replica to replay this handle's last write.
pub const DEFAULT_REPLICA_WAIT: Duration = Duration::from_millis(500);
/// `last_write` / `caught_up` value meaning "none".
const NONE: u64 = 0;

/// Where reads went, for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Reads a replica answered.
    pub replica_reads: u64,
    /// Reads the primary answered because a replica had not replayed this handle's last
    /// write within the wait, or could not be reached.
    pub primary_fallbacks: u64,
}

/// A primary and its read replicas as one store (see the module documentation).
///
/// Build it from stores of one database that implement [`Replicated`]; pycharter-postgres
/// builds it from URLs (`PostgresMetadataStore::builder(url).read_replicas(urls)`), and
/// SQLite and memory stores implement the trait with nothing to wait for.
pub struct ReadReplicas<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for ReadReplicas<S> {
    fn clone(&self) -> Self {
        ReadReplicas {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> std::fmt::Debug for ReadReplicas<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadReplicas")
            .field("replicas", &self.shared.replicas.len())
            .field("wait", &self.shared.wait())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Shared<S> {
    primary: S,
    replicas: Vec<S>,
    /// The wait bound, in nanoseconds (shared by clones, settable after building).
    wait_nanos: AtomicU64,
    next: AtomicUsize,
    /// Position of this handle's last write (`NONE`: no write yet); `u64::MAX` when the
    /// position could not be read (then reads go to the primary until the next write).
    last_write: AtomicU64,
    /// Per replica: the highest position it was seen to have replayed.
    caught_up: Vec<AtomicU64>,
    replica_reads: AtomicU64,
    primary_fallbacks: AtomicU64,
}

impl<S> ReadReplicas<S> {
    /// The primary store.
    pub fn primary(&self) -> &S {
        &self.shared.primary
    }

    /// The replica stores.
    pub fn replicas(&self) -> &[S] {
        &self.shared.replicas
    }

    /// Where reads went so far.
    pub fn stats(&self) -> ReplicaStats {
        ReplicaStats {
            replica_reads: self.shared.replica_reads.load(Ordering::Relaxed),
            primary_fallbacks: self.shared.primary_fallbacks.load(Ordering::Relaxed),
        }
    }
}

impl<S: Replicated> ReadReplicas<S> {
    /// Routes reads to `replicas` (in turn) and everything else to `primary`, waiting at
    /// most [`DEFAULT_REPLICA_WAIT`] for a replica to replay this handle's writes. With no
    /// replica, everything goes to the primary.
    pub fn new(primary: S, replicas: Vec<S>) -> Self {
        let caught_up = replicas.iter().map(|_| AtomicU64::new(NONE)).collect();
        ReadReplicas {
            shared: Arc::new(Shared {
                primary,
                replicas,
                wait_nanos: AtomicU64::new(nanos(DEFAULT_REPLICA_WAIT)),
                next: AtomicUsize::new(0),
                last_write: AtomicU64::new(NONE),
                caught_up,
                replica_reads: AtomicU64::new(0),
                primary_fallbacks: AtomicU64::new(0),
            }),
        }
    }

    /// The bound on waiting for a replica to replay this handle's last write before the
    /// primary answers instead (zero: read from the primary whenever a replica lags). Clones
    /// share it.
    pub fn with_wait(self, wait: Duration) -> Self {
        self.shared.wait_nanos.store(nanos(wait), Ordering::Relaxed);
        self
    }

    /// Makes the next reads wait (within the bound) until the replicas have replayed
    /// everything the primary has committed so far, as after a write through this handle.
    /// Call it after changing the database another way (a migration at connect, say).
    pub async fn sync_with_primary(&self) {
        self.record_write().await;
    }

    /// After a write: remember where the primary stands.
    async fn record_write(&self) {
        let position = match self.shared.primary.write_position().await {
            Ok(Some(position)) => position.0.max(1),
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(target: "pycharter::replica", error = %err, "could not read the primary's write position; reading from the primary until the next write");
                u64::MAX
            }
        };
        self.shared.last_write.fetch_max(position, Ordering::AcqRel);
        if position == u64::MAX {
            return;
        }
        // A known position replaces the "unknown" marker of an earlier failure.
        let _ = self.shared.last_write.compare_exchange(
            u64::MAX,
            position,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether replica `index` has replayed `position`, waiting at most the configured wait.
    async fn caught_up(&self, index: usize, position: u64) -> bool {
        let shared = &self.shared;
        if position == NONE || shared.caught_up[index].load(Ordering::Acquire) >= position {
            return true;
        }
        if position == u64::MAX {
            return false;
        }
        match shared.replicas[index]
            .wait_for_replay(ReplicationPosition(position), shared.wait())
            .await
        {
            Ok(true) => {
                shared.caught_up[index].fetch_max(position, Ordering::AcqRel);
                true
            }
            Ok(false) => false,
            Err(err) => {
                tracing::debug!(target: "pycharter::replica", error = %err, "replica did not say how far it replayed");
                false
            }
        }
    }

    /// Runs a read on the next replica that has this handle's writes, else on the primary.
    async fn read<'a, T, F, Fut>(&'a self, read: F) -> Result<T>
    where
        F: Fn(&'a S) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let shared = &self.shared;
        if shared.replicas.is_empty() {
            return read(&shared.primary).await;
        }
        let index = shared.next.fetch_add(1, Ordering::Relaxed) % shared.replicas.len();
        let position = shared.last_write.load(Ordering::Acquire);
        if self.caught_up(index, position).await {
            match read(&shared.replicas[index]).await {
                Err(err) if err.is_connection() => {
                    tracing::debug!(target: "pycharter::replica", error = %err, "replica unreachable; reading from the primary");
                }
                answer => {
                    shared.replica_reads.fetch_add(1, Ordering::Relaxed);
                    return answer;
                }
            }
        }
        shared.primary_fallbacks.fetch_add(1, Ordering::Relaxed);
        read(&shared.primary).await
    }

    /// Runs a write on the primary and records where it stands afterwards.
    async fn write<T>(&self, outcome: Result<T>) -> Result<T> {
        // Recorded after a failure too: a write whose acknowledgement was lost may have
        // committed, and reading from the primary then is the safe side.
        if !matches!(&outcome, Err(err) if !may_have_written(err)) {
            self.record_write().await;
        }
        outcome
    }
}

impl<S> Shared<S> {
    fn wait(&self) -> Duration {
        Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed))
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether a failed write may still have changed something (connection lost mid-way).
fn may_have_written(err: &Error) -> bool {
    err.is_connection() || matches!(err, Error::Database { .. })
}

#[async_trait]
impl<S: Replicated> MetadataStore for ReadReplicas<S> {
    async fn store_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &ContractVersion,
        document: &Value,
    ) -> Result<ArtifactId> {
        let outcome = self
            .shared
            .primary
            .store_artifact(kind, name, version, document)
            .await;
        self.write(outcome).await
    }

    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        self.read(|s| s.get_artifact(kind, name, version)).await
    }

    async fn list_schemas(&self) -> Result<Vec<String>> {
        self.read(|s| s.list_schemas()).await
    }

    async fn list_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        self.read(|s| s.list_versions(name)).await
    }

    async fn delete_version(&self, name: &str, version: &ContractVersion) -> Result<()> {
        let outcome = self.shared.primary.delete_version(name, version).await;
        self.write(outcome).await
    }
}

/// Schema commands are the primary's; after a migration, replicas are waited for like after
/// a write (their reads must not meet the old layout).
#[async_trait]
impl<S: Replicated> SchemaManager for ReadReplicas<S> {
    fn bundled_migrations(&self) -> &[BundledMigration] {
        self.shared.primary.bundled_migrations()
    }

    async fn initialize(&self, options: InitializeOptions) -> Result<MigrationReport> {
        let outcome = self.shared.primary.initialize(options).await;
        self.write(outcome).await
    }

    async fn validate(&self) -> Result<SchemaInfo> {
        self.shared.primary.validate().await
    }

    async fn current(&self) -> Result<Option<AppliedMigration>> {
        self.shared.primary.current().await
    }

    async fn history(&self) -> Result<Vec<MigrationStatus>> {
        self.shared.primary.history().await
    }

    async fn upgrade(&self, options: UpgradeOptions) -> Result<MigrationReport> {
        let outcome = self.shared.primary.upgrade(options).await;
        self.write(outcome).await
    }

    async fn downgrade(&self, options: DowngradeOptions) -> Result<MigrationReport> {
        let outcome = self.shared.primary.downgrade(options).await;
        self.write(outcome).await
    }
}

/// The layer is replicated like what it wraps (so layers stack).
#[async_trait]
impl<S: Replicated> Replicated for ReadReplicas<S> {
    async fn write_position(&self) -> Result<Option<ReplicationPosition>> {
        self.shared.primary.write_position().await
    }
}
