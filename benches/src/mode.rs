//! How much work a bench run does: a full measurement (`cargo bench`), or every benchmark
//! once (`cargo bench -- --test`, what CI runs so the benches never rot).
//!
//! Criterion parses its arguments itself and exposes nothing to read the mode back, so it is
//! detected from the process arguments: `--test`, or no `--bench` (how `cargo test` runs a
//! bench target, which criterion also treats as test mode). In that mode the scale benches
//! seed 1k rows only.

use std::time::Duration;

/// Environment variable capping the scale benches (stored schema versions), e.g. `100000`.
pub const MAX_SCALE_ENV: &str = "PYCHARTER_BENCH_MAX_SCALE";

/// The sizes of the scale curve, in stored schema versions.
pub const SCALES: [u64; 3] = [1_000, 100_000, 1_000_000];

/// True when criterion runs each benchmark once (`cargo bench -- --test`, or `cargo test`).
pub fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--test") || !args.iter().any(|arg| arg == "--bench")
}

/// The largest scale to seed: 1k in test mode, else [`MAX_SCALE_ENV`] when set (a number),
/// else 1M.
///
/// # Panics
///
/// When [`MAX_SCALE_ENV`] is set to something that is not a positive integer.
pub fn max_scale() -> u64 {
    if test_mode() {
        return SCALES[0];
    }
    match std::env::var(MAX_SCALE_ENV) {
        Ok(raw) if !raw.trim().is_empty() => match raw.trim().replace('_', "").parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{MAX_SCALE_ENV}={raw:?}: expected a positive integer such as 100000"),
        },
        _ => SCALES[SCALES.len() - 1],
    }
}

/// The scales to measure, ascending, each at most [`max_scale`].
pub fn scales() -> Vec<u64> {
    let max = max_scale();
    SCALES.iter().copied().filter(|s| *s <= max).collect()
}

/// Criterion timing of one group: quick groups sample many short iterations, slow ones
/// (a connect, a migration) few.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Criterion samples (at least 10).
    pub sample_size: usize,
    /// Warm-up time per benchmark.
    pub warm_up: Duration,
    /// Measurement time per benchmark.
    pub measurement: Duration,
}

impl Timing {
    /// Operations of microseconds to a millisecond: a store, a lookup.
    pub const FAST: Timing = Timing {
        sample_size: 30,
        warm_up: Duration::from_millis(300),
        measurement: Duration::from_millis(1500),
    };

    /// Operations of milliseconds whose setup is not timed but costs (connect, initialize):
    /// the minimum of criterion's samples, each of one or a few iterations.
    pub const SLOW: Timing = Timing {
        sample_size: 10,
        warm_up: Duration::from_millis(100),
        measurement: Duration::from_millis(500),
    };

    /// Applies this timing to a criterion group.
    pub fn apply<M: criterion::measurement::Measurement>(
        self,
        group: &mut criterion::BenchmarkGroup<'_, M>,
    ) {
        group
            .sample_size(self.sample_size)
            .warm_up_time(self.warm_up)
            .measurement_time(self.measurement);
    }
}
