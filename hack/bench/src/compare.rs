//! `cradle-bench compare FILE…`: one side-by-side table from the JSON
//! reports of several runs (what `hack/bench.sh` prints at the end). Reads
//! the JSON generically, so reports from older builds still compare.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use crate::cells::{f, mib, row};
use crate::{compare_fleet, goals};

/// Median / p95 of the phase called `name` in a `phases` list of [name, summary].
fn phase(report: &Value, name: &str) -> String {
    let found = report["phases"].as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p[0].as_str() == Some(name))
            .map(|p| (f(&p[1], &["median_ms"]), f(&p[1], &["p95_ms"])))
    });
    match found {
        Some((Some(m), Some(p))) => format!("{m:.1} / {p:.1}"),
        _ => "-".into(),
    }
}

/// The CRI section: one column per run.
pub fn cri_table(runs: &[Value]) -> String {
    let mut out = String::new();
    let heads: Vec<String> = runs
        .iter()
        .map(|r| {
            let name = r["runtime"]
                .as_str()
                .unwrap_or("?")
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_string();
            format!("{name} x{}", r["concurrency"].as_u64().unwrap_or(1))
        })
        .collect();
    row(&mut out, "CRI, ms median / p95", &heads);
    for name in [
        "pod start (RunPodSandbox)",
        "container create",
        "container start",
        "start -> exited",
        "create -> exited",
        "teardown (stop+remove both)",
        "  StopContainer",
        "  RemoveContainer",
        "  StopPodSandbox",
        "  RemovePodSandbox",
        "whole pod lifecycle",
    ] {
        let cells: Vec<String> = runs.iter().map(|r| phase(r, name)).collect();
        row(&mut out, name, &cells);
    }
    let cells: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.2}", f(r, &["pods_per_s"]).unwrap_or(0.0)))
        .collect();
    row(&mut out, "pods/s", &cells);
    let cells: Vec<String> = runs.iter().map(|r| r["failures"].to_string()).collect();
    row(&mut out, "failed iterations", &cells);
    type Mem = (&'static str, &'static [&'static str]);
    let mems: [Mem; 6] = [
        (
            "daemon RSS idle, MiB",
            &["memory", "idle_at_start", "daemon", "mem", "rss_kib"],
        ),
        (
            "daemon RSS idle after runs, MiB",
            &["memory", "idle_after_runs", "daemon", "mem", "rss_kib"],
        ),
        (
            "daemon RSS, 10 pods, MiB",
            &["memory", "with_pods", "daemon", "mem", "rss_kib"],
        ),
        (
            "daemon PSS, 10 pods, MiB",
            &["memory", "with_pods", "daemon", "mem", "pss_kib"],
        ),
        (
            "per pod PSS (shim+pause+ctr), MiB",
            &["memory", "per_pod", "pss_kib"],
        ),
        (
            "per pod RSS (shim+pause+ctr), MiB",
            &["memory", "per_pod", "rss_kib"],
        ),
    ];
    if runs.iter().any(|r| !r["memory"].is_null()) {
        for (label, path) in mems {
            let cells: Vec<String> = runs.iter().map(|r| mib(f(r, path))).collect();
            row(&mut out, label, &cells);
        }
    }
    out
}

pub fn pull_table(runs: &[Value]) -> String {
    let mut out = String::new();
    row(
        &mut out,
        "PULL",
        &[
            "median ms".into(),
            "p95 ms".into(),
            "MiB/s (median)".into(),
            "MiB".into(),
            "cold".into(),
        ],
    );
    for r in runs {
        let cells = vec![
            format!("{:.0}", f(r, &["pull", "median_ms"]).unwrap_or(0.0)),
            format!("{:.0}", f(r, &["pull", "p95_ms"]).unwrap_or(0.0)),
            format!("{:.1}", f(r, &["median_mib_s"]).unwrap_or(0.0)),
            format!("{:.1}", f(r, &["bytes"]).unwrap_or(0.0) / 1048576.0),
            match r["cold_check"]["cold"].as_bool() {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "not checked".into(),
            },
        ];
        row(&mut out, r["runtime"].as_str().unwrap_or("?"), &cells);
    }
    out
}

pub fn oci_table(runtimes: &[Value]) -> String {
    let mut out = String::new();
    row(
        &mut out,
        "OCI create+start+wait+delete",
        &["median ms".into(), "p95 ms".into(), "peak RSS MiB".into()],
    );
    for r in runtimes {
        let mut name = r["runtime"]
            .as_str()
            .unwrap_or("?")
            .rsplit('/')
            .next()
            .unwrap_or("?")
            .to_string();
        if let Some(c) = r["cgroups"].as_str() {
            name = format!("{name} [cgroups {c}]");
        }
        if r["seccomp"].as_bool() == Some(true) {
            name = format!("{name} [seccomp]");
        }
        if let Some(e) = r["error"].as_str() {
            let short: String = e.chars().take(60).collect();
            row(&mut out, &name, &[format!("FAILED: {short}")]);
            continue;
        }
        let total = "create+start+wait+delete";
        let p = phase(r, total);
        let (m, p95) = p.split_once(" / ").unwrap_or(("-", "-"));
        row(&mut out, &name, &[m.into(), p95.into(), mib(oci_peak(r))]);
    }
    let floor = runtimes
        .iter()
        .filter_map(|r| f(r, &["rss_floor_kib"]))
        .reduce(f64::max);
    if let Some(floor) = floor {
        let _ = writeln!(
            out,
            "RSS floor of the measuring trampoline: {} MiB",
            mib(Some(floor))
        );
    }
    out
}

/// The largest peak RSS of a launcher's processes and its container init,
/// KiB; None when the launcher's own figures were not measured (reports
/// from before the trampoline carry figures floored at the bench's RSS, and
/// are shown as they are).
fn oci_peak(r: &Value) -> Option<f64> {
    let launcher: Vec<f64> = ["rss_create", "rss_start", "rss_delete"]
        .iter()
        .filter_map(|k| f(r, &[k, "max_kib"]))
        .collect();
    if launcher.is_empty() {
        return None;
    }
    let init = f(r, &["rss_init", "max_kib"]).unwrap_or(0.0);
    Some(launcher.into_iter().fold(init, f64::max))
}

/// Reads the files and prints one section per kind.
pub fn run(files: &[PathBuf]) -> anyhow::Result<String> {
    let (mut cri, mut pull, mut oci) = (Vec::new(), Vec::new(), Vec::new());
    let (mut density, mut conc) = (Vec::new(), Vec::new());
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("{}", file.display()))?;
        match &v {
            Value::Array(items) => oci.extend(items.iter().cloned()),
            _ if v["kind"] == "density" => density.push(v),
            _ if v["kind"] == "concurrency" => conc.push(v),
            _ if v.get("bytes_source").is_some() => pull.push(v),
            _ => cri.push(v),
        }
    }
    let mut out = String::new();
    if !cri.is_empty() {
        out += &cri_table(&cri);
        out.push('\n');
    }
    if !pull.is_empty() {
        out += &pull_table(&pull);
        out.push('\n');
    }
    if !density.is_empty() {
        out += &compare_fleet::density_table(&density);
        out.push('\n');
    }
    if !conc.is_empty() {
        out += &compare_fleet::concurrency_table(&conc);
        out.push('\n');
    }
    if !density.is_empty() || !conc.is_empty() {
        out += &goals::table(&density, &conc);
        out.push('\n');
    }
    if !oci.is_empty() {
        out += &oci_table(&oci);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_cell_shows_median_and_p95_or_a_dash() {
        let r = serde_json::json!({"phases": [["container start", {"median_ms": 1.25, "p95_ms": 3.0}]]});
        assert_eq!(phase(&r, "container start"), "1.2 / 3.0");
        assert_eq!(phase(&r, "container create"), "-");
    }

    #[test]
    fn oci_table_shows_peak_rss_and_the_trampoline_floor() {
        let run = |runtime: &str, floor: u64| {
            serde_json::json!({
                "runtime": runtime, "cgroups": "host",
                "phases": [["create+start+wait+delete", {"median_ms": 30.0, "p95_ms": 40.0}]],
                "rss_create": {"max_kib": 2048, "median_kib": 2000},
                "rss_start": {"max_kib": 2560, "median_kib": 2500},
                "rss_delete": {"max_kib": 1024, "median_kib": 1000},
                "rss_init": {"max_kib": 1536, "median_kib": 1500},
                "rss_floor_kib": floor,
            })
        };
        let t = oci_table(&[run("/a/cradle-oci", 300), run("/usr/sbin/runc", 410)]);
        assert!(t.contains("2.5"), "{t}");
        assert!(
            t.contains("RSS floor of the measuring trampoline: 0.4 MiB"),
            "{t}"
        );
    }

    #[test]
    fn launcher_without_rss_figures_shows_a_dash() {
        let r = serde_json::json!({"rss_create": null, "rss_init": {"max_kib": 1536}});
        assert_eq!(oci_peak(&r), None);
    }

    #[test]
    fn failed_launcher_is_shown_with_its_error() {
        let t = oci_table(&[
            serde_json::json!({"runtime": "/usr/bin/crun", "error": "cgroups in hybrid mode not supported"}),
        ]);
        assert!(t.contains("crun"));
        assert!(t.contains("FAILED: cgroups in hybrid mode"));
    }
}
