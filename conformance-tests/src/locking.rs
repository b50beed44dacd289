//! The migration lock: a deployer that cannot take it within `lock_timeout` gives up with
//! `LockTimeout` and changes nothing; without a lock timeout, deployers queue.

use crate::support::{all_versions, open_raw, raw};
use crate::BackendHarness;
use pycharter_core::{
    ConnectOptions, Error, InitializeOptions, SchemaManager, SchemaState, MIGRATIONS,
};
use std::time::{Duration, Instant};

/// Short enough for a test, long enough to be told apart from not waiting at all.
const LOCK_TIMEOUT: Duration = Duration::from_millis(500);

/// Upper bound on giving up: the lock timeout plus generous slack for a loaded machine.
const GIVE_UP_WITHIN: Duration = Duration::from_secs(10);

/// How long a queued deployer is watched while the lock is held: a bound on the
/// observation, not a stand-in for a signal (the signal is the deployer's own completion).
const WATCH_QUEUED: Duration = Duration::from_millis(500);

/// While another deployer holds the lock: `initialize` with a lock timeout gives up with
/// `LockTimeout` after waiting about that long (the message says another deployer is
/// migrating), and so does `connect` with `auto_initialize`; nothing is created, not even
/// the version table. Once the lock is free, the same handle initializes.
pub async fn held_lock_times_out_and_changes_nothing<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let options = ConnectOptions {
        lock_timeout: Some(LOCK_TIMEOUT),
        ..raw()
    };
    let store = h.open(&database, options.clone()).await.expect("connect");
    let held = h.hold_migration_lock(&database).await;

    let started = Instant::now();
    let err = store
        .initialize(InitializeOptions::default())
        .await
        .expect_err("the lock is held");
    let elapsed = started.elapsed();
    let Error::LockTimeout { waited, .. } = &err else {
        panic!("expected LockTimeout, got {err:?}");
    };
    let waited = *waited;
    // SQLite's busy handler counts its own sleeps, which may end a tick before the bound.
    assert!(
        waited >= LOCK_TIMEOUT.mul_f64(0.8) && waited <= GIVE_UP_WITHIN,
        "reported a wait of {waited:?} for a {LOCK_TIMEOUT:?} lock timeout"
    );
    assert!(
        elapsed >= LOCK_TIMEOUT.mul_f64(0.8) && elapsed < GIVE_UP_WITHIN,
        "gave up after {elapsed:?} for a {LOCK_TIMEOUT:?} lock timeout"
    );
    for says in ["migration lock", "another deployer is migrating"] {
        assert!(err.to_string().contains(says), "{err}");
    }

    let auto = ConnectOptions {
        auto_initialize: true,
        ..options
    };
    let err = match h.open(&database, auto).await {
        Ok(_) => panic!("connect with auto_initialize took a held lock"),
        Err(err) => err,
    };
    assert!(matches!(err, Error::LockTimeout { .. }), "{err:?}");

    let info = open_raw(h, &database)
        .await
        .validate()
        .await
        .expect("validate");
    assert_eq!(
        info.state,
        SchemaState::Uninitialized,
        "nothing was created"
    );
    assert!(store.current().await.expect("current").is_none());
    let objects = h.objects(&database).await;
    assert!(
        objects.is_empty(),
        "not even the version table: {objects:?}"
    );

    held.release().await;
    let report = store
        .initialize(InitializeOptions::default())
        .await
        .expect("the lock is free again");
    assert_eq!(report.steps.len(), MIGRATIONS.len());
    assert!(store.validate().await.expect("validate").valid);
}

/// Without a lock timeout, a deployer queues behind the one holding the lock: it is still
/// waiting while the lock is held, and once it is released it applies every migration.
pub async fn without_a_lock_timeout_a_deployer_waits_its_turn<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let store = h.open(&database, raw()).await.expect("connect");
    let held = h.hold_migration_lock(&database).await;

    let mut queued = tokio::spawn({
        let store = store.clone();
        async move { store.initialize(InitializeOptions::default()).await }
    });
    let early = tokio::time::timeout(WATCH_QUEUED, &mut queued).await;
    assert!(
        early.is_err(),
        "initialize finished while the lock was held: {early:?}"
    );

    held.release().await;
    let report = queued
        .await
        .expect("task")
        .expect("initialize after its turn");
    let applied: Vec<_> = report.steps.into_iter().map(|s| s.version).collect();
    assert_eq!(applied, all_versions());
    assert!(store.validate().await.expect("validate").valid);
}
