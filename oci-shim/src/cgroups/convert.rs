//! Pure mappings between OCI resource values and cgroup file contents,
//! kept apart so they are unit-tested without root.

/// cgroup v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000), the
/// formula runc, crun and the kubelet agree on.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// OCI `memory.swap` is memory+swap; v2 `memory.swap.max` is swap alone.
/// runc's `ConvertMemorySwapToCgroupV2Value`: the value to write (`None`:
/// nothing to write), or why the pair cannot be converted. An unlimited
/// memory with no swap given means unlimited swap too (v1's behaviour).
pub fn swap_v2(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>, String> {
    let (memory, swap) = (limit.unwrap_or(0), swap.unwrap_or(0));
    if swap == -1 || (memory == -1 && swap == 0) {
        return Ok(Some("max".into()));
    }
    if swap == 0 {
        return Ok(None);
    }
    if memory == 0 || memory == -1 {
        return Err("a swap limit needs a memory limit (memory.limit)".into());
    }
    if memory < 0 || swap < 0 {
        return Err(format!("invalid memory {memory} or swap {swap}"));
    }
    if swap < memory {
        return Err(format!(
            "memory+swap {swap} is below the memory limit {memory}"
        ));
    }
    Ok(Some((swap - memory).to_string()))
}

/// A memory or pids limit as a v2 value: negative means `max`.
pub(super) fn limit_v2(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// v2 `cpu.max`: `"<quota|max> <period>"`.
pub(super) fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    if quota.is_none() && period.is_none() {
        return None;
    }
    let q = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    Some(format!("{q} {}", period.unwrap_or(100_000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_to_weight_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 0);
    }

    #[test]
    fn swap_is_swap_minus_memory_on_v2() {
        assert_eq!(swap_v2(Some(100), Some(300)), Ok(Some("200".into())));
        assert_eq!(swap_v2(Some(100), Some(100)), Ok(Some("0".into())));
        assert_eq!(swap_v2(Some(100), Some(-1)), Ok(Some("max".into())));
        assert_eq!(swap_v2(Some(-1), None), Ok(Some("max".into())));
        assert_eq!(swap_v2(Some(100), None), Ok(None));
        assert_eq!(swap_v2(None, None), Ok(None));
    }

    #[test]
    fn swap_that_v2_cannot_express_is_refused_like_runc() {
        assert!(swap_v2(None, Some(300)).is_err());
        assert!(swap_v2(Some(-1), Some(300)).is_err());
        assert!(swap_v2(Some(300), Some(100)).is_err());
    }

    #[test]
    fn cpu_max_defaults_period_and_unlimited_quota() {
        assert_eq!(cpu_max(Some(50_000), None), Some("50000 100000".into()));
        assert_eq!(cpu_max(Some(-1), Some(20_000)), Some("max 20000".into()));
        assert_eq!(cpu_max(None, None), None);
    }

    #[test]
    fn negative_limits_are_max() {
        assert_eq!(limit_v2(-1), "max");
        assert_eq!(limit_v2(4096), "4096");
    }
}
