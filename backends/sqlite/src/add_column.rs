//! `ALTER TABLE … ADD COLUMN IF NOT EXISTS`, which SQLite lacks.
//!
//! Every migration must be rerunnable (repair reruns it, and so does an upgrade after its
//! version row was deleted by hand), which takes `IF NOT EXISTS` on every DDL statement.
//! SQLite has it for tables and indexes, not for columns, so the migration files say
//! `ADD COLUMN IF NOT EXISTS` as PostgreSQL does, on a line of its own, and the executor
//! drops that line when the column is already there (and the `IF NOT EXISTS` otherwise).

use sqlx::SqliteConnection;

/// One `ALTER TABLE <table> ADD COLUMN IF NOT EXISTS <column> …;` line of a script.
#[derive(Debug, PartialEq, Eq)]
struct AddColumn<'a> {
    table: &'a str,
    column: &'a str,
    /// The line as SQLite runs it (without `IF NOT EXISTS`).
    statement: String,
}

/// The line's statement, when it is a conditional `ADD COLUMN` (plain identifiers only:
/// the migration files are ours).
fn parse(line: &str) -> Option<AddColumn<'_>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["ALTER", "TABLE", table, "ADD", "COLUMN", "IF", "NOT", "EXISTS", column, rest @ ..]
            if !rest.is_empty() =>
        {
            Some(AddColumn {
                table,
                column,
                statement: format!("ALTER TABLE {table} ADD COLUMN {column} {}", rest.join(" ")),
            })
        }
        _ => None,
    }
}

/// `script` as SQLite can run it on `conn`: each conditional `ADD COLUMN` line kept (without
/// `IF NOT EXISTS`) when the column is missing, dropped when it exists.
pub(crate) async fn resolve(
    conn: &mut SqliteConnection,
    script: &str,
) -> Result<String, sqlx::Error> {
    let mut resolved = String::with_capacity(script.len());
    for line in script.lines() {
        match parse(line) {
            None => resolved.push_str(line),
            Some(add) => {
                let exists: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                )
                .bind(add.table)
                .bind(add.column)
                .fetch_one(&mut *conn)
                .await?;
                if exists == 0 {
                    resolved.push_str(&add.statement);
                }
            }
        }
        resolved.push('\n');
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_conditional_add_column_lines_are_rewritten() {
        let add = parse("ALTER TABLE t ADD COLUMN IF NOT EXISTS c TEXT;").expect("parsed");
        assert_eq!((add.table, add.column), ("t", "c"));
        assert_eq!(add.statement, "ALTER TABLE t ADD COLUMN c TEXT;");
        assert_eq!(parse("ALTER TABLE t ADD COLUMN c TEXT;"), None);
        assert_eq!(
            parse("-- ALTER TABLE t ADD COLUMN IF NOT EXISTS c TEXT;"),
            None
        );
        assert_eq!(parse("CREATE TABLE IF NOT EXISTS t (c TEXT);"), None);
    }
}
