//! CPU usage in nano-cores needs two samples, so the last sample of every
//! container is kept ([`CpuTracker`]), as containerd does.

use std::collections::HashMap;
use std::sync::Mutex;

/// The previous CPU sample of each container, to turn cumulative usage into a rate.
#[derive(Debug, Default)]
pub struct CpuTracker {
    last: Mutex<HashMap<String, (i64, u64)>>,
}

impl CpuTracker {
    /// Records `(timestamp_ns, usage_ns)` for `id` and returns the rate since the
    /// previous sample in nano-cores (`None` on the first sample).
    pub fn rate(&self, id: &str, timestamp_ns: i64, usage_ns: u64) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let previous = last.insert(id.to_string(), (timestamp_ns, usage_ns));
        let (t0, u0) = previous?;
        let elapsed = u64::try_from(timestamp_ns.checked_sub(t0)?)
            .ok()
            .filter(|e| *e > 0)?;
        let used = usage_ns.checked_sub(u0)?;
        // nano-cores = used CPU ns per wall ns, times 1e9.
        Some(
            u64::try_from(u128::from(used) * 1_000_000_000 / u128::from(elapsed))
                .unwrap_or(u64::MAX),
        )
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
        tracker.retain(&|_| false);
        assert_eq!(tracker.rate("c", 3_000_000_000, 600_000_000), None);
    }
}
