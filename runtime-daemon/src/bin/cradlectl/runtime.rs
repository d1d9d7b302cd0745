//! `version` and `info`: the runtime's name and versions, and its
//! conditions with the verbose info parsed. YAML unless `-o json`.

use crate::connect::Runtime;
use crate::output::{self, Format};
use cradle_proto::cri;

/// `version`.
pub async fn version(rt: &mut Runtime, format: Format) -> anyhow::Result<()> {
    let answer = rt
        .version(cri::VersionRequest::default())
        .await?
        .into_inner();
    output::document(&answer, format, Format::Yaml)
}

/// `info`: `Status(verbose)`, its info values parsed as JSON.
pub async fn info(rt: &mut Runtime, format: Format) -> anyhow::Result<()> {
    let answer = rt
        .status(cri::StatusRequest { verbose: true })
        .await?
        .into_inner();
    let value = output::with_info(&answer, &answer.info)?;
    output::document(&value, format, Format::Yaml)
}
