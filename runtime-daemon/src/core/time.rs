//! Wall-clock timestamps in the CRI's unit (nanoseconds since the epoch).

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, as CRI `created_at`/`started_at`/`finished_at` carry them.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
