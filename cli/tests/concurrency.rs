//! Sixteen deployers run `pycharter db init` at the same moment: all succeed, and each
//! migration is recorded exactly once.

mod common;

use common::*;

const DEPLOYERS: usize = 16;

/// Starts every process before waiting for any, so they really overlap.
fn init_concurrently(url: &str) {
    let children: Vec<_> = (0..DEPLOYERS)
        .map(|_| {
            pycharter_std()
                .args(["db", "init", url])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn pycharter")
        })
        .collect();
    let mut applied_by = 0;
    for child in children {
        let out = child.wait_with_output().expect("wait for pycharter");
        assert_code(&out, 0);
        let text = stdout(&out);
        if text.contains("  applied 1.0.0  ") {
            applied_by += 1;
        } else {
            assert!(text.contains("nothing to do"), "{text}");
        }
    }
    assert_eq!(applied_by, 1, "exactly one deployer applies the migrations");
}

#[test]
fn sixteen_inits_on_one_sqlite_file() {
    let db = sqlite_db();
    init_concurrently(&db.url);
    assert_one_row_per_migration(sqlite_versions(&db.path), &sqlite_migrations());
    assert_code(&run(&["db", "check", &db.url]), 0);
}

#[test]
fn sixteen_inits_on_one_postgres_database() {
    let db = pg_database();
    init_concurrently(&db.url);
    assert_one_row_per_migration(pg_versions(&db.url), &postgres_migrations());
    assert_code(&run(&["db", "check", &db.url]), 0);
}

/// The `table` migration lock: the sixteen also race to create the lock table.
#[test]
fn sixteen_inits_on_one_postgres_database_with_the_table_lock() {
    let db = pg_database();
    let separator = if db.url.contains('?') { '&' } else { '?' };
    init_concurrently(&format!("{}{separator}migration_lock=table", db.url));
    assert_one_row_per_migration(pg_versions(&db.url), &postgres_migrations());
    assert!(pg_table_exists(&db.url, "pycharter_migration_lock"));
    assert_code(&run(&["db", "check", &db.url]), 0);
}
