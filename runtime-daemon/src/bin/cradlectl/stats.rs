//! `stats`: a table of the running containers' resource usage, with CPU %
//! from two samples of their CPU time over an interval; `--watch` redraws it
//! until interrupted.

use crate::connect::Runtime;
use crate::output::{self, Format};
use crate::table::{self, Table};
use cradle_proto::cri;
use std::collections::HashMap;
use std::time::Duration;

/// `cradlectl stats` options.
#[derive(Debug, clap::Args)]
pub struct Stats {
    /// Only this container (id or a unique prefix of it).
    id: Option<String>,
    /// Redraw the table every interval until interrupted.
    #[arg(long, short)]
    watch: bool,
    /// Seconds between the two CPU samples (and between redraws).
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
}

/// One container's CPU time (ns) at a time (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuSample {
    at: i64,
    used: u64,
}

fn cpu_sample(stats: &cri::ContainerStats) -> Option<CpuSample> {
    let cpu = stats.cpu.as_ref()?;
    Some(CpuSample {
        at: cpu.timestamp,
        used: cpu.usage_core_nano_seconds.as_ref()?.value,
    })
}

fn id_of(stats: &cri::ContainerStats) -> &str {
    stats.attributes.as_ref().map_or("", |a| a.id.as_str())
}

/// CPU % between two samples (100 % = one core busy); `None` without a
/// usable interval.
fn cpu_percent(before: CpuSample, after: CpuSample, wall: Duration) -> Option<f64> {
    let elapsed = match after.at.checked_sub(before.at) {
        Some(ns) if ns > 0 => ns as f64,
        _ if !wall.is_zero() => wall.as_nanos() as f64,
        _ => return None,
    };
    let used = after.used.checked_sub(before.used)? as f64;
    Some(used / elapsed * 100.0)
}

/// The stats table of `now`, CPU % against `before` (the previous sample,
/// by container id) over `wall` if the samples carry no timestamps.
fn stats_table(
    now: &[cri::ContainerStats],
    before: &HashMap<String, CpuSample>,
    wall: Duration,
) -> Table {
    let mut table = Table::new(&["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"]);
    for stats in now {
        let attributes = stats.attributes.clone().unwrap_or_default();
        let name = attributes.metadata.map(|m| m.name).unwrap_or_default();
        let cpu = before
            .get(&attributes.id)
            .zip(cpu_sample(stats))
            .and_then(|(before, after)| cpu_percent(*before, after, wall))
            .map_or("-".to_string(), |percent| format!("{percent:.2}"));
        let value = |v: Option<&cri::UInt64Value>| v.map(|v| v.value);
        let memory = value(
            stats
                .memory
                .as_ref()
                .and_then(|m| m.working_set_bytes.as_ref()),
        );
        let layer = stats.writable_layer.as_ref();
        let disk = value(layer.and_then(|l| l.used_bytes.as_ref()));
        let inodes = value(layer.and_then(|l| l.inodes_used.as_ref()));
        table.row(vec![
            table::short_id(&attributes.id),
            name,
            cpu,
            memory.map_or("-".into(), table::size),
            disk.map_or("-".into(), table::size),
            inodes.map_or("-".into(), |n| n.to_string()),
        ]);
    }
    table
}

async fn sample(
    rt: &mut Runtime,
    id: &Option<String>,
) -> anyhow::Result<cri::ListContainerStatsResponse> {
    let mut answer = rt
        .list_container_stats(cri::ListContainerStatsRequest::default())
        .await?
        .into_inner();
    if let Some(id) = id {
        answer
            .stats
            .retain(|stats| id_of(stats).starts_with(id.as_str()));
    }
    answer.stats.sort_by(|a, b| {
        let name = |s: &cri::ContainerStats| {
            s.attributes
                .as_ref()
                .and_then(|a| a.metadata.as_ref())
                .map(|m| m.name.clone())
        };
        name(a).cmp(&name(b)).then(id_of(a).cmp(id_of(b)))
    });
    Ok(answer)
}

fn samples(answer: &cri::ListContainerStatsResponse) -> HashMap<String, CpuSample> {
    answer
        .stats
        .iter()
        .filter_map(|stats| Some((id_of(stats).to_string(), cpu_sample(stats)?)))
        .collect()
}

/// `stats`: one table from two samples, or a redrawn one with `--watch`;
/// `-o json|yaml` prints the second sample's CRI response.
pub async fn run(rt: &mut Runtime, options: Stats, format: Format) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    anyhow::ensure!(
        options.interval.is_finite() && options.interval > 0.0,
        "--interval must be a positive number of seconds"
    );
    let interval = Duration::from_secs_f64(options.interval);
    let clear = options.watch && format == Format::Table && std::io::stdout().is_terminal();
    let mut before = samples(&sample(rt, &options.id).await?);
    loop {
        tokio::time::sleep(interval).await;
        let now = sample(rt, &options.id).await?;
        match format {
            Format::Table => {
                let text = stats_table(&now.stats, &before, interval).render();
                if clear {
                    output::raw(&format!("\x1b[2J\x1b[H{text}"))?;
                } else {
                    if options.watch {
                        output::line("")?;
                    }
                    output::raw(&text)?;
                }
            }
            _ => output::document(&now, format, Format::Json)?,
        }
        if !options.watch {
            return Ok(());
        }
        before = samples(&now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(id: &str, name: &str, at: i64, used: u64) -> cri::ContainerStats {
        cri::ContainerStats {
            attributes: Some(cri::ContainerAttributes {
                id: id.into(),
                metadata: Some(cri::ContainerMetadata {
                    name: name.into(),
                    attempt: 0,
                }),
                ..Default::default()
            }),
            cpu: Some(cri::CpuUsage {
                timestamp: at,
                usage_core_nano_seconds: Some(cri::UInt64Value { value: used }),
                ..Default::default()
            }),
            memory: Some(cri::MemoryUsage {
                working_set_bytes: Some(cri::UInt64Value { value: 2_000_000 }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_percent_is_cpu_time_over_elapsed_time() {
        let before = CpuSample { at: 0, used: 0 };
        let after = CpuSample {
            at: 1_000_000_000,
            used: 500_000_000,
        };
        assert_eq!(cpu_percent(before, after, Duration::ZERO), Some(50.0));
        // No timestamps: the wall interval.
        let after = CpuSample {
            at: 0,
            used: 2_000_000_000,
        };
        assert_eq!(
            cpu_percent(before, after, Duration::from_secs(1)),
            Some(200.0)
        );
        // A counter that went back (a restarted container) has no value.
        assert_eq!(cpu_percent(after, before, Duration::from_secs(1)), None);
    }

    #[test]
    fn the_table_shows_cpu_only_with_a_previous_sample() {
        let first = stats("aaaaaaaaaaaaaaaa", "web", 0, 0);
        let before = samples(&cri::ListContainerStatsResponse { stats: vec![first] });
        let now = [
            stats("aaaaaaaaaaaaaaaa", "web", 1_000_000_000, 250_000_000),
            stats("bbbbbbbbbbbbbbbb", "db", 1_000_000_000, 1),
        ];
        let text = stats_table(&now, &before, Duration::from_secs(1)).render();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("CONTAINER"), "{text}");
        let web: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(web, ["aaaaaaaaaaaaa", "web", "25.00", "2MB", "-", "-"]);
        let db: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(db[2], "-");
    }
}
