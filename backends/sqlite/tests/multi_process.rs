//! Sixteen *processes* initializing one fresh file at once (SQLite's locks are file locks
//! between processes, not only between connections of one process). The test re-runs its
//! own binary as the children: with `PYCHARTER_SQLITE_CHILD_URL` set, it is a child.

mod common;

use common::{version_rows, TestDb};
use pycharter_core::SchemaManager;
use pycharter_sqlite::SqliteMetadataStore;
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "PYCHARTER_SQLITE_CHILD_URL";
const TEST_NAME: &str = "sixteen_processes_initialize_one_file";

#[test]
fn sixteen_processes_initialize_one_file() {
    if let Ok(url) = std::env::var(CHILD_ENV) {
        // Child: connect with the defaults (initialize + validate), which must succeed.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = SqliteMetadataStore::new(&url).await.expect("connect");
            assert!(store.validate().await.unwrap().valid);
        });
        return;
    }

    let db = TestDb::new();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..16)
        .map(|_| {
            // Output captured, so a failing child's panic lands in the assertion message.
            Command::new(&exe)
                .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, db.url())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a child test process")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "child failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let rows = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { version_rows(&db.raw().await).await });
    let expected: Vec<(String, String)> = SqliteMetadataStore::migrations()
        .iter()
        .map(|m| (m.version.to_string(), m.checksum.clone()))
        .collect();
    assert_eq!(rows, expected);
}
