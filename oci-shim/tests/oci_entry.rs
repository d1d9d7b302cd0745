//! The launcher's process entry (src/bin/cradle-oci/entry.rs): what std's
//! runtime start-up did and the launcher still relies on, and what it no
//! longer pays for (the main thread's stack guard, which reads
//! /proc/self/maps through glibc's scanf: pages and time at every verb).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use oci_harness::*;

#[test]
fn start_up_reads_no_proc_maps() {
    let Ok(out) = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=open,openat,openat2",
            "-o",
            "/dev/stderr",
        ])
        .arg(bin())
        .arg("--version")
        .stdout(Stdio::null())
        .output()
    else {
        cradle_testkit::skip("strace is not installed");
        return;
    };
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{trace}");
    assert!(!trace.contains("/proc/self/maps"), "{trace}");
}

#[test]
fn a_closed_stdout_pipe_is_an_error_not_a_sigpipe() {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let mut cmd = Command::new(bin());
    cmd.arg("--help").stdout(w).stderr(Stdio::null());
    // SAFETY: signal() with SIG_DFL only, between fork and exec: the test
    // harness may run us with SIGPIPE ignored, which execve would keep.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    // The failed write is reported (a panic: the lean build aborts), never
    // a silent death by SIGPIPE.
    assert_ne!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}
