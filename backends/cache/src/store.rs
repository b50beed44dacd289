//! [`CachedMetadataStore`]: a store wrapped around a store. Reads are answered from the cache
//! while the staleness rule allows, else asked of the wrapped store and remembered; writes
//! and migration commands go to the wrapped store and forget what they may have changed.

use crate::cache::{Cache, FeedStatus};
use crate::entries::{Answer, KeyRef};
use crate::freshness;
use crate::options::CacheOptions;
use async_trait::async_trait;
use pycharter_core::feed::{ChangeEvent, ChangeFeed, ChangeObserver, ChangeOp};
use pycharter_core::{
    AppliedMigration, ArtifactId, ArtifactKind, ArtifactRecord, BundledMigration, ContractVersion,
    DowngradeOptions, Error, InitializeOptions, MetadataStore, MigrationReport, MigrationStatus,
    Result, SchemaInfo, SchemaManager, UpgradeOptions, VersionSelector,
};
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// Any store, cached: implements [`MetadataStore`] and [`SchemaManager`] itself, so it is
/// injected as `Arc<dyn MetadataStore>` like the store it wraps. Cheap to clone (clones share
/// the cache).
///
/// See the [crate documentation](crate) for what is cached and how fresh it is.
pub struct CachedMetadataStore<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for CachedMetadataStore<S> {
    fn clone(&self) -> Self {
        CachedMetadataStore {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for CachedMetadataStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (entries, bytes) = self.inner.cache.usage();
        f.debug_struct("CachedMetadataStore")
            .field("store", &self.inner.store)
            .field("options", &self.inner.options)
            .field("entries", &entries)
            .field("bytes", &bytes)
            .finish()
    }
}

struct Inner<S> {
    store: S,
    cache: Arc<Cache>,
    options: CacheOptions,
    /// Held by migration commands, `validate` and the schema check, so that the check cannot
    /// record a layout this handle is changing (the wrapped store's schema gate would believe
    /// the older answer).
    schema_ops: tokio::sync::Mutex<()>,
}

/// What the cache holds (see [`CachedMetadataStore::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUsage {
    /// Cached answers.
    pub entries: usize,
    /// Their estimated size in bytes (bounded by [`CacheOptions::max_bytes`]).
    pub bytes: u64,
}

impl<S> CachedMetadataStore<S>
where
    S: MetadataStore + SchemaManager + 'static,
{
    /// Wraps `store` with the default options (answers at most 1 s stale when the feed cannot
    /// vouch for them; 64 MiB), kept fresh by the store's change feed.
    ///
    /// Must be called from within a Tokio runtime: the feed and the schema check run as tasks
    /// on it (they stop when the last clone of the cached store is dropped).
    pub fn new(store: S) -> Self
    where
        S: ChangeFeed,
    {
        Self::with_options(store, CacheOptions::default())
    }

    /// Wraps `store` with `options`, kept fresh by the store's change feed.
    pub fn with_options(store: S, options: CacheOptions) -> Self
    where
        S: ChangeFeed,
    {
        let cached = Self::without_feed(store, options);
        let observer = Arc::downgrade(&cached.inner.cache) as Weak<dyn ChangeObserver>;
        cached.inner.store.subscribe(observer, options.sync_every());
        cached
    }

    /// Wraps a store that has no change feed (a third-party store, a mock): every answer is
    /// asked of it again once it is `max_staleness` old.
    pub fn without_feed(store: S, options: CacheOptions) -> Self {
        let inner = Arc::new(Inner {
            store,
            cache: Arc::new(Cache::new(&options)),
            options,
            schema_ops: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(check_schema(
            Arc::downgrade(&inner),
            options.schema_check_every(),
        ));
        CachedMetadataStore { inner }
    }

    /// The wrapped store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The options this cache was built with.
    pub fn options(&self) -> &CacheOptions {
        &self.inner.options
    }

    /// What the cache holds now.
    pub fn usage(&self) -> CacheUsage {
        let (entries, bytes) = self.inner.cache.usage();
        CacheUsage { entries, bytes }
    }

    /// Forgets every cached answer.
    pub fn clear(&self) {
        self.inner.cache.flush();
    }

    /// The change feed's status, as it changes (`wait_for(|s| *s == FeedStatus::Live)` to
    /// wait until the feed vouches for answers).
    pub fn feed_status(&self) -> watch::Receiver<FeedStatus> {
        self.inner.cache.status()
    }
}

impl<S> Inner<S>
where
    S: MetadataStore + SchemaManager,
{
    /// The answer to `key`: cached, or fetched by `fetch` and remembered.
    async fn read<T, F, Fut>(
        &self,
        key: KeyRef<'_>,
        fetch: F,
        wrap: fn(&T) -> Answer,
        unwrap: fn(Answer) -> Option<T>,
    ) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if let Some(answer) = self.cache.get(&key).and_then(unwrap) {
            return Ok(answer);
        }
        let ticket = self.cache.ticket(key);
        match fetch().await {
            Ok(answer) => {
                self.cache.insert(key, wrap(&answer), ticket);
                Ok(answer)
            }
            Err(error) => {
                self.cache.store_failed(&error);
                Err(error)
            }
        }
    }

    /// Runs a migration command: nothing cached survives it.
    async fn migrate<Fut>(&self, command: Fut) -> Result<MigrationReport>
    where
        Fut: Future<Output = Result<MigrationReport>>,
    {
        let _schema = self.schema_ops.lock().await;
        self.cache.freshness.schema_unknown();
        self.cache.flush();
        let report = command.await;
        // Answers fetched while it ran may come from either layout.
        self.cache.flush();
        report
    }

    /// Validates the layout and records the result (under `schema_ops`).
    async fn validate_schema(&self) -> Result<SchemaInfo> {
        let _schema = self.schema_ops.lock().await;
        let started = freshness::now();
        let info = self.store.validate().await?;
        if info.valid {
            self.cache.freshness.schema_valid(started);
        } else {
            self.cache.freshness.schema_unknown();
            self.cache.flush();
        }
        Ok(info)
    }
}

/// Validates the layout every `every` while the cache lives, so that a database migrated or
/// damaged behind this handle's back stops being vouched for within `max_staleness`.
async fn check_schema<S>(inner: Weak<Inner<S>>, every: Duration)
where
    S: MetadataStore + SchemaManager,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(error) = inner.validate_schema().await {
            // Nothing recorded: answers expire by the rule while the store cannot be asked.
            tracing::debug!(target: "pycharter::cache", %error, "schema check failed");
        }
    }
}

#[async_trait]
impl<S> MetadataStore for CachedMetadataStore<S>
where
    S: MetadataStore + SchemaManager + 'static,
{
    async fn store_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &ContractVersion,
        document: &Value,
    ) -> Result<ArtifactId> {
        let inner = &self.inner;
        let stored = inner
            .store
            .store_artifact(kind, name, version, document)
            .await;
        match &stored {
            Ok(_) => inner
                .cache
                .invalidate(&ChangeEvent::new(kind, name, version, ChangeOp::Put)),
            Err(error) => inner.cache.store_failed(error),
        }
        stored
    }

    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        let fetch = || self.inner.store.get_artifact(kind, name, version);
        self.inner
            .read(
                KeyRef::artifact(kind, name, version),
                fetch,
                |record| Answer::Record(record.clone()),
                |answer| match answer {
                    Answer::Record(record) => Some(record),
                    _ => None,
                },
            )
            .await
    }

    async fn list_schemas(&self) -> Result<Vec<String>> {
        let fetch = || self.inner.store.list_schemas();
        self.inner
            .read(
                KeyRef::Names,
                fetch,
                |names| Answer::Names(names.clone()),
                |answer| match answer {
                    Answer::Names(names) => Some(names),
                    _ => None,
                },
            )
            .await
    }

    async fn list_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        let fetch = || self.inner.store.list_versions(name);
        self.inner
            .read(
                KeyRef::Versions(name),
                fetch,
                |versions| Answer::Versions(versions.clone()),
                |answer| match answer {
                    Answer::Versions(versions) => Some(versions),
                    _ => None,
                },
            )
            .await
    }

    async fn delete_version(&self, name: &str, version: &ContractVersion) -> Result<()> {
        let inner = &self.inner;
        let deleted = inner.store.delete_version(name, version).await;
        match &deleted {
            // Not found: whatever this cache believed about it is wrong too.
            Ok(()) | Err(Error::NotFound { .. }) => {
                inner.cache.invalidate(&ChangeEvent::deleted(name, version))
            }
            Err(error) => inner.cache.store_failed(error),
        }
        deleted
    }
}

/// Passed through; migration commands forget everything cached, and `validate` records what
/// it found for the staleness rule.
#[async_trait]
impl<S> SchemaManager for CachedMetadataStore<S>
where
    S: MetadataStore + SchemaManager + 'static,
{
    fn bundled_migrations(&self) -> &[BundledMigration] {
        self.inner.store.bundled_migrations()
    }

    async fn initialize(&self, options: InitializeOptions) -> Result<MigrationReport> {
        let inner = &self.inner;
        inner.migrate(inner.store.initialize(options)).await
    }

    async fn validate(&self) -> Result<SchemaInfo> {
        self.inner.validate_schema().await
    }

    async fn current(&self) -> Result<Option<AppliedMigration>> {
        self.inner.store.current().await
    }

    async fn history(&self) -> Result<Vec<MigrationStatus>> {
        self.inner.store.history().await
    }

    async fn upgrade(&self, options: UpgradeOptions) -> Result<MigrationReport> {
        let inner = &self.inner;
        inner.migrate(inner.store.upgrade(options)).await
    }

    async fn downgrade(&self, options: DowngradeOptions) -> Result<MigrationReport> {
        let inner = &self.inner;
        inner.migrate(inner.store.downgrade(options)).await
    }
}
