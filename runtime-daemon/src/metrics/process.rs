//! The standard `process_*` metrics of the daemon itself, read from
//! `/proc/self` at each scrape (prometheus-client has no process
//! collector).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What `/proc/self/stat` says of the process, in its own units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time, in clock ticks after boot.
    pub start_ticks: u64,
    /// Virtual memory size, in bytes.
    pub vsize: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

/// Parses a `/proc/<pid>/stat` line (the command name, in parentheses, may
/// hold spaces and parentheses: fields are counted after the last `)`).
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    // Field 3 (state) is index 0 here: field n is index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        vsize: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
pub fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Reports the daemon's CPU time, memory, open descriptors and start time.
#[derive(Debug, Default)]
pub struct ProcessCollector;

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf reads a system constant; it takes no pointers.
    let value = unsafe { libc::sysconf(name) };
    u64::try_from(value).ok().filter(|v| *v > 0)
}

fn open_fds() -> Option<i64> {
    let count = std::fs::read_dir("/proc/self/fd").ok()?.count();
    i64::try_from(count).ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| parse_stat(&s));
        let ticks = sysconf(libc::_SC_CLK_TCK);
        let page = sysconf(libc::_SC_PAGESIZE);
        if let (Some(stat), Some(ticks)) = (stat, ticks) {
            let cpu = ConstCounter::new(stat.cpu_ticks as f64 / ticks as f64);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                cpu.metric_type(),
            )?)?;
            let boot = std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|s| parse_boot_time(&s));
            if let Some(boot) = boot {
                let start = ConstGauge::new(boot as f64 + stat.start_ticks as f64 / ticks as f64);
                start.encode(encoder.encode_descriptor(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds",
                    None,
                    start.metric_type(),
                )?)?;
            }
        }
        if let (Some(stat), Some(page)) = (stat, page) {
            let rss = ConstGauge::new(i64::try_from(stat.rss_pages * page).unwrap_or(i64::MAX));
            rss.encode(encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                None,
                rss.metric_type(),
            )?)?;
            let vsize = ConstGauge::new(i64::try_from(stat.vsize).unwrap_or(i64::MAX));
            vsize.encode(encoder.encode_descriptor(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                None,
                vsize.metric_type(),
            )?)?;
        }
        if let Some(fds) = open_fds() {
            let fds = ConstGauge::new(fds);
            fds.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors",
                None,
                fds.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line = "4242 (cra) d (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    150 50 0 0 20 0 8 0 123456 987654321 2048 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                cpu_ticks: 200,
                start_ticks: 123456,
                vsize: 987654321,
                rss_pages: 2048,
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn boot_time_comes_from_the_btime_line() {
        let text = "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n";
        assert_eq!(parse_boot_time(text), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[test]
    fn the_collector_reports_this_process() {
        let metrics = crate::metrics::registry::Metrics::new();
        metrics.add_collector(ProcessCollector);
        let text = metrics.encode().unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        };
        // /proc/self is there wherever this daemon runs (Linux).
        assert!(value("process_resident_memory_bytes") > 0.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_start_time_seconds") > 1_000_000_000.0);
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }
}
