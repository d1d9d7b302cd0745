//! The daemon's side of pod networking, with recording shell plugins in the
//! test's own CNI dirs (no veth, no traffic): a failure in the middle of
//! setup unwinds every plugin that ran, net.* sysctls land in the pod's
//! namespace, Status follows CNI STATUS, and the start-up GC deletes
//! attachments no sandbox owns. They pin namespaces, so they need root.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::{Harness, is_root, pod_config, run_request};
use cradle_daemon::cri::CriService;
use cradle_proto::cri;
use cradle_proto::cri::runtime_service_server::RuntimeService;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tonic::{Code, Request};

/// A plugin that records its attachments as files `attached-<id>` in
/// `marks`, hands out 10.123.0.7, and fails STATUS while `marks/not-ready`
/// exists.
fn mark_plugin(bin: &Path, marks: &Path) {
    let script = format!(
        r#"#!/bin/sh
cat >/dev/null
D='{}'
case "$CNI_COMMAND" in
ADD) touch "$D/attached-$CNI_CONTAINERID"
     printf '{{"cniVersion":"1.1.0","interfaces":[{{"name":"eth0","sandbox":"%s"}}],"ips":[{{"address":"10.123.0.7/24","interface":0}}]}}' "$CNI_NETNS" ;;
DEL) rm -f "$D/attached-$CNI_CONTAINERID" ;;
STATUS) if [ -e "$D/not-ready" ]; then
          echo '{{"cniVersion":"1.1.0","code":50,"msg":"mark is not ready"}}'; exit 1
        fi ;;
esac
exit 0
"#,
        marks.display()
    );
    write_exe(&bin.join("mark"), &script);
}

/// A plugin whose ADD always fails (DEL succeeds).
fn failing_plugin(bin: &Path) {
    write_exe(
        &bin.join("fail"),
        r#"#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.1.0","code":11,"msg":"fail plugin says no"}'; exit 1
fi
exit 0
"#,
    );
}

fn write_exe(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A 1.1.0 conflist of the given plugin types in the harness's conf dir.
fn conflist(h: &Harness, plugins: &[&str]) {
    let dir = h.path().join("cni");
    std::fs::create_dir_all(&dir).unwrap();
    let plugins: Vec<serde_json::Value> = plugins
        .iter()
        .map(|t| serde_json::json!({ "type": t }))
        .collect();
    let list = serde_json::json!({"cniVersion": "1.1.0", "name": "marknet", "plugins": plugins});
    std::fs::write(dir.join("10-mark.conflist"), list.to_string()).unwrap();
}

/// Harness dirs: plugins in `bin/`, attachment marks in `marks/`.
fn dirs(h: &Harness) -> (PathBuf, PathBuf) {
    let (bin, marks) = (h.path().join("bin"), h.path().join("marks"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&marks).unwrap();
    mark_plugin(&bin, &marks);
    failing_plugin(&bin);
    (bin, marks)
}

async fn service(h: &Harness, shim: &Path, bin: &Path) -> CriService {
    let mut config = h.config(shim);
    config.cni_bin_dirs = vec![bin.to_path_buf()];
    CriService::new(
        cradle_daemon::runtime::Runtime::start(config)
            .await
            .unwrap(),
    )
}

fn marks_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("attached-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_failing_mid_chain_unwinds_the_plugins_before_it_and_the_pins() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let (bin, marks) = dirs(&h);
    conflist(&h, &["mark", "fail"]);
    let svc = service(&h, &h.serving_shim(), &bin).await;
    for _ in 0..2 {
        let err = svc
            .run_pod_sandbox(run_request(pod_config("p")))
            .await
            .unwrap_err();
        assert!(
            err.message().contains("fail plugin says no"),
            "the plugin's message reaches the kubelet: {err:?}"
        );
        assert_ne!(err.code(), Code::AlreadyExists, "the name was released");
    }
    assert!(marks_in(&marks).is_empty(), "mark's ADD was not undone");
    assert!(
        h.mounts_below().is_empty(),
        "pins left: {:?}",
        h.mounts_below()
    );
    assert_eq!(h.entries("state/ns"), 0);
    assert_eq!(h.entries("state/shims"), 0);
    assert_eq!(h.entries("root/sandboxes"), 0);
    assert_eq!(h.entries("root/cni/results"), 0, "no cached result");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pause_failure_after_cni_add_runs_cni_del() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let (bin, marks) = dirs(&h);
    conflist(&h, &["mark"]);
    let shim = h.fake_shim("failing-shim", 1, "pause exploded");
    let svc = service(&h, &shim, &bin).await;
    let err = svc
        .run_pod_sandbox(run_request(pod_config("p")))
        .await
        .unwrap_err();
    assert!(err.message().contains("pause exploded"), "{err:?}");
    assert!(marks_in(&marks).is_empty(), "CNI DEL did not run");
    assert!(h.mounts_below().is_empty());
    assert_eq!(h.entries("root/cni/results"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn net_sysctls_are_applied_in_the_pod_namespace_and_ips_reported() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let (bin, marks) = dirs(&h);
    conflist(&h, &["mark"]);
    let svc = service(&h, &h.serving_shim(), &bin).await;
    let mut config = pod_config("p");
    config.linux = Some(cri::LinuxPodSandboxConfig {
        sysctls: [(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "80".to_string(),
        )]
        .into(),
        ..Default::default()
    });
    let id = svc
        .run_pod_sandbox(run_request(config))
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let netns = h.path().join("state/ns").join(&id).join("net");
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "80");
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_ne!(host.trim(), "80", "the host's value is untouched");

    let status = svc
        .pod_sandbox_status(Request::new(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.clone(),
            verbose: false,
        }))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(status.network.unwrap().ip, "10.123.0.7");

    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: id,
    }))
    .await
    .unwrap();
    assert!(marks_in(&marks).is_empty());
    assert!(h.mounts_below().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sysctls_are_refused_before_anything_is_built() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let (bin, marks) = dirs(&h);
    conflist(&h, &["mark"]);
    let svc = service(&h, &h.serving_shim(), &bin).await;
    let mut bad_key = pod_config("p");
    bad_key.linux = Some(cri::LinuxPodSandboxConfig {
        sysctls: [("net.ipv4/../../kernel.x".to_string(), "1".to_string())].into(),
        ..Default::default()
    });
    let mut host_net = pod_config("q");
    host_net.linux = Some(cri::LinuxPodSandboxConfig {
        sysctls: [("net.ipv4.tcp_syncookies".to_string(), "1".to_string())].into(),
        security_context: Some(cri::LinuxSandboxSecurityContext {
            namespace_options: Some(cri::NamespaceOption {
                network: cri::NamespaceMode::Node as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    for config in [bad_key, host_net] {
        let err = svc.run_pod_sandbox(run_request(config)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    }
    assert!(marks_in(&marks).is_empty());
    assert!(h.mounts_below().is_empty());
}

async fn status(svc: &CriService) -> cri::StatusResponse {
    svc.status(Request::new(cri::StatusRequest { verbose: false }))
        .await
        .unwrap()
        .into_inner()
}

fn network_ready(status: &cri::StatusResponse) -> &cri::RuntimeCondition {
    status
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.r#type == "NetworkReady")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn network_ready_follows_the_plugins_cni_status() {
    let h = Harness::new();
    let (bin, marks) = dirs(&h);
    conflist(&h, &["mark"]);
    let svc = service(&h, &h.serving_shim(), &bin).await;
    let ready = status(&svc).await;
    assert!(network_ready(&ready).status, "{ready:?}");
    std::fs::write(marks.join("not-ready"), "").unwrap();
    let not_ready = status(&svc).await;
    let condition = network_ready(&not_ready);
    assert!(!condition.status);
    assert_eq!(condition.reason, "NetworkPluginNotReady");
    assert!(
        condition.message.contains("mark is not ready"),
        "{condition:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_gc_deletes_cached_attachments_of_unknown_pods() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let h = Harness::new();
    let (bin, marks) = dirs(&h);
    conflist(&h, &["mark"]);
    let kept = {
        let svc = service(&h, &h.serving_shim(), &bin).await;
        svc.run_pod_sandbox(run_request(pod_config("kept")))
            .await
            .unwrap()
            .into_inner()
            .pod_sandbox_id
    };
    // What a crash between CNI ADD and the record leaves: a cached attachment.
    let orphan = "f".repeat(64);
    let cache = cradle_cni::cache::ResultCache::new(&h.path().join("root/cni"));
    let list = std::fs::read(h.path().join("cni/10-mark.conflist")).unwrap();
    cache
        .write(&cradle_cni::cache::CacheEntry {
            kind: cradle_cni::cache::KIND.to_string(),
            container_id: orphan.clone(),
            if_name: "eth0".into(),
            network_name: "marknet".into(),
            netns: String::new(),
            config: serde_json::from_slice(&list).unwrap(),
            cni_args: vec![],
            capability_args: Default::default(),
            result: serde_json::json!({"cniVersion": "1.1.0"}),
        })
        .unwrap();
    std::fs::write(marks.join(format!("attached-{orphan}")), "").unwrap();

    let svc = service(&h, &h.serving_shim(), &bin).await;
    assert_eq!(
        marks_in(&marks),
        vec![format!("attached-{kept}")],
        "only the live pod stays attached"
    );
    svc.remove_pod_sandbox(Request::new(cri::RemovePodSandboxRequest {
        pod_sandbox_id: kept,
    }))
    .await
    .unwrap();
    assert!(marks_in(&marks).is_empty());
    assert!(h.mounts_below().is_empty());
}
