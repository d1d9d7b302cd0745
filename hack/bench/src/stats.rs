//! Order statistics of a set of timings: what every benchmark here reports.
//!
//! Percentiles use the nearest-rank method (the smallest sample with at least
//! p% of the samples at or below it), so every reported figure is a sample
//! that was actually measured, never an interpolation between two.

use std::time::Duration;

use serde::Serialize;

/// min, median, p95, p99 and max of a series, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub min_ms: f64,
    pub median_ms: f64,
    pub p95_ms: f64,
    /// With 100 samples or fewer this is the maximum (nearest rank).
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    /// `None` for an empty series (a phase that never succeeded).
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let mean_ms = ms.iter().sum::<f64>() / ms.len() as f64;
        Some(Summary {
            n: ms.len(),
            min_ms: ms[0],
            median_ms: percentile_sorted(&ms, 50.0),
            p95_ms: percentile_sorted(&ms, 95.0),
            p99_ms: percentile_sorted(&ms, 99.0),
            max_ms: ms[ms.len() - 1],
            mean_ms,
        })
    }
}

/// Nearest-rank percentile of an ascending, non-empty slice.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    // rank = ceil(p/100 * n), clamped to 1..=n; index = rank - 1.
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn empty_series_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn single_sample_is_every_statistic() {
        let s = Summary::of(&ms(&[7])).unwrap();
        assert_eq!(
            (s.n, s.min_ms, s.median_ms, s.p95_ms, s.max_ms),
            (1, 7.0, 7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn statistics_do_not_depend_on_sample_order() {
        let s = Summary::of(&ms(&[5, 1, 4, 2, 3])).unwrap();
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.median_ms, 3.0);
        assert_eq!(s.max_ms, 5.0);
        assert_eq!(s.mean_ms, 3.0);
    }

    #[test]
    fn p95_of_twenty_samples_is_the_nineteenth() {
        let v: Vec<u64> = (1..=20).collect();
        let s = Summary::of(&ms(&v)).unwrap();
        assert_eq!(s.p95_ms, 19.0);
        assert_eq!(s.median_ms, 10.0);
    }

    #[test]
    fn p99_of_two_hundred_samples_is_the_hundred_and_ninety_eighth() {
        let v: Vec<u64> = (1..=200).collect();
        let s = Summary::of(&ms(&v)).unwrap();
        assert_eq!(s.p99_ms, 198.0);
        assert_eq!(s.p95_ms, 190.0);
    }

    #[test]
    fn p95_of_few_samples_is_the_maximum() {
        let s = Summary::of(&ms(&[1, 2, 3, 100])).unwrap();
        assert_eq!(s.p95_ms, 100.0);
    }

    #[test]
    fn percentile_is_always_a_measured_sample() {
        let sorted = [1.0, 2.0, 10.0];
        for p in [0.0, 1.0, 33.0, 34.0, 50.0, 99.0, 100.0] {
            assert!(sorted.contains(&percentile_sorted(&sorted, p)));
        }
        assert_eq!(percentile_sorted(&sorted, 0.0), 1.0);
        assert_eq!(percentile_sorted(&sorted, 100.0), 10.0);
    }
}
