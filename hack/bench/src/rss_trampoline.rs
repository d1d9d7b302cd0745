//! The bench's side of `cradle-bench-rss` (src/bin/rss.rs): a short-lived
//! launcher run through it gets a peak RSS figure that is its own, not ours.
//!
//! Why: std's `Command` spawns with vfork/posix_spawn, and at execve the
//! kernel records the OLD mm's high-water mark as the new program's
//! `ru_maxrss` floor; with CLONE_VM the old mm is the bench's (about
//! 4 MiB). The trampoline is small and static, forks for real, and reports
//! the child's `ru_maxrss` with the floor that child inherited (its VmHWM
//! just before exec, about 0.3 MiB). Runs through it are for memory only:
//! the extra fork+exec would distort timings.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::reap;

/// The trampoline's file name, next to `cradle-bench` itself.
pub const BINARY: &str = "cradle-bench-rss";
/// The variable naming the descriptor the trampoline reports on.
const FD_ENV: &str = "CRADLE_BENCH_RSS_FD";

/// A usable trampoline binary.
#[derive(Debug, Clone)]
pub struct RssTrampoline {
    path: PathBuf,
}

/// One command's figures, as the trampoline reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RssReport {
    /// The command's `ru_maxrss` (with the children it waited for), KiB.
    pub maxrss_kib: u64,
    /// What the command's figure cannot go below: the forked child's VmHWM
    /// just before exec, KiB.
    pub floor_kib: u64,
    /// Raw wait status of the command.
    pub status: i32,
}

/// A trampoline line that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad {BINARY} report {line:?}: {why}")]
pub struct ParseError {
    line: String,
    why: &'static str,
}

impl RssReport {
    /// Parses `maxrss_kib=N floor_kib=N status=N` (fields in any order,
    /// unknown ones ignored, each of the three required once).
    pub fn parse(line: &str) -> Result<RssReport, ParseError> {
        let err = |why| ParseError {
            line: line.trim_end().to_string(),
            why,
        };
        let (mut maxrss, mut floor, mut status) = (None, None, None);
        for field in line.split_whitespace() {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| err("a field without '='"))?;
            let slot = match key {
                "maxrss_kib" => &mut maxrss,
                "floor_kib" => &mut floor,
                "status" => &mut status,
                _ => continue,
            };
            if slot.is_some() {
                return Err(err("a repeated field"));
            }
            *slot = Some(
                value
                    .parse::<i64>()
                    .map_err(|_| err("a value is not an integer"))?,
            );
        }
        let kib = |v: Option<i64>, missing| {
            let v = v.ok_or_else(|| err(missing))?;
            u64::try_from(v).map_err(|_| err("a negative size"))
        };
        Ok(RssReport {
            maxrss_kib: kib(maxrss, "no maxrss_kib")?,
            floor_kib: kib(floor, "no floor_kib")?,
            status: status
                .ok_or_else(|| err("no status"))
                .and_then(|s| i32::try_from(s).map_err(|_| err("status out of range")))?,
        })
    }
}

impl RssTrampoline {
    /// `explicit`, or `cradle-bench-rss` next to our own executable.
    /// Err says what was looked for.
    pub fn find(explicit: Option<&Path>) -> Result<RssTrampoline, String> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => std::env::current_exe()
                .map_err(|e| format!("our own executable: {e}"))?
                .with_file_name(BINARY),
        };
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(format!("{}: not an executable file", path.display()));
        }
        Ok(RssTrampoline { path })
    }

    /// A command that runs `program` through the trampoline; add its
    /// arguments, then hand it to [`RssTrampoline::run`].
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(&self.path);
        c.arg(program);
        c
    }

    /// Runs `cmd` (made by [`RssTrampoline::command`]) to completion; fails,
    /// with the command's stderr, unless both the trampoline and the command
    /// exit 0.
    pub fn run(&self, cmd: &mut Command, timeout: Duration) -> anyhow::Result<RssReport> {
        let report = tempfile::tempfile().context("report file")?;
        let fd = report.as_raw_fd();
        cmd.env(FD_ENV, fd.to_string());
        // SAFETY: the closure runs in the forked child before exec and only
        // calls fcntl, which is async-signal-safe; `fd` stays open in the
        // parent (and so in the child) until the trampoline has exited.
        unsafe {
            cmd.pre_exec(move || {
                // Keep the report descriptor across exec (tempfile opens it
                // close-on-exec).
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let done = reap::spawn_and_wait(cmd, timeout)?;
        if reap::exit_code(done.status) != Some(0) {
            bail!(
                "{} exited with {:#x}: {}",
                self.path.display(),
                done.status,
                reap::read_all(done.stderr).trim()
            );
        }
        let text = reap::read_all(report);
        let line = text.lines().next().unwrap_or("");
        let r = RssReport::parse(line)?;
        if reap::exit_code(r.status) != Some(0) {
            let program = cmd.get_args().next().unwrap_or_default();
            bail!(
                "{program:?} exited with {:#x}: {}",
                r.status,
                reap::read_all(done.stderr).trim()
            );
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_parses_into_its_three_figures() {
        let r = RssReport::parse("maxrss_kib=2512 floor_kib=324 status=0\n").unwrap();
        assert_eq!(
            r,
            RssReport {
                maxrss_kib: 2512,
                floor_kib: 324,
                status: 0
            }
        );
    }

    #[test]
    fn report_fields_may_come_in_any_order_and_unknown_ones_are_skipped() {
        let r = RssReport::parse("status=256 extra=x floor_kib=300 maxrss_kib=1").unwrap();
        assert_eq!((r.maxrss_kib, r.floor_kib, r.status), (1, 300, 256));
    }

    #[test]
    fn report_line_without_a_field_is_refused() {
        let e = RssReport::parse("maxrss_kib=1 status=0").unwrap_err();
        assert_eq!(e.why, "no floor_kib");
        assert_eq!(RssReport::parse("").unwrap_err().why, "no maxrss_kib");
    }

    #[test]
    fn report_line_with_bad_values_is_refused() {
        let why = |l| RssReport::parse(l).unwrap_err().why;
        assert_eq!(
            why("maxrss_kib=x floor_kib=1 status=0"),
            "a value is not an integer"
        );
        assert_eq!(why("maxrss_kib=-4 floor_kib=1 status=0"), "a negative size");
        assert_eq!(
            why("maxrss_kib=1 maxrss_kib=2 floor_kib=1 status=0"),
            "a repeated field"
        );
        assert_eq!(
            why("maxrss_kib=1 floor_kib=1 status"),
            "a field without '='"
        );
        assert_eq!(
            why("maxrss_kib=1 floor_kib=1 status=4294967296"),
            "status out of range"
        );
    }
}
