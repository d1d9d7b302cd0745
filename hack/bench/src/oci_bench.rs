//! `cradle-bench oci`: create + start + wait + delete of one busybox `true`
//! bundle, per OCI launcher (runc, crun, cradle-oci…), in one run.
//!
//! Two passes per launcher. The timing pass spawns the launcher directly
//! (warm-up rounds, then `iterations`): the phase times, and the container
//! init's peak RSS (the launcher's in-container stage before execve; the
//! init is forked by the launcher and handed to us as subreaper, so its
//! `ru_maxrss` is its own). The launcher's own `ru_maxrss` from that pass
//! would be floored at OUR peak RSS (std spawns with vfork/posix_spawn and
//! execve records the old mm's high-water mark: see `reap`), so the memory
//! pass runs create, start and delete again (`rss_iterations` rounds, not
//! timed) through the small static `cradle-bench-rss` trampoline, which
//! forks for real and reports each figure with its floor (its own
//! pre-exec peak, about 0.3 MiB). Without the trampoline the launcher RSS is
//! reported as not measured, never as the floored figure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::oci_bundle::Bundle;
use crate::reap;
use crate::rss_trampoline::RssTrampoline;
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
    /// Whether the bundle carried cradled's RuntimeDefault seccomp profile.
    pub seccomp: bool,
    pub error: Option<String>,
    pub iterations: usize,
    pub phases: Vec<(String, Summary)>,
    /// Peak RSS of the launcher's `create`, `start` and `delete` processes,
    /// from the memory pass (None: not measured, no trampoline).
    pub rss_create: Option<PeakRss>,
    pub rss_start: Option<PeakRss>,
    pub rss_delete: Option<PeakRss>,
    /// Rounds of the memory pass.
    pub rss_iterations: usize,
    /// The largest floor the trampoline reported, KiB: a launcher figure at
    /// or below it means "at most this much".
    pub rss_floor_kib: Option<u64>,
    /// The container's init: the launcher's in-container stage before
    /// execve (from the timing pass).
    pub rss_init: PeakRss,
}

/// What one pass measures, and how it starts the launcher.
#[derive(Clone, Copy)]
enum Pass<'a> {
    /// Launchers spawned directly: phase times and the init's RSS (their own
    /// RSS figures are floored at ours and not used).
    Timing,
    /// Launchers run through the trampoline: their RSS (times not used).
    Memory(&'a RssTrampoline),
}

/// One launcher process run to its end.
struct Step {
    elapsed: Duration,
    maxrss_kib: u64,
    /// The trampoline's floor (0 in the timing pass).
    floor_kib: u64,
}

struct Sample {
    create: Duration,
    start: Duration,
    wait: Duration,
    delete: Duration,
    /// create, start, delete, init.
    rss: [u64; 4],
    /// The largest trampoline floor of the round (0 in the timing pass).
    floor_kib: u64,
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

fn cmd(runtime: &Launcher, root: &Path, pass: Pass) -> Command {
    let mut c = match pass {
        Pass::Timing => Command::new(&runtime.program),
        Pass::Memory(t) => t.command(&runtime.program),
    };
    c.args(&runtime.global_args).arg("--root").arg(root);
    c
}

/// Runs one launcher process (made by `cmd` for the same pass).
fn step(pass: Pass, c: &mut Command) -> anyhow::Result<Step> {
    match pass {
        Pass::Timing => reap::run(c, STEP_TIMEOUT).map(|e| Step {
            elapsed: e.elapsed,
            maxrss_kib: e.maxrss_kib,
            floor_kib: 0,
        }),
        Pass::Memory(t) => t.run(c, STEP_TIMEOUT).map(|r| Step {
            elapsed: Duration::ZERO,
            maxrss_kib: r.maxrss_kib,
            floor_kib: r.floor_kib,
        }),
    }
}

/// One create + start + wait + delete.
fn once(
    runtime: &Launcher,
    root: &Path,
    bundle: &Path,
    id: &str,
    pass: Pass,
) -> anyhow::Result<Sample> {
    let pid_file = bundle.join(format!("{id}.pid"));
    let create = step(
        pass,
        cmd(runtime, root, pass)
            .arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id),
    );
    let create = match create {
        Ok(c) => c,
        Err(e) => {
            let _ = reap::run(
                cmd(runtime, root, Pass::Timing)
                    .arg("delete")
                    .arg("--force")
                    .arg(id),
                STEP_TIMEOUT,
            );
            return Err(e.context("create"));
        }
    };
    let init: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    let _ = std::fs::remove_file(&pid_file);
    let steps = || -> anyhow::Result<(Step, Duration, u64)> {
        let start = step(pass, cmd(runtime, root, pass).arg("start").arg(id))?;
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
    let delete = step(
        pass,
        cmd(runtime, root, pass)
            .arg("delete")
            .arg("--force")
            .arg(id),
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
        floor_kib: create.floor_kib.max(start.floor_kib).max(delete.floor_kib),
    })
}

/// How `cradle-bench oci` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timed rounds per launcher, after `warmup` untimed ones.
    pub iterations: usize,
    pub warmup: usize,
    /// Rounds of the memory pass (through the trampoline).
    pub rss_iterations: usize,
    /// None: the launchers' own RSS is not measured.
    pub trampoline: Option<RssTrampoline>,
    /// The cgroup layout the launchers see: "host" or "v1".
    pub cgroups: String,
    /// The bundle carries cradled's RuntimeDefault seccomp profile, which
    /// the launcher compiles at create and installs in the init.
    pub seccomp: bool,
}

/// Measures one launcher: the timing pass, then the memory pass.
pub fn measure(runtime: &Launcher, bundle: &Bundle, options: &Options) -> RuntimeReport {
    let mut report = empty_report(runtime, options);
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
    crate::page_cache::evict(&runtime.program);
    let rounds = Rounds {
        runtime,
        root: root.path(),
        bundle: bundle.path(),
        base: format!("bench{}", std::process::id()),
    };
    let samples = rounds.timing_pass(options, &mut report);
    record_timing(&mut report, &samples);
    let Some(trampoline) = &options.trampoline else {
        return report;
    };
    if report.error.is_some() {
        return report;
    }
    rounds.memory_pass(options, trampoline, &mut report);
    report
}

/// A report naming the launcher and the run's settings, with no figures yet.
fn empty_report(runtime: &Launcher, options: &Options) -> RuntimeReport {
    let mut name = runtime.program.display().to_string();
    for a in &runtime.global_args {
        name = format!("{name} {a}");
    }
    RuntimeReport {
        runtime: name,
        version: first_line_of_version(&runtime.program),
        cgroups: options.cgroups.clone(),
        seccomp: options.seccomp,
        error: None,
        iterations: options.iterations,
        phases: Vec::new(),
        rss_create: None,
        rss_start: None,
        rss_delete: None,
        rss_iterations: 0,
        rss_floor_kib: None,
        rss_init: PeakRss::default(),
    }
}

/// The phase times and the init's RSS of the timing pass's samples.
fn record_timing(report: &mut RuntimeReport, samples: &[Sample]) {
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
    report.rss_init = PeakRss::of(samples.iter().map(|s| s.rss[3]).collect());
}

/// The rounds of one launcher: each a container of its own (`base-N`) in
/// one state dir.
struct Rounds<'a> {
    runtime: &'a Launcher,
    root: &'a Path,
    bundle: &'a Path,
    /// Container ids are this with the round's number.
    base: String,
}

impl Rounds<'_> {
    /// Round `i` (its own container id) in `pass`.
    fn once(&self, i: usize, pass: Pass) -> anyhow::Result<Sample> {
        let id = format!("{}-{i}", self.base);
        once(self.runtime, self.root, self.bundle, &id, pass)
    }

    /// Warm-up rounds, then the timed ones; returns the timed samples (up to
    /// the first failure, which goes into the report).
    fn timing_pass(&self, options: &Options, report: &mut RuntimeReport) -> Vec<Sample> {
        let mut samples = Vec::new();
        for i in 0..options.warmup + options.iterations {
            match self.once(i, Pass::Timing) {
                Ok(s) if i >= options.warmup => samples.push(s),
                Ok(_) => {}
                Err(e) => {
                    report.error = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        samples
    }

    /// The memory pass through `trampoline` (round numbers after the timing
    /// pass's): the launcher's peak RSS per phase, into the report.
    fn memory_pass(
        &self,
        options: &Options,
        trampoline: &RssTrampoline,
        report: &mut RuntimeReport,
    ) {
        let first = options.warmup + options.iterations;
        let mut memory = Vec::new();
        for i in first..first + options.rss_iterations {
            let pass = Pass::Memory(trampoline);
            match self.once(i, pass) {
                Ok(s) => memory.push(s),
                Err(e) => {
                    report.error = Some(format!("memory pass: {e:#}"));
                    break;
                }
            }
        }
        if memory.is_empty() {
            return;
        }
        let rss = |k: usize| Some(PeakRss::of(memory.iter().map(|s| s.rss[k]).collect()));
        report.rss_create = rss(0);
        report.rss_start = rss(1);
        report.rss_delete = rss(2);
        report.rss_iterations = memory.len();
        report.rss_floor_kib = memory.iter().map(|s| s.floor_kib).max();
    }
}

/// Measures every launcher in `runtimes`, in order.
pub fn run(
    runtimes: &[Launcher],
    runc_for_spec: &Path,
    options: &Options,
) -> anyhow::Result<Vec<RuntimeReport>> {
    reap::become_subreaper()?;
    let busybox = crate::oci_bundle::find_busybox().ok_or_else(|| {
        anyhow::anyhow!("no static busybox (apt-get install busybox-static, or set BUSYBOX)")
    })?;
    let bundle = crate::oci_bundle::build(runc_for_spec, &busybox, options.seccomp)?;
    Ok(runtimes
        .iter()
        .map(|r| measure(r, &bundle, options))
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
