//! Process CPU time and node memory from /proc: a process's utime + stime
//! (`/proc/PID/stat`, all its threads) and the node's used memory
//! (`MemTotal - MemAvailable` of `/proc/meminfo`).

/// utime + stime, in clock ticks, of a `/proc/PID/stat` line. The comm may
/// hold spaces and parentheses, so fields are counted from the LAST ')':
/// after it come state (field 3) … utime (14) and stime (15).
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let close = stat.rfind(')')?;
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`_SC_CLK_TCK`, 100 on Linux when unknown).
fn ticks_per_s() -> u64 {
    // SAFETY: sysconf reads a constant of the C library; no memory of ours.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// CPU seconds (user + system) process `pid` has used so far; `None` if it
/// is gone.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_cpu_ticks(&stat)? as f64 / ticks_per_s() as f64)
}

/// `MemTotal` and `MemTotal - MemAvailable` of a `/proc/meminfo`, KiB.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable")?;
    Some((total, total.saturating_sub(available)))
}

/// The node's memory now: (total, used) in KiB.
pub fn node_memory() -> Option<(u64, u64)> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_counted_after_the_comm() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime …
        let s = "77 (a) b (c)) S 1 77 77 0 -1 4194560 10 0 0 0 250 31 7 9 20 0 4";
        assert_eq!(parse_cpu_ticks(s), Some(281));
        assert_eq!(parse_cpu_ticks("77 (x) S 1 2"), None);
    }

    #[test]
    fn meminfo_gives_total_and_total_minus_available() {
        let t = "MemTotal:       24000000 kB\nMemFree:        20000000 kB\n\
                 MemAvailable:   23000000 kB\nBuffers:          100 kB\n";
        assert_eq!(parse_meminfo(t), Some((24_000_000, 1_000_000)));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
    }
}
