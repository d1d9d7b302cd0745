//! The pause process shows the pod's containers nothing of the host. With
//! the pod's pid namespace shared, the pause is pid 1 of every container,
//! and its command line is readable by all of them (its environment, binary,
//! root, working directory and fds too, by a container given SYS_PTRACE).
//! It used to be a fork of `cradle-shim`, whose command line names the
//! daemon's state dir, the namespace pins and the pod cgroup, and whose
//! root is the host's.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use anyhow::ensure;
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, container_security, create_and_start, exec, pod_config, pod_security, pull,
    remove_pod_and_check_leaks, run_pod,
};
use cradle_tests::{World, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pause_process_shows_nothing_of_the_host() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w).await;
    w.finish_with_log(result).await;
}

fn share_pod_pid_namespace(options: &mut Option<cri::NamespaceOption>) {
    options.get_or_insert_with(Default::default).pid = cri::NamespaceMode::Pod as i32;
}

async fn scenario(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let mut pod = pod_config(&w.daemon, &w.cgroup)?;
    share_pod_pid_namespace(&mut pod_security(&mut pod).namespace_options);
    let pod_id = run_pod(cri, &pod).await?;
    let container = |name: &str, ptrace: bool| {
        let mut config = container_config(&image, name, &["sleep", "3600"]);
        let context = container_security(&mut config);
        share_pod_pid_namespace(&mut context.namespace_options);
        if ptrace {
            context.capabilities = Some(cri::Capability {
                add_capabilities: vec!["SYS_PTRACE".into()],
                ..Default::default()
            });
        }
        config
    };
    let plain = create_and_start(cri, &pod_id, &pod, container("plain", false)).await?;
    let tracer = create_and_start(cri, &pod_id, &pod, container("tracer", true)).await?;

    // What must not appear: the daemon's dirs, the pod cgroup, the pod id.
    let host: Vec<String> = vec![
        w.daemon.dir().display().to_string(),
        w.daemon.root().display().to_string(),
        w.daemon.state_dir().display().to_string(),
        w.cgroup.path().to_string(),
        pod_id.clone(),
        "cradle-shim".to_string(),
    ];
    let reveals = |seen: &str| -> Vec<String> {
        host.iter()
            .filter(|h| seen.contains(h.as_str()))
            .cloned()
            .collect()
    };

    for id in [&plain, &tracer] {
        let (code, comm) = exec(cri, id, &["cat", "/proc/1/comm"]).await?;
        ensure!(
            code == 0 && comm == "pause\n",
            "pid 1 is not the pause: {comm:?}"
        );
        let (code, cmdline) = exec(cri, id, &["cat", "/proc/1/cmdline"]).await?;
        ensure!(code == 0, "reading the pause's cmdline: {cmdline}");
        ensure!(
            cmdline == "pause\0",
            "the pause's command line is {cmdline:?}"
        );
        // Whatever each container may read (a plain one is refused most).
        let (_, seen) = exec(
            cri,
            id,
            &[
                "sh",
                "-c",
                "cat /proc/1/cmdline /proc/1/environ; \
                 for l in /proc/1/exe /proc/1/cwd /proc/1/root /proc/1/fd/*; do readlink $l; done; \
                 ls -a /proc/1/root/ /proc/1/cwd/; cat /proc/1/maps",
            ],
        )
        .await?;
        let leaked = reveals(&seen);
        ensure!(
            leaked.is_empty(),
            "container {id} reads {leaked:?} of the host in the pause's /proc:\n{seen}"
        );
    }
    // With SYS_PTRACE the links are readable: a root and a binary of its own.
    let (code, links) = exec(
        cri,
        &tracer,
        &[
            "sh",
            "-c",
            "for l in exe root cwd; do readlink /proc/1/$l; done",
        ],
    )
    .await?;
    ensure!(
        code == 0 && links == "/pause\n/\n/\n",
        "the pause's exe, root and cwd seen with SYS_PTRACE: {links:?}"
    );
    let (code, environ) = exec(cri, &tracer, &["cat", "/proc/1/environ"]).await?;
    ensure!(
        code == 0 && environ.is_empty(),
        "the pause's environment: {environ:?}"
    );
    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[plain, tracer]).await
}
