//! Enforcement latency over many steps: the median and the 95th percentile, as the run summary
//! and the compatibility matrix show them.

use std::fmt;

/// The spread of a set of latencies (milliseconds), by the nearest-rank method: the value at
/// rank ⌈p·n⌉ of the sorted values, so every figure is one a step really took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// How many steps.
    pub steps: usize,
    /// The median.
    pub median_ms: u64,
    /// The 95th percentile.
    pub p95_ms: u64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = u64>) -> Option<Spread> {
        let mut sorted: Vec<u64> = values.into_iter().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        let rank = |p: f64| {
            let n = sorted.len();
            let r = (p * n as f64).ceil() as usize;
            sorted[r.clamp(1, n) - 1]
        };
        Some(Spread {
            steps: sorted.len(),
            median_ms: rank(0.5),
            p95_ms: rank(0.95),
        })
    }
}

/// Milliseconds as seconds with two decimals (`1.15 s`).
pub fn seconds(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "median {}, p95 {} ({} steps)",
            seconds(self.median_ms),
            seconds(self.p95_ms),
            self.steps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_median_and_p95() {
        assert_eq!(Spread::of([]), None);
        let one = Spread::of([700]).unwrap();
        assert_eq!((one.median_ms, one.p95_ms, one.steps), (700, 700, 1));
        // 1..=20: the median is the 10th value, the p95 the 19th.
        let s = Spread::of((1..=20).rev().map(|v| v * 100)).unwrap();
        assert_eq!((s.median_ms, s.p95_ms), (1000, 1900));
        // 1..=21: ranks 11 and 20.
        let s = Spread::of((1..=21).map(|v| v * 100)).unwrap();
        assert_eq!((s.median_ms, s.p95_ms), (1100, 2000));
        assert_eq!(s.to_string(), "median 1.10 s, p95 2.00 s (21 steps)");
    }
}
