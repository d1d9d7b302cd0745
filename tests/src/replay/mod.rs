//! Replays what a real kubelet sent over the CRI (the fixtures
//! `hack/kubelet-replay/convert.py` makes from a recording) against
//! `cradled`, and checks each answer against the recorded runtime's.
//!
//! Per call: the request's recorded ids (sandboxes, containers, image ids
//! and digests) are replaced by the ones Cradle gave for the same objects,
//! and the recorded node's paths by this test's ([`node::Node`]); then the
//! outcome must be the recorded one (OK, or a failure with a compatible
//! code), unless a [`Difference`] says why Cradle answers otherwise. When
//! the recording shows a container that has exited, or a probe's exit code,
//! the replay waits (bounded) until Cradle shows the same instead of
//! sleeping the recorded gaps.

mod call;
pub mod fixture;
mod node;
pub mod protojson;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use tonic::Code;

pub use call::Answer;
pub use fixture::RecordedImage;
pub use node::Node;

use crate::client::Cri;

/// How long the replay waits for Cradle to reach a state the recording
/// shows (an exited container, a probe's exit code).
const CONVERGE: Duration = Duration::from_secs(20);

/// A call where Cradle's answer is known to differ from the recorded
/// runtime's, and why.
pub struct Difference {
    /// The scenario (fixture name), or `"*"` for all.
    pub scenario: &'static str,
    /// The RPC's name (`CreateContainer`).
    pub method: &'static str,
    /// Which of the recorded requests (protojson, as recorded).
    pub when: fn(&Value) -> bool,
    /// What Cradle answers instead.
    pub cradle: Expect,
    /// Why the answers differ, for the notes.
    pub why: &'static str,
}

/// What Cradle does instead of what the recorded runtime did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Succeeds (the recorded runtime failed). What it creates is removed
    /// again, as the kubelet never heard of it.
    Ok,
    /// Fails with this code. Where the recorded runtime succeeded, later
    /// calls about what Cradle did not create (or start) are skipped.
    Fails(Code),
}

/// Any request, always.
pub fn always(_: &Value) -> bool {
    true
}

/// One scenario's replay against one daemon.
pub struct Replay<'a> {
    cri: &'a mut Cri,
    node: &'a Node,
    scenario: String,
    differences: &'a [Difference],
    /// Recorded id, image id, digest or image ref → Cradle's.
    ids: HashMap<String, String>,
    /// Recorded ids Cradle never created (an expected difference).
    dead: HashSet<String>,
    /// Cradle's ids of every sandbox and container it created.
    made: Vec<String>,
    images: Vec<RecordedImage>,
    /// Recorded containers that exited on their own (not stopped).
    exit_on_their_own: HashSet<String>,
    /// Recorded containers and sandboxes the replay has started or stopped:
    /// the recording may show them in an earlier state, as the kubelet's
    /// calls overlapped while the replay waits for each answer.
    progress: Progress,
    /// One line per call that differed as a [`Difference`] says.
    pub notes: Vec<String>,
    /// Calls sent to Cradle so far.
    pub calls_sent: usize,
}

impl<'a> Replay<'a> {
    /// A replay of `scenario` that accepts `differences` and nothing else.
    pub fn new(
        cri: &'a mut Cri,
        node: &'a Node,
        scenario: &str,
        differences: &'a [Difference],
    ) -> Self {
        Replay {
            cri,
            node,
            scenario: scenario.to_string(),
            differences,
            ids: HashMap::new(),
            dead: HashSet::new(),
            made: Vec::new(),
            images: Vec::new(),
            exit_on_their_own: HashSet::new(),
            progress: Progress::default(),
            notes: Vec::new(),
            calls_sent: 0,
        }
    }

    /// Cradle's ids of what the replay created (for the leak check).
    pub fn made(&self) -> &[String] {
        &self.made
    }

    /// Loads the scenario's fixture, pulls the images the recorded runtime
    /// already had, and replays every call in order.
    pub async fn run(&mut self) -> anyhow::Result<()> {
        let (header, calls) = fixture::load(&self.scenario)?;
        self.images = header.images;
        for image in self.images.clone() {
            if image.preloaded
                && let Some(tag) = image.repo_tags.first()
            {
                let request = serde_json::json!({"image": {"image": tag}});
                let answer = call::send(self.cri, "PullImage", &request).await?;
                ensure!(
                    answer.code == Code::Ok,
                    "preloading {tag}: {}",
                    answer.message
                );
            }
        }
        self.exit_on_their_own = exit_on_their_own(&calls);
        for c in &calls {
            self.step(c).await.with_context(|| {
                format!("{} seq {} {} {}", self.scenario, c.seq, c.method, c.phase)
            })?;
        }
        Ok(())
    }

    /// Sends one recorded call (unless it is about something Cradle was
    /// expected not to create) and checks the answer against the recorded
    /// one, or against the difference the table lists for it.
    async fn step(&mut self, c: &fixture::Call) -> anyhow::Result<()> {
        let difference = self.differences.iter().find(|d| {
            (d.scenario == "*" || d.scenario == self.scenario)
                && d.method == c.method
                && (d.when)(&c.request)
        });
        self.map_images_in(&c.request).await?;
        let mut recorded = Vec::new();
        collect_strings(&c.request, &mut recorded);
        if let Some(id) = recorded.iter().find(|id| self.dead.contains(*id)) {
            self.notes.push(format!(
                "seq {} {}: skipped: refers to {id}, which Cradle did not create or start",
                c.seq, c.method
            ));
            return Ok(());
        }
        let mut request = c.request.clone();
        let mut unknown = Vec::new();
        self.rewrite(&mut request, &mut unknown);
        // Made before this recording began (the tail of an earlier scenario).
        let foreign = !unknown.is_empty();
        self.node.prepare(&c.method, &request)?;
        let answer = call::send(self.cri, &c.method, &request).await?;
        self.calls_sent += 1;

        let recorded_ok = c.code == "OK";
        match (
            recorded_ok,
            answer.code == Code::Ok,
            difference.map(|d| d.cradle),
        ) {
            (true, true, None) => {
                self.progress.record(c);
                self.check_facts(c, &request, answer).await
            }
            (true, false, None) if foreign && answer.code == Code::NotFound => Ok(()),
            (false, false, None) => {
                ensure!(
                    compatible(&c.code, answer.code),
                    "recorded {} ({}), Cradle {:?}: {}",
                    c.code,
                    c.error,
                    answer.code,
                    answer.message
                );
                Ok(())
            }
            (false, true, None) if foreign => Ok(()),
            (false, true, Some(Expect::Ok)) => {
                self.notes.push(format!(
                    "seq {} {}: Cradle succeeds: {}",
                    c.seq,
                    c.method,
                    difference.map_or("", |d| d.why)
                ));
                self.undo(&c.method, &answer).await
            }
            (_, false, Some(Expect::Fails(code))) => {
                ensure!(
                    answer.code == code,
                    "expected {code:?} (a documented difference), Cradle {:?}: {}",
                    answer.code,
                    answer.message
                );
                self.notes.push(format!(
                    "seq {} {}: Cradle fails ({:?}): {}",
                    c.seq,
                    c.method,
                    answer.code,
                    difference.map_or("", |d| d.why)
                ));
                // What it did not create, or start, later calls skip.
                for id in [
                    &c.facts["pod_sandbox_id"],
                    &c.facts["container_id"],
                    &c.request["container_id"],
                ] {
                    if let Some(id) = id.as_str() {
                        self.dead.insert(id.to_string());
                    }
                }
                Ok(())
            }
            (_, cradle_ok, Some(expect)) => bail!(
                "listed as a difference ({expect:?}), but recorded {} and Cradle {} ({:?} {}): the table is stale",
                c.code,
                if cradle_ok { "succeeded" } else { "failed" },
                answer.code,
                answer.message
            ),
            (true, false, _) => bail!("recorded OK, Cradle {:?}: {}", answer.code, answer.message),
            (false, true, _) => bail!("recorded {} ({}), Cradle succeeded", c.code, c.error),
        }
    }

    /// Checks the facts of a call both runtimes answered, and remembers the
    /// ids Cradle gave.
    async fn check_facts(
        &mut self,
        c: &fixture::Call,
        request: &Value,
        answer: Answer,
    ) -> anyhow::Result<()> {
        let (rec, got) = (&c.facts, &answer.facts);
        match c.method.as_str() {
            "RunPodSandbox" | "CreateContainer" => {
                let key = if c.method == "RunPodSandbox" {
                    "pod_sandbox_id"
                } else {
                    "container_id"
                };
                let (from, to) = (
                    rec[key].as_str().unwrap_or_default(),
                    got[key].as_str().unwrap_or_default(),
                );
                self.ids.insert(from.to_string(), to.to_string());
                self.made.push(to.to_string());
            }
            "PullImage" => {
                let (from, to) = (
                    rec["image_ref"].as_str().unwrap_or_default(),
                    got["image_ref"].as_str().unwrap_or_default(),
                );
                self.ids.insert(from.to_string(), to.to_string());
                if let Some(image) = self.images.iter().find(|i| i.id == from).cloned() {
                    self.map_image(&image).await?;
                }
            }
            "ImageStatus" => {
                ensure!(
                    rec["present"] != Value::Bool(true) || got["present"] == Value::Bool(true),
                    "recorded image present, Cradle has none for {}",
                    request["image"]["image"]
                );
            }
            "ContainerStatus" => self.check_container_state(c, request, answer).await?,
            "PodSandboxStatus" => {
                let id = rec["id"].as_str().unwrap_or_default();
                let stopped = self.progress.stopped_pods.contains(id);
                ensure!(
                    rec["state"] == got["state"] || (stopped && got["state"] == "SANDBOX_NOTREADY"),
                    "sandbox state: recorded {}, Cradle {}",
                    rec["state"],
                    got["state"]
                );
            }
            "ExecSync" => self.converge_exec(c, request, answer).await?,
            "Exec" | "Attach" | "PortForward" => {
                ensure!(got["url"] == Value::Bool(true), "no streaming URL");
            }
            _ => {}
        }
        Ok(())
    }

    /// A recorded EXITED state is waited for. Cradle may be ahead of the
    /// recording (RUNNING once started, EXITED once stopped or when the
    /// container exits by itself), as the replay runs faster than the
    /// recording and never overlaps calls. An exit's code and reason must
    /// match.
    async fn check_container_state(
        &mut self,
        c: &fixture::Call,
        request: &Value,
        mut answer: Answer,
    ) -> anyhow::Result<()> {
        let rec = &c.facts;
        let deadline = Instant::now() + CONVERGE;
        while rec["state"] == "CONTAINER_EXITED"
            && answer.facts["state"] != "CONTAINER_EXITED"
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
            answer = call::send(self.cri, "ContainerStatus", request).await?;
            ensure!(
                answer.code == Code::Ok,
                "ContainerStatus while waiting for the exit: {}",
                answer.message
            );
        }
        let got = &answer.facts;
        let id = rec["id"].as_str().unwrap_or_default();
        let (started, stopped) = (
            self.progress.started.contains(id),
            self.progress.is_stopped(id),
        );
        let ahead = match (rec["state"].as_str(), got["state"].as_str()) {
            (Some("CONTAINER_CREATED"), Some("CONTAINER_RUNNING")) => started,
            (Some("CONTAINER_CREATED" | "CONTAINER_RUNNING"), Some("CONTAINER_EXITED")) => {
                stopped || (started && self.exit_on_their_own.contains(id))
            }
            _ => false,
        };
        if ahead {
            return Ok(());
        }
        ensure!(
            rec["state"] == got["state"],
            "container state: recorded {}, Cradle {}",
            rec["state"],
            got["state"]
        );
        if rec["state"] == "CONTAINER_EXITED" {
            ensure!(
                rec["exit_code"] == got["exit_code"] && rec["reason"] == got["reason"],
                "exit: recorded {} {}, Cradle {} {}",
                rec["exit_code"],
                rec["reason"],
                got["exit_code"],
                got["reason"]
            );
        }
        Ok(())
    }

    /// Probes and hooks: runs the command again (bounded) until its exit
    /// code is the recorded one, as the recorded container's state had
    /// changed by then (a file created or removed after a sleep).
    async fn converge_exec(
        &mut self,
        c: &fixture::Call,
        request: &Value,
        mut answer: Answer,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + CONVERGE;
        while answer.facts["exit_code"] != c.facts["exit_code"] && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            answer = call::send(self.cri, "ExecSync", request).await?;
            ensure!(
                answer.code == Code::Ok,
                "ExecSync again: {:?} {}",
                answer.code,
                answer.message
            );
        }
        ensure!(
            answer.facts["exit_code"] == c.facts["exit_code"],
            "ExecSync exit code: recorded {}, Cradle {} (stderr {})",
            c.facts["exit_code"],
            answer.facts["exit_code"],
            answer.facts["stderr"]
        );
        Ok(())
    }

    /// Removes what Cradle created where the recorded runtime failed.
    async fn undo(&mut self, method: &str, answer: &Answer) -> anyhow::Result<()> {
        let (undo, key): (&[&str], &str) = match method {
            "CreateContainer" => (&["RemoveContainer"], "container_id"),
            "RunPodSandbox" => (&["StopPodSandbox", "RemovePodSandbox"], "pod_sandbox_id"),
            _ => return Ok(()),
        };
        let id = answer.facts[key].as_str().unwrap_or_default().to_string();
        self.made.push(id.clone());
        for method in undo {
            let answer = call::send(self.cri, method, &serde_json::json!({ key: id })).await?;
            ensure!(
                answer.code == Code::Ok,
                "undoing: {method} {id}: {}",
                answer.message
            );
        }
        Ok(())
    }

    /// Maps the recorded image ids and digests `request` names to Cradle's,
    /// for images Cradle has by now.
    async fn map_images_in(&mut self, request: &Value) -> anyhow::Result<()> {
        let mut strings = Vec::new();
        collect_strings(request, &mut strings);
        for image in self.images.clone() {
            let named = strings
                .iter()
                .any(|s| *s == image.id || image.repo_digests.contains(s));
            if named && !self.ids.contains_key(&image.id) {
                self.map_image(&image).await?;
            }
        }
        Ok(())
    }

    /// Asks Cradle for `image` by its tag; maps its id and digests.
    async fn map_image(&mut self, image: &RecordedImage) -> anyhow::Result<()> {
        let Some(tag) = image.repo_tags.first() else {
            return Ok(());
        };
        let answer = call::send(
            self.cri,
            "ImageStatus",
            &serde_json::json!({"image": {"image": tag}}),
        )
        .await?;
        if answer.facts["present"] != Value::Bool(true) {
            return Ok(());
        }
        if let Some(id) = answer.facts["id"].as_str() {
            self.ids.insert(image.id.clone(), id.to_string());
        }
        let cradle_digests: Vec<&str> = answer.facts["repo_digests"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for digest in &image.repo_digests {
            let repo = digest.split('@').next().unwrap_or_default();
            if let Some(ours) = cradle_digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo))
            {
                self.ids.insert(digest.clone(), ours.to_string());
            }
        }
        Ok(())
    }

    /// Replaces recorded ids and node paths in every string of `value`;
    /// collects the 64-hex ids it could not map.
    fn rewrite(&self, value: &mut Value, unknown: &mut Vec<String>) {
        match value {
            Value::String(s) => {
                if let Some(mapped) = self.ids.get(s.as_str()) {
                    *s = mapped.clone();
                } else if let Some(path) = self.node.rewrite(s) {
                    *s = path;
                } else if is_object_id(s) && !self.made.contains(s) {
                    unknown.push(s.clone());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.rewrite(v, unknown)),
            Value::Object(map) => map.values_mut().for_each(|v| self.rewrite(v, unknown)),
            _ => {}
        }
    }
}

/// What the replay has done to the recorded containers and sandboxes.
#[derive(Default)]
struct Progress {
    pod_of: HashMap<String, String>,
    started: HashSet<String>,
    stopped: HashSet<String>,
    stopped_pods: HashSet<String>,
}

impl Progress {
    /// Notes what a call both runtimes answered did (recorded ids).
    fn record(&mut self, c: &fixture::Call) {
        let field = |key: &str| c.request[key].as_str().unwrap_or_default().to_string();
        match c.method.as_str() {
            "CreateContainer" => {
                let id = c.facts["container_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                self.pod_of.insert(id, field("pod_sandbox_id"));
            }
            "StartContainer" => {
                self.started.insert(field("container_id"));
            }
            "StopContainer" => {
                self.stopped.insert(field("container_id"));
            }
            "StopPodSandbox" => {
                self.stopped_pods.insert(field("pod_sandbox_id"));
            }
            _ => {}
        }
    }

    fn is_stopped(&self, container: &str) -> bool {
        self.stopped.contains(container)
            || self
                .pod_of
                .get(container)
                .is_some_and(|pod| self.stopped_pods.contains(pod))
    }
}

/// Whether Cradle's failure `got` is compatible with the recorded failure:
/// the same code, or any failure where containerd said `Unknown` (its code
/// for "something went wrong").
fn compatible(recorded: &str, got: Code) -> bool {
    recorded == "Unknown" || recorded == format!("{got:?}")
}

fn is_object_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Recorded containers that show as exited before anyone stopped them
/// (StopContainer, or StopPodSandbox of their pod).
fn exit_on_their_own(calls: &[fixture::Call]) -> HashSet<String> {
    let mut pod_of = HashMap::new();
    let mut stopped = HashSet::new();
    let mut exited = HashSet::new();
    for c in calls {
        match c.method.as_str() {
            "CreateContainer" => {
                if let (Some(id), Some(pod)) = (
                    c.facts["container_id"].as_str(),
                    c.request["pod_sandbox_id"].as_str(),
                ) {
                    pod_of.insert(id.to_string(), pod.to_string());
                }
            }
            "StopContainer" => {
                stopped.insert(
                    c.request["container_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            "StopPodSandbox" => {
                let pod = c.request["pod_sandbox_id"].as_str().unwrap_or_default();
                for (container, p) in &pod_of {
                    if p == pod {
                        stopped.insert(container.clone());
                    }
                }
            }
            "ContainerStatus" if c.facts["state"] == "CONTAINER_EXITED" => {
                let id = c.facts["id"].as_str().unwrap_or_default();
                if !stopped.contains(id) {
                    exited.insert(id.to_string());
                }
            }
            _ => {}
        }
    }
    exited
}
