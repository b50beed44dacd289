//! Separate processes on one database (capability `separate_processes`): several application
//! servers or deployers starting at once. The case re-runs its own test binary as the
//! children (`--exact <this test>`); a child finds the database's locator in its environment
//! and plays one process instead of the parent.

use crate::__private::current_test_name;
use crate::support::{open_raw, schema_doc};
use crate::BackendHarness;
use pycharter_core::{
    ConnectOptions, MetadataStore, MetadataStoreExt, MigrationState, SchemaManager, MIGRATIONS,
};
use std::process::Stdio;
use tokio::process::Command;

/// Processes started at once.
const PROCESSES: usize = 16;
/// Set in a child: the locator of the database to open.
const DATABASE_ENV: &str = "PYCHARTER_CONFORMANCE_CHILD_DATABASE";
/// Set in a child: which child it is (its schema's name).
const CHILD_ENV: &str = "PYCHARTER_CONFORMANCE_CHILD";

/// Sixteen processes connect to one new database at once with the default options (each
/// initializes and validates) and each stores a schema: every process succeeds, each
/// migration is recorded once, and every process's write is visible to the others.
pub async fn sixteen_processes_initialize_and_write_one_database<H: BackendHarness>(h: &H) {
    if let (Ok(database), Ok(child)) = (std::env::var(DATABASE_ENV), std::env::var(CHILD_ENV)) {
        return child_process(h, &database, &child).await;
    }
    let database = h.new_database().await;
    let exe = std::env::current_exe().expect("the test binary");
    let test = current_test_name();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            // Output captured, so a failing child's panic lands in the assertion message.
            Command::new(&exe)
                .args(["--exact", &test, "--nocapture", "--test-threads=1"])
                .env(DATABASE_ENV, &database)
                .env(CHILD_ENV, format!("process-{i:02}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn a child test process")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().await.expect("wait for a child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "process {i} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        // A child that ran no test (a wrong filter) also exits 0: make sure it ran this one.
        assert!(
            stdout.contains("1 passed"),
            "process {i} did not run {test}:\n{stdout}"
        );
    }

    let store = open_raw(h, &database).await;
    assert!(store.validate().await.expect("validate").valid);
    let history = store.history().await.expect("history");
    assert_eq!(history.len(), MIGRATIONS.len(), "each migration once");
    assert!(history.iter().all(|m| m.state == MigrationState::Applied));
    let expected: Vec<String> = (0..PROCESSES).map(|i| format!("process-{i:02}")).collect();
    assert_eq!(store.list_schemas().await.expect("list"), expected);
}

/// One child: connect with the defaults, store this child's schema, read it back.
async fn child_process<H: BackendHarness>(h: &H, database: &str, child: &str) {
    let store = h
        .open(database, ConnectOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{child}: connect with the defaults: {e}"));
    assert!(store.validate().await.expect("validate").valid, "{child}");
    let id = store
        .store_schema(child, "1.0.0", &schema_doc(child))
        .await
        .unwrap_or_else(|e| panic!("{child}: store: {e}"));
    let read = store
        .get_schema(child, None)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(read.id, id, "{child}");
}
