//! `cradlectl check` against a running cradled, read with the daemon's own
//! config file and flags: a fake proc whose `filesystems` lacks overlay and
//! the daemon's empty CNI conf dir fail (exit 1), each problem printed with
//! its fix; with the real /proc and Cradle's conflist installed, the
//! overlay and CNI config lines are ok and the socket is cradled's, mode
//! 0660. Root only (cradled); skipped with a message elsewhere.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;

use anyhow::{Context, ensure};
use cradle_daemon::platform::node_check::{Check, Status};
use cradle_tests::cradlectl::{describe, run};
use cradle_tests::{Daemon, repo_root, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_a_missing_overlay_and_cni_config_with_their_fixes() {
    skip_unless_ready!(false);
    let daemon = Daemon::start().expect("cradled");
    let result = scenario(&daemon).await;
    if let Err(e) = result {
        panic!("{e:#}\n--- cradled log ---\n{}", daemon.log());
    }
}

/// The flags that point `check` at `daemon`'s config, dirs and socket.
fn daemon_flags(daemon: &Daemon) -> Vec<String> {
    [
        ("--config", daemon.dir().join("config.toml")),
        ("--root", daemon.root()),
        ("--cni-conf-dir", daemon.cni_conf_dir()),
        ("--cri-socket", daemon.socket()),
    ]
    .into_iter()
    .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
    .collect()
}

/// `cradlectl check <daemon flags> <extra>`: its exit code, stdout and the
/// checks of its `-o json` run.
async fn check(
    daemon: &Daemon,
    extra: &[&str],
) -> anyhow::Result<(Option<i32>, String, Vec<Check>)> {
    let flags = daemon_flags(daemon);
    let mut args: Vec<&str> = vec!["check", "--no-probe"];
    args.extend(flags.iter().map(String::as_str));
    args.extend(extra);
    let table = run(daemon, &args).await?;
    args.extend(["-o", "json"]);
    let json = run(daemon, &args).await?;
    ensure!(
        json.status.code() == table.status.code(),
        "the JSON run exited otherwise: {}",
        describe(&json)
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout)
        .with_context(|| format!("check -o json: {}", describe(&json)))?;
    let checks: Vec<Check> = serde_json::from_value(report["checks"].clone())?;
    Ok((
        table.status.code(),
        String::from_utf8_lossy(&table.stdout).into_owned(),
        checks,
    ))
}

fn find<'a>(checks: &'a [Check], name: &str) -> anyhow::Result<&'a Check> {
    checks
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("no {name} check in {checks:?}"))
}

/// A proc dir with the files the checks read copied from /proc, except
/// that `filesystems` lacks overlay.
fn fake_proc(dir: &Path) -> anyhow::Result<()> {
    let filesystems: String = std::fs::read_to_string("/proc/filesystems")?
        .lines()
        .filter(|l| l.split_whitespace().last() != Some("overlay"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("filesystems"), filesystems)?;
    for file in [
        "sys/kernel/osrelease",
        "sys/kernel/seccomp/actions_avail",
        "sys/user/max_user_namespaces",
        "self/status",
    ] {
        let to = dir.join(file);
        std::fs::create_dir_all(to.parent().context("a parent")?)?;
        if let Ok(text) = std::fs::read(Path::new("/proc").join(file)) {
            std::fs::write(to, text)?;
        }
    }
    Ok(())
}

async fn scenario(daemon: &Daemon) -> anyhow::Result<()> {
    // No overlay, no CNI config: exit 1, both named with their fixes.
    let proc_dir = daemon.dir().join("fake-proc");
    fake_proc(&proc_dir)?;
    let proc_arg = proc_dir.display().to_string();
    let (code, table, checks) = check(daemon, &["--proc-root", &proc_arg]).await?;
    ensure!(code == Some(1), "exit {code:?}:\n{table}");
    let overlay = find(&checks, "overlayfs")?;
    ensure!(overlay.status == Status::Fail, "{overlay:?}");
    let cni = find(&checks, "cni config")?;
    ensure!(cni.status == Status::Fail, "{cni:?}");
    for (name, fix) in [
        ("overlayfs", "modprobe overlay"),
        ("cni config", "10-cradle.conflist"),
    ] {
        ensure!(
            table
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(name)),
            "no FAIL line for {name}:\n{table}"
        );
        ensure!(
            table
                .lines()
                .any(|l| l.contains(&format!("FAIL {name}:")) && l.contains(fix)),
            "no fix for {name} naming {fix:?}:\n{table}"
        );
    }
    ensure!(
        table.contains(&proc_arg),
        "the fake proc is not the one read:\n{table}"
    );

    // The real /proc and Cradle's network config: those lines are ok.
    std::fs::copy(
        repo_root().join("cni/conf/10-cradle.conflist"),
        daemon.cni_conf_dir().join("10-cradle.conflist"),
    )?;
    let (code, table, checks) = check(daemon, &[]).await?;
    for name in ["overlayfs", "cni config", "cri socket"] {
        let check = find(&checks, name)?;
        ensure!(
            check.status == Status::Ok,
            "{name}: {check:?} (exit {code:?}):\n{table}"
        );
    }
    let overlay_line = table
        .lines()
        .find(|l| l.contains("overlayfs"))
        .context("no overlayfs line")?;
    ensure!(overlay_line.starts_with("OK"), "{overlay_line}");
    // Exit 1 exactly when a check failed (plugins or cgroups may, on this host).
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    ensure!(
        code == Some(i32::from(failed)),
        "exit {code:?} with failed={failed}:\n{table}"
    );
    Ok(())
}
