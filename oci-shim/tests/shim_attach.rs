//! Attach with stdin through the `cradle-shim` binary: a real `cat` under
//! runc (and the main case under cradle-oci too), created with `--stdin` (and `--stdin-once`), fed through the attach
//! socket. Needs root (skips otherwise); guards clean up even on failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod shim_harness;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use cradle_proto::shim::{
    ATTACH_STDIN, ATTACH_STDOUT, ProcessStatus, Request, Response, attach_frame,
};
use shim_harness::*;

/// A `cat` container under a shim, started.
fn start_cat(runtime: &str, extra: &[&str]) -> Option<Shimmed> {
    start_cat_in(runtime, extra, |d| d.join("state"))
}

/// [`start_cat`] with the shim's state dir chosen by `state_dir_in`.
fn start_cat_in(
    runtime: &str,
    extra: &[&str],
    state_dir_in: impl Fn(&std::path::Path) -> std::path::PathBuf,
) -> Option<Shimmed> {
    let mut cat = spawn_shimmed_in(
        "shimattach",
        runtime,
        &["/bin/busybox", "cat"],
        false,
        extra,
        state_dir_in,
    )?;
    assert_eq!(cat.client.call(Request::Start), Response::Ok);
    Some(cat)
}

/// Reads stdout frames until their text contains `want`.
fn read_stdout_until(conn: &mut UnixStream, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while !text.contains(want) {
        assert!(Instant::now() < deadline, "no {want:?} in {text:?}");
        let mut header = [0u8; 5];
        conn.read_exact(&mut header).unwrap();
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).unwrap();
        if header[0] == ATTACH_STDOUT {
            text.push_str(&String::from_utf8_lossy(&payload));
        }
    }
}

#[test]
fn stdin_reaches_the_container_and_the_end_of_a_stdin_once_attach_closes_it() {
    stdin_once_round_trip(RUNC);
}

#[test]
fn stdin_reaches_a_cradle_oci_container_and_stdin_once_closes_it() {
    stdin_once_round_trip(&cradle_oci());
}

/// The shim's three sockets do not depend on its state dir's length: a
/// 200-byte one (far over `sun_path`'s 107) serves requests and attach.
#[test]
fn a_200_byte_state_dir_serves_requests_and_attach_under_runc() {
    stdin_once_round_trip_in(RUNC, |d| long_state_dir(d, 200));
}

#[test]
fn a_200_byte_state_dir_serves_requests_and_attach_under_cradle_oci() {
    stdin_once_round_trip_in(&cradle_oci(), |d| long_state_dir(d, 200));
}

fn stdin_once_round_trip(runtime: &str) {
    stdin_once_round_trip_in(runtime, |d| d.join("state"))
}

fn stdin_once_round_trip_in(
    runtime: &str,
    state_dir_in: impl Fn(&std::path::Path) -> std::path::PathBuf,
) {
    let Some(mut cat) = start_cat_in(runtime, &["--stdin", "--stdin-once"], state_dir_in) else {
        return;
    };
    let mut conn = attach(&cat.state_dir);
    conn.write_all(&attach_frame(ATTACH_STDIN, b"hello\n"))
        .unwrap();
    read_stdout_until(&mut conn, "hello\n");
    assert_eq!(cat.client.state().status, ProcessStatus::Running);
    drop(conn);
    let record = cat.client.wait();
    assert_eq!(record.exit_code, 0, "cat saw EOF and exited");
    let log = fs::read_to_string(&cat.log_path).unwrap();
    assert!(
        log.lines().any(|l| l.ends_with(" stdout F hello")),
        "log: {log}"
    );
    assert_eq!(
        cat.client.call(Request::Delete { force: false }),
        Response::Ok
    );
}

#[test]
fn an_empty_stdin_frame_closes_stdin_once_but_output_keeps_flowing_until_exit() {
    let Some(mut cat) = start_cat(RUNC, &["--stdin", "--stdin-once"]) else {
        return;
    };
    let mut conn = attach(&cat.state_dir);
    let mut frames = attach_frame(ATTACH_STDIN, b"one\n");
    frames.extend(attach_frame(ATTACH_STDIN, b""));
    frames.extend(attach_frame(ATTACH_STDIN, b"ignored\n"));
    conn.write_all(&frames).unwrap();
    read_stdout_until(&mut conn, "one\n");
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert_eq!(cat.client.wait().exit_code, 0);
    let log = fs::read_to_string(&cat.log_path).unwrap();
    assert!(!log.contains("ignored"), "log: {log}");
    assert_eq!(
        cat.client.call(Request::Delete { force: false }),
        Response::Ok
    );
}

#[test]
fn without_stdin_once_stdin_stays_open_across_attaches() {
    let Some(mut cat) = start_cat(RUNC, &["--stdin"]) else {
        return;
    };
    let mut first = attach(&cat.state_dir);
    first
        .write_all(&attach_frame(ATTACH_STDIN, b"a\n"))
        .unwrap();
    read_stdout_until(&mut first, "a\n");
    first.write_all(&attach_frame(ATTACH_STDIN, b"")).unwrap();
    drop(first);
    let mut second = attach(&cat.state_dir);
    second
        .write_all(&attach_frame(ATTACH_STDIN, b"b\n"))
        .unwrap();
    read_stdout_until(&mut second, "b\n");
    assert_eq!(cat.client.state().status, ProcessStatus::Running);
    assert_eq!(
        cat.client.call(Request::Delete { force: true }),
        Response::Ok
    );
}

#[test]
fn a_container_created_without_stdin_gets_none_from_attach() {
    let Some(mut cat) = start_cat(RUNC, &[]) else {
        return;
    };
    // cat reads /dev/null: it is done before anyone attaches.
    assert_eq!(cat.client.wait().exit_code, 0);
    assert_eq!(
        cat.client.call(Request::Delete { force: false }),
        Response::Ok
    );
}

#[test]
fn a_client_that_ends_its_input_at_once_still_gets_the_answer_until_exit() {
    let Some(mut cat) = start_cat(RUNC, &["--stdin", "--stdin-once"]) else {
        return;
    };
    let mut conn = attach(&cat.state_dir);
    conn.write_all(&attach_frame(ATTACH_STDIN, b"late answer\n"))
        .unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    read_stdout_until(&mut conn, "late answer\n");
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert_eq!(cat.client.wait().exit_code, 0);
    assert_eq!(
        cat.client.call(Request::Delete { force: false }),
        Response::Ok
    );
}
