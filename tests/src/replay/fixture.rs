//! The replay fixtures in `tests/fixtures/kubelet-v1.36/` (written by
//! `hack/kubelet-replay/convert.py`): a header line, then one line per call.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

/// The first line: which scenario, and the images the recorded runtime had.
#[derive(Debug, Deserialize)]
pub struct Header {
    /// The fixture's name.
    pub scenario: String,
    /// Calls the kubelet made in the recording.
    pub calls_recorded: usize,
    /// Lines left after repeated read-only calls were collapsed.
    pub calls_kept: usize,
    /// The images the kubelet asked about.
    pub images: Vec<RecordedImage>,
}

/// An image as the recorded runtime reported it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedImage {
    /// The recorded runtime's image id (`sha256:…`), which requests use.
    pub id: String,
    /// Its tag references, as the recorded runtime listed them.
    pub repo_tags: Vec<String>,
    /// Its digest references, as the recorded runtime listed them.
    pub repo_digests: Vec<String>,
    /// The runtime had it before the scenario pulled it (or never pulled).
    pub preloaded: bool,
}

/// One recorded call and what the recorded runtime answered.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    /// The call's position in the recording.
    pub seq: u64,
    /// The RPC's name without its service (`CreateContainer`).
    pub method: String,
    /// The request, protojson as recorded, with the path placeholders.
    pub request: Value,
    /// `OK` or the gRPC code's name (`NotFound`).
    pub code: String,
    /// The recorded error message (shortened); empty on success.
    #[serde(default)]
    pub error: String,
    /// The response values that matter to the replay (see convert.py).
    #[serde(default)]
    pub facts: Value,
    /// How many identical calls in a row this line stands for.
    #[serde(default = "one")]
    pub repeat: u32,
    /// The recording's label for the step of the scenario, for messages.
    #[serde(default)]
    pub phase: String,
}

fn one() -> u32 {
    1
}

/// The fixtures' directory in the source tree.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/kubelet-v1.36")
}

/// Reads `<dir>/<scenario>.jsonl`.
pub fn load(scenario: &str) -> anyhow::Result<(Header, Vec<Call>)> {
    let path = dir().join(format!("{scenario}.jsonl"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next().context("empty fixture")?)
        .with_context(|| format!("{}: header", path.display()))?;
    let calls = lines
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), i + 2))
        })
        .collect::<anyhow::Result<Vec<Call>>>()?;
    anyhow::ensure!(
        calls.len() == header.calls_kept,
        "{}: {} calls, header says {}",
        path.display(),
        calls.len(),
        header.calls_kept
    );
    Ok((header, calls))
}
