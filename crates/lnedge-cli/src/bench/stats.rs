//! The figures every bench reports: nearest-rank percentiles of latency samples, durations in
//! rounded milliseconds or microseconds, rates per second, and the build and machine measured on.

use std::time::Duration;

/// Latency samples summarised: nearest-rank percentiles, the largest and the mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// How many samples.
    pub(crate) count: usize,
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    /// Rounded down to the nanosecond.
    pub(crate) mean: Duration,
}

impl Summary {
    /// Sorts `samples` and summarises them (all zero when there are none).
    pub(crate) fn of(samples: &mut [Duration]) -> Self {
        samples.sort();
        let total: Duration = samples.iter().sum();
        Summary {
            count: samples.len(),
            p50: quantile(samples, 0.50),
            p90: quantile(samples, 0.90),
            p99: quantile(samples, 0.99),
            max: quantile(samples, 1.0),
            mean: total / samples.len().max(1) as u32,
        }
    }
}

/// The `q` quantile (nearest rank) of `sorted` samples; zero when there are none.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i.min(sorted.len().saturating_sub(1))).copied().unwrap_or(Duration::ZERO)
}

/// `d` in milliseconds with 2 decimals.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

/// `d` in microseconds with 1 decimal.
pub(crate) fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000_000.0).round() / 10.0
}

/// `count` events in `wall` time, per second, with `decimals` decimals.
pub(crate) fn per_sec(count: usize, wall: Duration, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (count as f64 / wall.as_secs_f64() * scale).round() / scale
}

/// `"debug"` or `"release"`: what was measured.
pub(crate) fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_of_the_sorted_samples() {
        let mut samples: Vec<_> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = Summary::of(&mut samples);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(51));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(s.mean, Duration::from_micros(50_500));
        assert_eq!(samples[0], Duration::from_millis(1), "sorted in place");
    }

    #[test]
    fn no_samples_summarise_to_zero() {
        let s = Summary::of(&mut []);
        assert_eq!(s.count, 0);
        assert_eq!((s.p50, s.max, s.mean), (Duration::ZERO, Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn units_round_as_the_reports_print_them() {
        assert_eq!(ms(Duration::from_nanos(1_234_567)), 1.23);
        assert_eq!(us(Duration::from_nanos(1_234_567)), 1234.6);
        assert_eq!(per_sec(200, Duration::from_secs(3), 1), 66.7);
        assert_eq!(per_sec(200, Duration::from_secs(3), 0), 67.0);
    }
}
