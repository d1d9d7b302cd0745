//! `cradle-bench oci`: create + start + wait + delete of one busybox `true`
//! bundle, per OCI launcher (runc, crun, cradle-oci…), in one run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::oci_bundle::Bundle;
use crate::reap;
use crate::stats::Summary;

const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Peak RSS of the launcher's processes, KiB: the largest seen and the median.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PeakRss {
    pub max_kib: u64,
    pub median_kib: u64,
}

impl PeakRss {
    fn of(mut v: Vec<u64>) -> PeakRss {
        if v.is_empty() {
            return PeakRss::default();
        }
        v.sort_unstable();
        PeakRss {
            max_kib: v[v.len() - 1],
            median_kib: v[(v.len() - 1) / 2],
        }
    }
}

/// One launcher's figures (or why it could not be measured).
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeReport {
    pub runtime: String,
    pub version: String,
    /// The cgroup layout the launcher saw: "host" or "v1" (unified hidden).
    pub cgroups: String,
    pub error: Option<String>,
    pub iterations: usize,
    pub phases: Vec<(String, Summary)>,
    pub rss_create: PeakRss,
    pub rss_start: PeakRss,
    pub rss_delete: PeakRss,
    /// The container's init: the launcher's in-container stage before execve.
    pub rss_init: PeakRss,
}

struct Sample {
    create: Duration,
    start: Duration,
    wait: Duration,
    delete: Duration,
    rss: [u64; 4],
}

fn first_line_of_version(runtime: &Path) -> String {
    Command::new(runtime)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A launcher as given on the command line: the binary, then global flags
/// (e.g. `/usr/bin/crun --cgroup-manager=disabled`).
#[derive(Debug, Clone, PartialEq)]
pub struct Launcher {
    pub program: PathBuf,
    pub global_args: Vec<String>,
}

impl Launcher {
    /// Splits `PATH [GLOBAL-FLAG…]` on whitespace.
    pub fn parse(spec: &str) -> Option<Launcher> {
        let mut words = spec.split_whitespace();
        let program = PathBuf::from(words.next()?);
        Some(Launcher {
            program,
            global_args: words.map(str::to_string).collect(),
        })
    }
}

fn cmd(runtime: &Launcher, root: &Path) -> Command {
    let mut c = Command::new(&runtime.program);
    c.args(&runtime.global_args).arg("--root").arg(root);
    c
}

/// One create + start + wait + delete.
fn once(runtime: &Launcher, root: &Path, bundle: &Path, id: &str) -> anyhow::Result<Sample> {
    let pid_file = bundle.join(format!("{id}.pid"));
    let create = reap::run(
        cmd(runtime, root)
            .arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id),
        STEP_TIMEOUT,
    );
    let create = match create {
        Ok(c) => c,
        Err(e) => {
            let _ = reap::run(
                cmd(runtime, root).arg("delete").arg("--force").arg(id),
                STEP_TIMEOUT,
            );
            return Err(e.context("create"));
        }
    };
    let init: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    let _ = std::fs::remove_file(&pid_file);
    let steps = || -> anyhow::Result<(reap::Exit, Duration, u64)> {
        let start = reap::run(cmd(runtime, root).arg("start").arg(id), STEP_TIMEOUT)?;
        let t = Instant::now();
        let init_rss = match reap::wait_child(init, STEP_TIMEOUT)? {
            Some((status, rss)) => {
                anyhow::ensure!(
                    reap::exit_code(status) == Some(0),
                    "container exited with status {status:#x}"
                );
                rss
            }
            None => {
                // Not reparented to us (another reaper in between): poll /proc.
                let deadline = Instant::now() + STEP_TIMEOUT;
                while Path::new(&format!("/proc/{init}")).exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_micros(200));
                }
                0
            }
        };
        Ok((start, t.elapsed(), init_rss))
    };
    let result = steps();
    let delete = reap::run(
        cmd(runtime, root).arg("delete").arg("--force").arg(id),
        STEP_TIMEOUT,
    );
    reap::reap_orphans();
    let (start, wait, init_rss) = result?;
    let delete = delete?;
    Ok(Sample {
        create: create.elapsed,
        start: start.elapsed,
        wait,
        delete: delete.elapsed,
        rss: [
            create.maxrss_kib,
            start.maxrss_kib,
            delete.maxrss_kib,
            init_rss,
        ],
    })
}

/// Measures one launcher: `warmup` untimed rounds, then `iterations`.
pub fn measure(
    runtime: &Launcher,
    bundle: &Bundle,
    iterations: usize,
    warmup: usize,
    cgroups: &str,
) -> RuntimeReport {
    let mut name = runtime.program.display().to_string();
    for a in &runtime.global_args {
        name = format!("{name} {a}");
    }
    let mut report = RuntimeReport {
        runtime: name.clone(),
        version: first_line_of_version(&runtime.program),
        cgroups: cgroups.to_string(),
        error: None,
        iterations,
        phases: Vec::new(),
        rss_create: PeakRss::default(),
        rss_start: PeakRss::default(),
        rss_delete: PeakRss::default(),
        rss_init: PeakRss::default(),
    };
    let root = match tempfile::Builder::new()
        .prefix("cradle-bench-state-")
        .tempdir_in("/run")
    {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(format!("state dir: {e}"));
            return report;
        }
    };
    let base = format!("bench{}", std::process::id());
    let mut samples = Vec::new();
    for i in 0..warmup + iterations {
        match once(runtime, root.path(), bundle.path(), &format!("{base}-{i}")) {
            Ok(s) if i >= warmup => samples.push(s),
            Ok(_) => {}
            Err(e) => {
                report.error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    type Pick = fn(&Sample) -> Duration;
    let picks: [(&str, Pick); 5] = [
        ("create", |s| s.create),
        ("start", |s| s.start),
        ("wait (start -> exit)", |s| s.wait),
        ("delete", |s| s.delete),
        ("create+start+wait+delete", |s| {
            s.create + s.start + s.wait + s.delete
        }),
    ];
    for (label, pick) in picks {
        let v: Vec<Duration> = samples.iter().map(pick).collect();
        if let Some(s) = Summary::of(&v) {
            report.phases.push((label.into(), s));
        }
    }
    let rss = |k: usize| PeakRss::of(samples.iter().map(|s| s.rss[k]).collect());
    report.rss_create = rss(0);
    report.rss_start = rss(1);
    report.rss_delete = rss(2);
    report.rss_init = rss(3);
    report
}

/// Measures every launcher in `runtimes`, in order.
pub fn run(
    runtimes: &[Launcher],
    runc_for_spec: &Path,
    iterations: usize,
    warmup: usize,
    cgroups: &str,
) -> anyhow::Result<Vec<RuntimeReport>> {
    reap::become_subreaper()?;
    let busybox = crate::oci_bundle::find_busybox().ok_or_else(|| {
        anyhow::anyhow!("no static busybox (apt-get install busybox-static, or set BUSYBOX)")
    })?;
    let bundle = crate::oci_bundle::build(runc_for_spec, &busybox)?;
    Ok(runtimes
        .iter()
        .map(|r| measure(r, &bundle, iterations, warmup, cgroups))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launcher_spec_splits_binary_from_global_flags() {
        let l = Launcher::parse("/usr/bin/crun  --cgroup-manager=disabled").unwrap();
        assert_eq!(l.program, PathBuf::from("/usr/bin/crun"));
        assert_eq!(l.global_args, vec!["--cgroup-manager=disabled".to_string()]);
        assert_eq!(Launcher::parse("  "), None);
    }

    #[test]
    fn peak_rss_reports_max_and_lower_median() {
        let p = PeakRss::of(vec![3, 1, 2, 10]);
        assert_eq!((p.max_kib, p.median_kib), (10, 2));
        let e = PeakRss::of(vec![]);
        assert_eq!((e.max_kib, e.median_kib), (0, 0));
    }
}
