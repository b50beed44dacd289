//! Helpers shared by the SQLite integration tests: a database file in a tempdir, and a raw
//! sqlx pool on it for inspecting or damaging the database behind the store's back.

#![allow(dead_code)] // each test binary uses a different subset

use pycharter_core::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;
use std::path::PathBuf;
use tempfile::TempDir;

/// A database file path in a fresh tempdir (deleted when the `TempDir` drops).
pub struct TestDb {
    pub dir: TempDir,
    pub path: PathBuf,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pycharter.db");
        TestDb { dir, path }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// A pool of our own on the file (no pycharter logic), for inspection and damage.
    pub async fn raw(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true);
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("raw pool")
    }
}

/// Connect options that leave the schema alone (no initialize, no validation).
pub fn manual() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    }
}

/// `(version, checksum)` rows of the version table, ascending.
pub async fn version_rows(pool: &SqlitePool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT version, checksum FROM pycharter_schema_version ORDER BY version")
        .fetch_all(pool)
        .await
        .expect("version rows")
}

/// Whether a table or index of that name exists.
pub async fn object_exists(pool: &SqlitePool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?)")
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("sqlite_master")
}
