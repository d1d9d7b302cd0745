//! `hack/install.sh` into a temporary root (`--destdir`): which files it
//! installs and with which modes, what it leaves alone (an operator's
//! config.toml, network configuration and crictl.yaml), the crictl.yaml and
//! systemd unit it writes, and that `--uninstall` gives back the tree as it
//! was, keeping only what the operator wrote or edited. The binaries are
//! small stand-ins from `--from DIR`, so nothing needs building or root; a
//! stand-in `cradled` with and without `--print-default-config` covers
//! both ways to the default config.toml. Also `bash -n` and shellcheck
//! (installed by hack/install-deps.sh).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cradle_daemon::core::config::Config;
use cradle_tests::repo_root;

const BINARIES: [&str; 4] = ["cradled", "cradlectl", "cradle-shim", "cradle-oci"];
const DEFAULT_CONFIG: &str =
    "# what cradled --print-default-config prints\nsocket = \"/run/cradle/cradle.sock\"\n";
const UNIT: &str = "etc/systemd/system/cradle.service";

/// What a tree holds: each path (relative) with its mode and, for a file,
/// its content.
type Tree = BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>;

fn tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (mode, None));
                walk(root, &path, out);
            } else {
                out.insert(rel, (mode, Some(fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

/// A directory of stand-ins for the five binaries; `cradled` prints
/// [`DEFAULT_CONFIG`] for `--print-default-config` when `prints_config`,
/// and otherwise refuses the flag as clap does.
fn fake_binaries(dir: &Path, prints_config: bool) {
    for bin in BINARIES.iter().chain(&["cradle-bridge"]) {
        let body = if *bin == "cradled" && prints_config {
            // --validate-config refuses a file naming `bogus`, as cradled
            // refuses an unknown key.
            format!(
                "#!/bin/sh\nif [ \"$1\" = --print-default-config ]; then\ncat <<'EOF'\n{DEFAULT_CONFIG}EOF\nexit 0\nfi\n\
                 if [ \"$1\" = --validate-config ]; then\n\
                 if grep -q bogus \"$2\"; then echo \"$2, line 1, key \\`bogus\\`: unknown field\" >&2; exit 1; fi\n\
                 echo \"$2: ok\"; exit 0\nfi\nexit 2\n"
            )
        } else {
            format!("#!/bin/sh\necho \"error: unexpected argument '$1' ({bin})\" >&2\nexit 2\n")
        };
        let path = dir.join(bin);
        fs::write(&path, body).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn install_sh(args: &[&str], destdir: &Path) -> Output {
    let out = Command::new("bash")
        .arg(repo_root().join("hack/install.sh"))
        .arg("--destdir")
        .arg(destdir)
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "install.sh {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs install.sh and asserts it succeeded; returns its stderr.
fn ok(args: &[&str], destdir: &Path) -> String {
    let out = install_sh(args, destdir);
    assert!(out.status.success(), "install.sh {args:?} failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(root: &Path, path: &str) -> String {
    fs::read_to_string(root.join(path)).unwrap()
}

fn mode(root: &Path, path: &str) -> u32 {
    fs::metadata(root.join(path)).unwrap().permissions().mode() & 0o7777
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    from: String,
}

fn setup(prints_config: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let from = dir.path().join("from");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir(&from).unwrap();
    fake_binaries(&from, prints_config);
    // Something of the host's own, which must survive everything.
    fs::write(root.join("etc/hostname"), "node-1\n").unwrap();
    Setup {
        root,
        from: from.to_str().unwrap().to_owned(),
        _dir: dir,
    }
}

#[test]
fn installs_everything_and_uninstall_restores_the_tree() {
    let s = setup(true);
    let before = tree(&s.root);
    ok(&["--from", &s.from], &s.root);

    for bin in BINARIES {
        let path = format!("usr/local/bin/{bin}");
        assert_eq!(mode(&s.root, &path), 0o755, "{path}");
        assert_eq!(
            fs::read(s.root.join(&path)).unwrap(),
            fs::read(Path::new(&s.from).join(bin)).unwrap(),
            "{path}"
        );
    }
    assert_eq!(mode(&s.root, "opt/cni/bin/cradle-bridge"), 0o755);
    assert_eq!(read(&s.root, "etc/cradle/config.toml"), DEFAULT_CONFIG);
    assert_eq!(mode(&s.root, "etc/cradle/config.toml"), 0o644);
    assert_eq!(
        read(&s.root, "etc/cni/net.d/10-cradle.conflist"),
        fs::read_to_string(repo_root().join("cni/conf/10-cradle.conflist")).unwrap()
    );
    assert_eq!(mode(&s.root, "etc/cni/net.d/10-cradle.conflist"), 0o644);

    let crictl = read(&s.root, "etc/crictl.yaml");
    for line in [
        "runtime-endpoint: unix:///run/cradle/cradle.sock",
        "image-endpoint: unix:///run/cradle/cradle.sock",
        "timeout: 10",
    ] {
        assert!(crictl.lines().any(|l| l == line), "{line} in:\n{crictl}");
    }

    let unit = read(&s.root, UNIT);
    for line in [
        "ExecStart=/usr/local/bin/cradled",
        "After=network-online.target local-fs.target",
        "Delegate=yes",
        "KillMode=process",
        "Restart=always",
        "LimitNOFILE=1048576",
        "OOMScoreAdjust=-999",
        "TasksMax=infinity",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in:\n{unit}");
    }
    assert!(s.root.join("var/lib/cradle/install-manifest").is_file());

    // Installing again changes nothing: the same files, still uninstallable.
    let installed = tree(&s.root);
    let again = ok(&["--from", &s.from], &s.root);
    assert!(
        again.contains("kept /etc/cradle/config.toml (installed earlier)"),
        "{again}"
    );
    assert_eq!(tree(&s.root), installed);

    ok(&["--uninstall"], &s.root);
    assert_eq!(tree(&s.root), before);
}

#[test]
fn an_existing_config_the_new_cradled_refuses_stops_the_install() {
    let s = setup(true);
    fs::create_dir_all(s.root.join("etc/cradle")).unwrap();
    fs::write(s.root.join("etc/cradle/config.toml"), "bogus = 1\n").unwrap();
    let before = tree(&s.root);
    let out = install_sh(&["--from", &s.from], &s.root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refused") && stderr.contains("`bogus`"),
        "{stderr}"
    );
    assert_eq!(tree(&s.root), before, "nothing installed");

    // A valid one is checked and kept.
    fs::write(s.root.join("etc/cradle/config.toml"), "root = \"/srv\"\n").unwrap();
    let log = ok(&["--from", &s.from], &s.root);
    assert!(log.contains("config.toml: ok"), "{log}");
    assert_eq!(read(&s.root, "etc/cradle/config.toml"), "root = \"/srv\"\n");
}

#[test]
fn an_operators_files_stay_untouched() {
    let s = setup(true);
    let files = [
        ("etc/cradle/config.toml", "cgroup_driver = \"systemd\"\n"),
        (
            "etc/cni/net.d/99-operator.conflist",
            "{\"name\": \"theirs\"}\n",
        ),
        (
            "etc/crictl.yaml",
            "runtime-endpoint: unix:///run/containerd/containerd.sock\n",
        ),
    ];
    for (path, content) in files {
        fs::create_dir_all(s.root.join(path).parent().unwrap()).unwrap();
        fs::write(s.root.join(path), content).unwrap();
    }
    let before = tree(&s.root);
    ok(&["--from", &s.from], &s.root);
    for (path, content) in files {
        assert_eq!(read(&s.root, path), content, "{path}");
    }
    assert!(!s.root.join("etc/cni/net.d/10-cradle.conflist").exists());
    assert!(s.root.join("usr/local/bin/cradled").is_file());

    ok(&["--uninstall"], &s.root);
    assert_eq!(tree(&s.root), before);
}

#[test]
fn an_edited_config_is_kept_and_the_fallback_config_holds_the_defaults() {
    // A cradled without --print-default-config: the commented fallback.
    let s = setup(false);
    let before = tree(&s.root);
    ok(&["--from", &s.from, "--bin-dir", "/usr/bin"], &s.root);
    assert!(s.root.join("usr/bin/cradled").is_file());
    assert!(
        read(&s.root, UNIT)
            .lines()
            .any(|l| l == "ExecStart=/usr/bin/cradled")
    );

    let config = read(&s.root, "etc/cradle/config.toml");
    assert!(
        config.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{config}"
    );
    // Uncommented, its keys parse, and their values are the built-in defaults.
    let uncommented: String = config
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(key, _)| {
                !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(uncommented.contains("cgroup_driver = "), "{uncommented}");
    let parsed = Config::from_toml(&uncommented, Path::new("config.toml")).unwrap();
    assert_eq!(parsed, Config::default());

    fs::write(
        s.root.join("etc/cradle/config.toml"),
        format!("{config}log_level = \"debug\"\n"),
    )
    .unwrap();
    let edited = read(&s.root, "etc/cradle/config.toml");
    let out = ok(&["--uninstall", "--bin-dir", "/usr/bin"], &s.root);
    assert!(
        out.contains("kept /etc/cradle/config.toml: changed since it was installed"),
        "{out}"
    );
    assert_eq!(read(&s.root, "etc/cradle/config.toml"), edited);
    let mut expected = before;
    let dir_mode = mode(&s.root, "etc/cradle");
    expected.insert("etc/cradle".into(), (dir_mode, None));
    expected.insert(
        "etc/cradle/config.toml".into(),
        (0o644, Some(edited.into_bytes())),
    );
    assert_eq!(tree(&s.root), expected);
}

#[test]
fn state_stays_unless_purged_and_no_systemd_means_no_unit() {
    let s = setup(true);
    let before = tree(&s.root);
    let state = s.root.join("var/lib/cradle/meta.db");

    ok(&["--from", &s.from, "--no-systemd"], &s.root);
    assert!(!s.root.join(UNIT).exists());
    fs::write(&state, "state").unwrap();
    ok(&["--uninstall"], &s.root);
    assert_eq!(read(&s.root, "var/lib/cradle/meta.db"), "state");
    assert!(!s.root.join("usr/local/bin/cradled").exists());
    assert!(!s.root.join("var/lib/cradle/install-manifest").exists());

    ok(&["--from", &s.from, "--no-systemd"], &s.root);
    fs::create_dir_all(s.root.join("run/cradle/shims")).unwrap();
    ok(&["--uninstall", "--purge"], &s.root);
    let mut expected = before;
    // /run is no directory install.sh made, and /var/lib was there (kept
    // for the state by the first uninstall) when the second install ran:
    // they stay, empty.
    for dir in ["run", "var", "var/lib"] {
        expected.insert(dir.into(), (mode(&s.root, dir), None));
    }
    assert_eq!(tree(&s.root), expected);
}

#[test]
fn refusals_name_what_is_wrong() {
    let s = setup(true);
    let before = tree(&s.root);

    let out = install_sh(&["--uninstall"], &s.root);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("install-manifest"));

    let empty = tempfile::tempdir().unwrap();
    let out = install_sh(&["--from", empty.path().to_str().unwrap()], &s.root);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not built:") && stderr.contains("cradled"),
        "{stderr}"
    );

    let out = install_sh(&["--purge"], &s.root);
    assert!(!out.status.success());
    let out = install_sh(&["--bin-dir", "relative/bin"], &s.root);
    assert!(!out.status.success());
    assert_eq!(tree(&s.root), before);
}

#[test]
fn the_scripts_parse_and_pass_shellcheck() {
    let scripts = ["hack/install.sh", "hack/quickstart.sh"].map(|s| repo_root().join(s));
    for script in &scripts {
        let out = Command::new("bash").arg("-n").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "bash -n {}: {out:?}",
            script.display()
        );
    }
    match Command::new("shellcheck").args(&scripts).output() {
        Ok(out) => assert!(
            out.status.success(),
            "shellcheck:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            cradle_testkit::skip(
                "shellcheck is missing (run hack/install-deps.sh): only bash -n ran",
            );
        }
        Err(e) => panic!("running shellcheck: {e}"),
    }
}
