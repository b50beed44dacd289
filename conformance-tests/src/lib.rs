//! # pycharter-conformance
//!
//! The conformance suite every pycharter-rs backend runs on itself. It knows no database: the
//! real-PostgreSQL test servers live in `pycharter-test-postgres` (`test-support/postgres/`).
//!
//! A backend implements [`BackendHarness`] (create an empty database, open it with
//! [`ConnectOptions`], damage it behind the library's back) and expands
//! [`conformance_suite!`] in one of its integration tests:
//!
//! ```text
//! // backends/foo/tests/conformance.rs
//! struct FooHarness { /* ... */ }
//!
//! #[async_trait::async_trait]
//! impl pycharter_conformance::BackendHarness for FooHarness { /* see BackendHarness */ }
//!
//! // One test per case; the expression is evaluated inside each test (`.await` allowed).
//! pycharter_conformance::conformance_suite!(FooHarness::new());
//! ```
//!
//! Every case is a `pub async fn case<H: BackendHarness>(h: &H)` in a module per theme; the
//! macro holds the one list of cases (also in [`CASES`]), so every backend runs every case,
//! each as its own test named after the case.

#![warn(missing_docs)]

use async_trait::async_trait;
use pycharter_core::{ConnectOptions, MetadataStore, Result, SchemaManager};

pub mod attached;
pub mod concurrency;
pub mod connect;
pub mod deletion;
pub mod hostile;
pub mod migrations;
pub mod names;
pub mod properties;
pub mod schema_states;
pub mod store_semantics;
mod support;

/// The typed store/get method of a kind, chosen at run time (for suites and benches that
/// loop over [`pycharter_core::ArtifactKind::ALL`]).
pub use support::{get_kind, store_kind};

/// A change made to a database behind the library's back (raw SQL on a real backend), to
/// reach the states a real deployment can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage<'a> {
    /// `DROP TABLE <name>` (its rows and indexes go with it).
    DropTable(&'a str),
    /// `DROP INDEX <name>`.
    DropIndex(&'a str),
    /// Insert a row into the version table, as a newer pycharter build would
    /// (any description, `applied_at` now, `execution_ms` 0).
    RecordVersion {
        /// Version string to record, e.g. `9.0.0`.
        version: &'a str,
        /// Checksum to record.
        checksum: &'a str,
    },
    /// Overwrite the checksum recorded for an applied migration.
    SetChecksum {
        /// Version whose row is edited.
        version: &'a str,
        /// The new checksum.
        checksum: &'a str,
    },
}

/// What a backend provides so the suite can run on it.
///
/// A complete harness, for the in-memory backend, running one case by hand (the
/// [`conformance_suite!`] macro runs them all, one test each):
///
/// ```
/// use async_trait::async_trait;
/// use pycharter_conformance::{BackendHarness, Damage};
/// use pycharter_core::{AppliedMigration, ConnectOptions, Result};
/// use pycharter_memory::MemoryMetadataStore;
/// use std::{collections::HashMap, sync::Mutex};
///
/// #[derive(Default)]
/// struct MemoryHarness(Mutex<HashMap<String, MemoryMetadataStore>>);
///
/// impl MemoryHarness {
///     fn db(&self, locator: &str) -> MemoryMetadataStore {
///         self.0.lock().expect("registry")[locator].clone()
///     }
/// }
///
/// #[async_trait]
/// impl BackendHarness for MemoryHarness {
///     type Store = MemoryMetadataStore;
///     async fn new_database(&self) -> String {
///         let mut dbs = self.0.lock().expect("registry");
///         let locator = format!("memory://db-{}", dbs.len());
///         dbs.insert(locator.clone(), MemoryMetadataStore::uninitialized());
///         locator
///     }
///     async fn open(&self, database: &str, options: ConnectOptions) -> Result<MemoryMetadataStore> {
///         self.db(database).reopen(options).await
///     }
///     async fn damage(&self, database: &str, damage: Damage<'_>) {
///         let db = self.db(database);
///         match damage {
///             Damage::DropTable(t) => assert!(db.drop_table(t).await),
///             Damage::DropIndex(i) => assert!(db.drop_index(i).await),
///             Damage::RecordVersion { version, checksum } => {
///                 db.record_migration(AppliedMigration {
///                     version: version.into(),
///                     description: "newer build".into(),
///                     checksum: checksum.into(),
///                     applied_at: chrono::Utc::now(),
///                     execution_ms: 0,
///                 })
///                 .await
///             }
///             Damage::SetChecksum { version, checksum } => {
///                 assert!(db.set_recorded_checksum(version, checksum).await)
///             }
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// let harness = MemoryHarness::default();
/// pycharter_conformance::schema_states::missing_table_is_reported_and_force_restores_it(&harness).await;
/// # }
/// ```
#[async_trait]
pub trait BackendHarness: Send + Sync {
    /// The backend's store (one type implements both traits, as in production).
    type Store: MetadataStore + SchemaManager + Clone + 'static;

    /// A new, empty database (nothing created in it); returns an opaque locator (URL).
    async fn new_database(&self) -> String;

    /// Opens `database` with `options` (this is the backend's `connect`). Opening the same
    /// locator twice gives two independent handles on one database.
    async fn open(&self, database: &str, options: ConnectOptions) -> Result<Self::Store>;

    /// Damages the database behind the library's back (raw SQL on real backends). Panics
    /// when the damage cannot be done: the case cannot run without it.
    async fn damage(&self, database: &str, damage: Damage<'_>);
}

/// A backend's harness with a layer wrapped around every store it opens (a cache, replica
/// routing), so the whole suite runs on the layer over that backend: databases and damage
/// are the backend's, every store under test is `layer(store)`.
///
/// ```text
/// // backends/foo/tests/conformance.rs
/// mod cached {
///     pycharter_conformance::conformance_suite!(pycharter_conformance::Layered::new(
///         super::FooHarness::new(),
///         pycharter_cache::CachedMetadataStore::new,
///     ));
/// }
/// ```
pub struct Layered<H, F> {
    harness: H,
    layer: F,
}

impl<H, F> Layered<H, F> {
    /// `harness` with `layer` applied to every store it opens.
    pub fn new(harness: H, layer: F) -> Self {
        Layered { harness, layer }
    }
}

#[async_trait]
impl<H, F, L> BackendHarness for Layered<H, F>
where
    H: BackendHarness,
    F: Fn(H::Store) -> L + Send + Sync,
    L: MetadataStore + SchemaManager + Clone + 'static,
{
    type Store = L;

    async fn new_database(&self) -> String {
        self.harness.new_database().await
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<L> {
        self.harness.open(database, options).await.map(&self.layer)
    }

    async fn damage(&self, database: &str, damage: Damage<'_>) {
        self.harness.damage(database, damage).await
    }
}

/// Expands to one test per conformance case, each building its harness with `$harness`
/// (evaluated inside the test, in its async context, so `.await` is allowed) and running
/// the case on a multi-threaded tokio runtime with 2 workers, bounded by
/// [`CASE_TIMEOUT`](__private::CASE_TIMEOUT) so a hang fails the case that hung.
///
/// `conformance_suite!(@names)` is the list of cases, `"module::case"` (see [`CASES`]).
#[macro_export]
macro_rules! conformance_suite {
    (@names) => {
        $crate::conformance_suite! { @list names () }
    };
    // The single list of cases: every backend runs each of them.
    (@list $mode:ident $arg:tt) => {
        $crate::conformance_suite! { @emit $mode $arg;
            store_semantics::latest_is_semver_precedence,
            store_semantics::get_exact_version,
            store_semantics::same_document_again_returns_the_same_id,
            store_semantics::different_document_is_a_version_conflict,
            store_semantics::invalid_json_schema_is_rejected_and_nothing_written,
            store_semantics::invalid_version_is_rejected,
            store_semantics::list_schemas_is_sorted,
            store_semantics::list_versions_is_semver_ascending,
            names::hostile_names_round_trip_exactly,
            names::like_wildcards_match_literally,
            names::nul_in_name_is_invalid_name,
            attached::attached_kinds_round_trip,
            attached::attaching_to_a_missing_schema_version_is_not_found,
            attached::attached_artifacts_are_immutable,
            attached::latest_attached_artifact_follows_the_latest_schema_version,
            attached::attached_documents_must_be_objects,
            deletion::delete_removes_the_version_and_its_attachments,
            deletion::delete_of_a_missing_version_is_not_found,
            deletion::latest_falls_back_after_delete,
            schema_states::fresh_database_is_uninitialized,
            schema_states::initialize_creates_the_whole_schema,
            schema_states::initialize_is_idempotent,
            schema_states::older_schema_is_outdated_until_upgraded,
            schema_states::newer_schema_refuses_writes,
            schema_states::missing_table_is_reported_and_force_restores_it,
            schema_states::missing_index_is_reported_and_force_restores_it,
            schema_states::drifted_checksum_is_reported,
            migrations::downgrade_to_base_refuses_data_loss,
            migrations::dry_runs_change_nothing,
            migrations::history_marks_applied_and_pending,
            connect::connect_defaults_initialize_and_validate,
            connect::connect_validate_without_auto_initialize_fails_on_empty_database,
            connect::connect_without_either_option_creates_nothing,
            connect::connect_auto_initialize_upgrades_an_older_schema,
            connect::connect_refuses_a_damaged_schema,
            concurrency::concurrent_initialize_applies_each_migration_once,
            concurrency::concurrent_writers_of_the_same_document_share_one_id,
            concurrency::concurrent_writers_of_different_documents_one_wins,
            properties::latest_is_the_semver_maximum,
            properties::documents_round_trip,
            properties::store_and_delete_agree_with_a_model,
        }
    };
    (@emit names (); $($module:ident :: $case:ident),* $(,)?) => {
        &[$(concat!(stringify!($module), "::", stringify!($case))),*]
    };
    (@emit tests ($harness:expr); $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::__private::run_case(stringify!($case), async {
                    let harness = $harness;
                    $crate::$module::$case(&harness).await;
                });
            }
        )*
    };
    ($harness:expr) => {
        $crate::conformance_suite! { @list tests ($harness) }
    };
}

/// Every conformance case, as `"module::case"`, in the order the suite runs them.
pub const CASES: &[&str] = conformance_suite!(@names);

/// Support of [`conformance_suite!`]; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;
    use std::time::Duration;

    /// Longest a case may run: generous for a real server, short enough to name a hang.
    pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

    /// Runs `case` like `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`, with
    /// a timeout, without requiring the backend's tests to depend on tokio's macros.
    pub fn run_case(name: &str, case: impl Future<Output = ()>) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build the tokio runtime of a conformance case");
        runtime.block_on(async {
            if tokio::time::timeout(CASE_TIMEOUT, case).await.is_err() {
                panic!(
                    "conformance case {name} did not finish within {}s (deadlock or hang)",
                    CASE_TIMEOUT.as_secs()
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::CASES;

    /// Adding a `pub async fn` case without listing it in the macro fails here.
    #[test]
    fn every_case_function_is_listed_once() {
        let modules = [
            ("store_semantics", include_str!("store_semantics.rs")),
            ("names", include_str!("names.rs")),
            ("attached", include_str!("attached.rs")),
            ("deletion", include_str!("deletion.rs")),
            ("schema_states", include_str!("schema_states.rs")),
            ("migrations", include_str!("migrations.rs")),
            ("connect", include_str!("connect.rs")),
            ("concurrency", include_str!("concurrency.rs")),
            ("properties", include_str!("properties.rs")),
        ];
        let mut defined = Vec::new();
        for (module, source) in modules {
            for line in source.lines() {
                if let Some(rest) = line.strip_prefix("pub async fn ") {
                    let name = rest.split('<').next().expect("a name");
                    defined.push(format!("{module}::{name}"));
                }
            }
        }
        let mut listed: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
        defined.sort();
        listed.sort();
        assert_eq!(defined, listed);
    }
}
