//! `cradlectl check`: whether this node can run Cradle, read with cradled's
//! own configuration (so the CNI dirs, the root and the socket are the
//! daemon's). The probes are the daemon library's
//! (`cradle_daemon::platform::node_check`); this module only gathers the
//! paths and prints. Exits 1 when any check fails.

use anyhow::Context as _;
use cradle_daemon::core::config::{Config, DEFAULT_CONFIG_FILE, Overrides};
use cradle_daemon::core::handlers::CgroupDriver;
use cradle_daemon::platform::node_check::{self, Check, NodePaths, Status};
use serde::Serialize;
use std::path::PathBuf;

use crate::output::{self, Format};
use crate::table::Table;

/// `cradlectl check`: paths default to cradled's, from its config file.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// cradled's configuration file; a missing default file means
    /// cradled's built-in defaults [default: /etc/cradle/config.toml].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The daemon's root, as cradled's --root [default: from the config].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// The CNI configuration directory, as cradled's --cni-conf-dir.
    #[arg(long, value_name = "DIR")]
    cni_conf_dir: Option<PathBuf>,
    /// CNI plugin directories, `:`-separated, as cradled's --cni-bin-dir.
    #[arg(long, value_name = "DIRS")]
    cni_bin_dir: Option<String>,
    /// The CRI socket to check, as cradled's --socket [default: from the
    /// config].
    #[arg(long, value_name = "PATH")]
    cri_socket: Option<PathBuf>,
    /// Where procfs is (a fake one in tests).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    proc_root: PathBuf,
    /// Where sysfs is (cgroups under fs/cgroup, AppArmor, SELinux).
    #[arg(long, value_name = "DIR", default_value = "/sys")]
    sys_root: PathBuf,
    /// Skip the id-mapped mount probe (it mounts an overlay under the root).
    #[arg(long)]
    no_probe: bool,
}

impl CheckArgs {
    /// The daemon's configuration with our overrides, as cradled loads it.
    fn config(&self) -> anyhow::Result<Config> {
        let (path, explicit) = match &self.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let mut config = Config::load(&path, explicit)
            .with_context(|| format!("reading cradled's config {}", path.display()))?;
        config.apply(Overrides {
            socket: self.cri_socket.clone(),
            root: self.root.clone(),
            cni_conf_dir: self.cni_conf_dir.clone(),
            cni_bin_dir: self.cni_bin_dir.clone(),
            ..Overrides::default()
        });
        Ok(config)
    }

    /// Where the checks look.
    fn paths(&self) -> anyhow::Result<NodePaths> {
        let config = self.config()?;
        Ok(NodePaths {
            proc_root: self.proc_root.clone(),
            sys_root: self.sys_root.clone(),
            root: config.root,
            socket: config.socket,
            cni_conf_dir: config.cni_conf_dir,
            cni_bin_dirs: config.cni_bin_dirs,
            systemd_driver: config.cgroup_driver == CgroupDriver::Systemd,
            probe_idmap: !self.no_probe,
            ..NodePaths::default()
        })
    }
}

/// The JSON/YAML form: the worst status and every check.
#[derive(Debug, Serialize)]
struct Report<'a> {
    status: Status,
    checks: &'a [Check],
}

/// Runs every check and prints them; true when one failed.
pub fn run(args: CheckArgs, format: Format) -> anyhow::Result<bool> {
    let checks = node_check::run(&args.paths()?);
    let status = node_check::worst(&checks);
    match format {
        Format::Table => output::raw(&render(&checks))?,
        Format::Json => output::json(&Report {
            status,
            checks: &checks,
        })?,
        Format::Yaml => output::yaml(&Report {
            status,
            checks: &checks,
        })?,
    }
    Ok(status == Status::Fail)
}

/// The table of checks, then what to fix for each that is not ok, then a
/// summary line.
pub fn render(checks: &[Check]) -> String {
    let mut table = Table::new(&["STATUS", "CHECK", "DETAIL"]);
    for check in checks {
        table.row(vec![
            check.status.as_str().to_uppercase(),
            check.name.clone(),
            check.detail.clone(),
        ]);
    }
    let mut out = table.render();
    let todo: Vec<&Check> = checks
        .iter()
        .filter(|c| c.status != Status::Ok && !c.fix.is_empty())
        .collect();
    if !todo.is_empty() {
        out.push_str("\nTo fix:\n");
        for check in todo {
            out.push_str(&format!(
                "  {} {}: {}\n",
                check.status.as_str().to_uppercase(),
                check.name,
                check.fix
            ));
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "\n{} ok, {} warning(s), {} failed\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_warnings_are_listed_with_their_fix() {
        let checks = vec![
            Check::ok("kernel version", "Linux 6.1.0"),
            Check::new(
                "overlayfs",
                Status::Fail,
                "overlay is not in /proc/filesystems",
                "modprobe overlay",
            ),
            Check::new("cni plugins", Status::Warn, "not checked", ""),
        ];
        let text = render(&checks);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["STATUS", "CHECK", "DETAIL"]
        );
        assert!(lines[1].starts_with("OK "), "{text}");
        assert_eq!(
            lines[2].split_whitespace().take(2).collect::<Vec<_>>(),
            ["FAIL", "overlayfs"]
        );
        assert!(
            text.contains("To fix:\n  FAIL overlayfs: modprobe overlay\n"),
            "{text}"
        );
        assert!(
            !text.contains("cni plugins:"),
            "a warning without a fix: {text}"
        );
        assert!(text.ends_with("\n1 ok, 1 warning(s), 1 failed\n"), "{text}");
    }
}
