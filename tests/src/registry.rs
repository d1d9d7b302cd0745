//! A loopback image registry with the busybox test image pushed into it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

pub(crate) const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
pub(crate) const SKOPEO: &str = "/usr/bin/skopeo";

/// The image's name and tag inside the registry.
pub const TEST_IMAGE: &str = "busybox:latest";

/// docker-registry on `127.0.0.1:<free port>` with its storage in a temp dir;
/// stopped and removed on drop.
pub struct Registry {
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    /// Builds the test image (once per test process), starts the registry
    /// and pushes the image.
    pub fn start() -> anyhow::Result<Self> {
        let layout = test_image_layout()?;
        let mut last_err = None;
        // The free port can be taken between probe and bind: retry.
        for _ in 0..3 {
            let dir = tempfile::Builder::new().prefix("cradle-reg-").tempdir()?;
            let port = free_port()?;
            let registry = Registry { dir, port };
            match registry.run_script(
                "registry.sh",
                &["start", &registry.state(), &port.to_string()],
            ) {
                Ok(()) => {
                    let layout = layout.display().to_string();
                    registry.run_script(
                        "push-test-image.sh",
                        &[&layout, &registry.host(), TEST_IMAGE],
                    )?;
                    return Ok(registry);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("registry did not start")))
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The test image's reference, e.g. `127.0.0.1:40123/busybox:latest`.
    pub fn image_ref(&self) -> String {
        format!("{}/{TEST_IMAGE}", self.host())
    }

    /// Pushes the image of OCI layout `layout` (tag `latest`) as `name_tag`
    /// (e.g. `stopsignal:latest`); returns its reference in this registry.
    pub fn push_layout(&self, layout: &Path, name_tag: &str) -> anyhow::Result<String> {
        let layout = layout.display().to_string();
        self.run_script("push-test-image.sh", &[&layout, &self.host(), name_tag])?;
        Ok(format!("{}/{name_tag}", self.host()))
    }

    fn state(&self) -> String {
        self.dir.path().join("registry").display().to_string()
    }

    fn run_script(&self, script: &str, args: &[&str]) -> anyhow::Result<()> {
        let path = crate::paths::repo_root().join("hack").join(script);
        let out = Command::new(&path)
            .args(args)
            .output()
            .with_context(|| format!("running {}", path.display()))?;
        if !out.status.success() {
            bail!(
                "{script} {}: {}\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Err(e) = self.run_script("registry.sh", &["stop", &self.state()]) {
            eprintln!("registry stop: {e:#}");
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The OCI layout of the test image, built once per process into
/// `target/cradle-e2e/busybox-oci` (deterministic, so rebuilding is harmless).
pub fn test_image_layout() -> anyhow::Result<PathBuf> {
    static LAYOUT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    LAYOUT
        .get_or_init(|| build_layout().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

fn build_layout() -> anyhow::Result<PathBuf> {
    let base = crate::paths::target_bin_dir()?
        .parent()
        .map(Path::to_path_buf)
        .context("target dir")?
        .join("cradle-e2e");
    std::fs::create_dir_all(&base)?;
    let tmp = tempfile::Builder::new()
        .prefix("busybox-oci-")
        .tempdir_in(&base)?;
    let script = crate::paths::repo_root().join("hack/build-test-image.sh");
    let out = Command::new(&script)
        .arg(tmp.path())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "build-test-image.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let layout = base.join("busybox-oci");
    // Replace atomically enough: another test binary may be doing the same.
    let _ = std::fs::remove_dir_all(&layout);
    let kept = tmp.keep();
    if std::fs::rename(&kept, &layout).is_err() {
        // Someone else put an identical layout there first.
        std::fs::remove_dir_all(&kept)?;
    }
    Ok(layout)
}
