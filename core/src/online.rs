//! Online steps: statements a migration runs **outside** its transaction, so that the
//! application keeps writing while they work (Postgres `CREATE INDEX CONCURRENTLY` /
//! `DROP INDEX CONCURRENTLY`, which cannot run inside a transaction block).
//!
//! ## The format
//!
//! A migration script is its transactional SQL, optionally followed by online statements.
//! Each online statement is introduced by a directive comment naming what it does to the
//! catalog:
//!
//! ```sql
//! -- the transactional part (may be only comments)
//! -- pycharter:online builds idx_schemas_name_sort_key
//! CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_schemas_name_sort_key ON schemas (name, version_sort_key);
//! ```
//!
//! `builds <index>` or `drops <index>`; the statement is everything up to the next directive
//! or the end of the script (exactly one statement: it runs on its own, outside any
//! transaction). The directive is how core knows, from a catalog snapshot alone, whether the
//! statement still has to run (the index is not valid yet / still exists), so a migration
//! interrupted half-way resumes where it stopped, and a half-built (invalid) index is dropped
//! and rebuilt. The whole script, directives included, is what the checksum covers.
//!
//! ## Where an online statement runs
//!
//! Core's driver ([`crate::migrate`]) decides: outside the transaction when the backend has
//! online steps ([`crate::MigrationExecutor::online_steps`], Postgres) and the table exists
//! before the migration; inside it otherwise ([`crate::MigrationTransaction::run_inline`]):
//! on a backend without a concurrent-build concept (SQLite, memory), and for a table the same
//! transaction created (a fresh database), where nothing else can see the table to be blocked.

use crate::catalog::CatalogSnapshot;
use crate::error::{Error, Result};
use serde::Serialize;

/// The directive that starts an online statement (in an SQL comment: `-- pycharter:online`).
pub const DIRECTIVE: &str = "-- pycharter:online";
const DIRECTIVE_WORD: &str = "pycharter:online";

/// What an online statement does to the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineEffect {
    /// It builds the index: done once the index exists and is valid.
    Builds,
    /// It drops the index: done once the index (valid or not) is gone.
    Drops,
}

/// One statement a migration runs outside its transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct OnlineStep {
    /// Builds or drops.
    pub effect: OnlineEffect,
    /// The index it builds or drops.
    pub index: String,
    /// The statement, exactly one.
    pub sql: String,
}

impl OnlineStep {
    /// Whether the catalog still lacks this step's effect (so the step must run).
    ///
    /// ```
    /// use pycharter_core::online::{OnlineEffect, OnlineStep};
    /// use pycharter_core::CatalogSnapshot;
    /// let step = OnlineStep { effect: OnlineEffect::Builds, index: "idx_a".into(), sql: String::new() };
    /// let mut snapshot = CatalogSnapshot::default();
    /// snapshot.invalid_indexes.insert("idx_a".into());
    /// assert!(step.pending(&snapshot), "an invalid index is not built yet");
    /// ```
    pub fn pending(&self, snapshot: &CatalogSnapshot) -> bool {
        match self.effect {
            OnlineEffect::Builds => !snapshot.indexes.contains(&self.index),
            OnlineEffect::Drops => {
                snapshot.indexes.contains(&self.index)
                    || snapshot.invalid_indexes.contains(&self.index)
            }
        }
    }
}

/// A migration script split into its transactional part and its online statements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Script {
    /// What runs inside the migration transaction (the script up to the first directive).
    pub transactional: String,
    /// What runs outside it, in order.
    pub online: Vec<OnlineStep>,
}

impl Script {
    /// Splits `sql` at its directives (see the module documentation).
    ///
    /// Fails on a directive that does not say `builds <index>` or `drops <index>`, or that
    /// introduces no statement.
    ///
    /// ```
    /// use pycharter_core::online::{OnlineEffect, Script};
    /// let script = Script::parse(
    ///     "-- header\n-- pycharter:online builds idx_a\nCREATE INDEX CONCURRENTLY idx_a ON t (a);\n",
    /// )?;
    /// assert_eq!(script.transactional, "-- header\n");
    /// assert_eq!(script.online[0].effect, OnlineEffect::Builds);
    /// assert_eq!(script.online[0].sql, "CREATE INDEX CONCURRENTLY idx_a ON t (a);");
    /// # Ok::<(), pycharter_core::Error>(())
    /// ```
    pub fn parse(sql: &str) -> Result<Script> {
        let mut script = Script::default();
        let mut current: Option<(OnlineEffect, String, String)> = None;
        for line in sql.split_inclusive('\n') {
            let trimmed = line.trim();
            let directive_rest = trimmed
                .strip_prefix("--")
                .and_then(|c| c.trim_start().strip_prefix(DIRECTIVE_WORD));
            if let Some(rest) = directive_rest {
                if let Some(done) = current.take() {
                    script.online.push(finish(done)?);
                }
                current = Some(directive(rest, trimmed)?);
                continue;
            }
            match current.as_mut() {
                Some((_, _, statement)) => statement.push_str(line),
                None => script.transactional.push_str(line),
            }
        }
        if let Some(done) = current {
            script.online.push(finish(done)?);
        }
        Ok(script)
    }
}

fn directive(rest: &str, line: &str) -> Result<(OnlineEffect, String, String)> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let effect = match words.first() {
        Some(&"builds") => OnlineEffect::Builds,
        Some(&"drops") => OnlineEffect::Drops,
        _ => {
            return Err(malformed(
                line,
                "expected `builds <index>` or `drops <index>`",
            ))
        }
    };
    match words.as_slice() {
        [_, index] => Ok((effect, (*index).to_string(), String::new())),
        _ => Err(malformed(line, "expected exactly one index name")),
    }
}

fn finish((effect, index, statement): (OnlineEffect, String, String)) -> Result<OnlineStep> {
    let sql = statement.trim().to_string();
    let has_code = sql
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"));
    if !has_code {
        return Err(malformed(
            &format!("{DIRECTIVE} … {index}"),
            "no statement follows it",
        ));
    }
    Ok(OnlineStep { effect, index, sql })
}

fn malformed(line: &str, reason: &str) -> Error {
    Error::InvalidRequest {
        action: "read a migration script".into(),
        reason: format!("malformed directive {line:?}: {reason}"),
        target: "this build".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_without_directives_is_all_transactional() {
        let sql = "CREATE TABLE a (x int);\n-- a comment\n";
        let script = Script::parse(sql).unwrap();
        assert_eq!(script.transactional, sql);
        assert!(script.online.is_empty());
    }

    #[test]
    fn each_directive_starts_one_statement() {
        let sql = "-- head\n\
                   -- pycharter:online drops idx_old\n\
                   DROP INDEX CONCURRENTLY IF EXISTS idx_old;\n\
                   \n\
                   --   pycharter:online   builds   idx_new  \n\
                   CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_new\n    ON t (a);\n";
        let script = Script::parse(sql).unwrap();
        assert_eq!(script.transactional, "-- head\n");
        let got: Vec<_> = script
            .online
            .iter()
            .map(|s| (s.effect, s.index.as_str(), s.sql.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    OnlineEffect::Drops,
                    "idx_old",
                    "DROP INDEX CONCURRENTLY IF EXISTS idx_old;"
                ),
                (
                    OnlineEffect::Builds,
                    "idx_new",
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_new\n    ON t (a);"
                ),
            ]
        );
    }

    #[test]
    fn malformed_directives_are_rejected() {
        for bad in [
            "-- pycharter:online creates idx\nSELECT 1;",
            "-- pycharter:online builds\nSELECT 1;",
            "-- pycharter:online builds a b\nSELECT 1;",
            "-- pycharter:online builds idx\n-- only a comment\n",
        ] {
            let err = Script::parse(bad).unwrap_err();
            assert!(err.to_string().contains("malformed directive"), "{err}");
        }
    }

    #[test]
    fn pending_follows_the_catalog() {
        let build = OnlineStep {
            effect: OnlineEffect::Builds,
            index: "i".into(),
            sql: "x".into(),
        };
        let drop = OnlineStep {
            effect: OnlineEffect::Drops,
            ..build.clone()
        };
        let mut snapshot = CatalogSnapshot::default();
        assert!(build.pending(&snapshot) && !drop.pending(&snapshot));
        snapshot.invalid_indexes.insert("i".into());
        assert!(build.pending(&snapshot) && drop.pending(&snapshot));
        snapshot.invalid_indexes.clear();
        snapshot.indexes.insert("i".into());
        assert!(!build.pending(&snapshot) && drop.pending(&snapshot));
    }
}
