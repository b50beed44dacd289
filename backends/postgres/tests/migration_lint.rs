//! The migration lint, in CI: every migration this build ships passes it, and the SQL 1.1.0
//! first shipped (a plain CREATE INDEX on `schemas`, which stalled every write for the whole
//! build) would not.

use pycharter_core::{BundledMigration, MIGRATIONS};
use pycharter_postgres::lint::{lint, Rule};
use pycharter_postgres::PostgresMetadataStore;

#[test]
fn bundled_postgres_migrations_pass_the_lint() {
    let bundled = PostgresMetadataStore::migrations();
    assert_eq!(bundled.len(), MIGRATIONS.len());
    let findings: Vec<String> = bundled
        .iter()
        .flat_map(lint)
        .map(|f| f.to_string())
        .collect();
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

#[test]
fn the_superseded_1_1_0_sql_fails_the_lint() {
    let old = include_str!("../migrations/superseded/1.1.0.up.sql");
    let spec = MIGRATIONS
        .iter()
        .find(|m| m.version == "1.1.0")
        .expect("1.1.0");
    let m = BundledMigration::new(spec, old, "").expect("bundle");
    let rules: Vec<Rule> = lint(&m).into_iter().map(|f| f.rule).collect();
    assert_eq!(rules, vec![Rule::PlainCreateIndex]);
}
