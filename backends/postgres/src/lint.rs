//! A lint for PostgreSQL migrations: it rejects the forms that stall the application's
//! writes (or reads) on a table that already exists, as squawk and Rails' strong_migrations
//! do. `tests/migration_lint.rs` runs it over the bundled migrations in `cargo test`, so a
//! future migration cannot reintroduce the stall that 1.1.0's first plain `CREATE INDEX`
//! caused (every insert waited for the whole index build).
//!
//! | rule | why | instead |
//! |---|---|---|
//! | `plain-create-index` | `CREATE INDEX` holds a SHARE lock, blocking writes, for the whole build | `CREATE INDEX CONCURRENTLY`, as an online statement |
//! | `volatile-default` | `ADD COLUMN … DEFAULT random()` (or a serial, identity or stored generated column) rewrites the table under ACCESS EXCLUSIVE | add the column without default, backfill in batches, then set the default |
//! | `not-null-without-default` | `ADD COLUMN … NOT NULL` without a default fails on a table with rows, or needs it empty | a default, or nullable then a validated `CHECK (col IS NOT NULL)` |
//! | `column-type-change` | `ALTER COLUMN … TYPE` rewrites the table (and its indexes) under ACCESS EXCLUSIVE | a new column, backfilled, then switched to |
//! | `foreign-key-not-validated` | `ADD FOREIGN KEY` scans the table under a lock that blocks writes to both tables | `ADD CONSTRAINT … NOT VALID`, then `VALIDATE CONSTRAINT` in the same migration |
//! | `concurrently-in-transaction` | a `CONCURRENTLY` statement cannot run inside the migration transaction | put it after a `-- pycharter:online` directive |
//!
//! A table created by the same migration is exempt from the first five: nothing else can
//! see it yet. The lint reads SQL with a small lexer (comments, literals, dollar quotes and
//! quoted identifiers are understood), not a full parser: it is meant for migrations written
//! in the plain style of `migrations/`.

mod tokens;

use pycharter_core::{BundledMigration, Script};
use std::collections::BTreeSet;
use std::fmt;
use tokens::{statements, Statement, Token};

/// A rule of the lint (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `CREATE INDEX` without `CONCURRENTLY` on an existing table.
    PlainCreateIndex,
    /// `ADD COLUMN` whose value is computed per row (volatile default, serial, identity,
    /// stored generated column): a table rewrite.
    VolatileDefault,
    /// `ADD COLUMN … NOT NULL` without a default.
    NotNullWithoutDefault,
    /// `ALTER COLUMN … TYPE`.
    ColumnTypeChange,
    /// A foreign key added to an existing table without `NOT VALID` + `VALIDATE CONSTRAINT`.
    ForeignKeyNotValidated,
    /// A `CONCURRENTLY` statement in the transactional part of a script.
    ConcurrentlyInTransaction,
}

impl Rule {
    /// The rule's name, as findings print it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::PlainCreateIndex => "plain-create-index",
            Rule::VolatileDefault => "volatile-default",
            Rule::NotNullWithoutDefault => "not-null-without-default",
            Rule::ColumnTypeChange => "column-type-change",
            Rule::ForeignKeyNotValidated => "foreign-key-not-validated",
            Rule::ConcurrentlyInTransaction => "concurrently-in-transaction",
        }
    }

    /// What to write instead.
    pub fn advice(self) -> &'static str {
        match self {
            Rule::PlainCreateIndex => "it blocks every write to the table for the whole build; use CREATE INDEX CONCURRENTLY after a `-- pycharter:online builds <index>` directive",
            Rule::VolatileDefault => "it rewrites the whole table under ACCESS EXCLUSIVE; add the column without a default, backfill it in batches, then SET DEFAULT",
            Rule::NotNullWithoutDefault => "it fails on a table with rows; give it a constant default, or add it nullable and enforce it with CHECK (col IS NOT NULL) NOT VALID + VALIDATE CONSTRAINT",
            Rule::ColumnTypeChange => "it rewrites the table and its indexes under ACCESS EXCLUSIVE; add a new column, backfill it, then switch over",
            Rule::ForeignKeyNotValidated => "validating it scans the table while writes to both tables wait; ADD CONSTRAINT … NOT VALID, then ALTER TABLE … VALIDATE CONSTRAINT … in the same migration",
            Rule::ConcurrentlyInTransaction => "it cannot run inside the migration transaction; put it after a `-- pycharter:online builds|drops <index>` directive",
        }
    }
}

/// One rejected statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The migration it is in, and `up` or `down`.
    pub location: String,
    /// The rule it breaks.
    pub rule: Rule,
    /// The statement (whitespace collapsed).
    pub statement: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [{}]: {}",
            self.location,
            self.statement,
            self.rule.name(),
            self.rule.advice()
        )
    }
}

/// Lints a migration's up and down scripts.
///
/// ```
/// use pycharter_core::BundledMigration;
/// use pycharter_postgres::lint::{lint, Rule};
/// let m = BundledMigration::custom("1.2.0", "index")?
///     .with_sql("CREATE INDEX idx_schemas_created ON schemas (created_at);", "");
/// let findings = lint(&m);
/// assert_eq!(findings[0].rule, Rule::PlainCreateIndex);
/// # Ok::<(), pycharter_core::Error>(())
/// ```
pub fn lint(migration: &BundledMigration) -> Vec<Finding> {
    let mut findings = lint_script(&format!("{} up", migration.version), &migration.up);
    findings.extend(lint_script(
        &format!("{} down", migration.version),
        &migration.down,
    ));
    findings
}

/// Lints one script; `location` names it in the findings.
pub fn lint_script(location: &str, script: &Script) -> Vec<Finding> {
    let transactional = statements(&script.transactional);
    let online: Vec<Statement> = script
        .online
        .iter()
        .flat_map(|s| statements(&s.sql))
        .collect();
    let all: Vec<&Statement> = transactional.iter().chain(&online).collect();
    let created = created_tables(&all);
    let validated = validated_constraints(&all);
    let mut findings = Vec::new();
    let mut report = |rule: Rule, statement: &Statement| {
        findings.push(Finding {
            location: location.to_string(),
            rule,
            statement: statement.text.clone(),
        });
    };
    for statement in &transactional {
        if statement.tokens.iter().any(|t| t.is("CONCURRENTLY")) {
            report(Rule::ConcurrentlyInTransaction, statement);
        }
    }
    for statement in all {
        for rule in check(statement, &created, &validated) {
            report(rule, statement);
        }
    }
    findings
}

/// Tables the script creates (`CREATE [UNLOGGED] TABLE [IF NOT EXISTS] name`).
fn created_tables(all: &[&Statement]) -> BTreeSet<String> {
    all.iter()
        .filter_map(|s| {
            let t = &s.tokens;
            let table_at = t.iter().position(|x| x.is("TABLE"))?;
            let creates = t.first()?.is("CREATE") && table_at <= 3;
            creates.then(|| object_name(t, table_at + 1)).flatten()
        })
        .collect()
}

/// Constraints the script validates (`ALTER TABLE … VALIDATE CONSTRAINT name`).
fn validated_constraints(all: &[&Statement]) -> BTreeSet<String> {
    all.iter()
        .flat_map(|s| {
            s.tokens
                .windows(3)
                .filter(|w| w[0].is("VALIDATE") && w[1].is("CONSTRAINT"))
                .filter_map(|w| w[2].name())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The rules `statement` breaks.
fn check(
    statement: &Statement,
    created: &BTreeSet<String>,
    validated: &BTreeSet<String>,
) -> Vec<Rule> {
    let t = &statement.tokens;
    let existing = |name: Option<String>| name.is_some_and(|n| !created.contains(&n));
    if t.first().is_some_and(|x| x.is("CREATE")) {
        let Some(index_at) = t.iter().take(3).position(|x| x.is("INDEX")) else {
            return Vec::new();
        };
        let concurrent = t.get(index_at + 1).is_some_and(|x| x.is("CONCURRENTLY"));
        let on = t.iter().position(|x| x.is("ON"));
        let table = on.and_then(|at| {
            let skip = usize::from(t.get(at + 1).is_some_and(|x| x.is("ONLY")));
            object_name(t, at + 1 + skip)
        });
        return if !concurrent && existing(table) {
            vec![Rule::PlainCreateIndex]
        } else {
            Vec::new()
        };
    }
    let alters_table = t.len() > 2 && t[0].is("ALTER") && t[1].is("TABLE");
    if !alters_table {
        return Vec::new();
    }
    let mut at = 2;
    while t
        .get(at)
        .is_some_and(|x| x.is("IF") || x.is("EXISTS") || x.is("ONLY"))
    {
        at += 1;
    }
    if !existing(object_name(t, at)) {
        return Vec::new();
    }
    actions(&t[at..])
        .into_iter()
        .flat_map(|action| check_action(action, validated))
        .collect()
}

/// The comma-separated actions of an `ALTER TABLE` (after the table name).
fn actions(t: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, tok) in t.iter().enumerate() {
        match tok {
            Token::Symbol('(') => depth += 1,
            Token::Symbol(')') => depth -= 1,
            Token::Symbol(',') if depth == 0 => {
                out.push(&t[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&t[start..]);
    out
}

fn check_action(a: &[Token], validated: &BTreeSet<String>) -> Vec<Rule> {
    let has = |word: &str| a.iter().any(|x| x.is(word));
    let mut rules = Vec::new();
    let add_column = a.iter().position(|x| x.is("ADD")).is_some_and(|i| {
        let next = a.get(i + 1);
        next.is_some_and(|x| x.is("COLUMN"))
            || next.is_some_and(|x| {
                !(x.is("CONSTRAINT")
                    || x.is("FOREIGN")
                    || x.is("CHECK")
                    || x.is("UNIQUE")
                    || x.is("PRIMARY")
                    || x.is("EXCLUDE"))
            })
    });
    if add_column {
        let default = a.iter().position(|x| x.is("DEFAULT"));
        let per_row = default.is_some_and(|d| volatile_call(&a[d + 1..]))
            || a.iter().any(|x| {
                x.is("SERIAL")
                    || x.is("BIGSERIAL")
                    || x.is("SMALLSERIAL")
                    || x.is("SERIAL4")
                    || x.is("SERIAL8")
                    || x.is("SERIAL2")
            })
            || has("GENERATED");
        if per_row {
            rules.push(Rule::VolatileDefault);
        }
        let not_null = a.windows(2).any(|w| w[0].is("NOT") && w[1].is("NULL"));
        if not_null && default.is_none() && !has("GENERATED") {
            rules.push(Rule::NotNullWithoutDefault);
        }
        if has("REFERENCES") {
            // An inline foreign key on a new column cannot be NOT VALID.
            rules.push(Rule::ForeignKeyNotValidated);
        }
        return rules;
    }
    // (The first action starts with the table name: look for the keyword anywhere.)
    let alter_column = has("ALTER");
    if alter_column && has("TYPE") {
        rules.push(Rule::ColumnTypeChange);
    }
    if has("FOREIGN") && has("REFERENCES") {
        let not_valid = a.windows(2).any(|w| w[0].is("NOT") && w[1].is("VALID"));
        let name = a
            .windows(2)
            .find(|w| w[0].is("CONSTRAINT"))
            .and_then(|w| w[1].name());
        let will_validate = name.is_some_and(|n| validated.contains(&n));
        if !(not_valid && will_validate) {
            rules.push(Rule::ForeignKeyNotValidated);
        }
    }
    rules
}

/// Volatile functions: their default is computed for every existing row (a table rewrite).
/// `now()` and `current_timestamp` are stable: evaluated once, no rewrite.
const VOLATILE: &[&str] = &[
    "RANDOM",
    "CLOCK_TIMESTAMP",
    "TIMEOFDAY",
    "GEN_RANDOM_UUID",
    "UUID_GENERATE_V1",
    "UUID_GENERATE_V1MC",
    "UUID_GENERATE_V4",
    "NEXTVAL",
    "SETSEED",
    "TXID_CURRENT",
    "PG_CURRENT_XACT_ID",
];

/// Whether `expr` calls a volatile function (a name followed by `(`).
fn volatile_call(expr: &[Token]) -> bool {
    expr.windows(2).any(|w| {
        matches!(&w[0], Token::Word(name) if VOLATILE.contains(&name.as_str()))
            && w[1] == Token::Symbol('(')
    })
}

/// The (unqualified) object name starting at `at`: `name` or `schema.name`.
fn object_name(t: &[Token], at: usize) -> Option<String> {
    let mut at = at;
    while t
        .get(at)
        .is_some_and(|x| x.is("IF") || x.is("NOT") || x.is("EXISTS"))
    {
        at += 1;
    }
    let first = t.get(at)?.name()?;
    match (t.get(at + 1), t.get(at + 2)) {
        (Some(Token::Symbol('.')), Some(second)) => second.name(),
        _ => Some(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(up: &str) -> Vec<Rule> {
        let m = BundledMigration::custom("9.9.9", "t")
            .unwrap()
            .with_sql(up, "");
        lint(&m).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn each_rule_fires_on_its_example() {
        let cases = [
            (
                "CREATE INDEX idx_s ON schemas (created_at);",
                Rule::PlainCreateIndex,
            ),
            (
                "create unique index if not exists idx_s on public.schemas using btree (name);",
                Rule::PlainCreateIndex,
            ),
            (
                "ALTER TABLE schemas ADD COLUMN token uuid DEFAULT gen_random_uuid();",
                Rule::VolatileDefault,
            ),
            ("ALTER TABLE schemas ADD seq bigserial;", Rule::VolatileDefault),
            (
                "ALTER TABLE schemas ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;",
                Rule::VolatileDefault,
            ),
            (
                "ALTER TABLE schemas ADD COLUMN owner text NOT NULL;",
                Rule::NotNullWithoutDefault,
            ),
            (
                "ALTER TABLE schemas ALTER COLUMN name TYPE varchar(300);",
                Rule::ColumnTypeChange,
            ),
            (
                "ALTER TABLE schemas ALTER name SET DATA TYPE varchar(300);",
                Rule::ColumnTypeChange,
            ),
            (
                "ALTER TABLE ownership ADD CONSTRAINT fk_o FOREIGN KEY (schema_id) REFERENCES schemas (id);",
                Rule::ForeignKeyNotValidated,
            ),
            (
                "ALTER TABLE ownership ADD CONSTRAINT fk_o FOREIGN KEY (schema_id) REFERENCES schemas (id) NOT VALID;",
                Rule::ForeignKeyNotValidated,
            ),
            (
                "ALTER TABLE ownership ADD COLUMN parent bigint REFERENCES schemas (id);",
                Rule::ForeignKeyNotValidated,
            ),
            (
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_s ON schemas (name);",
                Rule::ConcurrentlyInTransaction,
            ),
        ];
        for (sql, rule) in cases {
            assert_eq!(rules(sql), vec![rule], "{sql}");
        }
    }

    #[test]
    fn the_safe_forms_pass() {
        for sql in [
            "-- pycharter:online builds idx_s\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_s ON schemas (name);",
            "ALTER TABLE schemas ADD COLUMN note text;",
            "ALTER TABLE schemas ADD COLUMN seen_at timestamptz DEFAULT now();",
            "ALTER TABLE schemas ADD COLUMN state text NOT NULL DEFAULT 'active';",
            "ALTER TABLE ownership ADD CONSTRAINT fk_o FOREIGN KEY (schema_id) REFERENCES schemas (id) NOT VALID;\n\
             ALTER TABLE ownership VALIDATE CONSTRAINT fk_o;",
            "ALTER TABLE schemas ALTER COLUMN note SET DEFAULT 'x';",
            // Mentions in comments and literals are not statements.
            "-- CREATE INDEX idx_x ON schemas (a);\nCOMMENT ON TABLE schemas IS 'CREATE INDEX x ON schemas (a)';",
        ] {
            assert_eq!(rules(sql), Vec::<Rule>::new(), "{sql}");
        }
    }

    #[test]
    fn a_table_created_by_the_same_migration_is_exempt() {
        let sql = "CREATE TABLE IF NOT EXISTS audit (id bigserial PRIMARY KEY, schema_id bigint);\n\
                   CREATE INDEX IF NOT EXISTS idx_audit ON audit (schema_id);\n\
                   ALTER TABLE audit ADD COLUMN at timestamptz NOT NULL;\n\
                   ALTER TABLE audit ADD CONSTRAINT fk_a FOREIGN KEY (schema_id) REFERENCES schemas (id);";
        assert_eq!(rules(sql), Vec::<Rule>::new());
    }

    #[test]
    fn findings_name_the_migration_the_statement_and_the_fix() {
        let m = BundledMigration::custom("1.3.0", "t")
            .unwrap()
            .with_sql("", "ALTER TABLE  schemas\n  ALTER COLUMN name TYPE text;");
        let found = lint(&m);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            format!(
                "1.3.0 down: ALTER TABLE schemas ALTER COLUMN name TYPE text [column-type-change]: {}",
                Rule::ColumnTypeChange.advice()
            )
        );
    }
}
