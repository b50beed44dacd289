//! The freshness probe the Postgres tests share: a writer stores new versions of one schema
//! and deletes old ones, recording when each change started and when it was done; a reader
//! loops over `latest` and exact versions through a cached store, recording when it first saw
//! each change, and flags every answer that was stale for longer than the bound.
//!
//! Times are wall-clock durations since the Unix epoch, so that a writer in another process
//! can report them (one machine, one clock).

// Each test binary uses part of this module.
#![allow(dead_code)]

use pycharter_core::{Error, MetadataStore, MetadataStoreExt};
use serde_json::json;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The schema the probe writes and reads.
pub const NAME: &str = "fresh";
/// Every this many puts, the version put this many steps earlier is deleted.
pub const DELETE_EVERY: usize = 5;
/// Longest a writer keeps retrying one change (a server restart takes a second or two).
const WRITE_PATIENCE: Duration = Duration::from_secs(60);

/// The version of the `i`-th put (semver order is put order).
pub fn version(i: usize) -> String {
    format!("1.0.{i}")
}

/// Now, as a duration since the Unix epoch.
pub fn stamp() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
}

/// What the writer did, as the reader learns it.
#[derive(Debug, Default)]
pub struct Probe {
    state: Mutex<Written>,
    /// Also print each record on stdout (a writer in a child process), for
    /// [`Probe::replay`] in the parent.
    echo: bool,
}

#[derive(Debug, Default, Clone)]
struct Written {
    /// `(started, done)` of put `i`, at index `i`.
    puts: Vec<(Duration, Duration)>,
    /// `(put index deleted, started, done)`.
    deletes: Vec<(usize, Duration, Duration)>,
    finished: bool,
}

impl Probe {
    /// A probe that prints what it records, for a parent process to [`Probe::replay`].
    pub fn echoing() -> Self {
        Probe {
            echo: true,
            ..Probe::default()
        }
    }

    /// Records put `i` (puts are recorded in order).
    pub fn put(&self, i: usize, started: Duration, done: Duration) {
        let mut state = self.state.lock().unwrap();
        assert_eq!(state.puts.len(), i, "puts are recorded in order");
        state.puts.push((started, done));
        self.print(format_args!(
            "put {i} {} {}",
            started.as_nanos(),
            done.as_nanos()
        ));
    }

    /// Records the delete of put `i`.
    pub fn deleted(&self, i: usize, started: Duration, done: Duration) {
        self.state.lock().unwrap().deletes.push((i, started, done));
        self.print(format_args!(
            "delete {i} {} {}",
            started.as_nanos(),
            done.as_nanos()
        ));
    }

    /// The writer is done.
    pub fn finish(&self) {
        self.state.lock().unwrap().finished = true;
        self.print(format_args!("finished"));
    }

    fn print(&self, record: std::fmt::Arguments<'_>) {
        if self.echo {
            println!("probe {record}");
        }
    }

    /// Records what an echoing probe printed on `line` (other lines are ignored).
    pub fn replay(&self, line: &str) {
        // The first record follows libtest's "test <name> ... " on the same line.
        let Some(at) = line.find("probe ") else {
            return;
        };
        let record = &line[at + "probe ".len()..];
        let fields: Vec<&str> = record.split(' ').collect();
        let nanos = |i: usize| Duration::from_nanos(fields[i].parse().expect("nanoseconds"));
        let index = || fields[1].parse::<usize>().expect("an index");
        match fields[0] {
            "put" => self.put(index(), nanos(2), nanos(3)),
            "delete" => self.deleted(index(), nanos(2), nanos(3)),
            "finished" => self.finish(),
            other => panic!("unknown probe record {other:?}"),
        }
    }

    fn snapshot(&self) -> Written {
        self.state.lock().unwrap().clone()
    }
}

/// Runs `step` until it succeeds (a server restart makes a few attempts fail), with backoff.
async fn persist<F, Fut>(what: &str, mut step: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let deadline = stamp() + WRITE_PATIENCE;
    let mut failures = 0;
    loop {
        match step().await {
            Ok(()) => return failures,
            Err(e) if stamp() < deadline => {
                failures += 1;
                tracing_note(what, &e);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{what} kept failing for {WRITE_PATIENCE:?}: {e}"),
        }
    }
}

fn tracing_note(what: &str, error: &Error) {
    if std::env::var_os("PYCHARTER_PROBE_VERBOSE").is_some() {
        eprintln!("{what} failed, retrying: {error}");
    }
}

/// Stores `changes` new versions of [`NAME`], deleting every [`DELETE_EVERY`]-th one a few
/// steps later; `hook(i)` runs before put `i` (to kill the feed mid-run, say). Returns how
/// many attempts failed and were retried.
pub async fn write<S, H, Fut>(writer: &S, probe: &Probe, changes: usize, mut hook: H) -> u64
where
    S: MetadataStore + ?Sized,
    H: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut retried = 0;
    for i in 0..changes {
        hook(i).await;
        let document = json!({"type": "object", "title": format!("put {i}")});
        let started = stamp();
        retried += persist("put", || async {
            writer
                .store_schema(NAME, version(i), &document)
                .await
                .map(drop)
        })
        .await;
        probe.put(i, started, stamp());
        if i >= DELETE_EVERY && i % DELETE_EVERY == 0 {
            let gone = i - DELETE_EVERY;
            let started = stamp();
            retried += persist("delete", || async {
                match writer.delete_schema(NAME, version(gone)).await {
                    // A retry after a delete that committed but whose answer was lost.
                    Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await;
            probe.deleted(gone, started, stamp());
        }
    }
    probe.finish();
    retried
}

/// What the reader saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Per put: from its start until the reader first saw it as (or below) `latest`, sorted.
    pub put_latency: Vec<Duration>,
    /// Per delete: from its start until the reader first got "not found" for it, sorted.
    pub delete_latency: Vec<Duration>,
    /// Answers stale for longer than the bound, described.
    pub violations: Vec<String>,
    /// Reads done, and reads that failed (the server was down), with the first few errors.
    pub reads: u64,
    pub failed_reads: u64,
    pub first_errors: Vec<String>,
}

impl Report {
    /// The `q`-quantile of put latencies.
    pub fn put_quantile(&self, q: f64) -> Duration {
        quantile(&self.put_latency, q)
    }

    /// One line for the test's output.
    pub fn summary(&self) -> String {
        format!(
            "{} puts: p50 {:?} p99 {:?} max {:?}; {} deletes: p50 {:?} p99 {:?} max {:?}; {} reads ({} failed: {:?})",
            self.put_latency.len(),
            quantile(&self.put_latency, 0.5),
            quantile(&self.put_latency, 0.99),
            self.put_latency.last().copied().unwrap_or_default(),
            self.delete_latency.len(),
            quantile(&self.delete_latency, 0.5),
            quantile(&self.delete_latency, 0.99),
            self.delete_latency.last().copied().unwrap_or_default(),
            self.reads,
            self.failed_reads,
            self.first_errors,
        )
    }

    /// Every change seen, and no answer staler than the bound: each read reflected every
    /// change done more than the bound before it started (reads that failed, while the server
    /// was down, answered nothing).
    pub fn assert_fresh(&self, changes: usize) {
        assert!(
            self.violations.is_empty(),
            "stale answers: {:#?}\n{}",
            self.violations,
            self.summary()
        );
        assert_eq!(
            self.put_latency.len(),
            changes,
            "every put seen: {}",
            self.summary()
        );
        let deletes = (changes - 1) / DELETE_EVERY;
        assert_eq!(
            self.delete_latency.len(),
            deletes,
            "every delete seen: {}",
            self.summary()
        );
    }

    /// [`Report::assert_fresh`], and every change seen within `bound` of its start.
    pub fn assert_within(&self, bound: Duration, changes: usize) {
        self.assert_fresh(changes);
        for latencies in [&self.put_latency, &self.delete_latency] {
            let max = latencies.last().copied().unwrap_or_default();
            assert!(
                max <= bound,
                "a change was seen {max:?} > {bound:?} after it started: {}",
                self.summary()
            );
        }
    }
}

/// The `q`-quantile of sorted `values`.
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let index = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[index.min(values.len() - 1)]
}

/// Reads through `reader` until every change the writer made was seen (or the bound after
/// the writer finished has passed), checking every answer against the bound.
pub async fn read<S>(reader: &S, probe: &Probe, bound: Duration) -> Report
where
    S: MetadataStore + ?Sized,
{
    let mut report = Report::default();
    // First time put i was seen; first time delete k was seen (by put index).
    let mut put_seen: Vec<Duration> = Vec::new();
    let mut delete_seen: std::collections::BTreeMap<usize, Duration> = Default::default();
    loop {
        let written = probe.snapshot();
        let t = stamp();
        // Every change done before `t - bound` must be reflected by what is read now.
        let due = t.saturating_sub(bound);
        report.reads += 1;
        match reader.get_schema(NAME, None).await {
            Ok(found) => {
                let latest = found.map(|r| r.version.as_semver().patch as usize);
                if let Some(latest) = latest {
                    while put_seen.len() <= latest && put_seen.len() < written.puts.len() {
                        put_seen.push(t);
                    }
                }
                let owed = written.puts.iter().rposition(|(_, done)| *done <= due);
                if let Some(owed) = owed.filter(|owed| latest.is_none_or(|l| l < *owed)) {
                    report.violations.push(format!(
                        "latest was {latest:?} at {t:?}, put {owed} was done at {:?}",
                        written.puts[owed].1
                    ));
                }
                // Keep an exact version that is about to be deleted in the cache.
                if let Some(soon) = latest.and_then(|l| l.checked_sub(DELETE_EVERY - 1)) {
                    let _ = reader.get_schema(NAME, version(soon)).await;
                }
            }
            Err(e) => {
                report.failed_reads += 1;
                if report.first_errors.len() < 3 {
                    report.first_errors.push(e.to_string());
                }
            }
        }
        for &(gone, _, done) in &written.deletes {
            if delete_seen.contains_key(&gone) {
                continue;
            }
            let t = stamp();
            match reader.get_schema(NAME, version(gone)).await {
                Ok(Some(_)) if done + bound < t => report
                    .violations
                    .push(format!("deleted {gone} (done at {done:?}) served at {t:?}")),
                Ok(None) => {
                    delete_seen.entry(gone).or_insert(t);
                }
                _ => {}
            }
        }
        let all_seen = written.finished
            && put_seen.len() == written.puts.len()
            && written
                .deletes
                .iter()
                .all(|(gone, ..)| delete_seen.contains_key(gone));
        let last_done = written.puts.last().map_or(t, |p| p.1);
        if all_seen || (written.finished && t > last_done + 2 * bound) {
            for (i, seen) in put_seen.iter().enumerate() {
                report
                    .put_latency
                    .push(seen.saturating_sub(written.puts[i].0));
            }
            for (gone, started, _) in &written.deletes {
                match delete_seen.get(gone) {
                    Some(seen) => report.delete_latency.push(seen.saturating_sub(*started)),
                    None => report
                        .violations
                        .push(format!("delete of {gone} never seen")),
                }
            }
            report.put_latency.sort();
            report.delete_latency.sort();
            return report;
        }
        tokio::task::yield_now().await;
    }
}
