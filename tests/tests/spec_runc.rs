//! The daemon's OCI spec builder checked against a real OCI runtime: the spec
//! built for a busybox container must run under runc (the reference runtime)
//! with the capabilities, user, hostname and namespaces it asks for. Root only.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use cradle_daemon::containers::spec::{SandboxNamespaces, SpecInput, build_spec};
use cradle_proto::cri;
use cradle_tests::{CgroupParent, random_suffix, skip_unless_ready, test_image_layout};

const RUNC: &str = "/usr/sbin/runc";

/// The capability mask of containerd's 14 default capabilities.
const DEFAULT_CAPS: &str = "00000000a80425fb";

/// Namespace pins made with `unshare --net=FILE …`, unmounted on drop.
struct Pins {
    files: Vec<PathBuf>,
}

impl Pins {
    fn create(dir: &Path) -> anyhow::Result<Self> {
        let mut pins = Pins { files: Vec::new() };
        let mut args = Vec::new();
        for ns in ["net", "ipc", "uts"] {
            let file = dir.join(ns);
            std::fs::write(&file, "")?;
            args.push(format!("--{ns}={}", file.display()));
            pins.files.push(file);
        }
        let status = Command::new("unshare").args(&args).arg("true").status()?;
        ensure!(status.success(), "unshare {args:?}: {status}");
        Ok(pins)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = nix::mount::umount2(file, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Unpacks the test image's single layer into `rootfs`.
fn unpack_test_image(rootfs: &Path) -> anyhow::Result<()> {
    let layout = test_image_layout()?;
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .context("index digest")?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest_digest))?)?;
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .context("layer digest")?;
    std::fs::create_dir_all(rootfs)?;
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(blob(layer))
        .arg("-C")
        .arg(rootfs)
        .status()?;
    ensure!(status.success(), "tar: {status}");
    Ok(())
}

#[test]
fn spec_for_a_busybox_container_runs_under_runc() {
    skip_unless_ready!(false);
    if !Path::new(RUNC).exists() {
        cradle_tests::skip(format!("{RUNC} is missing"));
        return;
    }
    let cgroup = CgroupParent::new();
    let dir = tempfile::Builder::new()
        .prefix("cradle-spec-")
        .tempdir()
        .expect("tempdir");
    if let Err(e) = run_under_runc(dir.path(), &cgroup) {
        panic!("{e:#}");
    }
}

fn run_under_runc(dir: &Path, cgroup: &CgroupParent) -> anyhow::Result<()> {
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    unpack_test_image(&rootfs)?;
    let pin_dir = dir.join("ns");
    std::fs::create_dir_all(&pin_dir)?;
    let pins = Pins::create(&pin_dir)?;

    let id = format!("spec-{}", random_suffix());
    let config = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: "c".into(),
            attempt: 0,
        }),
        command: vec!["sh".into(), "-c".into()],
        args: vec![
            "grep -E 'CapEff|CapBnd' /proc/self/status; grep NoNewPrivs /proc/self/status; id -u; id -G; hostname; echo $GREETING; pwd".into(),
        ],
        envs: vec![cri::KeyValue {
            key: "GREETING".into(),
            value: "hi".into(),
        }],
        working_dir: "/tmp".into(),
        linux: Some(cri::LinuxContainerConfig {
            security_context: Some(cri::LinuxContainerSecurityContext {
                run_as_user: Some(cri::Int64Value { value: 1000 }),
                run_as_group: Some(cri::Int64Value { value: 1000 }),
                supplemental_groups: vec![2000],
                no_new_privs: true,
                ..Default::default()
            }),
            resources: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: 64 << 20,
                cpu_shares: 256,
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let sandbox = cri::PodSandboxConfig {
        hostname: "spec-test".into(),
        ..Default::default()
    };
    let image = cradle_snapshotter::ImageConfig::default();
    let namespaces = SandboxNamespaces {
        net: Some(pin_dir.join("net")),
        ipc: Some(pin_dir.join("ipc")),
        uts: Some(pin_dir.join("uts")),
    };
    let cgroups_path = format!("{}/{id}", cgroup.path());
    let resolved = cradle_daemon::containers::spec::Resolved::default();
    let spec = build_spec(&SpecInput {
        resolved: &resolved,
        container_id: &id,
        config: &config,
        sandbox: &sandbox,
        image: &image,
        rootfs: &rootfs,
        namespaces: &namespaces,
        cgroups_path: &cgroups_path,
    })?;
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec)?,
    )?;

    let runc_root = dir.join("runc");
    let out = Command::new(RUNC)
        .arg("--root")
        .arg(&runc_root)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .output()?;
    let _ = Command::new(RUNC)
        .arg("--root")
        .arg(&runc_root)
        .args(["delete", "--force", &id])
        .output();
    drop(pins);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "runc run: {}\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let expected = [
        // A non-root user keeps the bounding set but no effective capability.
        "CapEff:\t0000000000000000".into(),
        format!("CapBnd:\t{DEFAULT_CAPS}"),
        "NoNewPrivs:\t1".into(),
        "1000".into(),
        "1000 2000".into(),
        "spec-test".into(),
        "hi".into(),
        "/tmp".into(),
    ];
    ensure!(
        lines == expected,
        "container output {lines:?}, expected {expected:?}"
    );
    Ok(())
}
