//! The operator commands of the `cradlectl` binary against a running
//! cradled: tables by default and `-o json|yaml` that parse back to the CRI
//! answers, `inspect*` with the verbose info as JSON, `logs --tail` and
//! `logs -f` (following a container until it exits, across a log
//! rotation), the `stats` table (once and `--watch`) and the `events`
//! lines. Root only; skipped with a message elsewhere.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, exec, pod_config, pull, run_pod, stop_and_remove_container,
    stop_and_remove_pod, wait_for_state,
};
use cradle_tests::{Daemon, World, skip_unless_ready};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// How long any one cradlectl run or awaited line may take before the test
/// gives up (a hang guard, not a measurement).
const GUARD: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cradlectl_prints_tables_documents_logs_stats_and_events() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w).await;
    w.finish_with_log(result).await;
}

/// Runs cradlectl to its end; a failure is an error carrying its output.
async fn run(daemon: &Daemon, args: &[&str]) -> anyhow::Result<Output> {
    let out = tokio::time::timeout(
        GUARD,
        cradle_tests::cradlectl::command(daemon, args)?.output(),
    )
    .await
    .with_context(|| format!("cradlectl {args:?} hung"))?
    .with_context(|| format!("running cradlectl {args:?}"))?;
    ensure!(out.status.success(), "cradlectl {args:?}: {out:?}");
    Ok(out)
}

/// Its stdout.
async fn stdout(daemon: &Daemon, args: &[&str]) -> anyhow::Result<String> {
    Ok(String::from_utf8(run(daemon, args).await?.stdout)?)
}

/// Its stdout parsed as JSON.
async fn json(daemon: &Daemon, args: &[&str]) -> anyhow::Result<Value> {
    let text = stdout(daemon, args).await?;
    serde_json::from_str(&text).with_context(|| format!("{args:?} is not JSON: {text}"))
}

/// Its stdout parsed as YAML.
async fn yaml(daemon: &Daemon, args: &[&str]) -> anyhow::Result<Value> {
    let text = stdout(daemon, args).await?;
    serde_yaml_ng::from_str(&text).with_context(|| format!("{args:?} is not YAML: {text}"))
}

/// A table's rows split into columns (on runs of two or more spaces), the
/// header first; checks the header.
fn table(text: &str, header: &[&str]) -> anyhow::Result<Vec<Vec<String>>> {
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect();
    ensure!(
        rows.first().is_some_and(|first| first == header),
        "header is not {header:?}:\n{text}"
    );
    Ok(rows)
}

/// The row whose first cell is `first`.
fn row<'a>(rows: &'a [Vec<String>], first: &str, text: &str) -> anyhow::Result<&'a [String]> {
    rows.iter()
        .find(|row| row.first().is_some_and(|cell| cell == first))
        .map(Vec::as_slice)
        .with_context(|| format!("no row for {first}:\n{text}"))
}

/// An id as the tables show it.
fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(13).collect()
}

/// A running cradlectl whose stdout is read line by line.
struct Follower {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Follower {
    fn spawn(daemon: &Daemon, args: &[&str]) -> anyhow::Result<Self> {
        let mut child = cradle_tests::cradlectl::command(daemon, args)?
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning cradlectl")?;
        let out = child.stdout.take().context("no stdout")?;
        Ok(Self {
            child,
            lines: BufReader::new(out).lines(),
        })
    }

    /// The next line; `None` at the end of its output.
    async fn next(&mut self) -> anyhow::Result<Option<String>> {
        tokio::time::timeout(GUARD, self.lines.next_line())
            .await
            .context("no line from cradlectl")?
            .context("reading cradlectl")
    }

    /// Reads lines until one satisfies `wanted`; returns it.
    async fn until(&mut self, wanted: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let mut seen = Vec::new();
        while let Some(line) = self.next().await? {
            if wanted(&line) {
                return Ok(line);
            }
            seen.push(line);
        }
        anyhow::bail!("cradlectl ended without the line; it printed {seen:?}")
    }
}

async fn scenario(w: &mut World) -> anyhow::Result<()> {
    let daemon = &w.daemon;
    let image = w.registry.image_ref();
    let image_id = pull(&mut w.cri, &image).await?;

    // version and info: YAML by default, JSON with -o json.
    let version = yaml(daemon, &["version"]).await?;
    ensure!(version["runtime_name"].is_string(), "version: {version}");
    let version_json = json(daemon, &["version", "-o", "json"]).await?;
    ensure!(version_json == version, "{version_json} != {version}");
    let info = yaml(daemon, &["info"]).await?;
    ensure!(
        info["status"]["conditions"].is_array() && info["info"]["config"].is_object(),
        "info: {info}"
    );

    // images: a table, the CRI answer as JSON and YAML, inspecti's info.
    let text = stdout(daemon, &["images"]).await?;
    let rows = table(&text, &["IMAGE", "TAG", "IMAGE ID", "SIZE"])?;
    let (repo, tag) = image.rsplit_once(':').context("image without tag")?;
    let image_row = row(&rows, repo, &text)?;
    ensure!(
        image_row[1] == tag && image_row[2] == short(&image_id),
        "image row {image_row:?}"
    );
    for format in ["json", "yaml"] {
        let listed = match format {
            "json" => json(daemon, &["images", "-o", format]).await?,
            _ => yaml(daemon, &["images", "-o", format]).await?,
        };
        let images = listed["images"].as_array().context("no images array")?;
        ensure!(
            images.iter().any(|i| i["id"] == image_id.as_str()),
            "images -o {format}: {listed}"
        );
    }
    let inspected = json(daemon, &["inspecti", &image]).await?;
    ensure!(inspected["image"]["id"] == image_id.as_str(), "{inspected}");
    ensure!(
        inspected["info"]["info"].is_object(),
        "inspecti info is not parsed JSON: {}",
        inspected["info"]
    );

    // A pod: the pods table and inspectp.
    let pod = pod_config(daemon, &w.cgroup)?;
    let pod_id = run_pod(&mut w.cri, &pod).await?;
    let metadata = pod.metadata.clone().context("pod without metadata")?;
    let text = stdout(daemon, &["pods"]).await?;
    let rows = table(
        &text,
        &[
            "POD ID",
            "CREATED",
            "STATE",
            "NAME",
            "NAMESPACE",
            "ATTEMPT",
            "RUNTIME",
        ],
    )?;
    let pod_row = row(&rows, &short(&pod_id), &text)?;
    ensure!(
        pod_row[1].ends_with(" ago")
            && pod_row[2] == "Ready"
            && pod_row[3] == metadata.name
            && pod_row[4] == metadata.namespace
            && pod_row[5] == "0",
        "pod row {pod_row:?}"
    );
    let pods = json(daemon, &["pods", "-o", "json"]).await?;
    ensure!(
        pods["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|p| p["id"] == pod_id.as_str())),
        "pods -o json: {pods}"
    );
    let inspected = json(daemon, &["inspectp", &pod_id]).await?;
    ensure!(inspected["status"]["id"] == pod_id.as_str(), "{inspected}");
    ensure!(inspected["info"]["info"].is_object(), "{inspected}");
    let inspected_yaml = yaml(daemon, &["inspectp", &pod_id, "-o", "yaml"]).await?;
    ensure!(
        inspected_yaml["status"]["id"] == pod_id.as_str(),
        "{inspected_yaml}"
    );

    // Events: pretty lines and JSON lines, followed from before the
    // containers are created.
    let mut events = Follower::spawn(daemon, &["events"])?;
    let mut json_events = Follower::spawn(daemon, &["events", "-o", "json"])?;

    // A long-running container and one that prints, waits for a file and
    // exits.
    let idle = create_and_start(
        &mut w.cri,
        &pod_id,
        &pod,
        container_config(&image, "idle", &["sleep", "3600"]),
    )
    .await?;
    let script = "for i in 1 2 3 4 5; do echo out$i; done; echo oops >&2; \
                  while [ ! -e /tmp/go ]; do sleep 1; done; echo last";
    let talker = create_and_start(
        &mut w.cri,
        &pod_id,
        &pod,
        container_config(&image, "talker", &["sh", "-c", script]),
    )
    .await?;

    let rotator = create_and_start(
        &mut w.cri,
        &pod_id,
        &pod,
        container_config(
            &image,
            "rotator",
            &[
                "sh",
                "-c",
                "echo before; while [ ! -e /tmp/go ]; do sleep 1; done; echo after",
            ],
        ),
    )
    .await?;

    let line = events
        .until(|line| line.contains("CONTAINER_CREATED_EVENT") && line.contains(&short(&idle)))
        .await?;
    ensure!(
        line.contains(" container ")
            && line.contains("(idle)")
            && line.contains(&format!(
                "pod {} ({}/{})",
                short(&pod_id),
                metadata.namespace,
                metadata.name
            )),
        "event line {line:?}"
    );
    let line = json_events
        .until(|line| line.contains(&idle) && line.contains("container_event_type"))
        .await?;
    let event: Value = serde_json::from_str(&line).with_context(|| format!("event {line:?}"))?;
    ensure!(event["container_id"] == idle.as_str(), "{event}");

    // ps: the running containers; inspect with its info.
    let ps_header = [
        "CONTAINER",
        "IMAGE",
        "CREATED",
        "STATE",
        "NAME",
        "ATTEMPT",
        "POD ID",
    ];
    let text = stdout(daemon, &["ps"]).await?;
    let rows = table(&text, &ps_header)?;
    let idle_row = row(&rows, &short(&idle), &text)?;
    ensure!(
        (idle_row[1] == image || idle_row[1] == short(&image_id))
            && idle_row[3] == "Running"
            && idle_row[4] == "idle"
            && idle_row[6] == short(&pod_id),
        "ps row {idle_row:?}"
    );
    let inspected = json(daemon, &["inspect", &talker]).await?;
    ensure!(inspected["status"]["id"] == talker.as_str(), "{inspected}");
    ensure!(inspected["info"]["info"].is_object(), "{inspected}");
    let log_path = inspected["status"]["log_path"]
        .as_str()
        .context("no log path")?
        .to_string();

    // logs -f: the lines so far, then the last one once the container is
    // told to go on, then its own end when the container exits.
    let mut follower = Follower::spawn(daemon, &["logs", "-f", &talker])?;
    follower.until(|line| line == "out5").await?;
    let (code, output) = exec(&mut w.cri, &talker, &["touch", "/tmp/go"]).await?;
    ensure!(code == 0, "touch /tmp/go: {output}");
    follower.until(|line| line == "last").await?;
    ensure!(
        follower.next().await?.is_none(),
        "logs -f printed more after the last line"
    );
    let status = tokio::time::timeout(GUARD, follower.child.wait())
        .await
        .context("logs -f did not end with its container")??;
    ensure!(status.success(), "logs -f: {status}");
    wait_for_state(
        &mut w.cri,
        &talker,
        cri::ContainerState::ContainerExited,
        GUARD,
    )
    .await?;

    // logs -f across a rotation: the file renamed away and reopened by the
    // runtime; the line written after it comes from the new file.
    let mut follower = Follower::spawn(daemon, &["logs", "-f", &rotator])?;
    follower.until(|line| line == "before").await?;
    let status = json(daemon, &["inspect", &rotator]).await?;
    let rotator_log = status["status"]["log_path"]
        .as_str()
        .context("no log path")?
        .to_string();
    std::fs::rename(&rotator_log, format!("{rotator_log}.1"))?;
    w.cri
        .runtime
        .reopen_container_log(cri::ReopenContainerLogRequest {
            container_id: rotator.clone(),
        })
        .await
        .context("ReopenContainerLog")?;
    let (code, output) = exec(&mut w.cri, &rotator, &["touch", "/tmp/go"]).await?;
    ensure!(code == 0, "touch /tmp/go: {output}");
    follower.until(|line| line == "after").await?;
    ensure!(
        follower.next().await?.is_none(),
        "logs -f printed more after the rotation"
    );
    let status = tokio::time::timeout(GUARD, follower.child.wait())
        .await
        .context("logs -f did not end with its container")??;
    ensure!(status.success(), "logs -f: {status}");

    // logs: everything (stderr lines to stderr), --tail, --timestamps.
    let out = run(daemon, &["logs", &talker]).await?;
    ensure!(
        String::from_utf8_lossy(&out.stdout) == "out1\nout2\nout3\nout4\nout5\nlast\n"
            && String::from_utf8_lossy(&out.stderr) == "oops\n",
        "logs {talker} (log {log_path}): {out:?}"
    );
    let tail = stdout(daemon, &["logs", "--tail", "3", &talker]).await?;
    ensure!(tail == "out5\nlast\n", "logs --tail 3: {tail:?}");
    let stamped = stdout(daemon, &["logs", "--tail", "1", "--timestamps", &talker]).await?;
    let (stamp, text) = stamped.split_once(' ').context("no timestamp")?;
    ensure!(
        text == "last\n" && stamp.as_bytes().get(10) == Some(&b'T'),
        "logs --timestamps: {stamped:?}"
    );

    // ps hides the exited container; ps -a shows it.
    let text = stdout(daemon, &["ps"]).await?;
    ensure!(
        !text.contains(&short(&talker)),
        "ps shows an exited one:\n{text}"
    );
    let text = stdout(daemon, &["ps", "-a"]).await?;
    let rows = table(&text, &ps_header)?;
    let talker_row = row(&rows, &short(&talker), &text)?;
    ensure!(talker_row[3] == "Exited", "ps -a row {talker_row:?}");
    let listed = yaml(daemon, &["ps", "-a", "-o", "yaml"]).await?;
    ensure!(
        listed["containers"]
            .as_array()
            .is_some_and(|c| c.len() >= 2),
        "ps -a -o yaml: {listed}"
    );

    // stats: one table from two samples, and the CRI answer.
    let text = stdout(daemon, &["stats", "--interval", "0.5"]).await?;
    let rows = table(
        &text,
        &["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"],
    )?;
    let idle_row = row(&rows, &short(&idle), &text)?;
    ensure!(idle_row[1] == "idle", "stats row {idle_row:?}");
    let cpu: f64 = idle_row[2]
        .parse()
        .with_context(|| format!("CPU % of {idle_row:?}"))?;
    ensure!(cpu >= 0.0, "stats row {idle_row:?}");
    let stats = json(daemon, &["stats", "--interval", "0.1", "-o", "json"]).await?;
    ensure!(
        stats["stats"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["attributes"]["id"] == idle.as_str())),
        "stats -o json: {stats}"
    );

    // stats --watch into a pipe: a fresh table each interval, until killed.
    let mut watch = Follower::spawn(daemon, &["stats", "--watch", "--interval", "0.2"])?;
    for _ in 0..2 {
        watch.until(|line| line.starts_with("CONTAINER ")).await?;
        watch.until(|line| line.starts_with(&short(&idle))).await?;
    }
    watch.child.kill().await?;

    events.child.kill().await?;
    json_events.child.kill().await?;
    stop_and_remove_container(&mut w.cri, &talker).await?;
    stop_and_remove_container(&mut w.cri, &idle).await?;
    stop_and_remove_container(&mut w.cri, &rotator).await?;
    stop_and_remove_pod(&mut w.cri, &pod_id).await?;
    Ok(())
}
