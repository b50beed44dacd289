//! # pycharter-memory
//!
//! The in-memory backend of pycharter-rs: [`MemoryMetadataStore`] implements
//! [`pycharter_core::MetadataStore`] and [`pycharter_core::SchemaManager`] with the *same*
//! rules as the SQL backends (core's planner, validator, migration driver and schema gate)
//! over a simulated catalog of tables, indexes and version rows. Simulation methods put that
//! catalog in every state a real database can be in (uninitialized, older, newer, missing a
//! table or an index, drifted checksum), so code that handles those states can be tested
//! without a server.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> pycharter_core::Result<()> {
//! use pycharter_core::{Error, MetadataStore, MetadataStoreExt};
//! use pycharter_memory::MemoryMetadataStore;
//! use serde_json::json;
//!
//! let store = MemoryMetadataStore::new();
//! let id = store.store_schema("orders", "1.0.0", &json!({"type": "object"})).await?;
//! // Versions are immutable: the same document again is a no-op...
//! assert_eq!(store.store_schema("orders", "1.0.0", &json!({"type": "object"})).await?, id);
//! // ...a different one is refused.
//! let err = store.store_schema("orders", "1.0.0", &json!({"type": "array"})).await.unwrap_err();
//! assert!(matches!(err, Error::VersionConflict { .. }));
//!
//! // A table dropped behind the library's back is reported with the command that fixes it.
//! store.drop_table("ownership").await;
//! let err = store.store_ownership("orders", "1.0.0", &json!({"owner": "a"})).await.unwrap_err();
//! assert!(err.to_string().contains("run: pycharter db init memory:// --force"));
//! # Ok(())
//! # }
//! ```

mod artifacts;
mod data;
mod executor;
mod feed;
mod simulate;
mod state;
mod store;

pub use state::TARGET;
pub use store::MemoryMetadataStore;
