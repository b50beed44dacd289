//! Exit 0 means the database is sound: `initialize`, `upgrade` and `downgrade` check their
//! own result. On a damaged database (a table or an index gone, a drifted checksum, a row a
//! newer build recorded) each refuses with the validator's error and its fix, changing
//! nothing; whatever succeeds leaves a database `validate` accepts at the version asked for.

use crate::support::{fresh_at, open_raw, raw, schema_doc};
use crate::{BackendHarness, Damage};
use pycharter_core::{
    ArtifactKind, BundledMigration, DowngradeOptions, DowngradeTarget, Error, InitializeOptions,
    MetadataStoreExt, MigrationReport, MigrationStatus, Result, SchemaManager, SchemaState,
    UpgradeOptions, MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE,
};
use std::collections::BTreeSet;

/// A checksum no migration has.
const BOGUS_CHECKSUM: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// The mutating commands, as `pycharter db` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Init,
    InitForce,
    Upgrade,
    /// `downgrade --to` this build's version.
    DowngradeToCurrent,
}

const COMMANDS: [Command; 4] = [
    Command::Init,
    Command::InitForce,
    Command::Upgrade,
    Command::DowngradeToCurrent,
];

async fn run<S: SchemaManager>(
    store: &S,
    command: Command,
    dry_run: bool,
) -> Result<MigrationReport> {
    match command {
        Command::Init | Command::InitForce => {
            store
                .initialize(InitializeOptions {
                    force: command == Command::InitForce,
                    dry_run,
                })
                .await
        }
        Command::Upgrade => store.upgrade(UpgradeOptions { to: None, dry_run }).await,
        Command::DowngradeToCurrent => {
            store
                .downgrade(DowngradeOptions {
                    to: DowngradeTarget::Version(current()),
                    dry_run,
                    allow_data_loss: false,
                })
                .await
        }
    }
}

fn current() -> semver::Version {
    semver::Version::parse(SCHEMA_VERSION).expect("bundled versions parse")
}

/// What "changed nothing" compares: every table and index, and the version table.
async fn state<H: BackendHarness, S: SchemaManager>(
    h: &H,
    database: &str,
    store: &S,
) -> (BTreeSet<String>, Vec<MigrationStatus>) {
    (
        h.objects(database).await,
        store.history().await.expect("history"),
    )
}

/// Each of `commands`, really and as a dry run, fails with the error `validate` words for
/// the damage (`is_expected`), whose message is the validator's own (with its fix), and
/// changes nothing.
async fn assert_refused<H: BackendHarness, S: SchemaManager>(
    h: &H,
    database: &str,
    store: &S,
    commands: &[Command],
    is_expected: impl Fn(&Error) -> bool,
) {
    let info = store.validate().await.expect("validate");
    assert!(
        !info.valid,
        "the damage makes the database unsound: {info:?}"
    );
    for &command in commands {
        for dry_run in [false, true] {
            let before = state(h, database, store).await;
            let err = run(store, command, dry_run)
                .await
                .expect_err("a damaged database is refused");
            assert!(
                is_expected(&err),
                "{command:?} (dry run {dry_run}): {err:?}"
            );
            assert!(err.is_schema_state(), "{command:?}: {err:?}");
            assert_eq!(
                err.to_string(),
                info.message,
                "{command:?} says what `validate` says, with the same fix"
            );
            assert_eq!(
                state(h, database, store).await,
                before,
                "{command:?} (dry run {dry_run}) changed the database"
            );
        }
    }
}

/// A dropped table: `initialize` (without `force`), `upgrade` and `downgrade --to` the
/// current version refuse with `MissingTables` and `validate`'s message naming
/// `init --force`, changing nothing; `init --force` then recreates it and reports a sound
/// result.
pub async fn missing_table_fails_every_command_but_init_force<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    store
        .store_schema("orders", "1.0.0", &schema_doc("kept"))
        .await
        .expect("store");
    let table = ArtifactKind::Ownership.table();
    h.damage(&database, Damage::DropTable(table)).await;
    let store = open_raw(h, &database).await;
    let commands = [Command::Init, Command::Upgrade, Command::DowngradeToCurrent];
    assert_refused(
        h,
        &database,
        &store,
        &commands,
        |err| matches!(err, Error::MissingTables { tables, .. } if tables == &[table]),
    )
    .await;
    assert!(store
        .validate()
        .await
        .expect("validate")
        .message
        .contains("--force"));

    let report = run(&store, Command::InitForce, false)
        .await
        .expect("init --force repairs");
    let judged = report.postcondition.expect("checked");
    assert!(judged.sound, "{judged:?}");
    assert_eq!(judged.state, SchemaState::Valid);
    assert_eq!(judged.version.as_deref(), Some(SCHEMA_VERSION));
    assert!(store.validate().await.expect("validate").valid);
    assert_eq!(h.row_count(&database).await, 1, "the row is kept");
}

/// A dropped index: the same refusals with `MissingIndexes`; `init --force` rebuilds it.
pub async fn missing_index_fails_every_command_but_init_force<H: BackendHarness>(h: &H) {
    let (database, _store) = fresh_at(h).await;
    // The newest index: a plain index that no constraint depends on.
    let index = MIGRATIONS
        .iter()
        .flat_map(|m| m.indexes.iter())
        .last()
        .expect("the layout has indexes")
        .name;
    h.damage(&database, Damage::DropIndex(index)).await;
    let store = open_raw(h, &database).await;
    let commands = [Command::Init, Command::Upgrade, Command::DowngradeToCurrent];
    assert_refused(
        h,
        &database,
        &store,
        &commands,
        |err| matches!(err, Error::MissingIndexes { indexes, .. } if indexes == &[index]),
    )
    .await;

    let report = run(&store, Command::InitForce, false)
        .await
        .expect("init --force repairs");
    assert!(report.postcondition.expect("checked").sound);
    assert!(store.validate().await.expect("validate").valid);
}

/// A drifted checksum: every command, `init --force` included, refuses with
/// `ChecksumDrift` (the fix is a backup or the release that applied it, not a migration).
pub async fn drifted_checksum_fails_every_command<H: BackendHarness>(h: &H) {
    let (database, _store) = fresh_at(h).await;
    let first = MIGRATIONS[0].version;
    h.damage(
        &database,
        Damage::SetChecksum {
            version: first,
            checksum: BOGUS_CHECKSUM,
        },
    )
    .await;
    let store = open_raw(h, &database).await;
    assert_refused(
        h,
        &database,
        &store,
        &COMMANDS,
        |err| matches!(err, Error::ChecksumDrift { versions, .. } if versions == &[first]),
    )
    .await;
}

/// A row a newer build recorded without declaring it keeps this build working (`9.0.0`):
/// every command refuses with `SchemaNewer`.
pub async fn unknown_newer_row_fails_every_command<H: BackendHarness>(h: &H) {
    let (database, _store) = fresh_at(h).await;
    h.damage(
        &database,
        Damage::RecordVersion {
            version: "9.0.0",
            checksum: BOGUS_CHECKSUM,
        },
    )
    .await;
    let store = open_raw(h, &database).await;
    assert_refused(
        h,
        &database,
        &store,
        &COMMANDS,
        |err| matches!(err, Error::SchemaNewer { found, .. } if found == "9.0.0"),
    )
    .await;
}

/// Rows of a newer build that keep this build working (`NewerCompatible`) are sound:
/// `initialize` and `upgrade` change nothing and succeed, reporting that state; a
/// `downgrade` (only the newer build can revert its migrations) is refused.
pub async fn compatible_newer_rows_are_sound_for_init_and_upgrade<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let store = open_raw(h, &database).await;
    let newer: Vec<BundledMigration> = store
        .bundled_migrations()
        .iter()
        .cloned()
        .chain([
            BundledMigration::custom("1.99.0", "a compatible future table")
                .and_then(|m| m.with_compatibility(SCHEMA_VERSION))
                .expect("a valid custom migration")
                .with_table("future_notes")
                .with_sql(
                    "CREATE TABLE IF NOT EXISTS future_notes (id INTEGER PRIMARY KEY, note TEXT);",
                    "DROP TABLE IF EXISTS future_notes;",
                ),
        ])
        .collect();
    let new_build = h
        .open_with_migrations(&database, raw(), newer)
        .await
        .expect("open as the newer build");
    new_build
        .initialize(InitializeOptions::default())
        .await
        .expect("the newer build initializes");

    for command in [Command::Init, Command::Upgrade] {
        let report = run(&store, command, false)
            .await
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert!(report.steps.is_empty(), "{command:?}: {report:?}");
        let judged = report.postcondition.expect("checked");
        assert!(judged.sound, "{command:?}: {judged:?}");
        assert_eq!(judged.state, SchemaState::NewerCompatible);
    }
    let err = run(&store, Command::DowngradeToCurrent, false)
        .await
        .expect_err("only the newer build reverts its migrations");
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err:?}");
    assert!(store.validate().await.expect("validate").valid);
}

/// For every damage the suite can do and every mutating command: a command that succeeds
/// left a database `validate` accepts, and its report says so; a command that fails names
/// its fix. Never success over an unsound database.
pub async fn no_command_succeeds_on_a_database_left_unsound<H: BackendHarness>(h: &H) {
    let newest_index = MIGRATIONS
        .iter()
        .flat_map(|m| m.indexes.iter())
        .last()
        .expect("the layout has indexes")
        .name;
    let first = MIGRATIONS[0].version;
    let damages = [
        Damage::DropTable(ArtifactKind::Ownership.table()),
        Damage::DropTable(VERSION_TABLE),
        Damage::DropIndex(newest_index),
        Damage::SetChecksum {
            version: first,
            checksum: BOGUS_CHECKSUM,
        },
        Damage::RecordVersion {
            version: "9.0.0",
            checksum: BOGUS_CHECKSUM,
        },
        Damage::RecordVersion {
            version: "0.9.0",
            checksum: BOGUS_CHECKSUM,
        },
        Damage::ForgetVersion(SCHEMA_VERSION),
        Damage::ForgetVersion(first),
    ];
    let mut outcomes = Vec::new();
    for damage in damages {
        for command in COMMANDS {
            let (database, _store) = fresh_at(h).await;
            h.damage(&database, damage).await;
            let store = open_raw(h, &database).await;
            let result = run(&store, command, false).await;
            let info = store.validate().await.expect("validate");
            match result {
                Ok(report) => {
                    assert!(
                        info.valid,
                        "{command:?} succeeded after {damage:?} but validate says: {}",
                        info.message
                    );
                    let judged = report.postcondition.expect("checked");
                    assert!(judged.sound, "{command:?} after {damage:?}: {judged:?}");
                    outcomes.push(format!("{damage:?} {command:?}: ok"));
                }
                Err(err) => {
                    assert!(
                        err.to_string().contains("run: pycharter db"),
                        "{command:?} after {damage:?}: no fix in {err}"
                    );
                    assert!(!info.valid, "{command:?} after {damage:?} failed: {err}");
                    let outcome = match &err {
                        Error::PostconditionFailed { report, cause } => {
                            // The check after the run: what it found is what validate says.
                            assert_eq!(cause.to_string(), info.message);
                            let judged = report.postcondition.as_ref().expect("judged");
                            assert!(!judged.sound && judged.state == info.state);
                            "ran, unsound"
                        }
                        _ => "refused",
                    };
                    outcomes.push(format!("{damage:?} {command:?}: {outcome}"));
                }
            }
        }
    }
    // The repairs the commands can do are done: both sides of the rule are exercised.
    let ownership = ArtifactKind::Ownership.table();
    for expected in [
        format!("DropTable({ownership:?}) InitForce: ok"),
        format!("ForgetVersion({SCHEMA_VERSION:?}) Upgrade: ok"),
        format!("DropTable({ownership:?}) Upgrade: refused"),
        // 1.0.0's row deleted under 1.2.0: nothing to revert, and the check after finds
        // 1.0.0 pending.
        format!("ForgetVersion({first:?}) DowngradeToCurrent: ran, unsound"),
    ] {
        assert!(
            outcomes.contains(&expected),
            "{expected} not among {outcomes:#?}"
        );
    }
}

/// A dry run states what the check after the command would find: sound at the version
/// asked for (base: nothing recorded), and changes nothing.
pub async fn dry_runs_state_what_the_check_after_would_find<H: BackendHarness>(h: &H) {
    let (database, store) = fresh_at(h).await;
    let first = semver::Version::parse(MIGRATIONS[0].version).expect("a version");
    store
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(first.clone()),
            dry_run: false,
            allow_data_loss: false,
        })
        .await
        .expect("downgrade an empty database");
    let before = state(h, &database, &store).await;

    let upgrade = run(&store, Command::Upgrade, true).await.expect("dry run");
    let judged = upgrade.postcondition.expect("predicted");
    assert!(judged.sound, "{judged:?}");
    assert_eq!(judged.version.as_deref(), Some(SCHEMA_VERSION));
    assert_eq!(judged.state, SchemaState::Valid);

    let to_base = store
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Base,
            dry_run: true,
            allow_data_loss: false,
        })
        .await
        .expect("dry run");
    let judged = to_base.postcondition.expect("predicted");
    assert!(judged.sound && judged.version.is_none(), "{judged:?}");

    let stay = store
        .downgrade(DowngradeOptions {
            to: DowngradeTarget::Version(first.clone()),
            dry_run: true,
            allow_data_loss: false,
        })
        .await
        .expect("dry run");
    let judged = stay.postcondition.expect("predicted");
    assert!(
        judged.sound,
        "judged at {first}, not at {SCHEMA_VERSION}: {judged:?}"
    );
    assert_eq!(judged.version, Some(first.to_string()));
    assert_eq!(
        state(h, &database, &store).await,
        before,
        "dry runs change nothing"
    );
}
