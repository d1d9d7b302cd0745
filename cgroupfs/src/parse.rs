//! The formats of cgroup stat files (and the `/proc` status lines read
//! alongside them), as pure functions over their text so every one is
//! tested on samples without a cgroup.

use std::collections::HashMap;

/// A file holding one number (`memory.current`, `pids.current`).
pub fn u64_value(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A limit file's value (`pids.max`, `memory.max`): a number or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// No limit.
    Max,
    /// This many (bytes, pids…).
    Value(u64),
}

/// Parses a limit file: `max` or a number.
pub fn limit(text: &str) -> Option<Limit> {
    match text.trim() {
        "max" => Some(Limit::Max),
        n => n.parse().ok().map(Limit::Value),
    }
}

/// `key value` lines (memory.stat, cpu.stat, memory.events) as a map; a
/// line whose value is not a number is left out.
pub fn keyed(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The value of `key` in a flat keyed file (memory.events,
/// memory.oom_control, cgroup.events), fields split on any whitespace.
pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// The value of `Key:\tvalue` (a `/proc/<pid>/status` line).
pub fn colon_value(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// One block device's I/O counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceIo {
    /// The device's major number.
    pub major: u64,
    /// The device's minor number.
    pub minor: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub reads: u64,
    /// Write operations.
    pub writes: u64,
}

/// `MAJ:MIN` as numbers.
pub fn device(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` lines.
pub fn io_stat(text: &str) -> Vec<DeviceIo> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = device(fields.next()?)?;
            let mut io = DeviceIo {
                major,
                minor,
                ..Default::default()
            };
            for kv in fields {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let v = v.parse().unwrap_or(0);
                match k {
                    "rbytes" => io.read_bytes = v,
                    "wbytes" => io.write_bytes = v,
                    "rios" => io.reads = v,
                    "wios" => io.writes = v,
                    _ => {}
                }
            }
            Some(io)
        })
        .collect()
}

/// v1 blkio: `MAJ:MIN Read|Write|… N` lines, of bytes
/// (`blkio.throttle.io_service_bytes_recursive`) and of operations
/// (`blkio.throttle.io_serviced_recursive`), merged per device in the
/// order devices first appear.
pub fn blkio(bytes: &str, ops: &str) -> Vec<DeviceIo> {
    let mut by_dev: Vec<DeviceIo> = Vec::new();
    for (text, is_bytes) in [(bytes, true), (ops, false)] {
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [d, op, n] = fields[..] else { continue };
            let (Some((major, minor)), Ok(n)) = (device(d), n.parse::<u64>()) else {
                continue;
            };
            let pos = match by_dev
                .iter()
                .position(|x| (x.major, x.minor) == (major, minor))
            {
                Some(p) => p,
                None => {
                    by_dev.push(DeviceIo {
                        major,
                        minor,
                        ..Default::default()
                    });
                    by_dev.len() - 1
                }
            };
            let Some(io) = by_dev.get_mut(pos) else {
                continue;
            };
            match (op, is_bytes) {
                ("Read", true) => io.read_bytes = n,
                ("Write", true) => io.write_bytes = n,
                ("Read", false) => io.reads = n,
                ("Write", false) => io.writes = n,
                _ => {}
            }
        }
    }
    by_dev
}

/// The page size (`2MB`, `1GB`) of a hugetlb usage file name: v1
/// `hugetlb.<size>.usage_in_bytes`, v2 `hugetlb.<size>.current`; `None`
/// for every other file (limits, reservations, events).
pub fn hugetlb_usage_size(file_name: &str, v2: bool) -> Option<&str> {
    let (size, rest) = file_name.strip_prefix("hugetlb.")?.split_once('.')?;
    let usage = if v2 { "current" } else { "usage_in_bytes" };
    (rest == usage).then_some(size)
}

/// One line of a pressure stall file: the share of wall time tasks were
/// stalled, averaged over 10, 60 and 300 seconds, and the total in µs.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PsiLine {
    /// Percent over the last 10 seconds.
    pub avg10: f64,
    /// Percent over the last 60 seconds.
    pub avg60: f64,
    /// Percent over the last 300 seconds.
    pub avg300: f64,
    /// Total stall time, microseconds.
    pub total_us: u64,
}

/// A pressure stall file (`cpu.pressure`, `memory.pressure`,
/// `io.pressure`, v2 with PSI enabled).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Psi {
    /// Some task stalled.
    pub some: PsiLine,
    /// Every task stalled (absent from older kernels' `cpu.pressure`).
    pub full: Option<PsiLine>,
}

/// Parses a pressure stall file; `None` without a `some` line.
pub fn psi(text: &str) -> Option<Psi> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let kind = fields.next();
        let mut parsed = PsiLine::default();
        for kv in fields {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => parsed.avg10 = v.parse().ok()?,
                "avg60" => parsed.avg60 = v.parse().ok()?,
                "avg300" => parsed.avg300 = v.parse().ok()?,
                "total" => parsed.total_us = v.parse().ok()?,
                _ => {}
            }
        }
        match kind {
            Some("some") => some = Some(parsed),
            Some("full") => full = Some(parsed),
            _ => {}
        }
    }
    Some(Psi { some: some?, full })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
