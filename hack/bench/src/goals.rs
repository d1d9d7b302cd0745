//! The goals of issue 17, checked against the density and concurrency
//! reports of a run: Cradle's figure, containerd's beside it, the goal,
//! and whether Cradle meets it.

use serde_json::Value;

use crate::cells::{f, row, runtime_name};
use crate::compare_fleet::{level, rpc};

/// The first report whose runtime name starts with `prefix`.
fn find<'a>(runs: &'a [Value], prefix: &str) -> Option<&'a Value> {
    runs.iter().find(|r| runtime_name(r).starts_with(prefix))
}

/// The level with the most pods (or clients) of a run.
fn top<'a>(run: &'a Value, key: &str) -> Option<&'a Value> {
    run["levels"]
        .as_array()?
        .iter()
        .max_by_key(|l| l[key].as_u64().unwrap_or(0))
}

/// The largest p99 of `rpcs` at a level, ms.
fn worst_p99(level: &Value, rpcs: &[&str]) -> Option<f64> {
    rpcs.iter()
        .map(|name| rpc(level, name).and_then(|s| f(s, &["p99_ms"])))
        .collect::<Option<Vec<f64>>>()?
        .into_iter()
        .reduce(f64::max)
}

fn cell(v: Option<f64>, unit: &str) -> String {
    v.map_or("-".into(), |v| format!("{v:.2} {unit}"))
}

fn met(v: Option<f64>, limit: f64) -> String {
    match v {
        Some(v) if v < limit => "yes".into(),
        Some(_) => "NO".into(),
        None => "-".into(),
    }
}

/// One goal with an upper limit: both runtimes' figures and the goal.
struct Goal {
    label: String,
    cradle: Option<f64>,
    containerd: Option<f64>,
    goal: &'static str,
    limit: f64,
    unit: &'static str,
}

/// The goals section.
pub fn table(density: &[Value], conc: &[Value]) -> String {
    let mut out = String::new();
    row(
        &mut out,
        "GOALS (issue 17)",
        &[
            "cradled".into(),
            "containerd".into(),
            "goal".into(),
            "met".into(),
        ],
    );
    let (cd, ct) = (find(density, "cradle"), find(density, "containerd"));
    let pods = cd
        .and_then(|r| top(r, "target"))
        .and_then(|l| l["pods"].as_u64());
    let at = |r: Option<&Value>, pick: &dyn Fn(&Value) -> Option<f64>| {
        r.and_then(|r| top(r, "target")).and_then(pick)
    };
    let lists = |l: &Value| worst_p99(l, &["ListPodSandbox", "ListContainers"]);
    let stats = |l: &Value| worst_p99(l, &["ListContainerStats"]);
    let overhead = |l: &Value| f(l, &["per_pod_overhead", "pss_kib"]).map(|k| k / 1024.0);
    let at_100 = |r: Option<&Value>| {
        r.and_then(|r| level(r, "target", 100))
            .and_then(|l| f(l, &["daemon", "mem", "rss_kib"]))
            .map(|k| k / 1024.0)
    };
    let pods = pods.map_or("top level".to_string(), |p| format!("{p} pods"));
    let rows = [
        Goal {
            label: format!("list p99 at {pods}"),
            cradle: at(cd, &lists),
            containerd: at(ct, &lists),
            goal: "< 5 ms",
            limit: 5.0,
            unit: "ms",
        },
        Goal {
            label: format!("ListContainerStats p99, {pods}"),
            cradle: at(cd, &stats),
            containerd: at(ct, &stats),
            goal: "< 50 ms",
            limit: 50.0,
            unit: "ms",
        },
        Goal {
            label: "daemon RSS at 100 pods".into(),
            cradle: at_100(cd),
            containerd: at_100(ct),
            goal: "< 20 MiB",
            limit: 20.0,
            unit: "MiB",
        },
        Goal {
            label: format!("per pod shim+pause PSS, {pods}"),
            cradle: at(cd, &overhead),
            containerd: at(ct, &overhead),
            goal: "< 1 MiB",
            limit: 1.0,
            unit: "MiB",
        },
    ];
    for g in rows {
        row(
            &mut out,
            &g.label,
            &[
                cell(g.cradle, g.unit),
                cell(g.containerd, g.unit),
                g.goal.into(),
                met(g.cradle, g.limit),
            ],
        );
    }
    let start_p99 = |r: Option<&Value>| {
        let l = top(r?, "clients")?;
        Some((l["clients"].as_u64()?, f(&l["start"], &["p99_ms"])?))
    };
    let (c, d) = (
        start_p99(find(conc, "cradle")),
        start_p99(find(conc, "containerd")),
    );
    let clients = c.map_or("top".to_string(), |c| c.0.to_string());
    let ratio = c.zip(d).map(|(c, d)| c.1 / d.1);
    row(
        &mut out,
        &format!("start p99 at {clients} clients"),
        &[
            cell(c.map(|c| c.1), "ms"),
            cell(d.map(|d| d.1), "ms"),
            "<= 0.5 x containerd".into(),
            match ratio {
                Some(x) if x <= 0.5 => format!("yes ({x:.2} x)"),
                Some(x) => format!("NO ({x:.2} x)"),
                None => "-".into(),
            },
        ],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn density(runtime: &str, list_p99: f64, rss_kib: u64, overhead_kib: u64) -> Value {
        let rpcs = serde_json::json!([
            {"rpc": "ListPodSandbox", "latency": {"p99_ms": list_p99}},
            {"rpc": "ListContainers", "latency": {"p99_ms": list_p99 / 2.0}},
            {"rpc": "ListContainerStats", "latency": {"p99_ms": 30.0}},
        ]);
        serde_json::json!({"kind": "density", "runtime": runtime, "levels": [
            {"target": 100, "pods": 100, "rpcs": rpcs, "daemon": {"mem": {"rss_kib": rss_kib}},
             "per_pod_overhead": {"pss_kib": overhead_kib}},
            {"target": 500, "pods": 500, "rpcs": rpcs, "daemon": {"mem": {"rss_kib": rss_kib}},
             "per_pod_overhead": {"pss_kib": overhead_kib}},
        ]})
    }

    fn conc(runtime: &str, p99: f64) -> Value {
        serde_json::json!({"kind": "concurrency", "runtime": runtime, "levels": [
            {"clients": 1, "start": {"p99_ms": 1.0}},
            {"clients": 32, "start": {"p99_ms": p99}}]})
    }

    fn line<'a>(t: &'a str, what: &str) -> &'a str {
        t.lines().find(|l| l.contains(what)).unwrap()
    }

    #[test]
    fn goals_are_checked_on_the_top_level_and_against_containerd() {
        let d = [
            density("cradled 0.1", 4.0, 30 * 1024, 512),
            density("containerd 1.6", 9.0, 60 * 1024, 4096),
        ];
        let t = table(
            &d,
            &[conc("cradled 0.1", 100.0), conc("containerd 1.6", 400.0)],
        );
        let list = line(&t, "list p99 at 500 pods");
        assert!(
            list.contains("4.00 ms") && list.contains("9.00 ms"),
            "{list}"
        );
        assert!(list.trim_end().ends_with("yes"), "{list}");
        assert!(
            line(&t, "daemon RSS at 100").trim_end().ends_with("NO"),
            "{t}"
        );
        assert!(line(&t, "shim+pause").trim_end().ends_with("yes"), "{t}");
        assert!(line(&t, "at 32 clients").contains("yes (0.25 x)"), "{t}");
    }

    #[test]
    fn missing_reports_leave_dashes() {
        let t = table(&[], &[]);
        assert!(line(&t, "list p99").trim_end().ends_with('-'), "{t}");
        assert!(line(&t, "start p99").trim_end().ends_with('-'), "{t}");
    }
}
