//! Helpers of the conformance suites (tests/tests/conformance_*.rs): our own
//! re-expression of what cri-tools' `critest` checks, over the CRI socket.
//! Configs are shaped as critest sends them (no namespace options, the
//! default container runs busybox `top`, logs under the pod's log dir), and
//! the calls report failures the way critest judges them: an ExecSync with a
//! non-zero exit is an error, stderr must be empty where critest says so.
//! Included by each suite with `#[path]`, so it stays out of the harness's
//! public API.

#![allow(dead_code)] // each suite uses its own subset

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::remove_everything;
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, random_suffix};

#[path = "conformance_layers.rs"]
pub mod layers;
#[path = "conformance_net.rs"]
mod net;

#[allow(unused_imports)] // not every suite checks pages
pub use net::{http_get_eventually, pod_ip};

/// critest's pause command: busybox `top` runs until killed.
pub const PAUSE: &[&str] = &["sh", "-c", "top"];

/// StopContainer's timeout in these suites: critest gives 60 s and fails a
/// stop that takes that long; 10 s keeps the same check (the container must
/// end on its stop signal, not on the SIGKILL) at a sixth of the wait.
pub const STOP_TIMEOUT: i64 = 10;

/// One suite's world: a registry with the test image, a daemon, a client.
pub struct World {
    pub cgroup: CgroupParent,
    pub registry: Registry,
    pub daemon: Daemon,
    pub cri: Cri,
    /// The test image's reference in the registry (pulled by `start`).
    pub image: String,
    /// The pod network (critest runs on a node whose CNI is ready).
    pub net: cradle_tests::network::TestNetwork,
}

impl World {
    /// Starts everything and pulls the test image.
    pub async fn new() -> World {
        Self::with_config("").await
    }

    /// Starts cradled with `config_toml` and pulls the test image.
    pub async fn with_config(config_toml: &str) -> World {
        let cgroup = CgroupParent::new();
        let registry = Registry::start().expect("registry");
        let net =
            cradle_tests::network::TestNetwork::new("critest", "ct", 214).expect("test network");
        let config = format!("{}{config_toml}", net.daemon_config());
        let daemon = Daemon::start_with_config(&config).expect("cradled");
        net.write_conflist(
            &daemon.cni_conf_dir(),
            serde_json::json!({"ipMasq": false, "hairpinMode": true}),
        )
        .expect("conflist");
        let mut cri = daemon.connect().await.expect("connect");
        let image = registry.image_ref();
        cradle_tests::steps::pull(&mut cri, &image)
            .await
            .expect("pull the test image");
        World {
            cgroup,
            registry,
            daemon,
            cri,
            image,
            net,
        }
    }

    /// Cleans up after the suite; panics with every failed case's error.
    /// Then nothing of the suite may be left: no mount under the daemon's
    /// dirs and no process (shim, pause, container) naming them.
    pub async fn finish(mut self, failures: Vec<String>) {
        remove_everything(&mut self.cri).await;
        let scope = cradle_tests::leaks::Scope {
            dirs: vec![self.daemon.root(), self.daemon.state_dir()],
            ids: Vec::new(),
            exclude_pids: self.daemon.pid().into_iter().collect(),
        };
        let leaks = cradle_tests::leaks::find(&scope);
        let errors = self.cgroup.remove();
        assert!(
            failures.is_empty(),
            "{} conformance case(s) failed:\n{}",
            failures.len(),
            failures.join("\n---\n")
        );
        assert!(leaks.is_empty(), "leaks:\n  {}", leaks.join("\n  "));
        assert!(errors.is_empty(), "cgroup parent removal: {errors:?}");
    }

    /// Runs one case (critest's It()), recording its failure instead of
    /// stopping the suite, so one run reports every failing check.
    pub async fn case<F>(&mut self, name: &str, failures: &mut Vec<String>, f: F)
    where
        F: AsyncFnOnce(&mut World) -> anyhow::Result<()>,
    {
        let started = Instant::now();
        let result = f(self).await;
        eprintln!(
            "[{}] {name} ({:?})",
            if result.is_ok() { "PASS" } else { "FAIL" },
            started.elapsed()
        );
        if let Err(e) = result {
            failures.push(format!("{name}: {e:#}"));
            // What the case left running must not disturb the next one.
            remove_everything(&mut self.cri).await;
        }
    }

    /// A case that fails today for a reason outside this suite's reach
    /// (`gap` names the cause and where it must be fixed): reported as
    /// KNOWN-GAP instead of failing the suite, and as XPASS once it passes,
    /// so the gap can be struck from the list.
    pub async fn case_with_gap<F>(&mut self, name: &str, gap: &str, f: F)
    where
        F: AsyncFnOnce(&mut World) -> anyhow::Result<()>,
    {
        let started = Instant::now();
        match f(self).await {
            Ok(()) => eprintln!("[XPASS] {name}: passes now, strike the gap: {gap}"),
            Err(e) => {
                eprintln!(
                    "[KNOWN-GAP] {name} ({:?}): {gap}\n    {e:#}",
                    started.elapsed()
                );
                remove_everything(&mut self.cri).await;
            }
        }
    }

    /// critest's default pod: metadata, labels, the cgroup parent and a log
    /// directory; no namespace options.
    pub fn pod_config(&self, prefix: &str) -> anyhow::Result<cri::PodSandboxConfig> {
        let name = format!("{prefix}{}", random_suffix());
        let log_directory = self.daemon.logs_dir().join(&name);
        std::fs::create_dir_all(&log_directory)?;
        Ok(cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name,
                uid: format!("cri-test-uid-{}", random_suffix()),
                namespace: format!("cri-test-namespace-{}", random_suffix()),
                attempt: 0,
            }),
            labels: [("cri-test".to_string(), "conformance".to_string())].into(),
            log_directory: log_directory.display().to_string(),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup.path().to_string(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// RunPodSandbox of `config`; returns its id.
    pub async fn run_pod(&mut self, config: &cri::PodSandboxConfig) -> anyhow::Result<String> {
        cradle_tests::steps::run_pod(&mut self.cri, config).await
    }

    /// A default pod, running: (id, config).
    pub async fn default_pod(&mut self) -> anyhow::Result<(String, cri::PodSandboxConfig)> {
        let config = self.pod_config("pod-")?;
        let id = self.run_pod(&config).await?;
        Ok((id, config))
    }

    /// A container of the test image named `<prefix><random>`, running
    /// `command` (critest's pause when empty), logging to `<name>.log`.
    pub fn container_config(&self, prefix: &str, command: &[&str]) -> cri::ContainerConfig {
        let name = format!("{prefix}{}", random_suffix());
        let command = if command.is_empty() { PAUSE } else { command };
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.clone(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: self.image.clone(),
                ..Default::default()
            }),
            command: command.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}.log"),
            linux: Some(cri::LinuxContainerConfig::default()),
            ..Default::default()
        }
    }

    /// CreateContainer; returns the id.
    pub async fn create(
        &mut self,
        pod_id: &str,
        pod: &cri::PodSandboxConfig,
        config: cri::ContainerConfig,
    ) -> anyhow::Result<String> {
        self.try_create(pod_id, pod, config)
            .await
            .map_err(|s| anyhow::anyhow!("CreateContainer: {:?}: {}", s.code(), s.message()))
    }

    /// CreateContainer, the gRPC status kept (for cases expecting a refusal).
    pub async fn try_create(
        &mut self,
        pod_id: &str,
        pod: &cri::PodSandboxConfig,
        config: cri::ContainerConfig,
    ) -> Result<String, tonic::Status> {
        Ok(self
            .cri
            .runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod_id.into(),
                config: Some(config),
                sandbox_config: Some(pod.clone()),
            })
            .await?
            .into_inner()
            .container_id)
    }

    /// StartContainer.
    pub async fn start(&mut self, id: &str) -> anyhow::Result<()> {
        self.cri
            .runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.into(),
            })
            .await
            .context("StartContainer")?;
        Ok(())
    }

    /// Create + start, then wait until RUNNING (critest's testStartContainer).
    pub async fn run(
        &mut self,
        pod_id: &str,
        pod: &cri::PodSandboxConfig,
        config: cri::ContainerConfig,
    ) -> anyhow::Result<String> {
        let id = self.create(pod_id, pod, config).await?;
        self.start(&id).await?;
        self.wait_state(&id, cri::ContainerState::ContainerRunning)
            .await?;
        Ok(id)
    }

    /// Create + start, then wait until EXITED.
    pub async fn run_to_exit(
        &mut self,
        pod_id: &str,
        pod: &cri::PodSandboxConfig,
        config: cri::ContainerConfig,
    ) -> anyhow::Result<cri::ContainerStatus> {
        let id = self.create(pod_id, pod, config).await?;
        self.start(&id).await?;
        self.wait_state(&id, cri::ContainerState::ContainerExited)
            .await
    }

    /// Polls ContainerStatus until `state` (at most 30 s).
    pub async fn wait_state(
        &mut self,
        id: &str,
        state: cri::ContainerState,
    ) -> anyhow::Result<cri::ContainerStatus> {
        cradle_tests::steps::wait_for_state(&mut self.cri, id, state, Duration::from_secs(30)).await
    }

    /// ContainerStatus.
    pub async fn status(&mut self, id: &str) -> anyhow::Result<cri::ContainerStatus> {
        cradle_tests::steps::container_status(&mut self.cri, id).await
    }

    /// ExecSync as critest's client sees it: (exit code, stdout, stderr).
    pub async fn exec(
        &mut self,
        id: &str,
        cmd: &[&str],
        timeout: i64,
    ) -> anyhow::Result<(i32, String, String)> {
        let resp = self
            .cri
            .runtime
            .exec_sync(cri::ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout,
            })
            .await
            .with_context(|| format!("ExecSync {cmd:?}"))?
            .into_inner();
        Ok((
            resp.exit_code,
            String::from_utf8_lossy(&resp.stdout).into_owned(),
            String::from_utf8_lossy(&resp.stderr).into_owned(),
        ))
    }

    /// critest's execSyncContainer: exit 0 and an empty stderr; stdout.
    pub async fn exec_ok(&mut self, id: &str, cmd: &[&str]) -> anyhow::Result<String> {
        let (code, out, err) = self.exec(id, cmd, 30).await?;
        ensure!(
            code == 0 && err.is_empty(),
            "{cmd:?} exited {code}, stdout {out:?}, stderr {err:?}"
        );
        Ok(out)
    }

    /// An exec critest expects to fail (non-zero exit): (stdout, stderr).
    pub async fn exec_fails(&mut self, id: &str, cmd: &[&str]) -> anyhow::Result<(String, String)> {
        let (code, out, err) = self.exec(id, cmd, 30).await?;
        ensure!(
            code != 0,
            "{cmd:?} succeeded but must fail: stdout {out:?}, stderr {err:?}"
        );
        Ok((out, err))
    }

    /// StopContainer, which must return before its timeout ran out
    /// (critest's stopContainer), then EXITED.
    pub async fn stop_container(&mut self, id: &str) -> anyhow::Result<()> {
        let timeout = Duration::from_secs(STOP_TIMEOUT.unsigned_abs());
        let started = Instant::now();
        self.cri
            .runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.into(),
                timeout: STOP_TIMEOUT,
            })
            .await
            .context("StopContainer")?;
        ensure!(
            started.elapsed() < timeout,
            "StopContainer took {:?}: the stop signal did not end the container",
            started.elapsed()
        );
        self.wait_state(id, cri::ContainerState::ContainerExited)
            .await?;
        Ok(())
    }

    /// StopPodSandbox + RemovePodSandbox (critest's AfterEach).
    pub async fn remove_pod(&mut self, id: &str) -> anyhow::Result<()> {
        self.cri
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .context("StopPodSandbox")?;
        self.cri
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .context("RemovePodSandbox")?;
        Ok(())
    }

    /// ListContainers with `filter`.
    pub async fn list_containers(
        &mut self,
        filter: cri::ContainerFilter,
    ) -> anyhow::Result<Vec<cri::Container>> {
        Ok(self
            .cri
            .runtime
            .list_containers(cri::ListContainersRequest {
                filter: Some(filter),
            })
            .await
            .context("ListContainers")?
            .into_inner()
            .containers)
    }

    /// PullImage of `image`; the image_ref.
    pub async fn pull(&mut self, image: &str) -> anyhow::Result<String> {
        cradle_tests::steps::pull(&mut self.cri, image).await
    }

    /// ImageStatus of `image` (None: absent).
    pub async fn image_status(&mut self, image: &str) -> anyhow::Result<Option<cri::Image>> {
        Ok(self
            .cri
            .image
            .image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await
            .with_context(|| format!("ImageStatus {image}"))?
            .into_inner()
            .image)
    }

    /// RemoveImage of `image`.
    pub async fn remove_image(&mut self, image: &str) -> anyhow::Result<()> {
        self.cri
            .image
            .remove_image(cri::RemoveImageRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("RemoveImage {image}"))?;
        Ok(())
    }

    /// critest's removeImage: by id, when the image is present.
    pub async fn remove_image_if_present(&mut self, image: &str) -> anyhow::Result<()> {
        if let Some(found) = self.image_status(image).await? {
            self.remove_image(&found.id).await?;
        }
        Ok(())
    }
}

/// The container's security context, created when absent.
pub fn security(config: &mut cri::ContainerConfig) -> &mut cri::LinuxContainerSecurityContext {
    config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

/// The log file of a container created from `config` in `pod`.
pub fn log_file(pod: &cri::PodSandboxConfig, config: &cri::ContainerConfig) -> PathBuf {
    Path::new(&pod.log_directory).join(&config.log_path)
}

/// One CRI log line, parsed as critest does.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub stream: String,
    pub tag: String,
    /// The content with critest's `\n` appended.
    pub text: String,
}

/// Parses `path` as critest's parseLogLine does: each line is
/// `<RFC3339Nano> <stream> <tag> <content>`; any other shape is an error.
pub fn parse_log(path: &Path) -> anyhow::Result<Vec<LogLine>> {
    let content =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    content
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, ' ').collect();
            let [ts, stream, tag, text] = fields[..] else {
                bail!("not a CRI log line: {line:?}");
            };
            ensure!(rfc3339_nano(ts), "bad timestamp in {line:?}");
            Ok(LogLine {
                stream: stream.into(),
                tag: tag.into(),
                text: format!("{text}\n"),
            })
        })
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, what Go's RFC3339Nano parses.
fn rfc3339_nano(ts: &str) -> bool {
    let b = ts.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let head = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let mut rest = &ts[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = &frac[n..];
    }
    head && (rest == "Z" || (rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-'))))
}

/// critest's verifyLogContents: a line on `stream` whose content is `text`.
pub fn expect_log(path: &Path, stream: &str, text: &str) -> anyhow::Result<()> {
    let lines = parse_log(path)?;
    ensure!(
        lines.iter().any(|l| l.stream == stream && l.text == text),
        "no {stream} line {text:?} in {lines:?}"
    );
    Ok(())
}

/// Polls `check` every 200 ms for at most `timeout`; its last error.
pub async fn eventually<F>(timeout: Duration, mut check: F) -> anyhow::Result<()>
where
    F: AsyncFnMut() -> anyhow::Result<()>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A gRPC result that must be an error (any code); its status.
pub fn expect_refused<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, tonic::Status>,
) -> anyhow::Result<tonic::Status> {
    match result {
        Err(status) => Ok(status),
        Ok(v) => bail!("{what} must be refused, got OK: {v:?}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_parse_as_go_rfc3339nano() {
        assert!(super::rfc3339_nano("2026-01-02T15:04:05.000000001Z"));
        assert!(super::rfc3339_nano("2026-01-02T15:04:05Z"));
        assert!(super::rfc3339_nano("2026-01-02T15:04:05.5+01:00"));
        assert!(!super::rfc3339_nano("2026-01-02 15:04:05Z"));
        assert!(!super::rfc3339_nano("2026-01-02T15:04:05.Z"));
    }
}
