//! Latency samples -> p50/p99/max/mean (nearest-rank percentiles), the
//! millisecond formatting every section prints, and the small deterministic
//! random source the load generator and the poll-path phases draw from.

use std::time::Duration;

/// Nearest-rank summary of a set of latency samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let max = *sorted.last()?;
        let total: Duration = sorted.iter().sum();
        let count = sorted.len();
        Some(Summary {
            count,
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            max,
            mean: total / u32::try_from(count).unwrap_or(u32::MAX),
        })
    }

    /// `p50 .. p99 .. max .. mean (n)` on one line.
    pub fn line(&self) -> String {
        format!(
            "p50 {}  p99 {}  max {}  mean {}  (n={})",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            ms(self.mean),
            self.count
        )
    }
}

/// The nearest-rank `p`-th percentile of `sorted` (ascending, not empty):
/// the smallest sample with at least `p`% of the samples at or below it.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len() as f64;
    // Rank in 1..=n; the float is small and positive, so the cast is exact.
    let rank = ((p / 100.0) * n).ceil().clamp(1.0, n) as usize;
    sorted[rank - 1]
}

/// Milliseconds, with three decimals below 100 ms and none above.
pub fn ms(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis < 100.0 {
        format!("{millis:.3} ms")
    } else {
        format!("{millis:.0} ms")
    }
}

/// `a / b` of two durations, or `None` when `b` is zero.
pub fn ratio(a: Duration, b: Duration) -> Option<f64> {
    (!b.is_zero()).then(|| a.as_secs_f64() / b.as_secs_f64())
}

/// splitmix64: a tiny, seedable, deterministic generator; the benchmark only
/// needs the same request sequence for the floor and the plugin.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`0` when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        // usize is at most 64 bits on every target this runs on.
        (self.next_u64() % bound as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn micros(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_micros(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_pick_real_samples() {
        let samples = micros(&(1..=100).collect::<Vec<_>>());
        let summary = Summary::of(&samples).unwrap();
        assert_eq!(summary.p50, Duration::from_micros(50));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.max, Duration::from_micros(100));
        assert_eq!(summary.count, 100);
    }

    #[test]
    fn p99_of_fewer_than_a_hundred_samples_is_the_maximum() {
        let summary = Summary::of(&micros(&[5, 1, 9, 3, 7, 2, 8, 4, 6, 10])).unwrap();
        assert_eq!(summary.p99, Duration::from_micros(10));
        assert_eq!(summary.p50, Duration::from_micros(5));
        assert_eq!(summary.mean, Duration::from_nanos(5_500));
    }

    #[test]
    fn no_samples_give_no_summary() {
        assert!(Summary::of(&[]).is_none());
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn milliseconds_keep_three_decimals_only_when_small() {
        assert_eq!(ms(Duration::from_micros(160)), "0.160 ms");
        assert_eq!(ms(Duration::from_millis(3012)), "3012 ms");
    }

    #[test]
    fn the_generator_is_deterministic_and_stays_below_its_bound() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.below(8);
            assert_eq!(x, b.below(8));
            assert!(x < 8);
        }
        assert_eq!(a.below(0), 0);
    }

    #[test]
    fn a_ratio_to_zero_is_undefined() {
        assert_eq!(ratio(Duration::from_millis(3), Duration::ZERO), None);
        assert_eq!(
            ratio(Duration::from_millis(3), Duration::from_millis(2)),
            Some(1.5)
        );
    }
}
