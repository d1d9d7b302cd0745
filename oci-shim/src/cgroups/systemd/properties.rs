//! The properties of a container's transient scope: what every scope
//! gets at StartTransientUnit (description, slice, the init's pid,
//! delegation, accounting) and the resource limits systemd itself
//! manages, given with SetUnitProperties so that a later re-realisation
//! of the unit by systemd (daemon-reload) keeps them. The names and
//! conversions are runc's (libcontainer/cgroups/systemd v1.go and v2.go).

use crate::cgroups::blockio::weight_to_v2;
use crate::cgroups::convert::{shares_to_weight, swap_v2};
use crate::cgroups::error::CgroupError;
use crate::cgroups::systemd::unit::Unit;
use crate::spec::LinuxResources;

/// systemd's "infinity" for limits and quotas (`USEC_INFINITY`, `CGROUP_LIMIT_MAX`).
pub const INFINITY: u64 = u64::MAX;

/// The period systemd assumes when a quota comes without one (µs).
const DEFAULT_PERIOD: u64 = 100_000;

/// A property value, in the D-Bus types systemd expects for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// `s`.
    Str(String),
    /// `b`.
    Bool(bool),
    /// `t`.
    U64(u64),
    /// `au` (a list of pids).
    U32s(Vec<u32>),
    /// `ay` (a CPU or NUMA node bitmask, lowest bits first).
    Bytes(Vec<u8>),
}

/// One `(sv)` entry of a unit's property array.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Property {
    /// The property's name (`MemoryMax`).
    pub name: String,
    /// Its value.
    pub value: Value,
}

fn prop(name: &str, value: Value) -> Property {
    Property {
        name: name.to_string(),
        value,
    }
}

/// What every container scope starts with: a description naming the
/// container, its slice, `pid` in it, delegation (the runtime writes the
/// scope's files itself) and accounting for the controllers it limits.
/// No default dependencies, as runc: a container's scope must not wait
/// for (or be stopped by) the boot and shutdown targets.
pub fn scope_start(unit: &Unit, id: &str, pid: u32) -> Vec<Property> {
    vec![
        prop("Description", Value::Str(format!("cradle container {id}"))),
        prop("Slice", Value::Str(unit.slice().to_string())),
        prop("PIDs", Value::U32s(vec![pid])),
        prop("Delegate", Value::Bool(true)),
        prop("DefaultDependencies", Value::Bool(false)),
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop("TasksAccounting", Value::Bool(true)),
        prop("IOAccounting", Value::Bool(true)),
    ]
}

/// The limits of `res` that systemd manages, as its properties: on v2
/// `MemoryMax`, `MemoryLow`, `MemorySwapMax`, `CPUWeight`, the CPU quota,
/// `TasksMax`, `AllowedCPUs`/`AllowedMemoryNodes` and `IOWeight`; on v1
/// `MemoryLimit`, `CPUShares`, the CPU quota, `TasksMax` and
/// `BlockIOWeight`. Everything else is written to the scope's files.
pub fn resources(res: &LinuxResources, v2: bool) -> Result<Vec<Property>, CgroupError> {
    let mut out = Vec::new();
    if let Some(mem) = &res.memory {
        if let Some(l) = mem.limit.filter(|l| *l != 0) {
            let name = if v2 { "MemoryMax" } else { "MemoryLimit" };
            out.push(prop(name, Value::U64(limit(l))));
        }
        if v2 {
            if let Some(r) = mem.reservation.filter(|r| *r != 0) {
                out.push(prop("MemoryLow", Value::U64(limit(r))));
            }
            if let Some(s) =
                swap_v2(mem.limit, mem.swap).map_err(|why| unsupported("memory.swap", why))?
            {
                let v = if s == "max" {
                    INFINITY
                } else {
                    s.parse()
                        .map_err(|_| unsupported("memory.swap", "not a number"))?
                };
                out.push(prop("MemorySwapMax", Value::U64(v)));
            }
        }
    }
    if let Some(cpu) = &res.cpu {
        if let Some(s) = cpu.shares.filter(|s| *s > 0) {
            out.push(if v2 {
                prop("CPUWeight", Value::U64(shares_to_weight(s)))
            } else {
                prop("CPUShares", Value::U64(s))
            });
        }
        out.extend(cpu_quota(cpu.quota, cpu.period));
        if v2 {
            if let Some(c) = cpu.cpus.as_deref().filter(|c| !c.is_empty()) {
                let bits = range_to_bits(c).map_err(|why| unsupported("cpu.cpus", why))?;
                out.push(prop("AllowedCPUs", Value::Bytes(bits)));
            }
            if let Some(m) = cpu.mems.as_deref().filter(|m| !m.is_empty()) {
                let bits = range_to_bits(m).map_err(|why| unsupported("cpu.mems", why))?;
                out.push(prop("AllowedMemoryNodes", Value::Bytes(bits)));
            }
        }
    }
    if let Some(p) = &res.pids {
        let v = if p.limit > 0 {
            u64::try_from(p.limit).unwrap_or(INFINITY)
        } else {
            INFINITY
        };
        out.push(prop("TasksMax", Value::U64(v)));
    }
    if let Some(w) = res.block_io.as_ref().and_then(|b| b.weight) {
        out.push(if v2 {
            prop("IOWeight", Value::U64(weight_to_v2(w)))
        } else {
            prop("BlockIOWeight", Value::U64(u64::from(w)))
        });
    }
    Ok(out)
}

fn unsupported(field: &str, why: impl Into<String>) -> CgroupError {
    CgroupError::Unsupported {
        field: field.to_string(),
        reason: why.into(),
    }
}

/// A memory limit: negative is unlimited.
fn limit(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(INFINITY)
}

/// runc's `addCpuQuota`: `CPUQuotaPeriodUSec` when a period is given (systemd
/// 242 and later) and `CPUQuotaPerSecUSec` = quota per second of CPU,
/// rounded up to 10 ms (systemd keeps it as a whole percentage), infinity
/// without a positive quota.
fn cpu_quota(quota: Option<i64>, period: Option<u64>) -> Vec<Property> {
    let mut out = Vec::new();
    let period = period.filter(|p| *p != 0);
    let quota = quota.filter(|q| *q != 0);
    if let Some(p) = period {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
    }
    if quota.is_none() && period.is_none() {
        return out;
    }
    let per_sec = match quota.and_then(|q| u64::try_from(q).ok()) {
        Some(q) => {
            let p = period.unwrap_or(DEFAULT_PERIOD);
            let v = q.saturating_mul(1_000_000) / p;
            if v.is_multiple_of(10_000) {
                v
            } else {
                (v / 10_000 + 1).saturating_mul(10_000)
            }
        }
        None => INFINITY,
    };
    out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    out
}

/// The most CPUs or nodes a list may name (systemd's own cap is 8192).
const MAX_BIT: usize = 8191;

/// A cpuset list (`0-3,8`) as systemd's bitmask: byte 0 holds CPUs 0–7,
/// lowest bit first.
pub fn range_to_bits(list: &str) -> Result<Vec<u8>, String> {
    let mut bytes: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a, list)?, num(b, list)?),
            None => (num(part, list)?, num(part, list)?),
        };
        if lo > hi || hi > MAX_BIT {
            return Err(format!("{list:?}: bad range {part:?}"));
        }
        if bytes.len() <= hi / 8 {
            bytes.resize(hi / 8 + 1, 0);
        }
        for bit in lo..=hi {
            bytes[bit / 8] |= 1 << (bit % 8);
        }
    }
    if bytes.is_empty() {
        return Err(format!("{list:?} names no CPU or node"));
    }
    Ok(bytes)
}

fn num(s: &str, list: &str) -> Result<usize, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{list:?}: {s:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn get<'a>(props: &'a [Property], name: &str) -> Option<&'a Value> {
        props.iter().find(|p| p.name == name).map(|p| &p.value)
    }

    #[test]
    fn a_scope_starts_delegated_in_its_slice_with_the_init() {
        let unit = Unit::from_cgroups_path("kubepods.slice:cri-cradle:c1", "c1").unwrap();
        let p = scope_start(&unit, "c1", 4242);
        assert_eq!(get(&p, "Slice"), Some(&Value::Str("kubepods.slice".into())));
        assert_eq!(get(&p, "PIDs"), Some(&Value::U32s(vec![4242])));
        assert_eq!(get(&p, "Delegate"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "DefaultDependencies"), Some(&Value::Bool(false)));
        for a in [
            "MemoryAccounting",
            "CPUAccounting",
            "TasksAccounting",
            "IOAccounting",
        ] {
            assert_eq!(get(&p, a), Some(&Value::Bool(true)), "{a}");
        }
    }

    #[test]
    fn v2_limits_become_systemds_properties_with_runcs_conversions() {
        let p = resources(
            &res(serde_json::json!({
                "memory": {"limit": 1048576, "swap": 3145728, "reservation": 4096},
                "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,9"},
                "pids": {"limit": 10},
                "blockIO": {"weight": 500}
            })),
            true,
        )
        .unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(1_048_576)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(4096)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(2_097_152)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(10)));
        assert_eq!(
            get(&p, "AllowedCPUs"),
            Some(&Value::Bytes(vec![0b11, 0b10]))
        );
        assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(4950)));
        assert_eq!(get(&p, "MemoryLimit"), None);
    }

    #[test]
    fn v1_limits_use_the_legacy_names() {
        let p = resources(
            &res(serde_json::json!({
                "memory": {"limit": -1},
                "cpu": {"shares": 512, "quota": 12345},
                "pids": {"limit": -1},
                "blockIO": {"weight": 300}
            })),
            false,
        )
        .unwrap();
        assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(INFINITY)));
        assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
        // 12345 µs per 100 ms is 123450 µs/s, rounded up to 10 ms.
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(130_000)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(INFINITY)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
        assert_eq!(get(&p, "CPUWeight"), None);
    }

    #[test]
    fn an_unlimited_quota_is_infinity() {
        let p = cpu_quota(Some(-1), Some(20_000));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(INFINITY)));
        assert!(cpu_quota(None, None).is_empty());
    }

    #[test]
    fn cpu_lists_become_bitmasks() {
        assert_eq!(range_to_bits("0").unwrap(), vec![1]);
        assert_eq!(range_to_bits("0-7,8").unwrap(), vec![0xff, 1]);
        assert!(range_to_bits("3-1").is_err());
        assert!(range_to_bits("x").is_err());
        assert!(range_to_bits("").is_err());
        assert!(range_to_bits("0-99999").is_err());
    }

    #[test]
    fn swap_without_a_memory_limit_is_refused() {
        let e = resources(&res(serde_json::json!({"memory": {"swap": 100}})), true).unwrap_err();
        assert!(e.to_string().contains("memory.swap"), "{e}");
    }
}
