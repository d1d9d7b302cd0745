//! cradle-bridge as a process: VERSION, and errors in the spec's JSON
//! shape with a non-zero exit. No root needed.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn call(env: &[(&str, &str)], stdin: &str) -> (bool, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cradle-bridge"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn version_lists_the_supported_spec_versions() {
    let (ok, out) = call(&[("CNI_COMMAND", "VERSION")], r#"{"cniVersion":"1.1.0"}"#);
    assert!(ok);
    let versions = out["supportedVersions"].as_array().unwrap();
    for v in ["0.4.0", "1.0.0", "1.1.0"] {
        assert!(versions.contains(&Value::from(v)), "{out}");
    }
}

#[test]
fn bad_input_is_reported_as_spec_error_json() {
    let (ok, out) = call(&[("CNI_COMMAND", "ADD")], "{not json");
    assert!(!ok);
    assert_eq!(out["code"], 6, "{out}");
    let (ok, out) = call(
        &[
            ("CNI_COMMAND", "ADD"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/x"),
        ],
        r#"{"cniVersion":"1.0.0","name":"n","type":"cradle-bridge"}"#,
    );
    assert!(!ok);
    assert_eq!(out["code"], 4, "missing CNI_CONTAINERID: {out}");
    assert_eq!(out["cniVersion"], "1.0.0");
    let (ok, out) = call(
        &[("CNI_COMMAND", "ADD")],
        r#"{"cniVersion":"9.9.9","name":"n","type":"cradle-bridge"}"#,
    );
    assert!(!ok);
    assert_eq!(out["code"], 1, "{out}");
}

#[test]
fn status_fails_without_a_usable_ipam_section() {
    let (ok, out) = call(
        &[("CNI_COMMAND", "STATUS")],
        r#"{"cniVersion":"1.1.0","name":"n","type":"cradle-bridge"}"#,
    );
    assert!(!ok);
    assert_eq!(out["code"], 7, "{out}");
    assert!(out["msg"].as_str().unwrap().contains("ranges"), "{out}");
}
