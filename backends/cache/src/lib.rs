//! # pycharter-cache
//!
//! A caching layer for any pycharter-rs store: [`CachedMetadataStore`] wraps a store (the
//! in-memory, SQLite or Postgres backend, or anything that implements
//! [`MetadataStore`](pycharter_core::MetadataStore) and
//! [`SchemaManager`](pycharter_core::SchemaManager)) and implements both traits itself, the way
//! `object_store`'s and OpenDAL's layers wrap a store. Application code keeps injecting an
//! `Arc<dyn MetadataStore>`; lookups on its hot path are answered from memory.
//!
//! ```
//! use pycharter_cache::CachedMetadataStore;
//! use pycharter_core::prelude::*;
//! use pycharter_memory::MemoryMetadataStore;
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> pycharter_core::Result<()> {
//! let store: Arc<dyn MetadataStore> = Arc::new(CachedMetadataStore::new(MemoryMetadataStore::new()));
//! store.store_schema("orders", "1.0.0", &json!({"type": "object"})).await?;
//! let first = store.get_schema("orders", None).await?; // asked of the store, remembered
//! let again = store.get_schema("orders", None).await?; // answered from memory
//! assert_eq!(first, again);
//! store.store_schema("orders", "1.1.0", &json!({"type": "object"})).await?;
//! let latest = store.get_schema("orders", None).await?.expect("stored");
//! assert_eq!(latest.version.to_string(), "1.1.0", "a write forgets what it changed");
//! # Ok(())
//! # }
//! ```
//!
//! ## What is cached, and how fresh it is
//!
//! Every read of the store's dyn surface is cached: an artifact at a version or the latest
//! one, "not found" answers, the versions of a name, the names. Errors are not. Because
//! `(kind, name, version)` is immutable, a change is a put or a delete, and each backend's
//! **change feed** ([`pycharter_core::feed`]) names it, so invalidation is precise:
//!
//! | backend | feed | a change reaches the cache |
//! |---|---|---|
//! | memory | in-process | before the write returns |
//! | SQLite | in-process, plus `PRAGMA data_version` polled for other processes | before the write returns; another process's within a poll (`max_staleness / 4`) |
//! | Postgres | `LISTEN/NOTIFY`, the notification sent by the writing statement itself | when the notification arrives (milliseconds) |
//!
//! **The promise: an answer is never served more than `max_staleness` (default 1 s) after
//! something it no longer reflects could have been read from the database,** even when the
//! feed cannot help. A feed proves that it is caught up (a heartbeat through the database for
//! Postgres, a poll for SQLite), and only answers fetched while the current feed connection
//! was listening are vouched for by it. When the feed is lost (connection terminated, server
//! restarted, PgBouncer in transaction mode where `LISTEN` cannot work) answers are asked of
//! the store again once they are `max_staleness` old, and the feed reconnects by itself. The
//! rule, in one place, is in `freshness.rs`.
//!
//! The database's layout is watched the same way: the cache validates it twice per
//! `max_staleness`, and a migration command through the cache, a schema-state error or an
//! invalid layout drops everything cached, so caching never hides an uninitialized,
//! outdated, newer or damaged database from the typed errors for longer than `max_staleness`
//! (the conformance suite runs on the cached store over every backend).
//!
//! Memory is bounded in bytes ([`CacheOptions::max_bytes`], default 64 MiB): each answer is
//! weighed once (key, record, parsed document) and the least useful are evicted beyond the
//! bound.
//!
//! ## Why a crate of its own
//!
//! The layer needs no backend, but it needs a concurrent, byte-weighted cache
//! ([`quick_cache`]: sharded, S3-FIFO eviction, a weigher per entry, lookups by a borrowed
//! key so that a hit allocates nothing for its key; lighter per entry than `moka`, whose
//! timer wheel and expiry policies the staleness rule makes unnecessary) and a Tokio runtime
//! for its background check. Core is the rules and the traits every backend and binding
//! depends on; it carries neither. Only the small [`ChangeFeed`](pycharter_core::ChangeFeed)
//! trait lives in core, so that each backend can implement it.

#![warn(missing_docs)]

mod cache;
mod entries;
mod freshness;
mod options;
mod store;

pub use cache::FeedStatus;
pub use options::CacheOptions;
pub use store::{CacheUsage, CachedMetadataStore};
