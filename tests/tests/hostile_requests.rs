//! Hostile CRI requests are refused at the door: InvalidArgument naming the
//! field, before anything exists (no pod, no container, no file, no mount),
//! and a container log path never leaves its pod's log directory.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, leak_scope, list_containers, list_pods, pod_config, pull,
    remove_pod_and_check_leaks, run_pod,
};
use cradle_tests::{Cri, Daemon, World, leaks, skip_unless_ready};
use tonic::Code;

/// Every path under the daemon's root and state dir.
fn tree(daemon: &Daemon) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.insert(path.clone());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&daemon.root(), &mut out);
    walk(&daemon.state_dir(), &mut out);
    out
}

/// The call was refused with InvalidArgument, its message naming `field`.
fn refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    field: &str,
) -> anyhow::Result<()> {
    match result {
        Err(status) => {
            ensure!(
                status.code() == Code::InvalidArgument && status.message().contains(field),
                "expected InvalidArgument naming {field}, got {:?}: {}",
                status.code(),
                status.message().chars().take(300).collect::<String>()
            );
            Ok(())
        }
        Ok(response) => anyhow::bail!("{field}: accepted: {response:?}"),
    }
}

async fn nothing_listed(cri: &mut Cri) -> anyhow::Result<()> {
    let pods = list_pods(cri).await?;
    ensure!(pods.is_empty(), "pods left: {pods:?}");
    let containers = list_containers(cri).await?;
    ensure!(containers.is_empty(), "containers left: {containers:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_pod_fields_are_refused_by_name_before_anything_is_made() {
    skip_unless_ready!(false);
    let mut w = World::start().await;
    let result = hostile_pods(&mut w).await;
    w.finish_with_log(result).await;
}

async fn hostile_pods(w: &mut World) -> anyhow::Result<()> {
    let before = tree(&w.daemon);
    let base = pod_config(&w.daemon, &w.cgroup)?;
    let huge = "a".repeat(1 << 20);
    type Edit = Box<dyn Fn(&mut cri::PodSandboxConfig)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("config.metadata.name", {
            Box::new(|c| c.metadata.as_mut().unwrap().name = "web\0x".into())
        }),
        ("config.metadata.name", {
            let huge = huge.clone();
            Box::new(move |c| c.metadata.as_mut().unwrap().name = huge.clone())
        }),
        ("config.metadata.namespace", {
            Box::new(|c| c.metadata.as_mut().unwrap().namespace = "default\0".into())
        }),
        ("config.metadata.namespace", {
            let huge = huge.clone();
            Box::new(move |c| c.metadata.as_mut().unwrap().namespace = huge.clone())
        }),
        ("config.metadata.uid", {
            Box::new(|c| c.metadata.as_mut().unwrap().uid = "u\0".into())
        }),
        (
            "config.hostname",
            Box::new(|c| c.hostname = "host\0".into()),
        ),
        ("config.hostname", {
            let huge = huge.clone();
            Box::new(move |c| c.hostname = huge.clone())
        }),
        ("config.log_directory", {
            Box::new(|c| c.log_directory = "relative/logs".into())
        }),
    ];
    for (field, edit) in &cases {
        let mut config = base.clone();
        edit(&mut config);
        let result = w
            .cri
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await;
        refused(result, field)?;
    }
    nothing_listed(&mut w.cri).await?;
    leaks::assert_none(&leak_scope(&w.daemon, &[]));
    let after = tree(&w.daemon);
    let made: Vec<_> = after.difference(&before).collect();
    ensure!(made.is_empty(), "refused requests left {made:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_container_fields_and_escaping_log_paths_are_refused() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = hostile_containers(&mut w).await;
    w.finish_with_log(result).await;
}

async fn hostile_containers(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(&mut w.cri, &pod).await?;
    let log_dir = PathBuf::from(&pod.log_directory);
    // Where escapes would land: beside the pod's log dir, in the test's dir.
    let outside = w.daemon.dir().join("outside");
    std::fs::create_dir_all(&outside)?;
    std::os::unix::fs::symlink(&outside, log_dir.join("linked"))?;
    let escape = format!(
        "{}outside/evil.log",
        "../".repeat(log_dir.strip_prefix(w.daemon.dir())?.components().count())
    );
    let absolute = outside.join("evil2.log").display().to_string();
    let before = tree(&w.daemon);

    let base = container_config(&image, "app", &["true"]);
    type Edit = Box<dyn Fn(&mut cri::ContainerConfig)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("config.metadata.name", {
            Box::new(|c| c.metadata.as_mut().unwrap().name = "app\0".into())
        }),
        ("config.metadata.name", {
            Box::new(|c| c.metadata.as_mut().unwrap().name = "a".repeat(1 << 20))
        }),
        ("config.mounts[0].container_path", {
            Box::new(|c| {
                c.mounts = vec![cri::Mount {
                    container_path: "data".into(),
                    host_path: "/tmp".into(),
                    ..Default::default()
                }]
            })
        }),
        ("config.envs[0].value", {
            Box::new(|c| {
                c.envs = vec![cri::KeyValue {
                    key: "A".into(),
                    value: "x\0y".into(),
                }]
            })
        }),
        ("config.args[0]", Box::new(|c| c.args = vec!["\0".into()])),
        ("config.log_path", {
            let escape = escape.clone();
            Box::new(move |c| c.log_path = escape.clone())
        }),
        ("config.log_path", {
            let absolute = absolute.clone();
            Box::new(move |c| c.log_path = absolute.clone())
        }),
        (
            "config.log_path",
            Box::new(|c| c.log_path = "linked/0.log".into()),
        ),
    ];
    for (field, edit) in &cases {
        let mut config = base.clone();
        edit(&mut config);
        let result = w
            .cri
            .runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod_id.clone(),
                config: Some(config),
                sandbox_config: Some(pod.clone()),
            })
            .await;
        refused(result, field).with_context(|| format!("log_path cases: {escape}"))?;
    }
    let containers = list_containers(&mut w.cri).await?;
    ensure!(containers.is_empty(), "containers made: {containers:?}");
    let escaped: Vec<_> = std::fs::read_dir(&outside)?
        .flatten()
        .map(|e| e.path())
        .collect();
    ensure!(
        escaped.is_empty(),
        "log files outside the pod's log dir: {escaped:?}"
    );
    let after = tree(&w.daemon);
    let made: Vec<_> = after.difference(&before).collect();
    ensure!(made.is_empty(), "refused requests left {made:?}");
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod_id, &[]).await
}
