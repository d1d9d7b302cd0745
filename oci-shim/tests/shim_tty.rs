//! Tty containers through the `cradle-shim` binary, under runc and under
//! cradle-oci: the shim passes `--console-socket`, takes the pty master, logs
//! the terminal's output as stdout, writes attach clients' stdin to it and
//! applies their resize frames (busybox `stty size` sees them). Needs root
//! (skips otherwise); guards clean up even on failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod shim_harness;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cradle_proto::shim::{
    ATTACH_RESIZE, ATTACH_STDIN, ATTACH_STDOUT, CONSOLE_SOCKET_FILE, Request, Response,
    attach_frame, resize_payload,
};
use shim_harness::*;

/// A tty container running `script` under a shim (not started yet).
fn start_tty(runtime: &str, script: &str, extra: &[&str]) -> Option<Shimmed> {
    start_tty_in(runtime, script, extra, |d| d.join("state"))
}

/// [`start_tty`] with the shim's state dir chosen by `state_dir_in`.
fn start_tty_in(
    runtime: &str,
    script: &str,
    extra: &[&str],
    state_dir_in: impl Fn(&Path) -> std::path::PathBuf,
) -> Option<Shimmed> {
    let tty = spawn_shimmed_in(
        "shimtty",
        runtime,
        &["/bin/busybox", "sh", "-c", script],
        true,
        extra,
        state_dir_in,
    )?;
    assert!(
        !tty.state_dir.join(CONSOLE_SOCKET_FILE).exists(),
        "the console socket outlived the hand-over"
    );
    Some(tty)
}

/// Reads frames until the stdout text contains `want`; every frame must be stdout.
fn read_stdout_until(conn: &mut UnixStream, text: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text.contains(want) {
        assert!(Instant::now() < deadline, "no {want:?} in {text:?}");
        let mut header = [0u8; 5];
        conn.read_exact(&mut header)
            .unwrap_or_else(|e| panic!("no {want:?} in {text:?}: {e}"));
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).unwrap();
        assert_eq!(header[0], ATTACH_STDOUT, "a tty has only stdout");
        text.push_str(&String::from_utf8_lossy(&payload));
    }
}

/// The log's records as (stream, content without a terminal's `\r`).
fn log_records(path: &Path) -> Vec<(String, String)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let mut fields = line.splitn(4, ' ');
            let _stamp = fields.next();
            let stream = fields.next().unwrap_or("").to_string();
            let _tag = fields.next();
            let content = fields.next().unwrap_or("").trim_end_matches('\r');
            (stream, content.to_string())
        })
        .collect()
}

#[test]
fn a_tty_containers_output_is_logged_as_stdout_under_runc() {
    output_is_logged_as_stdout(RUNC);
}

#[test]
fn a_tty_containers_output_is_logged_as_stdout_under_cradle_oci() {
    output_is_logged_as_stdout(&cradle_oci());
}

/// Without stdin the container's stdin is the terminal too (it reads
/// nothing); what it writes on stdout and stderr is the terminal's output.
fn output_is_logged_as_stdout(runtime: &str) {
    output_is_logged_as_stdout_in(runtime, |d| d.join("state"))
}

/// The console socket does not depend on the state dir's length either:
/// the runtime is given a short path to it through the shim's `/proc` entry.
#[test]
fn a_tty_container_with_a_200_byte_state_dir_under_runc() {
    output_is_logged_as_stdout_in(RUNC, |d| long_state_dir(d, 200));
}

#[test]
fn a_tty_container_with_a_200_byte_state_dir_under_cradle_oci() {
    output_is_logged_as_stdout_in(&cradle_oci(), |d| long_state_dir(d, 200));
}

fn output_is_logged_as_stdout_in(
    runtime: &str,
    state_dir_in: impl Fn(&Path) -> std::path::PathBuf,
) {
    let script = "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo on-a-tty; echo to-stderr >&2; exit 5";
    let Some(mut tty) = start_tty_in(runtime, script, &[], state_dir_in) else {
        return;
    };
    assert_eq!(tty.client.call(Request::Start), Response::Ok);
    assert_eq!(tty.client.wait().exit_code, 5);
    let records = log_records(&tty.log_path);
    let want = [
        ("stdout".to_string(), "on-a-tty".to_string()),
        ("stdout".to_string(), "to-stderr".to_string()),
    ];
    assert_eq!(records, want, "log of a tty container");
    assert_eq!(
        tty.client.call(Request::Delete { force: false }),
        Response::Ok
    );
}

#[test]
fn attach_to_a_tty_container_carries_input_output_and_resizes_under_runc() {
    input_output_and_resize(RUNC);
}

#[test]
fn attach_to_a_tty_container_carries_input_output_and_resizes_under_cradle_oci() {
    input_output_and_resize(&cradle_oci());
}

fn input_output_and_resize(runtime: &str) {
    let script = "while read line; do case \"$line\" in size) stty size;; quit) exit 7;; \
                  *) echo \"got:$line\";; esac; done";
    // stdin_once does not close a terminal: the second attach still types.
    let Some(mut tty) = start_tty(runtime, script, &["--stdin", "--stdin-once"]) else {
        return;
    };
    assert_eq!(tty.client.call(Request::Start), Response::Ok);
    let mut first = attach(&tty.state_dir);
    let mut text = String::new();
    first
        .write_all(&attach_frame(ATTACH_RESIZE, &resize_payload(91, 17)))
        .unwrap();
    first
        .write_all(&attach_frame(ATTACH_STDIN, b"hello\n"))
        .unwrap();
    read_stdout_until(&mut first, &mut text, "got:hello");
    first.write_all(&attach_frame(ATTACH_STDIN, b"")).unwrap();
    drop(first);

    let mut second = attach(&tty.state_dir);
    let mut text = String::new();
    let mut frames = attach_frame(ATTACH_RESIZE, &resize_payload(100, 30));
    frames.extend(attach_frame(ATTACH_STDIN, b"size\n"));
    second.write_all(&frames).unwrap();
    read_stdout_until(&mut second, &mut text, "30 100");
    second
        .write_all(&attach_frame(ATTACH_STDIN, b"quit\n"))
        .unwrap();
    let mut rest = Vec::new();
    second.read_to_end(&mut rest).unwrap();
    assert_eq!(tty.client.wait().exit_code, 7);
    let records = log_records(&tty.log_path);
    assert!(
        records.iter().all(|(stream, _)| stream == "stdout"),
        "{records:?}"
    );
    assert!(
        records.iter().any(|(_, line)| line == "got:hello"),
        "{records:?}"
    );
    // The terminal echoes what was typed, as a terminal does.
    assert!(
        records.iter().any(|(_, line)| line == "hello"),
        "{records:?}"
    );
    assert_eq!(
        tty.client.call(Request::Delete { force: false }),
        Response::Ok
    );
}

#[test]
fn a_failed_tty_create_leaves_no_console_socket_or_other_state() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cradle_testkit::skip("needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let root = dir.path().join("runc-root");
    let state_dir = dir.path().join("state");
    let id = unique("shimttyfail");
    make_bundle(&bundle, &["/no/such/binary"]);
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    config["process"]["terminal"] = serde_json::json!(true);
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let _runc = RuncGuard {
        runtime: RUNC.to_string(),
        root: root.clone(),
        id: id.clone(),
    };
    let _shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let output = run_container_shim(&id, &bundle, RUNC, &root, &state_dir, &[]);
    assert!(!output.status.success());
    for file in [CONSOLE_SOCKET_FILE, "shim.sock", "shim.pid", "init.pid"] {
        assert!(!state_dir.join(file).exists(), "{file} left behind");
    }
}
