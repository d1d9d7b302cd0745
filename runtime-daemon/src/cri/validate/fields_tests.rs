use super::*;
use std::collections::HashMap;
use tonic::Code;

fn field_of(result: Result<(), Status>) -> String {
    let err = result.expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    err.message()
        .split(": ")
        .next()
        .unwrap_or_default()
        .to_string()
}

fn kubelet_pod() -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "probes-recorder".into(),
            uid: "2daf3f8b03a0e94e00ab30b2297e23c1".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "probes-recorder".into(),
        log_directory: "/var/log/pods/default_probes-recorder_2daf3f8b".into(),
        ..Default::default()
    }
}

fn kubelet_container() -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        }),
        log_path: "app/0.log".into(),
        mounts: vec![cri::Mount {
            container_path: "/etc/hosts".into(),
            host_path: "/var/lib/kubelet/pods/x/etc-hosts".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn what_the_kubelet_sends_is_accepted() {
    assert!(pod(&kubelet_pod()).is_ok());
    assert!(container(&kubelet_container()).is_ok());
    assert!(pod(&cri::PodSandboxConfig::default()).is_ok());
    assert!(container(&cri::ContainerConfig::default()).is_ok());
}

#[test]
fn pod_fields_are_refused_by_name() {
    let with = |f: &dyn Fn(&mut cri::PodSandboxConfig)| {
        let mut config = kubelet_pod();
        f(&mut config);
        field_of(pod(&config))
    };
    assert_eq!(
        with(&|c| c.metadata.as_mut().unwrap().name = "a\0b".into()),
        "config.metadata.name"
    );
    assert_eq!(
        with(&|c| c.metadata.as_mut().unwrap().name = "a".repeat(1 << 20)),
        "config.metadata.name"
    );
    assert_eq!(
        with(&|c| c.metadata.as_mut().unwrap().namespace = "x".repeat(64)),
        "config.metadata.namespace"
    );
    assert_eq!(
        with(&|c| c.metadata.as_mut().unwrap().uid = String::new()),
        "config.metadata.uid"
    );
    assert_eq!(with(&|c| c.hostname = "h\0".into()), "config.hostname");
    assert_eq!(with(&|c| c.hostname = "h".repeat(65)), "config.hostname");
    assert_eq!(
        with(&|c| c.log_directory = "var/log/pods".into()),
        "config.log_directory"
    );
    assert_eq!(
        with(&|c| {
            c.labels = HashMap::from([("k".into(), "v\0".into())]);
        }),
        "config.labels[\"k\"]"
    );
    assert_eq!(
        with(&|c| {
            c.linux = Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: "/kubepods\0".into(),
                ..Default::default()
            });
        }),
        "config.linux.cgroup_parent"
    );
}

#[test]
fn container_fields_are_refused_by_name() {
    let with = |f: &dyn Fn(&mut cri::ContainerConfig)| {
        let mut config = kubelet_container();
        f(&mut config);
        field_of(container(&config))
    };
    assert_eq!(
        with(&|c| c.metadata.as_mut().unwrap().name = "a\0".into()),
        "config.metadata.name"
    );
    assert_eq!(
        with(&|c| c.mounts[0].container_path = "etc/hosts".into()),
        "config.mounts[0].container_path"
    );
    assert_eq!(
        with(&|c| c.mounts[0].host_path = "relative".into()),
        "config.mounts[0].host_path"
    );
    assert_eq!(
        with(&|c| c.log_path = "../../../../etc/evil.log".into()),
        "config.log_path"
    );
    assert_eq!(
        with(&|c| c.log_path = "/etc/evil2.log".into()),
        "config.log_path"
    );
    assert_eq!(
        with(&|c| c.args = vec!["ok".into(), "a\0b".into()]),
        "config.args[1]"
    );
    assert_eq!(
        with(&|c| c.command = vec!["\0".into()]),
        "config.command[0]"
    );
    // Env values are `bytes` on the wire; one that is not UTF-8 cannot
    // become an environment string.
    assert_eq!(
        with(&|c| {
            c.envs = vec![cri::KeyValue {
                key: "K".into(),
                value: vec![b'v', 0xff],
            }]
        }),
        "config.envs[0].value"
    );
    assert_eq!(
        with(&|c| {
            c.envs = vec![cri::KeyValue {
                key: "A=B".into(),
                value: "v".into(),
            }];
        }),
        "config.envs[0].key"
    );
    assert_eq!(
        with(&|c| {
            c.envs = vec![cri::KeyValue {
                key: "A".into(),
                value: "v\0".into(),
            }];
        }),
        "config.envs[0].value"
    );
    assert_eq!(
        with(&|c| {
            c.devices = vec![cri::Device {
                container_path: "dev/null".into(),
                host_path: "/dev/null".into(),
                permissions: "rwm".into(),
            }];
        }),
        "config.devices[0].container_path"
    );
    // An image volume has no host path.
    let mut image_volume = kubelet_container();
    image_volume.mounts[0].host_path = String::new();
    image_volume.mounts[0].image = Some(cri::ImageSpec {
        image: "busybox".into(),
        ..Default::default()
    });
    assert!(container(&image_volume).is_ok());
}

/// The strings of a recorded request, `<LOG_DIR>` and `<KUBELET_ROOT>`
/// put back as the kubelet had them.
fn text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .replace("<LOG_DIR>", "/var/log/pods")
        .replace("<KUBELET_ROOT>", "/var/lib/kubelet")
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default()
}

fn map(value: &serde_json::Value) -> HashMap<String, String> {
    value
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default()
}

fn recorded_pod(c: &serde_json::Value) -> cri::PodSandboxConfig {
    let m = &c["metadata"];
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: text(&m["name"]),
            uid: text(&m["uid"]),
            namespace: text(&m["namespace"]),
            attempt: 0,
        }),
        hostname: text(&c["hostname"]),
        log_directory: text(&c["log_directory"]),
        labels: map(&c["labels"]),
        annotations: map(&c["annotations"]),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: text(&c["linux"]["cgroup_parent"]),
            sysctls: map(&c["linux"]["sysctls"]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn recorded_container(c: &serde_json::Value) -> cri::ContainerConfig {
    let mounts = c["mounts"].as_array().cloned().unwrap_or_default();
    let envs = c["envs"].as_array().cloned().unwrap_or_default();
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: text(&c["metadata"]["name"]),
            attempt: 0,
        }),
        command: strings(&c["command"]),
        args: strings(&c["args"]),
        working_dir: text(&c["working_dir"]),
        envs: envs
            .iter()
            .map(|e| cri::KeyValue {
                key: text(&e["key"]),
                value: text(&e["value"]).into(),
            })
            .collect(),
        mounts: mounts
            .iter()
            .map(|m| cri::Mount {
                container_path: text(&m["container_path"]),
                host_path: text(&m["host_path"]),
                image: m["image"].is_object().then(Default::default),
                ..Default::default()
            })
            .collect(),
        labels: map(&c["labels"]),
        annotations: map(&c["annotations"]),
        log_path: text(&c["log_path"]),
        ..Default::default()
    }
}

/// Every RunPodSandbox and CreateContainer a real kubelet v1.36 sent (the
/// replay corpus) passes these rules.
#[test]
fn every_recorded_kubelet_request_is_accepted() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kubelet-v1.36");
    let mut seen = (0, 0);
    for entry in std::fs::read_dir(&dir).expect("the replay corpus") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let body = std::fs::read_to_string(&path).expect("readable");
        for line in body.lines() {
            let record: serde_json::Value = serde_json::from_str(line).expect("json");
            let method = record["method"].as_str().unwrap_or_default();
            let config = &record["request"]["config"];
            let (verdict, what) = if method.ends_with("RunPodSandbox") {
                seen.0 += 1;
                (pod(&recorded_pod(config)), "RunPodSandbox")
            } else if method.ends_with("CreateContainer") {
                seen.1 += 1;
                (container(&recorded_container(config)), "CreateContainer")
            } else {
                continue;
            };
            if let Err(e) = verdict {
                panic!("{} {what}: {}", path.display(), e.message());
            }
        }
    }
    assert!(seen.0 > 10 && seen.1 > 10, "the corpus was read: {seen:?}");
}
