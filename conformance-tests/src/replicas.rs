//! The read-replica layer ([`ReadReplicas`]) under the whole suite: [`ReplicaHarness`] wraps
//! any backend's harness so that every case runs on `ReadReplicas` over two handles of one
//! database, the primary (opened with the case's options) and a replica (a second handle,
//! opened without touching the schema). A backend runs it with one line:
//!
//! ```text
//! pycharter_conformance::conformance_suite!(ReplicaHarness(FooHarness::new()));
//! ```

use crate::{BackendHarness, Damage};
use async_trait::async_trait;
use pycharter_core::{ConnectOptions, ReadReplicas, Replicated, Result};

/// `H`'s databases, opened as a primary plus one replica behind [`ReadReplicas`].
pub struct ReplicaHarness<H>(pub H);

#[async_trait]
impl<H> BackendHarness for ReplicaHarness<H>
where
    H: BackendHarness,
    H::Store: Replicated,
{
    type Store = ReadReplicas<H::Store>;

    async fn new_database(&self) -> String {
        self.0.new_database().await
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<Self::Store> {
        let replica_options = ConnectOptions {
            auto_initialize: false,
            validate_schema_on_connect: false,
            ..options.clone()
        };
        let primary = self.0.open(database, options).await?;
        let replica = self.0.open(database, replica_options).await?;
        let routed = ReadReplicas::new(primary, vec![replica]);
        routed.sync_with_primary().await;
        Ok(routed)
    }

    async fn damage(&self, database: &str, damage: Damage<'_>) {
        self.0.damage(database, damage).await;
    }
}
