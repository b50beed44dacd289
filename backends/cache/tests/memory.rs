//! The cache over the in-memory backend (no server): what is answered from memory, what a
//! write or another handle's write forgets, expiry without a feed, the byte bound, and a
//! damaged database surfacing through the cache.

use async_trait::async_trait;
use pycharter_cache::{CacheOptions, CachedMetadataStore, FeedStatus};
use pycharter_core::feed::{ChangeFeed, ChangeObserver};
use pycharter_core::prelude::*;
use pycharter_core::{
    AppliedMigration, BundledMigration, ConnectOptions, DowngradeOptions, Error, InitializeOptions,
    MigrationReport, MigrationStatus, Result, SchemaInfo, UpgradeOptions, VersionSelector,
};
use pycharter_memory::MemoryMetadataStore;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The in-memory store, counting the reads that reach it.
#[derive(Clone, Default)]
struct Counted {
    store: MemoryMetadataStore,
    reads: Arc<AtomicUsize>,
}

impl Counted {
    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl MetadataStore for Counted {
    async fn store_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &ContractVersion,
        document: &Value,
    ) -> Result<ArtifactId> {
        self.store
            .store_artifact(kind, name, version, document)
            .await
    }
    async fn get_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        version: &VersionSelector,
    ) -> Result<Option<ArtifactRecord>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.store.get_artifact(kind, name, version).await
    }
    async fn list_schemas(&self) -> Result<Vec<String>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.store.list_schemas().await
    }
    async fn list_versions(&self, name: &str) -> Result<Vec<ContractVersion>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.store.list_versions(name).await
    }
    async fn delete_version(&self, name: &str, version: &ContractVersion) -> Result<()> {
        self.store.delete_version(name, version).await
    }
}

#[async_trait]
impl SchemaManager for Counted {
    fn bundled_migrations(&self) -> &[BundledMigration] {
        self.store.bundled_migrations()
    }
    async fn initialize(&self, options: InitializeOptions) -> Result<MigrationReport> {
        self.store.initialize(options).await
    }
    async fn validate(&self) -> Result<SchemaInfo> {
        self.store.validate().await
    }
    async fn current(&self) -> Result<Option<AppliedMigration>> {
        self.store.current().await
    }
    async fn history(&self) -> Result<Vec<MigrationStatus>> {
        self.store.history().await
    }
    async fn upgrade(&self, options: UpgradeOptions) -> Result<MigrationReport> {
        self.store.upgrade(options).await
    }
    async fn downgrade(&self, options: DowngradeOptions) -> Result<MigrationReport> {
        self.store.downgrade(options).await
    }
}

impl ChangeFeed for Counted {
    fn subscribe(&self, observer: Weak<dyn ChangeObserver>, sync_every: Duration) {
        self.store.subscribe(observer, sync_every)
    }
}

fn doc(title: &str) -> Value {
    json!({"type": "object", "title": title})
}

#[tokio::test]
async fn a_repeated_read_is_answered_from_memory_not_found_included() {
    let counted = Counted::default();
    let cached = CachedMetadataStore::new(counted.clone());
    cached
        .store_schema("orders", "1.0.0", &doc("a"))
        .await
        .unwrap();
    for _ in 0..3 {
        let latest = cached
            .get_schema("orders", None)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(latest.version, "1.0.0");
        assert_eq!(cached.get_ownership("orders", "1.0.0").await.unwrap(), None);
        assert_eq!(cached.list_versions("orders").await.unwrap().len(), 1);
        assert_eq!(cached.list_schemas().await.unwrap(), ["orders"]);
    }
    assert_eq!(counted.reads(), 4, "each question asked of the store once");
    assert_eq!(cached.usage().entries, 4);
    assert!(cached.usage().bytes > 0);
}

#[tokio::test]
async fn a_write_forgets_exactly_what_it_changed() {
    let counted = Counted::default();
    let cached = CachedMetadataStore::new(counted.clone());
    cached
        .store_schema("orders", "1.0.0", &doc("a"))
        .await
        .unwrap();
    cached
        .store_schema("other", "1.0.0", &doc("o"))
        .await
        .unwrap();
    let read_all = || async {
        (
            cached
                .get_schema("orders", None)
                .await
                .unwrap()
                .map(|r| r.version),
            cached
                .get_ownership("orders", "1.0.0")
                .await
                .unwrap()
                .is_some(),
            cached.get_schema("other", None).await.unwrap().is_some(),
        )
    };
    read_all().await;
    let before = counted.reads();

    cached
        .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
        .await
        .unwrap();
    let (latest, owned, other) = read_all().await;
    assert!(owned, "the negative answer was forgotten");
    assert_eq!(latest.unwrap(), "1.0.0");
    assert!(other);
    assert_eq!(
        counted.reads(),
        before + 1,
        "only the ownership was asked again"
    );

    cached
        .store_schema("orders", "2.0.0", &doc("b"))
        .await
        .unwrap();
    let (latest, ..) = read_all().await;
    assert_eq!(latest.unwrap(), "2.0.0");
    cached.delete_schema("orders", "2.0.0").await.unwrap();
    let (latest, ..) = read_all().await;
    assert_eq!(
        latest.unwrap(),
        "1.0.0",
        "latest falls back after the delete"
    );
}

#[tokio::test]
async fn a_write_through_another_handle_is_seen_when_it_returns() {
    let first = MemoryMetadataStore::new();
    let second = first.reopen(ConnectOptions::default()).await.unwrap();
    let cached = CachedMetadataStore::new(second);
    assert!(matches!(
        *cached.feed_status().borrow(),
        FeedStatus::Live { .. }
    ));
    first
        .store_schema("orders", "1.0.0", &doc("a"))
        .await
        .unwrap();
    assert_eq!(
        cached
            .get_schema("orders", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        "1.0.0"
    );
    for n in 1..50 {
        let version = format!("1.{n}.0");
        first
            .store_schema("orders", &version, &doc("b"))
            .await
            .unwrap();
        let latest = cached.get_schema("orders", None).await.unwrap().unwrap();
        assert_eq!(latest.version, version.as_str(), "no delay in-process");
    }
    first.delete_schema("orders", "1.49.0").await.unwrap();
    assert_eq!(cached.get_schema("orders", "1.49.0").await.unwrap(), None);
}

#[tokio::test]
async fn without_a_feed_an_answer_is_asked_again_once_max_staleness_old() {
    let counted = Counted::default();
    let max_staleness = Duration::from_millis(50);
    let cached = CachedMetadataStore::without_feed(
        counted.clone(),
        CacheOptions::default().max_staleness(max_staleness),
    );
    counted
        .store
        .store_schema("orders", "1.0.0", &doc("a"))
        .await
        .unwrap();
    cached.get_schema("orders", None).await.unwrap();
    // Taken after the fetch, and each age before the read: an age is never overstated.
    let fetched = Instant::now();
    counted
        .store
        .store_schema("orders", "2.0.0", &doc("b"))
        .await
        .unwrap();
    let mut stale_reads = 0;
    loop {
        let age = fetched.elapsed();
        let latest = cached.get_schema("orders", None).await.unwrap().unwrap();
        if latest.version == "2.0.0" {
            assert!(
                age > max_staleness / 2,
                "served from memory at first ({age:?})"
            );
            break;
        }
        assert!(age <= max_staleness, "served {age:?} after it was fetched");
        stale_reads += 1;
        tokio::task::yield_now().await;
    }
    assert!(stale_reads > 0, "the first answer was remembered");
    assert_eq!(*cached.feed_status().borrow(), FeedStatus::Waiting);
}

#[tokio::test]
async fn memory_stays_within_max_bytes() {
    let store = MemoryMetadataStore::new();
    let max_bytes = 256 * 1024;
    let cached = CachedMetadataStore::with_options(
        store.clone(),
        CacheOptions::default().max_bytes(max_bytes),
    );
    let big = json!({"type": "object", "description": "x".repeat(2_000)});
    for n in 0..1_000 {
        let version = format!("1.0.{n}");
        store.store_schema("orders", &version, &big).await.unwrap();
        cached
            .get_schema("orders", &version)
            .await
            .unwrap()
            .expect("stored");
        assert!(cached.usage().bytes <= max_bytes, "{:?}", cached.usage());
    }
    let usage = cached.usage();
    assert!(usage.entries < 1_000 && usage.entries > 10, "{usage:?}");
}

#[tokio::test]
async fn errors_are_not_cached_and_a_migration_through_the_cache_is_seen() {
    let cached = CachedMetadataStore::new(MemoryMetadataStore::uninitialized());
    let err = cached.get_schema("orders", None).await.unwrap_err();
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    cached
        .initialize(InitializeOptions::default())
        .await
        .unwrap();
    assert_eq!(cached.get_schema("orders", None).await.unwrap(), None);
    cached
        .store_schema("orders", "1.0.0", &doc("a"))
        .await
        .unwrap();
    assert!(cached.get_schema("orders", None).await.unwrap().is_some());
}

#[tokio::test]
async fn a_table_dropped_behind_the_cache_surfaces_its_typed_error_within_max_staleness() {
    let store = MemoryMetadataStore::new();
    let max_staleness = Duration::from_millis(200);
    let cached = CachedMetadataStore::with_options(
        store.clone(),
        CacheOptions::default().max_staleness(max_staleness),
    );
    store
        .store_schema("orders", "1.0.0", &doc("a"))
        .await
        .unwrap();
    store
        .store_ownership("orders", "1.0.0", &json!({"owner": "a"}))
        .await
        .unwrap();
    assert!(cached
        .get_ownership("orders", None)
        .await
        .unwrap()
        .is_some());
    assert!(store.drop_table("ownership").await);
    let dropped = Instant::now();
    let err = loop {
        // Before the read: the age of the damage when the cache decided, or less.
        let age = dropped.elapsed();
        match cached.get_ownership("orders", None).await {
            Ok(found) => {
                assert!(found.is_some(), "the cached answer, or the error");
                assert!(age <= max_staleness, "hid the damage for {age:?}");
            }
            Err(err) => break err,
        }
        tokio::task::yield_now().await;
    };
    assert!(matches!(err, Error::MissingTables { .. }), "{err:?}");
    assert!(err.to_string().contains("--force"), "{err}");
}
