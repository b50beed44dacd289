//! How a core [`Error`] becomes an exit code and a JSON `kind`.

use pycharter_core::Error;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Invalid schema, failed check, refused or failed migration.
pub const EXIT_FAILED: u8 = 1;
/// Usage error, invalid URL, cannot connect (or cannot get the migration lock).
pub const EXIT_CANNOT_RUN: u8 = 2;

/// The exit code of a command that failed with `err`.
///
/// 2 when the command could not run at all: bad input, or the database could not be reached
/// or locked (a deploy script retries those); 1 when the database answered and the answer is
/// a refusal or a failure (a script must not blindly retry those).
pub fn exit_code(err: &Error) -> u8 {
    match err {
        Error::InvalidUrl { .. }
        | Error::InvalidVersion { .. }
        | Error::InvalidName { .. }
        | Error::LockTimeout { .. }
        | Error::TableLockTimeout { .. }
        // Pointed at a standby (or caught mid-failover): nothing ran, retrying can succeed.
        | Error::ReadOnlyServer { .. } => EXIT_CANNOT_RUN,
        other if other.is_connection() => EXIT_CANNOT_RUN,
        _ => EXIT_FAILED,
    }
}

/// The `kind` of the `{"error", "kind"}` document: the error variant in snake_case, stable
/// for scripts to match on.
pub fn kind(err: &Error) -> &'static str {
    match err {
        Error::NotInitialized { .. } => "not_initialized",
        Error::SchemaOutdated { .. } => "schema_outdated",
        Error::SchemaNewer { .. } => "schema_newer",
        Error::UnknownMigration { .. } => "unknown_migration",
        Error::MissingTables { .. } => "missing_tables",
        Error::MissingIndexes { .. } => "missing_indexes",
        Error::ChecksumDrift { .. } => "checksum_drift",
        Error::NotFound { .. } => "not_found",
        Error::VersionConflict { .. } => "version_conflict",
        Error::InvalidDocument { .. } => "invalid_document",
        Error::InvalidVersion { .. } => "invalid_version",
        Error::InvalidName { .. } => "invalid_name",
        Error::InvalidUrl { .. } => "invalid_url",
        Error::Unreachable { .. } => "unreachable",
        Error::DatabaseMissing { .. } => "database_missing",
        Error::ConnectTimeout { .. } => "connect_timeout",
        Error::AuthenticationFailed { .. } => "authentication_failed",
        Error::Tls { .. } => "tls",
        Error::LockTimeout { .. } => "lock_timeout",
        Error::ReadOnlyServer { .. } => "read_only_server",
        Error::TableLockTimeout { .. } => "table_lock_timeout",
        Error::InsufficientPrivilege { .. } => "insufficient_privilege",
        Error::MigrationFailed { .. } => "migration_failed",
        Error::DataLoss { .. } => "data_loss",
        Error::InvalidRequest { .. } => "invalid_request",
        Error::PostconditionFailed { .. } => "postcondition_failed",
        Error::Database { .. } => "database",
        // `Error` is non-exhaustive: a variant added later still gets a usable kind.
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn connection_and_input_errors_exit_2_refusals_exit_1() {
        let target = || "sqlite://t.db".to_string();
        let cannot_run = [
            Error::InvalidUrl {
                url: target(),
                reason: "x".into(),
                accepted: pycharter_core::UrlForms::Any,
            },
            Error::DatabaseMissing {
                database: "x".into(),
                target: target(),
                host: "h".into(),
                port: 5432,
                user: "u".into(),
            },
            Error::Unreachable {
                target: target(),
                reason: "x".into(),
            },
            Error::AuthenticationFailed {
                target: target(),
                reason: "x".into(),
            },
            Error::ConnectTimeout {
                target: target(),
                timeout: Duration::from_secs(1),
            },
            Error::LockTimeout {
                target: target(),
                waited: Duration::from_secs(1),
            },
            Error::TableLockTimeout {
                target: target(),
                reason: "x".into(),
                attempts: 3,
                waited: Duration::from_secs(1),
            },
        ];
        for err in &cannot_run {
            assert_eq!(exit_code(err), EXIT_CANNOT_RUN, "{err:?}");
        }
        let failed = [
            Error::NotInitialized { target: target() },
            Error::DataLoss {
                to: "base".into(),
                tables: vec![("schemas".into(), 1)],
                target: target(),
            },
            Error::ChecksumDrift {
                versions: vec!["1.0.0".into()],
                target: target(),
            },
            Error::Database {
                target: target(),
                reason: "x".into(),
            },
        ];
        for err in &failed {
            assert_eq!(exit_code(err), EXIT_FAILED, "{err:?}");
        }
        assert_eq!(kind(&failed[1]), "data_loss");
        assert_eq!(kind(&cannot_run[5]), "lock_timeout");
        assert_eq!(kind(&cannot_run[6]), "table_lock_timeout");
        assert_eq!(kind(&cannot_run[1]), "database_missing");
    }
}
