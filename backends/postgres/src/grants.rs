//! The `GRANT` statements of the application role (`pycharter db grants`): core's
//! [`application_rights`] rendered for PostgreSQL.
//!
//! The application role reads and writes metadata and never changes the layout: with these
//! rights it can `connect` (validation only) and do every store operation, and nothing else
//! (`backends/postgres/tests/privileges.rs` applies them to a fresh role and runs the store
//! part of the conformance suite through it). Migrations stay with the deploy role that
//! owns the tables.

use crate::url::{quote_ident, settings};
use pycharter_core::{application_rights, ConnectOptions, Result};

/// The namespace the tables are in when none is configured: PostgreSQL's default schema.
pub const DEFAULT_NAMESPACE: &str = "public";

/// The statements that give `role` the application role's rights on the layout in
/// `namespace` (and, when `database` is given, `CONNECT` on it), one per line, each ending
/// in `;`. Identifiers are quoted, so any role or namespace name is safe to pass.
///
/// ```
/// let grants = pycharter_postgres::application_grants("app", Some("meta"), "public");
/// assert_eq!(grants[0], r#"GRANT CONNECT ON DATABASE "meta" TO "app";"#);
/// assert!(grants.contains(&r#"GRANT SELECT, INSERT, DELETE ON TABLE "public"."schemas" TO "app";"#.to_string()));
/// assert!(grants.contains(&r#"GRANT USAGE ON SEQUENCE "public"."schemas_id_seq" TO "app";"#.to_string()));
/// ```
pub fn application_grants(role: &str, database: Option<&str>, namespace: &str) -> Vec<String> {
    let role = quote_ident(role);
    let schema = quote_ident(namespace);
    let mut statements = Vec::new();
    if let Some(database) = database {
        statements.push(format!(
            "GRANT CONNECT ON DATABASE {} TO {role};",
            quote_ident(database)
        ));
    }
    statements.push(format!("GRANT USAGE ON SCHEMA {schema} TO {role};"));
    for table in application_rights() {
        let rights: Vec<&str> = table.rights.iter().map(|r| r.keyword()).collect();
        statements.push(format!(
            "GRANT {} ON TABLE {schema}.{} TO {role};",
            rights.join(", "),
            quote_ident(&table.table)
        ));
        if table.generated_ids {
            // `id BIGSERIAL` (every table of the layout, checked by this module's tests) owns
            // the sequence `<table>_id_seq`; nextval() needs USAGE on it.
            statements.push(format!(
                "GRANT USAGE ON SEQUENCE {schema}.{} TO {role};",
                quote_ident(&format!("{}_id_seq", table.table))
            ));
        }
    }
    statements
}

/// The name of the database `url` points at (its path; as libpq, the user name when the
/// URL names none), for [`application_grants`]. Parses only, connects nowhere.
///
/// ```
/// let name = pycharter_postgres::database_name("postgres://deploy:pw@db:5432/meta")?;
/// assert_eq!(name, "meta");
/// # Ok::<(), pycharter_core::Error>(())
/// ```
pub fn database_name(url: &str) -> Result<String> {
    let parsed = settings(url, &ConnectOptions::default())?;
    let options = &parsed.candidates[0].options;
    Ok(options
        .get_database()
        .unwrap_or(options.get_username())
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostgresMetadataStore;

    #[test]
    fn every_table_with_generated_ids_is_created_with_a_bigserial_id() {
        let sql: String = PostgresMetadataStore::migrations()
            .iter()
            .map(|m| m.up_sql.clone())
            .collect();
        for table in application_rights().iter().filter(|t| t.generated_ids) {
            let create = format!("CREATE TABLE IF NOT EXISTS {} (\n    id ", table.table);
            let at = sql.find(&create).unwrap_or_else(|| panic!("{create}"));
            assert!(
                sql[at + create.len()..]
                    .trim_start()
                    .starts_with("BIGSERIAL"),
                "{} must have id BIGSERIAL for its sequence to be {}_id_seq",
                table.table,
                table.table
            );
        }
    }

    #[test]
    fn hostile_names_are_quoted() {
        let grants = application_grants(r#"a"; DROP ROLE x; --"#, None, "ns");
        assert!(
            grants[0].ends_with(r#"TO "a""; DROP ROLE x; --";"#),
            "{grants:?}"
        );
    }
}
