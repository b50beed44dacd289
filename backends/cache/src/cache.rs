//! The cache proper, independent of the store it fronts: the entries (quick_cache, bounded by
//! bytes), the staleness rule ([`Freshness`]), invalidation, and the observer a change feed
//! reports to.

use crate::entries::{Answer, Bytes, Entry, Key, KeyRef};
use crate::freshness::{self, Freshness};
use crate::options::CacheOptions;
use pycharter_core::feed::{ChangeEvent, ChangeObserver, FeedMessage};
use pycharter_core::{ArtifactKind, Error};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::watch;

/// What the change feed is doing, as the cache sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStatus {
    /// No word from a feed yet (or the store has none): answers are asked again after
    /// `max_staleness`.
    Waiting,
    /// The feed vouches for cached answers: they are served until a change touches them.
    /// `since`: when the feed's current connection started listening (a new connection after
    /// a loss has a later one).
    Live {
        /// When the current connection started listening.
        since: Instant,
    },
    /// The feed is lost (the reason); answers are asked again after `max_staleness` until it
    /// is back, which it comes by itself.
    Lost(String),
}

/// Entries, and which of them may still be served.
pub(crate) struct Cache {
    entries: quick_cache::sync::Cache<Key, Entry, Bytes>,
    pub(crate) freshness: Freshness,
    generations: Generations,
    status: watch::Sender<FeedStatus>,
}

/// A typical entry (a schema of a few kilobytes parsed), to size the hash table up front.
const TYPICAL_ENTRY_BYTES: u64 = 8 * 1024;

impl Cache {
    pub(crate) fn new(options: &CacheOptions) -> Self {
        let items = (options.max_bytes / TYPICAL_ENTRY_BYTES).clamp(16, 1 << 20);
        Cache {
            entries: quick_cache::sync::Cache::with_weighter(
                usize::try_from(items).unwrap_or(1 << 20),
                options.max_bytes,
                Bytes,
            ),
            freshness: Freshness::new(options.max_staleness),
            generations: Generations::default(),
            status: watch::Sender::new(FeedStatus::Waiting),
        }
    }

    /// The remembered answer to `key`, if it may still be served.
    pub(crate) fn get(&self, key: &KeyRef<'_>) -> Option<Answer> {
        let entry = self.entries.get(key)?;
        self.freshness
            .servable(entry.fetched, freshness::now())
            .then_some(entry.answer)
    }

    /// Taken before asking the store about `key`; [`Cache::insert`] keeps the answer only if
    /// nothing touching `key` happened in between.
    pub(crate) fn ticket(&self, key: KeyRef<'_>) -> Ticket {
        Ticket {
            fetched: freshness::now(),
            flushes: self.generations.flushes.load(Ordering::SeqCst),
            changes: self.generations.of(key).load(Ordering::SeqCst),
        }
    }

    /// Remembers the store's `answer` to `key`, asked under `ticket`.
    pub(crate) fn insert(&self, key: KeyRef<'_>, answer: Answer, ticket: Ticket) {
        if !self.generations.unchanged(key, &ticket) {
            return;
        }
        let key_owned = key.owned();
        let entry = Entry::new(&key_owned, answer, ticket.fetched);
        self.entries.insert(key_owned, entry);
        // An invalidation that ran between the check above and the insert could not remove
        // the entry: it bumped a generation first, so look again, and take it back.
        if !self.generations.unchanged(key, &ticket) {
            self.entries.remove(&key);
        }
    }

    /// Forgets every answer `event` may have changed.
    pub(crate) fn invalidate(&self, event: &ChangeEvent) {
        let schema = event.kind == ArtifactKind::Schema;
        self.generations.changed(&event.name, schema);
        // A schema version put or deleted changes what "latest" means for every kind (and
        // a delete takes the attached artifacts with it).
        let kinds: &[ArtifactKind] = if schema {
            &ArtifactKind::ALL
        } else {
            std::slice::from_ref(&event.kind)
        };
        for &kind in kinds {
            for version in [Some(&event.version), None] {
                self.entries.remove(&KeyRef::Artifact {
                    kind,
                    name: &event.name,
                    version,
                });
            }
        }
        if schema {
            self.entries.remove(&KeyRef::Versions(&event.name));
            self.entries.remove(&KeyRef::Names);
        }
    }

    /// Forgets everything.
    pub(crate) fn flush(&self) {
        self.generations.flushes.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }

    /// What an error from the store says about what is cached: a schema-state error (or a
    /// database error, which may be one the store could not name) means the layout answers
    /// were read from may be gone: forget everything, and the schema check's word.
    pub(crate) fn store_failed(&self, error: &Error) {
        if error.is_schema_state() || matches!(error, Error::Database { .. }) {
            self.freshness.schema_unknown();
            self.flush();
        }
    }

    /// Entries and their estimated bytes.
    pub(crate) fn usage(&self) -> (usize, u64) {
        (self.entries.len(), self.entries.weight())
    }

    pub(crate) fn status(&self) -> watch::Receiver<FeedStatus> {
        self.status.subscribe()
    }

    fn set_status(&self, status: FeedStatus) {
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }
}

impl ChangeObserver for Cache {
    fn observe(&self, message: FeedMessage<'_>) {
        match message {
            FeedMessage::Changed(event) => self.invalidate(event),
            FeedMessage::CaughtUp { since, up_to } => {
                self.freshness
                    .caught_up(freshness::at(since), freshness::at(up_to));
                self.set_status(FeedStatus::Live { since });
            }
            FeedMessage::Live { since } => {
                self.freshness.live(freshness::at(since));
                self.set_status(FeedStatus::Live { since });
            }
            FeedMessage::ChangedUnknown => self.flush(),
            FeedMessage::Lost { reason } => {
                self.freshness.lost();
                self.set_status(FeedStatus::Lost(reason.to_string()));
            }
        }
    }
}

/// When a question was sent to the store, and the generations it was asked under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    fetched: u64,
    flushes: u64,
    changes: u64,
}

/// Stripes of change counters by schema name, so that an answer fetched while a change to
/// its name (or a flush) was delivered is not remembered: it may predate the change.
struct Generations {
    flushes: AtomicU64,
    /// Bumped by every schema put or delete (what `list_schemas` depends on).
    names: AtomicU64,
    stripes: [AtomicU64; STRIPES],
    hasher: std::collections::hash_map::RandomState,
}

const STRIPES: usize = 64;

impl Default for Generations {
    fn default() -> Self {
        Generations {
            flushes: AtomicU64::new(0),
            names: AtomicU64::new(0),
            stripes: std::array::from_fn(|_| AtomicU64::new(0)),
            hasher: Default::default(),
        }
    }
}

impl Generations {
    fn stripe(&self, name: &str) -> &AtomicU64 {
        let mut hasher = self.hasher.build_hasher();
        name.hash(&mut hasher);
        let index = std::hash::Hasher::finish(&hasher) as usize % STRIPES;
        &self.stripes[index]
    }

    fn of(&self, key: KeyRef<'_>) -> &AtomicU64 {
        match key.name() {
            Some(name) => self.stripe(name),
            None => &self.names,
        }
    }

    fn changed(&self, name: &str, schema: bool) {
        self.stripe(name).fetch_add(1, Ordering::SeqCst);
        if schema {
            self.names.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn unchanged(&self, key: KeyRef<'_>, ticket: &Ticket) -> bool {
        self.flushes.load(Ordering::SeqCst) == ticket.flushes
            && self.of(key).load(Ordering::SeqCst) == ticket.changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pycharter_core::feed::ChangeOp;
    use pycharter_core::ContractVersion;
    use std::time::Duration;

    fn cache() -> Cache {
        Cache::new(&CacheOptions::default().max_staleness(Duration::from_secs(60)))
    }

    fn versions(n: usize) -> Answer {
        Answer::Versions(vec!["1.0.0".parse().unwrap(); n])
    }

    #[test]
    fn an_answer_fetched_across_a_change_is_not_remembered() {
        let cache = cache();
        let v: ContractVersion = "1.0.0".parse().unwrap();
        let key = KeyRef::Versions("orders");
        let ticket = cache.ticket(key);
        cache.invalidate(&ChangeEvent::deleted("orders", &v));
        cache.insert(key, versions(1), ticket);
        assert_eq!(cache.get(&key), None, "fetched before the change");
        let ticket = cache.ticket(key);
        cache.insert(key, versions(2), ticket);
        assert_eq!(cache.get(&key), Some(versions(2)));
        // Another name's change does not disturb it (unless both share a stripe).
        let other = "x".repeat(3);
        if !std::ptr::eq(
            cache.generations.stripe(&other),
            cache.generations.stripe("orders"),
        ) {
            let ticket = cache.ticket(key);
            cache.invalidate(&ChangeEvent::new(
                ArtifactKind::Ownership,
                &other,
                &v,
                ChangeOp::Put,
            ));
            cache.insert(key, versions(3), ticket);
            assert_eq!(cache.get(&key), Some(versions(3)));
        }
    }

    #[test]
    fn a_schema_change_forgets_every_kind_latest_and_the_lists() {
        let cache = cache();
        let v: ContractVersion = "1.0.0".parse().unwrap();
        let latest = pycharter_core::VersionSelector::Latest;
        let mut keys = vec![KeyRef::Versions("o"), KeyRef::Names];
        for kind in ArtifactKind::ALL {
            keys.push(KeyRef::Artifact {
                kind,
                name: "o",
                version: Some(&v),
            });
            keys.push(KeyRef::artifact(kind, "o", &latest));
        }
        for key in &keys {
            let ticket = cache.ticket(*key);
            cache.insert(*key, Answer::Record(None), ticket);
        }
        let attached = ChangeEvent::new(ArtifactKind::Metadata, "o", &v, ChangeOp::Put);
        cache.invalidate(&attached);
        let kept = keys.iter().filter(|k| cache.get(k).is_some()).count();
        assert_eq!(
            kept,
            keys.len() - 2,
            "an attached put forgets its exact and latest keys"
        );
        cache.invalidate(&ChangeEvent::deleted("o", &v));
        assert!(keys.iter().all(|k| cache.get(k).is_none()));
    }

    #[test]
    fn feed_messages_drive_the_status_and_the_rule() {
        let cache = Cache::new(&CacheOptions::default().max_staleness(Duration::ZERO));
        let key = KeyRef::Names;
        let ticket = cache.ticket(key);
        cache.insert(key, Answer::Names(vec![]), ticket);
        cache.freshness.schema_valid(u64::MAX - 1);
        let since = Instant::now() - Duration::from_secs(1);
        cache.observe(FeedMessage::Live { since });
        assert_eq!(*cache.status().borrow(), FeedStatus::Live { since });
        assert_eq!(cache.get(&key), Some(Answer::Names(vec![])));
        cache.observe(FeedMessage::Lost { reason: "gone" });
        assert_eq!(*cache.status().borrow(), FeedStatus::Lost("gone".into()));
        assert_eq!(cache.get(&key), None);
    }
}
