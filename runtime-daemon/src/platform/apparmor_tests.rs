//! Detection, the loaded-profile list, finding and running the parser, and
//! Cradle's default profile text, without AppArmor in the kernel.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

/// A fake node: `enabled` (the module parameter) and `profiles` (the
/// securityfs list) in a temp dir.
struct FakeNode {
    dir: tempfile::TempDir,
}

impl FakeNode {
    fn new(param: Option<&str>, securityfs: bool) -> FakeNode {
        let dir = tempfile::tempdir().unwrap();
        if let Some(param) = param {
            std::fs::write(dir.path().join("enabled"), param).unwrap();
        }
        if securityfs {
            std::fs::create_dir(dir.path().join("apparmor")).unwrap();
            std::fs::write(dir.path().join("apparmor/profiles"), "").unwrap();
        }
        FakeNode { dir }
    }

    fn detect(&self) -> NodeAppArmor {
        NodeAppArmor::detect(
            &self.dir.path().join("enabled"),
            &self.dir.path().join("apparmor"),
        )
    }

    fn profiles_file(&self) -> PathBuf {
        self.dir.path().join("apparmor/profiles")
    }

    /// A shell script standing in for apparmor_parser: `body` runs with
    /// `$PROFILES` (the list), `$STDIN` (where it saves its input) and
    /// `$CALLS` (a line per call with its arguments).
    fn parser(&self, body: &str) -> PathBuf {
        let path = self.dir.path().join("apparmor_parser");
        let script = format!(
            "#!/bin/sh\nPROFILES={}\nSTDIN={}\nCALLS={}\necho \"$*\" >>\"$CALLS\"\ncat >\"$STDIN\"\n{body}\n",
            self.profiles_file().display(),
            self.stdin_file().display(),
            self.calls_file().display(),
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn stdin_file(&self) -> PathBuf {
        self.dir.path().join("stdin")
    }

    fn calls_file(&self) -> PathBuf {
        self.dir.path().join("calls")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.calls_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn apparmor_is_enabled_only_with_the_module_on_and_its_securityfs() {
    assert!(FakeNode::new(Some("Y\n"), true).detect().enabled());
    assert!(!FakeNode::new(Some("N\n"), true).detect().enabled());
    assert!(!FakeNode::new(Some("Y\n"), false).detect().enabled());
    assert!(!FakeNode::new(None, true).detect().enabled());
}

#[test]
fn loaded_profiles_are_read_from_the_securityfs_list() {
    let node = FakeNode::new(Some("Y"), true);
    std::fs::write(
        node.profiles_file(),
        "/usr/sbin/ntpd (enforce)\nk8s nginx (complain)\ncri-cradle-default (enforce)\n",
    )
    .unwrap();
    let aa = node.detect();
    assert!(aa.is_loaded("cri-cradle-default").unwrap());
    assert!(aa.is_loaded("/usr/sbin/ntpd").unwrap());
    assert!(aa.is_loaded("k8s nginx").unwrap(), "names may hold spaces");
    assert!(!aa.is_loaded("cri-cradle").unwrap(), "whole names only");
    assert!(!aa.is_loaded("enforce").unwrap());
}

#[test]
fn an_unreadable_profile_list_is_an_error_naming_it() {
    let node = FakeNode::new(Some("Y"), true);
    std::fs::remove_file(node.profiles_file()).unwrap();
    let err = node.detect().is_loaded("x").unwrap_err();
    assert!(matches!(&err, AppArmorError::Read { path, .. } if path.ends_with("profiles")));
}

#[test]
fn the_default_profile_is_loaded_once_with_its_text_on_stdin() {
    let node = FakeNode::new(Some("Y"), true);
    let parser = node.parser("echo 'cri-cradle-default (enforce)' >>\"$PROFILES\"");
    let aa = node.detect().with_parser(parser);
    aa.ensure_default_loaded().unwrap();
    aa.ensure_default_loaded().unwrap();
    assert_eq!(node.calls(), vec!["-Kr".to_string()], "one load, replacing");
    assert_eq!(
        std::fs::read_to_string(node.stdin_file()).unwrap(),
        DEFAULT_PROFILE_TEXT
    );
    assert!(aa.is_loaded(DEFAULT_PROFILE).unwrap());
}

#[test]
fn a_parser_failure_carries_its_stderr_and_is_retried_on_the_next_use() {
    let node = FakeNode::new(Some("Y"), true);
    let parser = node.parser("echo 'AppArmor parser error at line 3' >&2; exit 1");
    let aa = node.detect().with_parser(parser);
    let err = aa.ensure_default_loaded().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("AppArmor parser error at line 3"), "{text}");
    assert!(text.contains(DEFAULT_PROFILE), "{text}");
    assert!(aa.ensure_default_loaded().is_err());
    assert_eq!(node.calls().len(), 2, "a failed load is not remembered");
}

#[test]
fn a_profile_the_kernel_does_not_list_after_loading_is_an_error() {
    let node = FakeNode::new(Some("Y"), true);
    let aa = node.detect().with_parser(node.parser("exit 0"));
    assert!(matches!(
        aa.ensure_default_loaded(),
        Err(AppArmorError::NotListed(name)) if name == DEFAULT_PROFILE
    ));
}

#[test]
fn the_parser_is_found_in_path_then_in_the_sbin_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("apparmor_parser");
    std::fs::write(&fake, "#!/bin/sh\n").unwrap();
    let path = std::env::join_paths([Path::new("/nonexistent"), &bin]).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_ne!(
        find_parser(Some(&path)).as_deref(),
        Some(fake.as_path()),
        "not executable: skipped"
    );
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(find_parser(Some(&path)), Some(fake));
    // Without it in PATH, the sbin dirs: whatever this host has there.
    let sbin = SBIN_DIRS
        .iter()
        .map(|d| Path::new(d).join("apparmor_parser"))
        .find(|p| is_executable(p));
    assert_eq!(
        find_parser(Some(std::ffi::OsStr::new("/nonexistent"))),
        sbin
    );
}

#[test]
fn the_default_profile_names_itself_and_denies_what_docker_default_denies() {
    assert!(DEFAULT_PROFILE_TEXT.contains(&format!("profile {DEFAULT_PROFILE} flags=")));
    for rule in [
        "deny mount,",
        "deny @{PROC}/sysrq-trigger rwklx,",
        "deny /sys/kernel/security/** rwklx,",
        "ptrace (trace,tracedby,read,readby) peer=cri-cradle-default,",
    ] {
        assert!(DEFAULT_PROFILE_TEXT.contains(rule), "{rule}");
    }
}

/// apparmor_parser -Q (parse and compile, load nothing) needs no AppArmor
/// in the kernel: the profile's syntax is checked on any host with the
/// parser.
#[test]
fn the_default_profile_passes_apparmor_parsers_syntax_check() {
    let Some(parser) = find_parser(std::env::var_os("PATH").as_deref()) else {
        cradle_testkit::skip("apparmor_parser is missing (run hack/install-deps.sh)");
        return;
    };
    load(&parser, &["-QK"], DEFAULT_PROFILE, DEFAULT_PROFILE_TEXT).unwrap();
    let broken = DEFAULT_PROFILE_TEXT.replace("deny mount,", "deny mount");
    let err = load(&parser, &["-QK"], DEFAULT_PROFILE, &broken).unwrap_err();
    assert!(
        matches!(&err, AppArmorError::ParserFailed { stderr, .. } if stderr.contains("error")),
        "{err}"
    );
}
