//! The daemon's logs an operator can follow (issue 16): with
//! `log_format = "json"` every line is one JSON object, and the lines about
//! a pod or a container carry its id and name (the span fields `pod_id`,
//! `pod_name` as `namespace/name`, `container_id`, `container_name`), from
//! the CRI calls and from the exit monitor alike; the text format shows the
//! same fields. An error returned to the kubelet is logged once, at warn,
//! with its cause, its rpc and the same ids and names (a CRI call's span
//! carries both).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, pod_config, pull, remove_pod_and_check_leaks, run_pod,
    wait_for_state,
};
use cradle_tests::{World, skip_unless_ready};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_about_a_pod_and_its_container_carry_their_ids_and_names() {
    skip_unless_ready!(true);
    let mut w = World::start_with_config("log_format = \"json\"\n").await;
    let result = json_lines(&mut w).await;
    w.finish_with_log(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_lines_about_a_pod_and_its_container_carry_their_ids_and_names() {
    skip_unless_ready!(true);
    let mut w = World::start_with_config("log_format = \"text\"\n").await;
    let result = text_lines(&mut w).await;
    w.finish_with_log(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_returned_to_the_kubelet_is_logged_once_with_its_pod_and_container() {
    skip_unless_ready!(true);
    let mut w = World::start_with_config("log_format = \"json\"\n").await;
    let result = error_lines(&mut w).await;
    w.finish_with_log(result).await;
}

/// What one lifecycle made: the ids and names its lines should carry.
struct Lifecycle {
    pod_id: String,
    pod_name: String,
    container_id: String,
    container_name: String,
}

/// A pod and a container that runs, exits (so the exit monitor logs), is
/// removed with its pod; nothing is left behind.
async fn lifecycle(w: &mut World) -> anyhow::Result<Lifecycle> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod_config = pod_config(&w.daemon, &w.cgroup)?;
    let metadata = pod_config.metadata.clone().context("pod metadata")?;
    let pod_id = run_pod(&mut w.cri, &pod_config).await?;
    let container_name = "logged";
    let config = container_config(&image, container_name, &["sh", "-c", "exit 3"]);
    let container_id = create_and_start(&mut w.cri, &pod_id, &pod_config, config).await?;
    wait_for_state(
        &mut w.cri,
        &container_id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    remove_pod_and_check_leaks(
        &mut w.cri,
        &w.daemon,
        &pod_id,
        std::slice::from_ref(&container_id),
    )
    .await?;
    Ok(Lifecycle {
        pod_id,
        pod_name: format!("{}/{}", metadata.namespace, metadata.name),
        container_id,
        container_name: container_name.to_string(),
    })
}

async fn json_lines(w: &mut World) -> anyhow::Result<()> {
    let made = lifecycle(w).await?;
    let log = w.daemon.log();
    let mut lines = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("not a JSON line: {line:?}"))?;
        lines.push(value);
    }
    ensure!(!lines.is_empty(), "the daemon logged nothing");
    // Every line in a pod's or container's span has the span's id and name.
    for line in &lines {
        if let Some(span) = line.get("span") {
            check_span(span).with_context(|| format!("line {line}"))?;
        }
    }
    let pod = [
        ("pod_id", made.pod_id.as_str()),
        ("pod_name", made.pod_name.as_str()),
    ];
    let container = [
        ("container_id", made.container_id.as_str()),
        ("container_name", made.container_name.as_str()),
        ("pod_id", made.pod_id.as_str()),
    ];
    let with_pod_name = [
        container[0],
        container[1],
        container[2],
        ("pod_name", made.pod_name.as_str()),
    ];
    // RunPodSandbox's last line, CreateContainer's, StartContainer's, the
    // exit monitor's (a task of its own), RemovePodSandbox's.
    find(&lines, "pod sandbox ready", &pod)?;
    // Logged by the CNI client on a blocking thread (the harness's CNI
    // directory is empty), still in the pod's span.
    find(
        &lines,
        "no CNI configuration: the pod has only loopback",
        &pod,
    )?;
    find(&lines, "container created", &with_pod_name)?;
    find(&lines, "container started", &with_pod_name)?;
    find(&lines, "container exited", &container)?;
    find(&lines, "pod sandbox removed", &pod)?;
    Ok(())
}

/// A pod's or container's span names the object by id and by name.
fn check_span(span: &Value) -> anyhow::Result<()> {
    let needs: &[&str] = match span.get("name").and_then(Value::as_str) {
        Some("pod") => &["pod_id", "pod_name"],
        Some("container") => &["container_id", "container_name", "pod_id"],
        _ => &[],
    };
    for field in needs {
        let value = span.get(*field).and_then(Value::as_str).unwrap_or("");
        ensure!(!value.is_empty(), "span without {field}: {span}");
    }
    Ok(())
}

/// The line whose message is `message`, asserting its span's `fields`.
fn find<'a>(
    lines: &'a [Value],
    message: &str,
    fields: &[(&str, &str)],
) -> anyhow::Result<&'a Value> {
    let line = lines
        .iter()
        .find(|l| l.pointer("/fields/message").and_then(Value::as_str) == Some(message))
        .with_context(|| format!("no {message:?} line"))?;
    let span = line
        .get("span")
        .with_context(|| format!("{message:?} outside any span: {line}"))?;
    for (field, want) in fields {
        let got = span.get(*field).and_then(Value::as_str);
        ensure!(
            got == Some(*want),
            "{message:?}: {field} is {got:?}, not {want:?}: {line}"
        );
    }
    Ok(line)
}

async fn text_lines(w: &mut World) -> anyhow::Result<()> {
    let made = lifecycle(w).await?;
    let log = w.daemon.log();
    let started = log
        .lines()
        .find(|l| l.contains("container started"))
        .context("no \"container started\" line")?;
    for (field, value) in [
        ("container_id", &made.container_id),
        ("container_name", &made.container_name),
        ("pod_id", &made.pod_id),
        ("pod_name", &made.pod_name),
    ] {
        // Text shows a string field quoted.
        let (bare, quoted) = (format!("{field}={value}"), format!("{field}=\"{value}\""));
        ensure!(
            started.contains(&bare) || started.contains(&quoted),
            "{field}={value} not in {started:?}"
        );
    }
    ensure!(
        log.lines().all(|l| !l.starts_with('{')),
        "JSON lines in the text format"
    );
    Ok(())
}

/// A CreateContainer refused inside the daemon after its pod exists and
/// its id is minted (a device that is not there), and a RunPodSandbox
/// refused at validation: each error is logged once, at warn, in its
/// call's span, with the ids and names known by then.
async fn error_lines(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod_config = pod_config(&w.daemon, &w.cgroup)?;
    let metadata = pod_config.metadata.clone().context("pod metadata")?;
    let pod_name = format!("{}/{}", metadata.namespace, metadata.name);
    let pod_id = run_pod(&mut w.cri, &pod_config).await?;
    let missing = format!("/dev/cradle-e2e-missing-{}", metadata.uid);
    let mut config = container_config(&image, "broken", &["true"]);
    config.devices.push(cri::Device {
        container_path: "/dev/broken".into(),
        host_path: missing.clone(),
        permissions: "rwm".into(),
    });
    let created = w
        .cri
        .runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod_id.clone(),
            config: Some(config),
            sandbox_config: Some(pod_config.clone()),
        })
        .await;
    let refused = created
        .err()
        .context("CreateContainer with a missing device succeeded")?;
    ensure!(
        refused.code() == tonic::Code::InvalidArgument && refused.message().contains(&missing),
        "CreateContainer with a missing device: {refused:?}"
    );

    let mut bad_pod = cradle_tests::steps::pod_config(&w.daemon, &w.cgroup)?;
    bad_pod.log_directory = "relative/logs".into();
    let bad_metadata = bad_pod.metadata.clone().context("pod metadata")?;
    let bad_name = format!("{}/{}", bad_metadata.namespace, bad_metadata.name);
    let ran = w
        .cri
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(bad_pod),
            runtime_handler: String::new(),
        })
        .await;
    let bad = ran
        .err()
        .context("RunPodSandbox with a relative log_directory succeeded")?;
    ensure!(
        bad.code() == tonic::Code::InvalidArgument,
        "RunPodSandbox with a relative log_directory: {bad:?}"
    );
    // A status call on a container that is not there: its NotFound names it.
    let unknown = format!("0{}", "e".repeat(63));
    let status = w
        .cri
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: unknown.clone(),
            verbose: false,
        })
        .await;
    ensure!(
        status
            .as_ref()
            .err()
            .is_some_and(|e| e.code() == tonic::Code::NotFound),
        "ContainerStatus of an unknown container: {status:?}"
    );
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod_id, &[]).await?;

    let log = w.daemon.log();
    let mut lines = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("not a JSON line: {line:?}"))?;
        lines.push(value);
    }

    let line = logged_once(&lines, &missing, "InvalidArgument")?;
    let message = line
        .pointer("/fields/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    // The status with its cause: the device's path and why it is refused.
    ensure!(
        message.starts_with("returned InvalidArgument: ")
            && message.contains("No such file or directory"),
        "the error line lacks the status or its cause: {line}"
    );
    let span = line.get("span").context("the error line has no span")?;
    for (field, want) in [
        ("rpc", "/runtime.v1.RuntimeService/CreateContainer"),
        ("pod_id", pod_id.as_str()),
        ("pod_name", pod_name.as_str()),
        ("container_name", "broken"),
    ] {
        let got = span.get(field).and_then(Value::as_str);
        ensure!(
            got == Some(want),
            "{field} is {got:?}, not {want:?}: {line}"
        );
    }
    // Minted before the device was looked at.
    let container_id = span.get("container_id").and_then(Value::as_str);
    ensure!(
        container_id.is_some_and(|id| !id.is_empty()),
        "the error line has no container_id: {line}"
    );

    let line = logged_once(&lines, "relative/logs", "InvalidArgument")?;
    let span = line.get("span").context("the refusal has no span")?;
    for (field, want) in [
        ("rpc", "/runtime.v1.RuntimeService/RunPodSandbox"),
        ("pod_name", bad_name.as_str()),
    ] {
        let got = span.get(field).and_then(Value::as_str);
        ensure!(
            got == Some(want),
            "{field} is {got:?}, not {want:?}: {line}"
        );
    }

    let line = logged_once(&lines, &unknown, "NotFound")?;
    let span = line.get("span").context("the NotFound has no span")?;
    for (field, want) in [
        ("rpc", "/runtime.v1.RuntimeService/ContainerStatus"),
        ("container_id", unknown.as_str()),
    ] {
        let got = span.get(field).and_then(Value::as_str);
        ensure!(
            got == Some(want),
            "{field} is {got:?}, not {want:?}: {line}"
        );
    }
    Ok(())
}

/// The one line that mentions `needle`, asserting it is a warning with the
/// gRPC `code` of the status it logs.
fn logged_once<'a>(lines: &'a [Value], needle: &str, code: &str) -> anyhow::Result<&'a Value> {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|l| l.to_string().contains(needle))
        .collect();
    let [line] = found.as_slice() else {
        anyhow::bail!(
            "{} lines mention {needle:?}, not one: {found:?}",
            found.len()
        );
    };
    ensure!(
        line.get("level").and_then(Value::as_str) == Some("WARN"),
        "not a warning: {line}"
    );
    ensure!(
        line.pointer("/fields/code").and_then(Value::as_str) == Some(code),
        "no code={code}: {line}"
    );
    Ok(line)
}
