//! Memory held by the cache per 10,000 cached contracts (a contract: one schema version with
//! the workload's representative JSON Schema, read by exact version through the cache over
//! SQLite, where every read parses a document of its own). Measured by a counting allocator:
//! the bytes live with the cache full, minus after `clear()`; printed with the cache's own
//! estimate (its weigher, which `max_bytes` bounds), which must stay within a factor of two.
//!
//! Not a criterion bench: it measures bytes, not time (1,000 contracts under `cargo test`).

use pycharter_benches::current_thread_runtime;
use pycharter_benches::mode::test_mode;
use pycharter_benches::seed::{row, seed_sqlite};
use pycharter_benches::workload::schema_document;
use pycharter_cache::{CacheOptions, CachedMetadataStore};
use pycharter_core::MetadataStoreExt;
use pycharter_sqlite::SqliteMetadataStore;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let contracts: u64 = if test_mode() { 1_000 } else { 10_000 };
    let rt = current_thread_runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("memory.db").display());
    // Big enough never to evict, and its hash table sized up front (not part of the figure).
    let options = CacheOptions::default().max_bytes(1 << 30);
    let cached = rt.block_on(async {
        let store = SqliteMetadataStore::new(&url)
            .await
            .expect("create the database");
        seed_sqlite(store.pool(), 0, contracts, &schema_document(0))
            .await
            .expect("seed the contracts");
        let cached = CachedMetadataStore::with_options(store, options);
        for i in 0..contracts {
            let (name, version) = row(i);
            let found = cached.get_schema(&name, &version).await.expect("read");
            found.expect("seeded");
        }
        cached
    });
    let usage = cached.usage();
    let full = LIVE.load(Ordering::SeqCst);
    cached.clear();
    let empty = LIVE.load(Ordering::SeqCst);
    let held = u64::try_from(full - empty).expect("clearing the cache frees memory");
    let per_contract = held as f64 / contracts as f64;
    println!(
        "cache/memory: {contracts} contracts hold {held} bytes: {per_contract:.0} B per contract, \
         {:.1} MiB per 10,000; the cache's estimate: {} bytes ({:+.0}%)",
        per_contract * 10_000.0 / (1 << 20) as f64,
        usage.bytes,
        (usage.bytes as f64 / held as f64 - 1.0) * 100.0
    );
    assert_eq!(usage.entries as u64, contracts, "every contract cached");
    assert!(
        usage.bytes >= held / 2 && usage.bytes <= held * 2,
        "the weigher's estimate {} is more than a factor 2 from the {held} bytes held",
        usage.bytes
    );
}
