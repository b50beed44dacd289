//! The change feed of the in-memory backend: in-process and synchronous. Every write through
//! any handle on a database is published to the observers of every handle on it before the
//! write returns, so the feed is caught up at every instant ([`FeedMessage::Live`]).

use crate::store::{Database, MemoryMetadataStore};
use pycharter_core::feed::{ChangeEvent, ChangeFeed, ChangeObserver, ChangeOp, FeedMessage};
use pycharter_core::{ContractVersion, NewArtifact};
use std::sync::Weak;
use std::time::{Duration, Instant};

impl ChangeFeed for MemoryMetadataStore {
    /// Subscribes `observer` to the writes of every handle on this database; `sync_every` is
    /// not needed (nothing to poll).
    fn subscribe(&self, observer: Weak<dyn ChangeObserver>, _sync_every: Duration) {
        self.inner.db.feed.add(observer.clone());
        // After `add`: a write that commits from now on publishes to this observer.
        let since = Instant::now();
        if let Some(observer) = observer.upgrade() {
            observer.observe(FeedMessage::Live { since });
        }
    }
}

/// Publishes the put of `artifact` (called after it was inserted, locks released).
pub(crate) fn publish_put(db: &Database, artifact: &NewArtifact) {
    let event = ChangeEvent::new(
        artifact.kind,
        &artifact.name,
        &artifact.version,
        ChangeOp::Put,
    );
    db.feed.publish(FeedMessage::Changed(&event));
}

/// Publishes the delete of schema `name` at `version` (called after it was deleted).
pub(crate) fn publish_delete(db: &Database, name: &str, version: &ContractVersion) {
    db.feed
        .publish(FeedMessage::Changed(&ChangeEvent::deleted(name, version)));
}
