//! `ConnectOptions::wait_for_schema`: an application pod that starts before its migration Job
//! has finished waits for the schema instead of failing; what waiting cannot fix fails at
//! once; at the deadline the error says what it was still waiting for.

use crate::support::{open_raw, schema_doc};
use crate::{BackendHarness, Damage};
use pycharter_core::{
    ConnectOptions, Error, InitializeOptions, MetadataStoreExt, SchemaManager, SchemaState,
};
use std::time::{Duration, Instant};

/// What an application pod uses: no initialization of its own (the Job migrates),
/// validation on connect, and waiting for up to `wait`.
fn pod(wait: Duration) -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: true,
        wait_for_schema: Some(wait),
        ..ConnectOptions::default()
    }
}

/// When the migration Job finishes after the pod started: long enough for the pod's first
/// attempts to find the database uninitialized.
const JOB_DELAY: Duration = Duration::from_millis(300);

/// How late, at most, a waiting connect may notice the schema is ready: the longest pause
/// between attempts (1 s) plus one attempt on a loaded machine.
const NOTICE_BOUND: Duration = Duration::from_secs(4);

/// A pod connecting to an empty database while the migration Job runs: `connect` with
/// `wait_for_schema` returns once the Job has initialized it (not before: the Job finishes
/// after the pod started), soon after, with a valid schema the pod can write to.
pub async fn connect_waits_until_the_schema_is_migrated<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let job = open_raw(h, &database).await;
    let started = Instant::now();
    let (pod, job_done) = tokio::join!(h.open(&database, pod(Duration::from_secs(60))), async {
        tokio::time::sleep(JOB_DELAY).await;
        job.initialize(InitializeOptions::default())
            .await
            .expect("the migration Job initializes");
        started.elapsed()
    });
    let connected = started.elapsed();
    let pod = pod.expect("the pod connects once the schema is migrated");
    assert!(
        connected >= job_done,
        "connected after {connected:?}, before the Job finished ({job_done:?})"
    );
    assert!(
        connected - job_done < NOTICE_BOUND,
        "noticed {:?} after the Job finished",
        connected - job_done
    );
    assert_eq!(
        pod.validate().await.expect("validate").state,
        SchemaState::Valid
    );
    pod.store_schema("orders", "1.0.0", &schema_doc("orders"))
        .await
        .expect("the pod writes");
}

/// A damaged schema (a table dropped) is not something waiting fixes: `connect` with a long
/// `wait_for_schema` fails at once with `MissingTables`.
pub async fn connect_does_not_wait_for_a_damaged_schema<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    open_raw(h, &database)
        .await
        .initialize(InitializeOptions::default())
        .await
        .expect("initialize");
    h.damage(&database, Damage::DropTable("ownership")).await;
    let started = Instant::now();
    let err = match h.open(&database, pod(Duration::from_secs(60))).await {
        Ok(_) => panic!("a damaged schema must be refused"),
        Err(err) => err,
    };
    assert!(matches!(err, Error::MissingTables { .. }), "{err:?}");
    assert!(
        started.elapsed() < NOTICE_BOUND,
        "failed after {:?}: it waited",
        started.elapsed()
    );
}

/// Nobody migrates: at the deadline `connect` returns what it was still waiting for
/// (`NotInitialized`, naming `pycharter db init`), not much later than the deadline.
pub async fn connect_gives_up_at_the_deadline_saying_what_it_waited_for<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let wait = Duration::from_secs(1);
    let started = Instant::now();
    let err = match h.open(&database, pod(wait)).await {
        Ok(_) => panic!("an uninitialized database must be refused at the deadline"),
        Err(err) => err,
    };
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
    assert!(err.to_string().contains("run: pycharter db init"), "{err}");
    assert!(
        elapsed >= wait,
        "gave up after {elapsed:?}, before the deadline"
    );
    assert!(
        elapsed < wait + NOTICE_BOUND,
        "gave up after {elapsed:?}, long after the deadline"
    );
}
