//! `cradled --print-default-config` and `cradled --validate-config FILE`,
//! run as the built binary: the printed file is the rendered reference and
//! validates; a bad file is refused with its key and line, exit status 1.
//! Neither starts the daemon, so they need no root.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use cradle_daemon::core::config::Config;
use cradle_daemon::core::config::reference::REFERENCE;
use cradle_daemon::core::config::render::{self, Examples};
use std::path::Path;
use std::process::{Command, Output};

fn cradled(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cradled"))
        .args(args)
        .output()
        .expect("running cradled")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn print_default_config_prints_the_defaults_and_exits() {
    let out = cradled(&["--print-default-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert_eq!(printed, render::default_config(Examples::Commented));
    let parsed = Config::from_toml(&printed, Path::new("printed.toml")).unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn the_printed_file_validates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let printed = cradled(&["--print-default-config"]).stdout;
    std::fs::write(&path, printed).unwrap();
    let out = cradled(&["--validate-config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}: ok\n", path.display()));
}

#[test]
fn a_bad_file_is_refused_naming_the_key_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let check = |contents: &str, expected: &str| {
        std::fs::write(&path, contents).unwrap();
        let out = cradled(&["--validate-config", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{contents}");
        let stderr = text(&out.stderr);
        let want = format!("config file {}, {expected}", path.display());
        assert!(stderr.starts_with(&want), "want {want:?}, got:\n{stderr}");
        assert!(out.stdout.is_empty());
    };
    // An unknown key.
    check(
        "socket = \"/run/x.sock\"\n[streaming]\naddres = \"127.0.0.1:0\"\n",
        "line 3, key `streaming.addres`: unknown field `addres`",
    );
    // A value of the wrong type.
    check(
        "[registry]\nmax_concurrent_downloads = \"3\"\n",
        "line 2, key `registry.max_concurrent_downloads`: invalid type",
    );
    // A value that parses but the daemon would refuse at start.
    check(
        "[runtime_handlers.fast]\nruntime = \"/bin/sh\"\nsystemd_cgroup = true\n\
         [runtime_handlers.cradle-oci]\n",
        "line 3, key `runtime_handlers.fast.systemd_cgroup`: ",
    );
    // A syntax error: the line, no key.
    check("socket = \"/run/x.sock\nroot = \"/r\"\n", "line 1: ");
}

#[test]
fn a_missing_file_is_refused() {
    let out = cradled(&["--validate-config", "/nonexistent/cradle.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/cradle.toml"));
}

#[test]
fn every_flag_the_reference_names_is_a_flag_of_cradled() {
    let help = text(&cradled(&["--help"]).stdout);
    for flag in REFERENCE.iter().filter_map(|e| e.flag) {
        assert!(
            help.contains(&format!("{flag} ")),
            "cradled --help has no {flag}"
        );
    }
    assert!(help.contains("--print-default-config"));
    assert!(help.contains("--validate-config"));
}
