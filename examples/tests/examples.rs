//! Every example runs from start to end against its backend: the in-memory store, a new
//! SQLite file, and a fresh database on the PostgreSQL test server. Each example's own `main`
//! runs here (its file is `include!`d), with `DATABASE_URL` set as a user would set it, and
//! what it left in the database is checked afterwards.

use pycharter_core::prelude::*;
use pycharter_core::{ConnectOptions, Error, SchemaState, SCHEMA_VERSION};
use pycharter_test_postgres::fresh_database;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};

mod memory {
    include!("../memory.rs");
    pub fn run_main() -> ExitCode {
        main()
    }
}

mod sqlite {
    include!("../sqlite.rs");
    pub fn run_main() -> ExitCode {
        main()
    }
}

mod postgres {
    include!("../postgres.rs");
    pub fn run_main() -> ExitCode {
        main()
    }
}

mod production {
    include!("../production.rs");
    pub fn run_main() -> ExitCode {
        main()
    }
    pub async fn app(url: &str) -> Result<PostgresMetadataStore, Error> {
        connect_app(url).await
    }
}

/// `DATABASE_URL` belongs to the whole process: one example at a time sets and reads it.
static DATABASE_URL: Mutex<()> = Mutex::new(());

/// Runs an example's `main` with `DATABASE_URL` set to `url`.
fn run_example(url: &str, main: fn() -> ExitCode) -> ExitCode {
    let _one_at_a_time = DATABASE_URL.lock().unwrap_or_else(PoisonError::into_inner);
    std::env::set_var("DATABASE_URL", url);
    let code = main();
    std::env::remove_var("DATABASE_URL");
    code
}

/// A runtime for the checks around an example (an example's `main` builds its own).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Options that neither initialize nor validate: look at the database as the example left it.
fn look_only() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    }
}

#[test]
fn memory_example_runs() {
    assert_eq!(memory::run_main(), ExitCode::SUCCESS);
}

/// The SQLite example creates the file, migrates it and stores into it; run again, it finds
/// everything in place (the same documents again are no-ops).
#[test]
fn sqlite_example_creates_its_file_and_runs_twice() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("contracts.db").display());
    for run in ["first", "second"] {
        assert_eq!(
            run_example(&url, sqlite::run_main),
            ExitCode::SUCCESS,
            "{run} run"
        );
    }
    runtime().block_on(async {
        let store = pycharter_sqlite::SqliteMetadataStore::connect(&url, look_only())
            .await
            .expect("open the example's file");
        assert!(store.validate().await.expect("validate").valid);
        let rules = store
            .get_coercion_rules("orders", "1.0.0")
            .await
            .expect("read");
        assert_eq!(rules.expect("stored by the example").document["id"], "int");
    });
}

/// The Postgres example, with the default `connect`, on an empty database: it initializes
/// the schema and stores; a second run (an already initialized database) succeeds too.
#[test]
fn postgres_example_runs_against_the_test_server() {
    let db = runtime().block_on(fresh_database());
    for run in ["first", "second"] {
        assert_eq!(
            run_example(&db.url, postgres::run_main),
            ExitCode::SUCCESS,
            "{run} run"
        );
    }
    runtime().block_on(async {
        let store = pycharter_postgres::PostgresMetadataStore::connect(&db.url, look_only())
            .await
            .expect("connect");
        assert_eq!(store.list_versions("orders").await.expect("list").len(), 1);
        store.close().await;
    });
}

/// The production pattern on an empty database: the application refuses to start, the
/// deploy step migrates, then the application starts on a valid schema of this build.
#[test]
fn production_example_migrates_in_the_deploy_step_and_the_app_only_validates() {
    let db = runtime().block_on(fresh_database());
    runtime().block_on(async {
        let refused = production::app(&db.url).await.expect_err("empty database");
        assert!(
            matches!(refused, Error::NotInitialized { .. }),
            "{refused:?}"
        );
    });
    assert_eq!(
        run_example(&db.url, production::run_main),
        ExitCode::SUCCESS
    );
    runtime().block_on(async {
        let store = production::app(&db.url)
            .await
            .expect("migrated by the deploy step");
        let info = store.validate().await.expect("validate");
        assert_eq!(info.state, SchemaState::Valid, "{}", info.message);
        assert_eq!(
            store
                .current()
                .await
                .expect("current")
                .expect("applied")
                .version,
            SCHEMA_VERSION
        );
        store.close().await;
    });
}

/// Without `DATABASE_URL` the Postgres examples say what to set, and fail.
#[test]
fn postgres_examples_without_a_url_say_what_to_set() {
    let _one_at_a_time = DATABASE_URL.lock().unwrap_or_else(PoisonError::into_inner);
    std::env::remove_var("DATABASE_URL");
    assert_eq!(postgres::run_main(), ExitCode::FAILURE);
    assert_eq!(production::run_main(), ExitCode::FAILURE);
}
