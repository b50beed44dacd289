//! Change feeds: how a backend tells a layer (the cache of `pycharter-cache`) what changed in
//! its database, and how far that knowledge goes.
//!
//! `(kind, name, version)` is immutable, so the only changes are a **put** of a new key and
//! the **delete** of a schema version (with what is attached to it). A [`ChangeFeed`] reports
//! each committed change as a [`ChangeEvent`], never a rolled-back one, to the
//! [`ChangeObserver`]s subscribed to it, together with what a layer needs to *vouch* for what
//! it remembers ([`FeedMessage`]):
//!
//! - [`FeedMessage::Live`]: an in-process feed (the in-memory backend) delivers every change
//!   before the write that made it returns, so it is caught up at every instant;
//! - [`FeedMessage::CaughtUp`]: a feed that learns of changes asynchronously (Postgres
//!   `LISTEN/NOTIFY`, SQLite `PRAGMA data_version` polling) proves periodically that every
//!   change committed before some instant has been delivered;
//! - [`FeedMessage::Lost`]: changes may be missed from now on (connection dropped, heartbeat
//!   unanswered, a pooler that cannot carry `LISTEN`), until a later `CaughtUp` or `Live`
//!   with a new `since`;
//! - [`FeedMessage::ChangedUnknown`]: something changed that the feed cannot name (another
//!   process wrote to a SQLite file): everything may have changed.
//!
//! Why observers rather than a channel: an in-process feed calls them synchronously, inside
//! the write, so a write through one handle is visible through every cached handle of the
//! process by the time the write returns, with no buffer that could lag or overflow in
//! between; and core stays free of an async runtime. A feed that has its own task (Postgres)
//! calls them from that task. An observer must be quick and must not block: invalidate, record
//! an instant, return.
//!
//! ```
//! use pycharter_core::feed::{ChangeEvent, ChangeObserver, ChangeOp, FeedMessage, Observers};
//! use pycharter_core::ArtifactKind;
//! use std::sync::{Arc, Mutex};
//!
//! #[derive(Default)]
//! struct Log(Mutex<Vec<String>>);
//! impl ChangeObserver for Log {
//!     fn observe(&self, message: FeedMessage<'_>) {
//!         if let FeedMessage::Changed(event) = message {
//!             self.0.lock().unwrap().push(event.to_string());
//!         }
//!     }
//! }
//!
//! let observers = Observers::default();
//! let log = Arc::new(Log::default());
//! let weak: std::sync::Weak<dyn ChangeObserver> = Arc::downgrade(&log) as _;
//! observers.add(weak);
//! let event = ChangeEvent::new(ArtifactKind::Schema, "orders", &"1.0.0".parse()?, ChangeOp::Put);
//! observers.publish(FeedMessage::Changed(&event));
//! assert_eq!(log.0.lock().unwrap().as_slice(), ["put schema orders 1.0.0"]);
//! drop(log);
//! assert!(observers.is_empty(), "a dropped observer is unsubscribed");
//! # Ok::<(), pycharter_core::Error>(())
//! ```

use crate::artifact::ArtifactKind;
use crate::version::ContractVersion;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// What a committed change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    /// A new `(kind, name, version)` was stored.
    Put,
    /// A schema version was deleted, and everything attached to it.
    Delete,
}

impl fmt::Display for ChangeOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeOp::Put => "put",
            ChangeOp::Delete => "delete",
        })
    }
}

/// One committed change: which key, and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangeEvent {
    /// The kind stored ([`ArtifactKind::Schema`] for a delete: the schema version went, with
    /// everything attached to it).
    pub kind: ArtifactKind,
    /// Schema name.
    pub name: String,
    /// Schema version.
    pub version: ContractVersion,
    /// Put or delete.
    pub op: ChangeOp,
}

impl ChangeEvent {
    /// An event for `kind` of `name` at `version`.
    pub fn new(kind: ArtifactKind, name: &str, version: &ContractVersion, op: ChangeOp) -> Self {
        ChangeEvent {
            kind,
            name: name.to_string(),
            version: version.clone(),
            op,
        }
    }

    /// The delete of schema `name` at `version` (and of what is attached to it).
    pub fn deleted(name: &str, version: &ContractVersion) -> Self {
        Self::new(ArtifactKind::Schema, name, version, ChangeOp::Delete)
    }
}

impl fmt::Display for ChangeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.op, self.kind, self.name, self.version
        )
    }
}

/// What a feed tells its observers (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedMessage<'a> {
    /// A change, delivered after it committed.
    Changed(&'a ChangeEvent),
    /// Every change committed at or after `since` and before `up_to` has been delivered.
    /// `since` is when this connection of the feed started listening: a new `since` means
    /// the feed was re-established, and changes before it may have been missed.
    CaughtUp {
        /// When the feed's current connection started listening.
        since: Instant,
        /// Every change committed before this instant (and after `since`) was delivered.
        up_to: Instant,
    },
    /// From `since` on, every change is delivered before the write that made it returns:
    /// caught up at every instant, until [`FeedMessage::Lost`].
    Live {
        /// When the feed started delivering.
        since: Instant,
    },
    /// Something changed that the feed cannot name: everything may have changed.
    ChangedUnknown,
    /// Changes may be missed from now on, until a `CaughtUp` or `Live` with a later `since`.
    Lost {
        /// Why, for logs.
        reason: &'a str,
    },
}

/// Receives what a [`ChangeFeed`] reports. Called from the feed's context (inside a write for
/// an in-process feed, from the feed's task otherwise): must be quick and must not block.
pub trait ChangeObserver: Send + Sync {
    /// Handles one message.
    fn observe(&self, message: FeedMessage<'_>);
}

/// A backend's change feed (implemented by every backend of this workspace).
pub trait ChangeFeed: Send + Sync {
    /// Starts reporting to `observer` until it is dropped (the feed holds it weakly).
    ///
    /// `sync_every` is how often a feed that learns of changes asynchronously proves it is
    /// caught up ([`FeedMessage::CaughtUp`]: a heartbeat, a poll); an in-process feed sends
    /// [`FeedMessage::Live`] once. Feeds with a task of their own start it here, on the
    /// current Tokio runtime (so this must be called from within one).
    fn subscribe(&self, observer: Weak<dyn ChangeObserver>, sync_every: Duration);
}

/// The observers of one feed, held weakly: what an in-process feed publishes to. Dropped
/// observers are forgotten on the next publish.
#[derive(Default)]
pub struct Observers {
    list: Mutex<Vec<Weak<dyn ChangeObserver>>>,
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observers")
            .field("subscribed", &self.live().len())
            .finish()
    }
}

impl Observers {
    /// Subscribes `observer`.
    pub fn add(&self, observer: Weak<dyn ChangeObserver>) {
        self.lock().push(observer);
    }

    /// Delivers `message` to every observer still alive. The list is not locked while they
    /// run, so an observer may subscribe or publish in turn.
    pub fn publish(&self, message: FeedMessage<'_>) {
        for observer in self.live() {
            observer.observe(message);
        }
    }

    /// True when no observer is alive (a feed's task then stops).
    pub fn is_empty(&self) -> bool {
        self.live().is_empty()
    }

    /// The observers still alive; forgets the others.
    fn live(&self) -> Vec<Arc<dyn ChangeObserver>> {
        let mut list = self.lock();
        let live: Vec<_> = list.iter().filter_map(Weak::upgrade).collect();
        list.retain(|o| o.strong_count() > 0);
        live
    }

    // An observer cannot panic while the list is locked (none runs under the lock).
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn ChangeObserver>>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(Mutex<Vec<String>>);
    impl ChangeObserver for Count {
        fn observe(&self, message: FeedMessage<'_>) {
            self.0.lock().unwrap().push(format!("{message:?}"));
        }
    }

    #[test]
    fn publish_reaches_every_live_observer_and_forgets_dropped_ones() {
        let observers = Observers::default();
        let a = Arc::new(Count(Mutex::default()));
        let b = Arc::new(Count(Mutex::default()));
        observers.add(Arc::downgrade(&a) as Weak<dyn ChangeObserver>);
        observers.add(Arc::downgrade(&b) as Weak<dyn ChangeObserver>);
        observers.publish(FeedMessage::ChangedUnknown);
        drop(b);
        observers.publish(FeedMessage::Lost { reason: "test" });
        assert_eq!(a.0.lock().unwrap().len(), 2);
        assert_eq!(
            observers.lock().len(),
            1,
            "the dropped observer is forgotten"
        );
        drop(a);
        assert!(observers.is_empty());
    }

    #[test]
    fn events_display_what_changed() {
        let v: ContractVersion = "1.2.0".parse().unwrap();
        assert_eq!(
            ChangeEvent::deleted("orders", &v).to_string(),
            "delete schema orders 1.2.0"
        );
        let put = ChangeEvent::new(ArtifactKind::Ownership, "o", &v, ChangeOp::Put);
        assert_eq!(put.to_string(), "put ownership o 1.2.0");
    }
}
