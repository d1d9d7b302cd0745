//! The side-by-side sections of `density` and `concurrency` reports: one
//! column per run, one row per figure and level.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cells::{f, med_p99, mib, row, runtime_name};

/// The level of `run` whose `key` is `value` (`target` pods, `clients`).
pub fn level<'a>(run: &'a Value, key: &str, value: u64) -> Option<&'a Value> {
    run["levels"]
        .as_array()?
        .iter()
        .find(|l| l[key].as_u64() == Some(value))
}

/// Every value of `key` over the levels of all runs, ascending.
fn level_keys(runs: &[Value], key: &str) -> BTreeSet<u64> {
    runs.iter()
        .filter_map(|r| r["levels"].as_array())
        .flatten()
        .filter_map(|l| l[key].as_u64())
        .collect()
}

/// The figures of `rpc` at a level.
fn rpc_entry<'a>(level: &'a Value, rpc: &str) -> Option<&'a Value> {
    level["rpcs"]
        .as_array()?
        .iter()
        .find(|c| c["rpc"].as_str() == Some(rpc))
}

/// The latency summary of `rpc`'s successful calls at a level.
pub fn rpc<'a>(level: &'a Value, rpc: &str) -> Option<&'a Value> {
    rpc_entry(level, rpc).map(|c| &c["latency"])
}

/// `median / p99` of `rpc` at a level; with failed calls, over every call
/// (what the caller waited) and followed by their count.
pub fn rpc_cell(level: &Value, rpc: &str) -> String {
    let Some(c) = rpc_entry(level, rpc) else {
        return "-".into();
    };
    match c["errors"].as_u64().unwrap_or(0) {
        0 => med_p99(&c["latency"]),
        n if c["latency_all"].is_object() => format!("{} ({n} err)", med_p99(&c["latency_all"])),
        n => format!("{} ({n} err)", med_p99(&c["latency"])),
    }
}

/// The density section.
pub fn density_table(runs: &[Value]) -> String {
    let mut out = String::new();
    let heads: Vec<String> = runs.iter().map(runtime_name).collect();
    row(&mut out, "DENSITY", &heads);
    let idle: Vec<String> = runs
        .iter()
        .map(|r| mib(f(r, &["idle", "daemon", "mem", "rss_kib"])))
        .collect();
    row(&mut out, "daemon RSS MiB before the pods", &idle);
    for target in level_keys(runs, "target") {
        let at: Vec<Option<&Value>> = runs.iter().map(|r| level(r, "target", target)).collect();
        let cells = |cell: &dyn Fn(&Value) -> String| -> Vec<String> {
            at.iter().map(|l| l.map_or("-".into(), cell)).collect()
        };
        row(
            &mut out,
            &format!("{target} pods: running"),
            &cells(&|l| l["pods"].to_string()),
        );
        for name in [
            "ListPodSandbox",
            "ListContainers",
            "ListContainerStats",
            "ListPodSandboxStats",
            "ImageFsInfo",
        ] {
            row(
                &mut out,
                &format!("  {name} ms med/p99"),
                &cells(&|l| rpc_cell(l, name)),
            );
        }
        let figures: [(&str, &[&str], bool); 5] = [
            ("  daemon RSS MiB", &["daemon", "mem", "rss_kib"], true),
            (
                "  daemon CPU s in the calls",
                &["calls_daemon_cpu_s"],
                false,
            ),
            ("  per pod PSS MiB (all)", &["per_pod", "pss_kib"], true),
            (
                "  per pod PSS MiB (shim+pause)",
                &["per_pod_overhead", "pss_kib"],
                true,
            ),
            ("  node used MiB", &["node_used_kib"], true),
        ];
        for (label, path, kib) in figures {
            row(
                &mut out,
                label,
                &cells(&|l| {
                    if kib {
                        mib(f(l, path))
                    } else {
                        f(l, path).map_or("-".into(), |v| format!("{v:.2}"))
                    }
                }),
            );
        }
    }
    out
}

/// The concurrency section.
pub fn concurrency_table(runs: &[Value]) -> String {
    let mut out = String::new();
    let heads: Vec<String> = runs.iter().map(runtime_name).collect();
    row(&mut out, "CONCURRENT POD STARTS", &heads);
    for clients in level_keys(runs, "clients") {
        let at: Vec<Option<&Value>> = runs.iter().map(|r| level(r, "clients", clients)).collect();
        let start: Vec<String> = at
            .iter()
            .map(|l| l.map_or("-".into(), |l| med_p99(&l["start"])))
            .collect();
        row(
            &mut out,
            &format!("{clients} clients: start ms med/p99"),
            &start,
        );
        let rate: Vec<String> = at
            .iter()
            .map(|l| {
                l.and_then(|l| f(l, &["pods_per_s"]))
                    .map_or("-".into(), |v| format!("{v:.2}"))
            })
            .collect();
        row(&mut out, &format!("{clients} clients: pods/s"), &rate);
        let failed: Vec<String> = at
            .iter()
            .map(|l| l.map_or("-".into(), |l| l["failures"].to_string()))
            .collect();
        row(&mut out, &format!("{clients} clients: failed"), &failed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn density_run(runtime: &str, p99: f64) -> Value {
        serde_json::json!({
            "kind": "density", "runtime": runtime,
            "levels": [{"target": 10, "pods": 10,
                "rpcs": [{"rpc": "ListContainers", "latency": {"median_ms": 0.5, "p99_ms": p99}},
                         {"rpc": "ImageFsInfo", "errors": 3, "latency": null,
                          "latency_all": {"median_ms": 4000.0, "p99_ms": 5000.0}}],
                "daemon": {"mem": {"rss_kib": 10240}}, "calls_daemon_cpu_s": 0.25}]
        })
    }

    #[test]
    fn density_rows_show_each_run_at_each_level() {
        let t = density_table(&[
            density_run("cradled 0.1", 1.5),
            density_run("containerd 1.6", 9.0),
        ]);
        assert!(t.contains("10 pods: running"), "{t}");
        let line = t.lines().find(|l| l.contains("ListContainers")).unwrap();
        assert!(
            line.contains("0.50 / 1.50") && line.contains("0.50 / 9.00"),
            "{line}"
        );
        assert!(
            t.lines()
                .any(|l| l.contains("daemon RSS") && l.contains("10.0")),
            "{t}"
        );
        let missing = t
            .lines()
            .find(|l| l.contains("ListPodSandboxStats"))
            .unwrap();
        assert!(missing.trim_end().ends_with('-'), "{missing}");
    }

    #[test]
    fn concurrency_rows_per_client_count() {
        let run = serde_json::json!({"kind": "concurrency", "runtime": "cradled x",
            "levels": [{"clients": 8, "pods_per_s": 12.5, "failures": 0,
                        "start": {"median_ms": 40.0, "p99_ms": 90.0}}]});
        let t = concurrency_table(&[run]);
        assert!(t.contains("8 clients: start ms med/p99"), "{t}");
        assert!(t.contains("40.0 / 90.0") && t.contains("12.50"), "{t}");
    }
}
