//! An application under load, for the tests and benches that check what a migration does to
//! it: writer tasks storing new schema versions and reader tasks reading the latest one,
//! through any [`MetadataStore`], each operation timed, until stopped.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn pycharter_core::MetadataStore>) {
//! use pycharter_test_postgres::load::{Load, Shape};
//! let load = Load::start(store, Shape::default());
//! // ... run the migration ...
//! let stats = load.stop().await;
//! assert!(stats.failures.is_empty(), "{:?}", stats.failures);
//! println!("worst write {:?}", stats.worst_write);
//! # }
//! ```

use pycharter_core::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How many tasks of each kind, and how long each pauses between operations (an
/// application has think time; a closed loop without it measures CPU saturation instead).
#[derive(Debug, Clone)]
pub struct Shape {
    /// Tasks storing a new schema version per operation.
    pub writers: usize,
    /// Tasks reading the latest version of a name per operation.
    pub readers: usize,
    /// Pause between two operations of one task.
    pub pause: Duration,
    /// Prefix of the schema names the writers create (distinct per load in one database).
    pub prefix: String,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            writers: 2,
            readers: 2,
            pause: Duration::from_millis(2),
            prefix: "load".into(),
        }
    }
}

/// What the tasks saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Completed writes.
    pub writes: u64,
    /// Completed reads.
    pub reads: u64,
    /// Every failed operation, with its error.
    pub failures: Vec<String>,
    /// The slowest write.
    pub worst_write: Duration,
    /// The slowest read.
    pub worst_read: Duration,
    /// Every write: when it started and how long it took.
    pub write_log: Vec<(Instant, Duration)>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.writes += other.writes;
        self.reads += other.reads;
        self.failures.extend(other.failures);
        self.worst_write = self.worst_write.max(other.worst_write);
        self.worst_read = self.worst_read.max(other.worst_read);
        self.write_log.extend(other.write_log);
    }

    /// The writes that started within `from..to`: how many, and the slowest.
    pub fn writes_within(&self, from: Instant, to: Instant) -> (u64, Duration) {
        let within = self
            .write_log
            .iter()
            .filter(|(at, _)| (from..to).contains(at));
        within.fold((0, Duration::ZERO), |(n, worst), (_, took)| {
            (n + 1, worst.max(*took))
        })
    }

    /// The `p`-th percentile (0–100) of the write latencies (zero without writes).
    pub fn write_percentile(&self, p: f64) -> Duration {
        let mut sorted: Vec<Duration> = self.write_log.iter().map(|(_, took)| *took).collect();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted
            .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// Running writer and reader tasks.
pub struct Load {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Stats>>,
}

impl Load {
    /// Starts the tasks on the current tokio runtime. Each writer first stores one version
    /// (so readers have something to read), then keeps storing new ones.
    pub fn start(store: Arc<dyn MetadataStore>, shape: Shape) -> Load {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        for w in 0..shape.writers {
            let name = format!("{}_{w}", shape.prefix);
            tasks.push(tokio::spawn(writer(
                Arc::clone(&store),
                name,
                shape.pause,
                stopped.clone(),
            )));
        }
        for r in 0..shape.readers {
            let name = format!("{}_{}", shape.prefix, r % shape.writers.max(1));
            tasks.push(tokio::spawn(reader(
                Arc::clone(&store),
                name,
                shape.pause,
                stopped.clone(),
            )));
        }
        Load { stop, tasks }
    }

    /// Stops the tasks and merges what they saw.
    ///
    /// # Panics
    ///
    /// When a task panicked.
    pub async fn stop(self) -> Stats {
        let _ = self.stop.send(true);
        let mut stats = Stats::default();
        for task in self.tasks {
            stats.merge(task.await.expect("load task"));
        }
        stats
    }
}

async fn writer(
    store: Arc<dyn MetadataStore>,
    name: String,
    pause: Duration,
    stopped: watch::Receiver<bool>,
) -> Stats {
    let mut stats = Stats::default();
    let mut n: u64 = 0;
    while !*stopped.borrow() {
        let version = format!("0.0.{n}");
        let document = json!({"type": "object", "title": format!("{name} {version}")});
        let started = Instant::now();
        let outcome = store.store_schema(&name, &version, &document).await;
        let took = started.elapsed();
        match outcome {
            Ok(_) => {
                stats.writes += 1;
                stats.worst_write = stats.worst_write.max(took);
                stats.write_log.push((started, took));
            }
            Err(err) => stats
                .failures
                .push(format!("write {name} {version}: {err}")),
        }
        n += 1;
        tokio::time::sleep(pause).await;
    }
    stats
}

async fn reader(
    store: Arc<dyn MetadataStore>,
    name: String,
    pause: Duration,
    stopped: watch::Receiver<bool>,
) -> Stats {
    let mut stats = Stats::default();
    while !*stopped.borrow() {
        let started = Instant::now();
        let outcome = store.get_schema(&name, None).await;
        let took = started.elapsed();
        match outcome {
            Ok(_) => {
                stats.reads += 1;
                stats.worst_read = stats.worst_read.max(took);
            }
            Err(err) => stats.failures.push(format!("read {name}: {err}")),
        }
        tokio::time::sleep(pause).await;
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_windows_come_from_the_write_log() {
        let t0 = Instant::now();
        let stats = Stats {
            write_log: (1..=100)
                .rev()
                .map(|ms| (t0 + Duration::from_millis(ms), Duration::from_millis(ms)))
                .collect(),
            ..Stats::default()
        };
        let window = stats.writes_within(
            t0 + Duration::from_millis(10),
            t0 + Duration::from_millis(20),
        );
        assert_eq!(window, (10, Duration::from_millis(19)));
        assert_eq!(stats.write_percentile(50.0), Duration::from_millis(50));
        assert_eq!(stats.write_percentile(99.0), Duration::from_millis(99));
        assert_eq!(stats.write_percentile(100.0), Duration::from_millis(100));
        assert_eq!(Stats::default().write_percentile(99.0), Duration::ZERO);
    }
}
