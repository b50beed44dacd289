//! How fresh and how big a cache is.

use std::time::Duration;

/// Options of a [`crate::CachedMetadataStore`].
///
/// ```
/// use pycharter_cache::CacheOptions;
/// use std::time::Duration;
/// let options = CacheOptions::default()
///     .max_staleness(Duration::from_millis(500))
///     .max_bytes(256 << 20);
/// assert_eq!(options.max_staleness, Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// The oldest an answer may be when the change feed cannot vouch for it (feed lost,
    /// unavailable, not yet connected): it is then asked of the store again. Default 1 s.
    pub max_staleness: Duration,
    /// Upper bound of the memory the cached answers hold, in bytes (estimated per entry:
    /// key, record, parsed document). The least useful answers are evicted beyond it.
    /// Default 64 MiB.
    pub max_bytes: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            max_staleness: Duration::from_secs(1),
            max_bytes: 64 << 20,
        }
    }
}

impl CacheOptions {
    /// Sets [`CacheOptions::max_staleness`].
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// Sets [`CacheOptions::max_bytes`].
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// How often the feed proves it is caught up, and the schema is checked: four times per
    /// `max_staleness`, so that a late heartbeat or two do not expire what the feed vouches
    /// for (at least every 10 ms).
    pub(crate) fn sync_every(&self) -> Duration {
        (self.max_staleness / 4).max(Duration::from_millis(10))
    }

    /// How often the cache validates the database's layout: twice per `max_staleness`
    /// (at least every 10 ms).
    pub(crate) fn schema_check_every(&self) -> Duration {
        (self.max_staleness / 2).max(Duration::from_millis(10))
    }
}
