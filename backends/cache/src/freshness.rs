//! The staleness rule, in one place.
//!
//! An answer fetched from the store at instant `F` is known correct *as of* a later instant
//! when something vouches that nothing changed it in between:
//!
//! - the change feed, when it was already listening at `F` (`since <= F`) and has since proved
//!   that every change committed before its watermark `W` was delivered (each delivered
//!   change removed the answers it touched): the answer is correct as of `max(F, W)`. A live
//!   in-process feed is caught up at every instant (`W` = now);
//! - the schema check, which validated the database's layout at `S`: the layout the answer was
//!   read from is still there as of `max(F, S)`.
//!
//! An answer is served only while `now - min(feed as-of, schema as-of) <= max_staleness`;
//! otherwise the store is asked again. When the feed is lost, `since` is forgotten and a new
//! connection brings a new `since`: answers fetched before it are vouched for by their own
//! `F` only, so a change missed while the feed was down is never hidden longer than
//! `max_staleness`.
//!
//! Instants are nanoseconds on the cache's clock, plus one, in atomics (0: none), so that a
//! hit costs a few atomic loads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The clock's origin, shared by every cache of the process.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// `instant` on the cache's clock (instants before the origin are the origin).
pub(crate) fn at(instant: Instant) -> u64 {
    let nanos = instant.saturating_duration_since(*ORIGIN).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
}

/// Now, on the cache's clock.
pub(crate) fn now() -> u64 {
    at(Instant::now())
}

/// `W` of a feed caught up at every instant.
const ALWAYS: u64 = u64::MAX;

/// What vouches for cached answers: the feed's `since` and watermark, the schema check.
#[derive(Debug)]
pub(crate) struct Freshness {
    max_staleness: u64,
    /// When the feed's current connection started listening (0: the feed vouches for nothing).
    since: AtomicU64,
    /// Every change committed before this (and after `since`) was delivered.
    watermark: AtomicU64,
    /// When the last schema check that found the layout valid started (0: none since the
    /// last invalid one).
    schema_ok: AtomicU64,
    /// Serialises updates of `since` and `watermark` (readers never take it).
    feed_update: Mutex<()>,
}

impl Freshness {
    pub(crate) fn new(max_staleness: Duration) -> Self {
        Freshness {
            max_staleness: u64::try_from(max_staleness.as_nanos()).unwrap_or(u64::MAX),
            since: AtomicU64::new(0),
            watermark: AtomicU64::new(0),
            schema_ok: AtomicU64::new(0),
            feed_update: Mutex::new(()),
        }
    }

    /// May an answer fetched at `fetched` be served at `now`?
    pub(crate) fn servable(&self, fetched: u64, now: u64) -> bool {
        now.saturating_sub(self.as_of(fetched)) <= self.max_staleness
    }

    /// The instant as of which an answer fetched at `fetched` is known correct.
    fn as_of(&self, fetched: u64) -> u64 {
        let schema = fetched.max(self.schema_ok.load(Ordering::Acquire));
        self.feed_as_of(fetched).min(schema)
    }

    fn feed_as_of(&self, fetched: u64) -> u64 {
        let since = self.since.load(Ordering::SeqCst);
        if since == 0 || fetched < since {
            return fetched;
        }
        let watermark = self.watermark.load(Ordering::SeqCst);
        // A new connection in between: this watermark is not about this answer's epoch.
        if self.since.load(Ordering::SeqCst) != since {
            return fetched;
        }
        fetched.max(watermark)
    }

    /// The feed proved every change committed in `[since, up_to)` delivered.
    pub(crate) fn caught_up(&self, since: u64, up_to: u64) {
        let _update = self
            .feed_update
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.since.load(Ordering::SeqCst) == since {
            self.watermark.fetch_max(up_to, Ordering::SeqCst);
        } else {
            // A new epoch: readers must never pair the new watermark with the old `since`.
            self.since.store(0, Ordering::SeqCst);
            self.watermark.store(up_to, Ordering::SeqCst);
            self.since.store(since, Ordering::SeqCst);
        }
    }

    /// The feed delivers every change before the write returns, from `since` on.
    pub(crate) fn live(&self, since: u64) {
        self.caught_up(since, ALWAYS);
    }

    /// The feed may miss changes from now on.
    pub(crate) fn lost(&self) {
        let _update = self
            .feed_update
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.since.store(0, Ordering::SeqCst);
    }

    /// A schema check that started at `started` found the layout valid.
    pub(crate) fn schema_valid(&self, started: u64) {
        self.schema_ok.fetch_max(started, Ordering::AcqRel);
    }

    /// The layout was found invalid (or is being migrated): nothing is vouched for by a
    /// schema check until the next valid one.
    pub(crate) fn schema_unknown(&self) {
        self.schema_ok.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn freshness() -> Freshness {
        Freshness::new(Duration::from_millis(100))
    }

    #[test]
    fn without_a_feed_an_answer_lives_max_staleness() {
        let f = freshness();
        assert!(f.servable(1_000 * MS, 1_100 * MS));
        assert!(!f.servable(1_000 * MS, 1_100 * MS + 1));
    }

    #[test]
    fn a_caught_up_feed_vouches_for_answers_fetched_after_it_started() {
        let f = freshness();
        f.schema_valid(5_000 * MS);
        f.caught_up(500 * MS, 4_950 * MS);
        assert!(f.servable(1_000 * MS, 5_000 * MS), "as of the watermark");
        assert!(
            !f.servable(1_000 * MS, 5_051 * MS),
            "the watermark is too old"
        );
        assert!(
            !f.servable(400 * MS, 4_950 * MS),
            "fetched before the feed listened"
        );
    }

    #[test]
    fn a_new_connection_does_not_vouch_for_the_previous_ones_answers() {
        let f = freshness();
        f.schema_valid(u64::MAX - 1);
        f.caught_up(500 * MS, 900 * MS);
        f.lost();
        assert!(
            !f.servable(600 * MS, 801 * MS),
            "lost: only its own fetch time"
        );
        f.caught_up(2_000 * MS, 3_000 * MS);
        assert!(!f.servable(600 * MS, 3_000 * MS));
        assert!(f.servable(2_500 * MS, 3_050 * MS));
    }

    #[test]
    fn a_live_feed_leaves_the_schema_check_as_the_bound() {
        let f = freshness();
        f.live(100 * MS);
        f.schema_valid(10_000 * MS);
        assert!(f.servable(200 * MS, 10_100 * MS));
        assert!(
            !f.servable(200 * MS, 10_101 * MS),
            "the schema was not checked since"
        );
        f.schema_unknown();
        assert!(!f.servable(200 * MS, 301 * MS));
        assert!(
            f.servable(200 * MS, 300 * MS),
            "a fresh fetch still stands on its own"
        );
    }
}
