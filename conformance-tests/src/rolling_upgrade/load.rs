//! The old build under load during a rolling upgrade: writers, a reader, a readiness probe
//! and restarting pods, each operation booked (when it ran relative to the upgrade, whether
//! it failed). A failure is recorded with its error, never retried.

use crate::support::schema_doc;
use crate::BackendHarness;
use pycharter_core::{
    BundledMigration, ConnectOptions, MetadataStore, MetadataStoreExt, SchemaManager,
};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Operations each worker completes before the upgrade starts, and again after it ended.
pub(super) const OPS_PER_PHASE: u64 = 10;

/// Where the upgrade is, as the workers see it.
const BEFORE: u8 = 0;
const UPGRADING: u8 = 1;
const AFTER: u8 = 2;

/// The worker number restarting pods report under (their progress is not awaited).
const RESTARTS: usize = usize::MAX;

/// What the old build wrote: `(name, version)` of a schema version (for `writer-*` names,
/// with its ownership document).
pub(super) type Written = Vec<(String, String)>;

/// The document a writer stores as the ownership of `name` at `version`.
pub(super) fn ownership_doc(name: &str, version: &str) -> Value {
    json!({"owner": format!("team-{name}"), "version": version})
}

/// The document a writer stores as schema `name` at `version`.
pub(super) fn writer_doc(name: &str, version: &str) -> Value {
    schema_doc(&format!("{name} {version}"))
}

/// One worker's counts.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ops: u64,
    /// Operations that ran while the upgrade did (started before it ended, ended after it
    /// started).
    during_upgrade: u64,
    /// Completed operations by the phase they ended in.
    per_phase: [u64; 3],
}

/// What the case reads at the end.
#[derive(Debug)]
pub(super) struct Summary {
    pub ops: u64,
    pub during_upgrade: u64,
    pub failures: Vec<String>,
    pub written: Written,
}

/// State shared by the workers and the case.
struct Shared {
    phase: AtomicU8,
    stop: AtomicBool,
    failures: Mutex<Vec<String>>,
    /// `(worker, phase)` once a worker completed [`OPS_PER_PHASE`] operations in it.
    progress: mpsc::UnboundedSender<(usize, u8)>,
}

impl Shared {
    async fn op<T>(
        &self,
        worker: usize,
        counts: &mut Counts,
        what: String,
        op: impl Future<Output = Result<T, String>>,
    ) -> Option<T> {
        let started = self.phase.load(Ordering::SeqCst);
        let result = op.await;
        let ended = self.phase.load(Ordering::SeqCst);
        // Operations of a backend that never waits (the in-memory one) complete without
        // yielding: without this, a worker's loop would hold its runtime thread forever.
        tokio::task::yield_now().await;
        counts.ops += 1;
        if started != AFTER && ended != BEFORE {
            counts.during_upgrade += 1;
        }
        counts.per_phase[usize::from(ended)] += 1;
        if counts.per_phase[usize::from(ended)] == OPS_PER_PHASE {
            let _ = self.progress.send((worker, ended));
        }
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                let mut failures = self.failures.lock().expect("failures");
                failures.push(format!("{what} (phase {started}→{ended}): {err}"));
                None
            }
        }
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }
}

/// The old build's workers, running on their own tasks until [`OldBuildLoad::stop`].
pub(super) struct OldBuildLoad {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<(Counts, Written)>>,
    reports: mpsc::UnboundedReceiver<(usize, u8)>,
    restarts: Mutex<(Counts, Written)>,
}

impl OldBuildLoad {
    /// Starts, on `store`: three writers (a schema version and its ownership per
    /// iteration, each on its own name), a reader of the `seed` schema (stored before), a
    /// readiness probe (`validate` must stay valid), and a writer of versions of `seed`
    /// that reads "latest" back.
    pub(super) fn start<S>(store: &S) -> Self
    where
        S: MetadataStore + SchemaManager + Clone + 'static,
    {
        let (progress, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            phase: AtomicU8::new(BEFORE),
            stop: AtomicBool::new(false),
            failures: Mutex::new(Vec::new()),
            progress,
        });
        let workers = (0..6)
            .map(|worker| {
                let (shared, store) = (Arc::clone(&shared), store.clone());
                tokio::spawn(async move {
                    let mut counts = Counts::default();
                    let mut written = Vec::new();
                    while shared.running() {
                        let step = Step {
                            shared: &shared,
                            worker,
                            counts: &mut counts,
                        };
                        match worker {
                            0..=2 => step.write(&store, &mut written).await,
                            3 => step.read(&store).await,
                            4 => step.probe(&store).await,
                            _ => step.write_latest(&store, &mut written).await,
                        }
                    }
                    (counts, written)
                })
            })
            .collect();
        OldBuildLoad {
            shared,
            workers,
            reports,
            restarts: Mutex::new((Counts::default(), Vec::new())),
        }
    }

    /// Returns once every worker completed [`OPS_PER_PHASE`] operations before the upgrade.
    pub(super) async fn until_busy(&mut self) {
        self.until(BEFORE).await;
    }

    /// Returns once every worker completed [`OPS_PER_PHASE`] operations after the upgrade.
    pub(super) async fn until_busy_after_the_upgrade(&mut self) {
        self.until(AFTER).await;
    }

    async fn until(&mut self, phase: u8) {
        let mut ready = std::collections::BTreeSet::new();
        while ready.len() < self.workers.len() {
            let (worker, reported) = self.reports.recv().await.expect("workers report");
            if reported == phase {
                ready.insert(worker);
            }
        }
    }

    /// Marks the start of the upgrade.
    pub(super) fn upgrade_started(&self) {
        self.shared.phase.store(UPGRADING, Ordering::SeqCst);
    }

    /// Marks the end of the upgrade.
    pub(super) fn upgrade_finished(&self) {
        self.shared.phase.store(AFTER, Ordering::SeqCst);
    }

    /// Whether the upgrade is over.
    pub(super) fn upgraded(&self) -> bool {
        self.shared.phase.load(Ordering::SeqCst) == AFTER
    }

    /// An old pod restarting: connect with the defaults (validation on connect), store
    /// `restarted` at `version`, read it back.
    pub(super) async fn restart<H: BackendHarness>(
        &self,
        h: &H,
        database: &str,
        old: &[BundledMigration],
        version: &str,
    ) {
        let mut counts = self.restarts.lock().expect("restarts").0;
        let what = format!("restart, store and get restarted {version}");
        let done = self
            .shared
            .op(RESTARTS, &mut counts, what, async {
                let pod = h
                    .open_with_migrations(database, ConnectOptions::default(), old.to_vec())
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                pod.store_schema("restarted", version, &schema_doc("restarted"))
                    .await
                    .map_err(|e| e.to_string())?;
                match pod.get_schema("restarted", Some(version)).await {
                    Ok(Some(_)) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            })
            .await;
        let mut restarts = self.restarts.lock().expect("restarts");
        restarts.0 = counts;
        if done.is_some() {
            restarts
                .1
                .push(("restarted".to_string(), version.to_string()));
        }
    }

    /// Stops the workers and sums up.
    pub(super) async fn stop(self) -> Summary {
        self.shared.stop.store(true, Ordering::SeqCst);
        let (restarts, written) = self.restarts.into_inner().expect("restarts");
        let mut summary = Summary {
            ops: restarts.ops,
            during_upgrade: restarts.during_upgrade,
            failures: Vec::new(),
            written,
        };
        for worker in self.workers {
            let (counts, mut written) = worker.await.expect("worker task");
            summary.ops += counts.ops;
            summary.during_upgrade += counts.during_upgrade;
            summary.written.append(&mut written);
        }
        summary.failures = self.shared.failures.lock().expect("failures").clone();
        summary
    }
}

/// One iteration of a worker.
struct Step<'a> {
    shared: &'a Shared,
    worker: usize,
    counts: &'a mut Counts,
}

impl Step<'_> {
    async fn op<T>(
        &mut self,
        what: String,
        op: impl Future<Output = Result<T, String>>,
    ) -> Option<T> {
        self.shared.op(self.worker, self.counts, what, op).await
    }

    async fn write<S: MetadataStore>(mut self, store: &S, written: &mut Written) {
        let name = format!("writer-{}", self.worker);
        let version = format!("1.{}.0", self.counts.ops);
        let doc = writer_doc(&name, &version);
        let stored = self
            .op(format!("store_schema {name} {version}"), async {
                let id = store.store_schema(&name, &version, &doc).await;
                id.map_err(|e| e.to_string())
            })
            .await;
        let owner = ownership_doc(&name, &version);
        let owned = self
            .op(format!("store_ownership {name} {version}"), async {
                let id = store.store_ownership(&name, &version, &owner).await;
                id.map_err(|e| e.to_string())
            })
            .await;
        if stored.is_some() && owned.is_some() {
            written.push((name, version));
        }
    }

    async fn read<S: MetadataStore>(mut self, store: &S) {
        self.op("get_schema seed 1.0.0".into(), async {
            match store.get_schema("seed", Some("1.0.0")).await {
                Ok(Some(r)) if *r.document == schema_doc("seed") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        self.op("list_schemas".into(), async {
            let names = store.list_schemas().await.map_err(|e| e.to_string())?;
            match names.iter().any(|n| n == "seed") {
                true => Ok(()),
                false => Err(format!("seed missing from {names:?}")),
            }
        })
        .await;
    }

    async fn probe<S: SchemaManager>(mut self, store: &S) {
        self.op("validate".into(), async {
            let info = store.validate().await.map_err(|e| e.to_string())?;
            info.valid.then_some(()).ok_or(info.message)
        })
        .await;
    }

    async fn write_latest<S: MetadataStore>(mut self, store: &S, written: &mut Written) {
        let version = format!("2.{}.0", self.counts.ops);
        let doc = schema_doc(&version);
        let stored = self
            .op(format!("store_schema seed {version}"), async {
                let id = store.store_schema("seed", &version, &doc).await;
                id.map_err(|e| e.to_string())
            })
            .await;
        if stored.is_some() {
            written.push(("seed".to_string(), version));
        }
        self.op("get_schema seed latest".into(), async {
            match store.get_schema("seed", None).await {
                Ok(Some(r)) if r.version.as_semver().major >= 2 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
}
