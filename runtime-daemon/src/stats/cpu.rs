//! CPU usage in nano-cores needs two samples, so the last sample of every
//! container is kept ([`CpuTracker`]), as containerd does.

use std::collections::HashMap;
use std::sync::Mutex;

/// The previous CPU sample of each container, to turn cumulative usage into a rate.
#[derive(Debug, Default)]
pub struct CpuTracker {
    last: Mutex<HashMap<String, Last>>,
}

/// A container's previous sample and the rate it gave.
#[derive(Debug, Clone, Copy)]
struct Last {
    timestamp_ns: i64,
    usage_ns: u64,
    rate: Option<u64>,
}

impl CpuTracker {
    /// Records `(timestamp_ns, usage_ns)` for `id` and returns the rate since the
    /// previous sample in nano-cores (`None` on the first sample). A sample no
    /// newer than the previous one (the same cached sample served twice, or a
    /// direct read that overtook a stats pass) gets the previous rate and
    /// leaves the record as it was.
    pub fn rate(&self, id: &str, timestamp_ns: i64, usage_ns: u64) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let previous = last.get(id).copied();
        if let Some(p) = previous.filter(|p| timestamp_ns <= p.timestamp_ns) {
            return p.rate;
        }
        let rate = previous.and_then(|p| {
            let elapsed = u64::try_from(timestamp_ns - p.timestamp_ns).ok()?;
            let used = usage_ns.checked_sub(p.usage_ns)?;
            // nano-cores = used CPU ns per wall ns, times 1e9.
            Some(
                u64::try_from(u128::from(used) * 1_000_000_000 / u128::from(elapsed))
                    .unwrap_or(u64::MAX),
            )
        });
        last.insert(
            id.to_string(),
            Last {
                timestamp_ns,
                usage_ns,
                rate,
            },
        );
        rate
    }

    /// Forgets containers that no longer exist.
    pub fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| live(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_rate_needs_two_samples() {
        let tracker = CpuTracker::default();
        assert_eq!(tracker.rate("c", 1_000_000_000, 0), None);
        // Half a core over one second.
        assert_eq!(
            tracker.rate("c", 2_000_000_000, 500_000_000),
            Some(500_000_000)
        );
        // The same sample again (a cached pass served twice), or an older
        // one: the rate it gave, the record unchanged.
        assert_eq!(
            tracker.rate("c", 2_000_000_000, 500_000_000),
            Some(500_000_000)
        );
        assert_eq!(tracker.rate("c", 1_500_000_000, 0), Some(500_000_000));
        assert_eq!(
            tracker.rate("c", 3_000_000_000, 600_000_000),
            Some(100_000_000)
        );
        tracker.retain(&|_| false);
        assert_eq!(tracker.rate("c", 4_000_000_000, 600_000_000), None);
    }
}
