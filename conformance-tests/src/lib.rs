//! # pycharter-conformance
//!
//! The whole contract a pycharter-rs backend must obey, as one suite every backend runs on
//! itself: store semantics, hostile input, schema states, migrations, `connect`, locking,
//! concurrency, properties. It knows no database: the real-PostgreSQL test servers live in
//! `pycharter-test-postgres` (`test-support/postgres/`).
//!
//! A backend implements [`BackendHarness`] (create an empty database, open it with
//! [`ConnectOptions`](pycharter_core::ConnectOptions), damage and inspect it behind the
//! library's back, hold its migration lock as another deployer would) and expands
//! [`conformance_suite!`] once, declaring the [`Capability`]s it lacks and why. Every case
//! becomes its own `#[test]`, named after the case; the cases that need a lacked capability
//! are not generated, and the declaration is itself a test.
//!
//! A complete harness, for the in-memory backend (`backends/memory/tests/conformance.rs` is
//! the same), with one case run by hand:
//!
//! ```
//! use async_trait::async_trait;
//! use pycharter_conformance::{BackendHarness, Damage, HeldLock};
//! use pycharter_core::{AppliedMigration, ArtifactKind, BundledMigration, ConnectOptions, Result};
//! use pycharter_memory::MemoryMetadataStore;
//! use std::collections::{BTreeSet, HashMap};
//! use std::sync::Mutex;
//!
//! /// Databases by locator: `open` twice on one locator gives two handles on one database.
//! #[derive(Default)]
//! struct MemoryHarness(Mutex<HashMap<String, MemoryMetadataStore>>);
//!
//! impl MemoryHarness {
//!     fn db(&self, locator: &str) -> MemoryMetadataStore {
//!         self.0.lock().expect("registry")[locator].clone()
//!     }
//! }
//!
//! #[async_trait]
//! impl BackendHarness for MemoryHarness {
//!     type Store = MemoryMetadataStore;
//!     async fn new_database(&self) -> String {
//!         let mut dbs = self.0.lock().expect("registry");
//!         let locator = format!("memory://db-{}", dbs.len());
//!         dbs.insert(locator.clone(), MemoryMetadataStore::uninitialized());
//!         locator
//!     }
//!     async fn open(&self, database: &str, options: ConnectOptions) -> Result<MemoryMetadataStore> {
//!         self.db(database).reopen(options).await
//!     }
//!     async fn open_with_migrations(
//!         &self,
//!         database: &str,
//!         options: ConnectOptions,
//!         migrations: Vec<BundledMigration>,
//!     ) -> Result<MemoryMetadataStore> {
//!         self.db(database).reopen_with_migrations(options, migrations).await
//!     }
//!     async fn damage(&self, database: &str, damage: Damage<'_>) {
//!         let db = self.db(database);
//!         let done = match damage {
//!             Damage::DropTable(t) => db.drop_table(t).await,
//!             Damage::DropIndex(i) => db.drop_index(i).await,
//!             Damage::RecordVersion { version, checksum } => {
//!                 db.record_migration(AppliedMigration {
//!                     version: version.into(),
//!                     description: "newer build".into(),
//!                     checksum: checksum.into(),
//!                     applied_at: chrono::Utc::now(),
//!                     execution_ms: 0,
//!                     compatible_with: None,
//!                 })
//!                 .await;
//!                 true
//!             }
//!             Damage::SetChecksum { version, checksum } => {
//!                 db.set_recorded_checksum(version, checksum).await
//!             }
//!             Damage::ForgetVersion(version) => db.forget_migration(version).await,
//!         };
//!         assert!(done, "nothing to damage: {damage:?}");
//!     }
//!     async fn row_count(&self, database: &str) -> u64 {
//!         let db = self.db(database);
//!         ArtifactKind::ALL
//!             .iter()
//!             .map(|kind| db.row_count(kind.table()).expect("initialized"))
//!             .sum()
//!     }
//!     async fn objects(&self, database: &str) -> BTreeSet<String> {
//!         let catalog = self.db(database).catalog();
//!         catalog.tables.into_iter().chain(catalog.indexes).collect()
//!     }
//!     async fn hold_migration_lock(&self, database: &str) -> HeldLock {
//!         // Nothing outside the library can reach this lock: hold it the library's way.
//!         HeldLock::by_executor(self.db(database)).await
//!     }
//! }
//!
//! // One test per case, built with `MemoryHarness::default()` (evaluated inside each test,
//! // so `.await` is allowed), minus the cases needing what the backend lacks.
//! pycharter_conformance::conformance_suite!(MemoryHarness::default(), lacks: [
//!     separate_processes => "the database lives in this process's memory",
//!     namespaces => "one simulated database is one namespace",
//!     failing_migrations => "a simulated database runs no SQL, so no step can fail",
//! ]);
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let harness = MemoryHarness::default();
//! pycharter_conformance::schema_states::missing_table_is_reported_and_force_restores_it(&harness)
//!     .await;
//! # }
//! ```
//!
//! Every case is a `pub async fn case<H: BackendHarness>(h: &H)` in a module per theme; the
//! macro holds the one list of cases ([`CASES`], with what each [`needs`](Case::needs)), and
//! a unit test of this crate fails when a case function is missing from it.
//!
//! ## Themes
//!
//! | module | promise |
//! |---|---|
//! | [`store_semantics`], [`attached`], [`deletion`], [`ids`] | semver "latest", immutability, attachments, cascade, what ids promise |
//! | [`names`], [`versions`], [`documents`] | hostile input: stored exactly or refused with a typed error, nothing written |
//! | [`schema_states`], [`hand_edits`], [`connect`] | every schema state, its typed error and fix; a hand-edited version table; what `connect` does |
//! | [`soundness`] | exit 0 means sound: every mutating command refuses a damaged database with the validator's error, and checks its own result |
//! | [`migrations`], [`failed_migrations`] | downgrade guards data, dry runs, history; a failing step rolls back whole |
//! | [`locking`], [`concurrency`], [`processes`] | the migration lock, concurrent deployers and writers, separate processes |
//! | [`namespaces`] | one independent schema per namespace |
//! | [`properties`] | property tests against a model |
//!
//! ## Capabilities
//!
//! As an OpenDAL service declares its capabilities, a backend declares what it cannot do
//! instead of skipping silently: `lacks: [name => "reason"]` in its `conformance_suite!`
//! line, the one place to read what that backend lacks and why. A case that needs a
//! [`Capability`] the backend lacks is not generated (no test passes without testing
//! anything); the declaration is checked by a generated test; a harness method of a
//! capability it does not implement fails the case that calls it, saying so. The
//! capabilities are [`Capability::ALL`]; each is needed by at least one case.

mod capability;
mod harness;
mod layered;
mod replicas;
mod support;

pub mod attached;
pub mod concurrency;
pub mod connect;
pub mod deletion;
pub mod documents;
pub mod failed_migrations;
pub mod hand_edits;
pub mod ids;
pub mod locking;
pub mod migrations;
pub mod names;
pub mod namespaces;
pub mod processes;
pub mod properties;
pub mod rolling_upgrade;
pub mod schema_states;
pub mod soundness;
pub mod store_semantics;
pub mod versions;
pub mod wait_for_schema;

pub use capability::{check_declared_lacks, Capability, Lack};
pub use harness::{BackendHarness, Damage, FailingMigration, HeldLock, LockSignal};
pub use layered::Layered;
pub use replicas::ReplicaHarness;
/// The typed store/get method of a kind, chosen at run time (for suites and benches that
/// loop over [`pycharter_core::ArtifactKind::ALL`]).
pub use support::{get_kind, store_kind};

/// One conformance case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// `"module::case"`: the function `pycharter_conformance::module::case`, and the name of
    /// its test in every backend.
    pub name: &'static str,
    /// The capabilities it needs; a backend that lacks one does not run it.
    pub needs: &'static [Capability],
}

/// Expands to one `#[test]` per conformance case, each building its harness with `$harness`
/// (evaluated inside the test, in its async context, so `.await` is allowed) and running the
/// case on a multi-threaded tokio runtime with 2 workers, bounded by
/// [`CASE_TIMEOUT`](__private::CASE_TIMEOUT) so a hang fails the case that hung.
///
/// ```text
/// conformance_suite!(FooHarness::new());
/// conformance_suite!(FooHarness::new(), lacks: [capability => "why", ...]);
/// ```
///
/// `conformance_suite!(@store $harness)` generates only the store cases (modules
/// `store_semantics`, `ids`, `names`, `versions`, `documents`, `attached`, `deletion`,
/// `properties`, and the concurrent writers), for a harness that opens databases it has
/// initialized itself through a role that may not change the layout.
///
/// A case that needs a [`Capability`] listed after `lacks:` is not generated; the test
/// `lacked_capabilities_are_declared_with_reasons` checks the list (known names, each once,
/// each with a reason). `conformance_suite!(@cases)` is [`CASES`].
#[macro_export]
macro_rules! conformance_suite {
    (@cases) => {
        $crate::conformance_suite! { @list cases () }
    };
    // The single list of cases: every backend runs each of them, except those needing a
    // capability (`[capability]`) it declares it lacks.
    (@list $mode:ident $arg:tt) => {
        $crate::conformance_suite! { @emit $mode $arg;
            store_semantics::latest_is_semver_precedence,
            store_semantics::get_exact_version,
            store_semantics::same_document_again_returns_the_same_id,
            store_semantics::different_document_is_a_version_conflict,
            store_semantics::list_schemas_is_sorted,
            store_semantics::list_versions_is_semver_ascending,
            ids::ids_are_positive_increasing_and_stable,
            ids::ids_are_never_reused_after_a_delete,
            names::hostile_names_round_trip_exactly_and_run_no_sql,
            names::like_wildcards_match_literally,
            names::invalid_names_are_refused_and_nothing_written,
            versions::invalid_versions_are_refused_and_nothing_written,
            versions::build_metadata_neither_reads_nor_replaces_a_version,
            documents::invalid_schema_documents_are_refused_and_nothing_written,
            documents::invalid_attached_documents_are_refused_and_nothing_written,
            documents::large_deep_and_odd_documents_round_trip,
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
            soundness::missing_table_fails_every_command_but_init_force,
            soundness::missing_index_fails_every_command_but_init_force,
            soundness::drifted_checksum_fails_every_command,
            soundness::unknown_newer_row_fails_every_command,
            soundness::compatible_newer_rows_are_sound_for_init_and_upgrade,
            soundness::no_command_succeeds_on_a_database_left_unsound,
            soundness::dry_runs_state_what_the_check_after_would_find,
            hand_edits::drifted_checksum_is_reported,
            hand_edits::dropped_version_table_is_uninitialized_and_initialize_keeps_the_rows,
            hand_edits::forgotten_migration_is_pending_and_upgrade_reapplies_it,
            migrations::downgrade_to_base_refuses_data_loss,
            migrations::dry_runs_change_nothing,
            migrations::history_marks_applied_and_pending,
            failed_migrations::failing_upgrade_leaves_the_previous_version_and_a_rerun_succeeds [failing_migrations],
            failed_migrations::failing_first_initialize_leaves_an_empty_database [failing_migrations],
            connect::connect_defaults_initialize_and_validate,
            connect::connect_validate_without_auto_initialize_fails_on_empty_database,
            connect::connect_without_either_option_creates_nothing,
            connect::connect_auto_initialize_upgrades_an_older_schema,
            connect::connect_refuses_a_damaged_schema,
            locking::held_lock_times_out_and_changes_nothing,
            locking::without_a_lock_timeout_a_deployer_waits_its_turn,
            concurrency::concurrent_initialize_one_deployer_applies_everything,
            concurrency::concurrent_connects_with_the_defaults_all_succeed,
            concurrency::concurrent_writers_of_the_same_document_share_one_id,
            concurrency::concurrent_writers_of_different_documents_one_wins,
            processes::sixteen_processes_initialize_and_write_one_database [separate_processes],
            namespaces::namespaces_are_independent_schemas [namespaces],
            properties::latest_is_the_semver_maximum,
            properties::documents_round_trip,
            properties::store_and_delete_agree_with_a_model,
            rolling_upgrade::old_build_reads_and_writes_through_a_compatible_upgrade,
            rolling_upgrade::breaking_migration_refuses_the_old_build_and_writes_nothing,
            rolling_upgrade::new_build_downgraded_back_leaves_the_old_build_working,
            wait_for_schema::connect_waits_until_the_schema_is_migrated,
            wait_for_schema::connect_does_not_wait_for_a_damaged_schema,
            wait_for_schema::connect_gives_up_at_the_deadline_saying_what_it_waited_for,
        }
    };
    // The store cases alone: what an application role needs (see `@store` below).
    (@emit store ($harness:expr); $($module:ident :: $case:ident $([$needs:ident])?),* $(,)?) => {
        $crate::conformance_suite! { @store_filter ($) ($harness) $($module $case)* }
    };
    (@store_filter ($d:tt) ($harness:expr) $($module:ident $case:ident)*) => {
        macro_rules! __pycharter_store_case {
            (store_semantics $d case:ident) => { __pycharter_store_case! { @test store_semantics $d case } };
            (ids $d case:ident) => { __pycharter_store_case! { @test ids $d case } };
            (names $d case:ident) => { __pycharter_store_case! { @test names $d case } };
            (versions $d case:ident) => { __pycharter_store_case! { @test versions $d case } };
            (documents $d case:ident) => { __pycharter_store_case! { @test documents $d case } };
            (attached $d case:ident) => { __pycharter_store_case! { @test attached $d case } };
            (deletion $d case:ident) => { __pycharter_store_case! { @test deletion $d case } };
            (properties $d case:ident) => { __pycharter_store_case! { @test properties $d case } };
            (concurrency concurrent_writers_of_the_same_document_share_one_id) => {
                __pycharter_store_case! { @test concurrency concurrent_writers_of_the_same_document_share_one_id }
            };
            (concurrency concurrent_writers_of_different_documents_one_wins) => {
                __pycharter_store_case! { @test concurrency concurrent_writers_of_different_documents_one_wins }
            };
            (@test $d module:ident $d case:ident) => {
                #[test]
                fn $d case() {
                    $crate::__private::run_case(
                        concat!(module_path!(), "::", stringify!($d case)),
                        async {
                            let harness = $harness;
                            $crate::$d module::$d case(&harness).await;
                        },
                    );
                }
            };
            ($d module:ident $d case:ident) => {};
        }
        $( __pycharter_store_case! { $module $case } )*
    };
    (@emit cases (); $($module:ident :: $case:ident $([$needs:ident])?),* $(,)?) => {
        &[$($crate::Case {
            name: concat!(stringify!($module), "::", stringify!($case)),
            needs: &[$($crate::__private::names::$needs)?],
        }),*]
    };
    // Lacking nothing: every case, and no declaration to check.
    (@emit tests ($harness:expr;); $($module:ident :: $case:ident $([$needs:ident])?),* $(,)?) => {
        $crate::conformance_suite! { @filter ($) ($harness) [] $($module $case ($($needs)?))* }
    };
    (@emit tests ($harness:expr; $($lacked:ident => $why:expr),+);
        $($module:ident :: $case:ident $([$needs:ident])?),* $(,)?) => {
        $crate::conformance_suite! { @filter ($) ($harness) [$($lacked)*]
            $($module $case ($($needs)?))*
        }

        #[test]
        fn lacked_capabilities_are_declared_with_reasons() {
            $crate::check_declared_lacks(&[$($crate::Lack {
                capability: $crate::__private::names::$lacked,
                reason: $why,
            }),+]);
        }
    };
    // A local macro with one empty arm per lacked capability, then the arm that emits a test
    // (`$d` is `$`: the local macro's own metavariables).
    (@filter ($d:tt) ($harness:expr) [$($lacked:ident)*] $($module:ident $case:ident $needs:tt)*) => {
        macro_rules! __pycharter_conformance_case {
            $( (($lacked) $d module:ident $d case:ident) => {}; )*
            (($d ($d needs:ident)?) $d module:ident $d case:ident) => {
                #[test]
                fn $d case() {
                    $crate::__private::run_case(
                        concat!(module_path!(), "::", stringify!($d case)),
                        async {
                            let harness = $harness;
                            $crate::$d module::$d case(&harness).await;
                        },
                    );
                }
            };
        }
        $( __pycharter_conformance_case! { $needs $module $case } )*
    };
    // Only the store cases (reads, writes, deletes, hostile input, concurrent writers) of
    // databases the harness has initialized: for a harness whose role may not change the
    // layout (the least-privilege application role). Every case of those modules is in it.
    (@store $harness:expr $(,)?) => {
        $crate::conformance_suite! { @list store ($harness) }
    };
    ($harness:expr $(,)?) => {
        $crate::conformance_suite! { @list tests ($harness;) }
    };
    ($harness:expr, lacks: [$($lacked:ident => $why:expr),* $(,)?] $(,)?) => {
        $crate::conformance_suite! { @list tests ($harness; $($lacked => $why),*) }
    };
}

/// Every conformance case, in the order the suite runs them.
pub const CASES: &[Case] = conformance_suite!(@cases);

/// Support of [`conformance_suite!`]; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::capability::names;
    use std::future::Future;
    use std::time::Duration;

    /// Longest a case may run: generous for a real server, short enough to name a hang.
    pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

    tokio::task_local! {
        /// `module_path!()::case` of the test running on this runtime.
        static CURRENT_TEST: &'static str;
    }

    /// Runs `case` like `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`, with
    /// a timeout, without requiring the backend's tests to depend on tokio's macros.
    /// `path` is the test function's path (`crate::…::case`).
    pub fn run_case(path: &'static str, case: impl Future<Output = ()>) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build the tokio runtime of a conformance case");
        runtime.block_on(CURRENT_TEST.scope(path, async {
            if tokio::time::timeout(CASE_TIMEOUT, case).await.is_err() {
                panic!(
                    "conformance case {path} did not finish within {}s (deadlock or hang)",
                    CASE_TIMEOUT.as_secs()
                );
            }
        }));
    }

    /// The running test's name as the test binary knows it (its path without the crate),
    /// to re-run it in a child process with `--exact`.
    pub(crate) fn current_test_name() -> String {
        let path = CURRENT_TEST
            .try_with(|path| *path)
            .expect("called from a case run by conformance_suite!");
        match path.split_once("::") {
            Some((_crate, test)) => test.to_string(),
            None => path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
