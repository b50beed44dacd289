//! Rendering: the human text and the JSON documents the commands print. Pure functions from
//! core's types to strings, so the formats are unit-tested without a database.

use crate::failure;
use pycharter_core::{
    AppliedMigration, BundledMigration, Direction, Error, MigrationReport, MigrationState,
    MigrationStatus, SchemaInfo, ServerRole, StepReport,
};
use serde::Serialize;
use serde_json::json;

/// One JSON document, pretty-printed, newline-terminated.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serialising core's plain data types cannot fail (string keys, no non-finite floats);
    // should it ever, the error still comes out as a JSON document.
    match serde_json::to_string_pretty(value) {
        Ok(text) => text + "\n",
        Err(err) => format!(
            "{}\n",
            json!({"error": err.to_string(), "kind": "internal"})
        ),
    }
}

/// `{"error": "<message>", "kind": "<kind>"}`, the message as `command` shows it; a command
/// that ran but left the database unsound adds `"cause"` (the kind of the validator's error)
/// and `"report"` (what it did).
pub fn error_json(err: &Error, command: &str) -> String {
    let mut doc = json!({"error": err.message_for_command(command), "kind": failure::kind(err)});
    if let Error::PostconditionFailed { report, cause } = err {
        doc["cause"] = json!(failure::kind(cause));
        doc["report"] = json!(report);
    }
    to_json(&doc)
}

/// The report of `init` / `upgrade` / `downgrade`: its message, then one line per step; in a
/// dry run each step is followed by the SQL it would run, and a last line says what the
/// check after the command would find.
pub fn report(report: &MigrationReport) -> String {
    let mut out = format!("{}\n", report.message);
    for step in &report.steps {
        if report.dry_run {
            out += &format!(
                "\n-- would {} {}  {}\n",
                verb_present(step.direction),
                step.version,
                step.description
            );
            if let Some(sql) = &step.sql {
                out += sql.trim_end();
                out += "\n";
            }
        } else {
            out += &step_line(step);
        }
    }
    if let (true, Some(check)) = (report.dry_run, &report.postcondition) {
        let verdict = if check.sound { "sound" } else { "NOT sound" };
        out += &format!(
            "\nAfterwards the database would be {verdict}: {}\n",
            check.message
        );
    }
    out
}

fn step_line(step: &StepReport) -> String {
    let took = step
        .duration_ms
        .map(|ms| format!(" ({ms} ms)"))
        .unwrap_or_default();
    format!(
        "  {} {}  {}{took}\n",
        verb_past(step.direction),
        step.version,
        step.description
    )
}

fn verb_past(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "applied",
        Direction::Down => "reverted",
        Direction::Repair => "repaired",
    }
}

fn verb_present(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "apply",
        Direction::Down => "revert",
        Direction::Repair => "repair",
    }
}

/// `check`: the message (which names the fix), then what exactly is missing or pending.
pub fn schema_info(info: &SchemaInfo) -> String {
    let mut out = format!("{}\n", info.message);
    if info.valid {
        return out;
    }
    for table in &info.missing_tables {
        out += &format!("  missing table: {table}\n");
    }
    for index in &info.missing_indexes {
        out += &format!("  missing index: {index}\n");
    }
    for version in &info.pending {
        out += &format!("  pending migration: {version}\n");
    }
    for version in &info.drifted {
        out += &format!("  drifted migration: {version}\n");
    }
    out
}

/// `grants`: a comment saying who runs them, then one statement per line (pipe it to psql).
pub fn grants(role: &str, statements: &[String]) -> String {
    let mut out = format!(
        "-- Least rights of the application role {role:?}: run as the deploy role that owns \
         the tables.\n"
    );
    for statement in statements {
        out += statement;
        out += "\n";
    }
    out
}

/// `current --json`: `{"database", "version", "applied_at", "server_role"}` (nulls when
/// uninitialized; `server_role` null when it could not be read).
pub fn current_json(
    database: &str,
    current: Option<&AppliedMigration>,
    server_role: Option<ServerRole>,
) -> String {
    to_json(&json!({
        "database": database,
        "version": current.map(|m| &m.version),
        "applied_at": current.map(|m| m.applied_at),
        "server_role": server_role,
    }))
}

/// The stderr line of `current` and `history` on a server that refuses writes (stdout stays
/// what scripts parse).
pub fn read_only_note(database: &str, server_role: Option<ServerRole>) -> String {
    match server_role {
        Some(role) if role.is_read_only() => format!(
            "note: {database} is a {}: reads work; writes and migrations need the primary, e.g. target_session_attrs=read-write\n",
            role.describe()
        ),
        _ => String::new(),
    }
}

/// `current`: the version alone (easy to capture in a script), or how to initialize.
pub fn current(database: &str, current: Option<&AppliedMigration>) -> String {
    match current {
        Some(m) => format!("{}\n", m.version),
        None => format!("{database}: not initialized — run: pycharter db init {database}\n"),
    }
}

/// One entry of `history` when no database was named: what this binary bundles. Same fields
/// as core's [`MigrationStatus`], with `state` always `"bundled"` (core's enum has no such
/// state: it describes a database).
#[derive(Debug, Serialize)]
pub struct BundledStatus {
    /// Version string.
    pub version: String,
    /// Description.
    pub description: String,
    /// Always `"bundled"`.
    pub state: &'static str,
    /// Always null: nothing was applied anywhere.
    pub applied_at: Option<String>,
    /// Always null.
    pub execution_ms: Option<i64>,
    /// Checksum of the bundled SQL.
    pub checksum: String,
    /// Always null: there is no recorded checksum to compare.
    pub checksum_ok: Option<bool>,
    /// The oldest layout whose binaries keep working with it applied, as declared.
    pub compatible_with: Option<String>,
}

impl From<&BundledMigration> for BundledStatus {
    fn from(m: &BundledMigration) -> Self {
        BundledStatus {
            version: m.version.to_string(),
            description: m.description.clone(),
            state: "bundled",
            applied_at: None,
            execution_ms: None,
            checksum: m.checksum.clone(),
            checksum_ok: None,
            compatible_with: Some(m.compatible_with.to_string()),
        }
    }
}

/// `history` of a database, as a table.
pub fn history(statuses: &[MigrationStatus]) -> String {
    let rows = statuses.iter().map(|s| {
        [
            s.version.clone(),
            s.description.clone(),
            s.applied_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "-".into()),
            state_label(s.state).into(),
            match s.checksum_ok {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        ]
    });
    table(rows.collect())
}

/// `history` without a database: the bundled migrations, as a table.
pub fn bundled_history(statuses: &[BundledStatus]) -> String {
    let rows = statuses.iter().map(|s| {
        [
            s.version.clone(),
            s.description.clone(),
            "-".into(),
            s.state.into(),
            "-".into(),
        ]
    });
    table(rows.collect())
}

fn state_label(state: MigrationState) -> &'static str {
    match state {
        MigrationState::Applied => "applied",
        MigrationState::Pending => "pending",
        MigrationState::Drifted => "DRIFTED",
        MigrationState::Unknown => "UNKNOWN",
    }
}

/// Left-aligned columns separated by two spaces, under a header.
fn table(rows: Vec<[String; 5]>) -> String {
    let header = [
        "VERSION",
        "DESCRIPTION",
        "APPLIED AT",
        "STATE",
        "CHECKSUM OK",
    ]
    .map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out += cells.join("  ").trim_end();
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pycharter_core::{plan::plan_upgrade, spec::bundle_logical};

    fn dry_run_report() -> MigrationReport {
        let bundled = bundle_logical("test");
        let plan = plan_upgrade(&bundled, &[], None, "sqlite://t.db").unwrap();
        MigrationReport::new("init", "sqlite://t.db", &plan, true, &[])
    }

    #[test]
    fn report_lists_each_step_with_its_duration() {
        let bundled = bundle_logical("test");
        let plan = plan_upgrade(&bundled, &[], None, "sqlite://t.db").unwrap();
        let text = report(&MigrationReport::new(
            "init",
            "sqlite://t.db",
            &plan,
            false,
            &[12, 3, 1],
        ));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].contains("initialized, base → 1.2.0 (applied 3 migrations)"),
            "{text}"
        );
        assert_eq!(
            lines[1],
            "  applied 1.0.0  Create the metadata tables and their indexes (12 ms)"
        );
        assert!(lines[2].starts_with("  applied 1.1.0  ") && lines[2].ends_with("(3 ms)"));
    }

    #[test]
    fn dry_run_report_prints_the_sql() {
        let text = report(&dry_run_report());
        assert!(text.starts_with("Dry run, nothing changed:"), "{text}");
        assert!(text.contains("-- would apply 1.0.0  Create the metadata tables"));
        assert!(text.contains("-- test: create tables [schemas"), "{text}");
    }

    #[test]
    fn dry_run_report_says_what_the_check_after_would_find() {
        let mut dry = dry_run_report();
        dry.postcondition = Some(pycharter_core::Postcondition {
            sound: true,
            version: Some("1.2.0".into()),
            state: pycharter_core::SchemaState::Valid,
            message: "Schema is valid: sqlite://t.db is at 1.2.0, as this build expects".into(),
        });
        let text = report(&dry);
        assert!(
            text.ends_with("\nAfterwards the database would be sound: Schema is valid: sqlite://t.db is at 1.2.0, as this build expects\n"),
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&to_json(&dry)).unwrap();
        assert_eq!(value["postcondition"]["sound"], true);
        assert_eq!(value["postcondition"]["state"], "valid");
    }

    #[test]
    fn an_unsound_result_is_a_json_error_with_its_cause_and_the_report() {
        let bundled = bundle_logical("test");
        let plan = plan_upgrade(&bundled, &[], None, "sqlite://t.db").unwrap();
        let err = Error::PostconditionFailed {
            report: Box::new(MigrationReport::new(
                "init",
                "sqlite://t.db",
                &plan,
                false,
                &[1, 1, 1],
            )),
            cause: Box::new(Error::MissingTables {
                tables: vec!["ownership".into()],
                target: "sqlite://t.db".into(),
            }),
        };
        let value: serde_json::Value = serde_json::from_str(&error_json(&err, "init")).unwrap();
        assert_eq!(value["kind"], "postcondition_failed");
        assert_eq!(value["cause"], "missing_tables");
        assert_eq!(value["report"]["steps"].as_array().map(Vec::len), Some(3));
        assert!(value["error"]
            .as_str()
            .unwrap()
            .ends_with("but the database is not sound: Missing tables: ownership — run: pycharter db init sqlite://t.db --force"));
    }

    #[test]
    fn check_output_lists_what_is_missing() {
        let info = SchemaInfo {
            valid: false,
            state: pycharter_core::SchemaState::MissingTables,
            version: Some("1.2.0".into()),
            expected_version: "1.2.0".into(),
            missing_tables: vec!["ownership".into()],
            missing_indexes: vec!["idx_ownership_schema_id".into()],
            invalid_indexes: vec![],
            pending: vec![],
            drifted: vec![],
            incompatible: None,
            database: "sqlite://t.db".into(),
            server_role: pycharter_core::ServerRole::Primary,
            message: "Missing tables: ownership — run: pycharter db init sqlite://t.db --force"
                .into(),
        };
        let text = schema_info(&info);
        assert!(text.contains("  missing table: ownership\n"), "{text}");
        assert!(text.contains("  missing index: idx_ownership_schema_id\n"));
    }

    #[test]
    fn history_table_aligns_columns() {
        let bundled = bundle_logical("test");
        let statuses: Vec<BundledStatus> = bundled.iter().map(BundledStatus::from).collect();
        let text = bundled_history(&statuses);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + bundled.len());
        let state_col = lines[0].find("STATE").unwrap();
        assert_eq!(lines[1].find("bundled"), Some(state_col), "{text}");
        assert_eq!(lines[2].find("bundled"), Some(state_col), "{text}");
    }

    #[test]
    fn bundled_json_has_the_fields_of_migration_status() {
        let bundled = bundle_logical("test");
        let status = BundledStatus::from(&bundled[0]);
        let value: serde_json::Value = serde_json::from_str(&to_json(&status)).unwrap();
        assert_eq!(value["state"], "bundled");
        assert_eq!(value["version"], "1.0.0");
        assert_eq!(value["compatible_with"], "1.0.0");
        assert!(value["applied_at"].is_null());
    }

    #[test]
    fn current_json_has_nulls_when_uninitialized() {
        let value: serde_json::Value =
            serde_json::from_str(&current_json("sqlite://t.db", None, None)).unwrap();
        assert_eq!(value["database"], "sqlite://t.db");
        assert!(value["version"].is_null() && value["applied_at"].is_null());
    }
}
