//! Image records.

use serde::{Deserialize, Serialize};

/// An image as the node knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:<hex of the config blob digest>`: the CRI image id and image_ref.
    pub id: String,
    /// Normalized tag references, e.g. `docker.io/library/busybox:latest`.
    pub repo_tags: Vec<String>,
    /// Digest references, e.g. `127.0.0.1:5000/busybox@sha256:<manifest digest>`.
    pub repo_digests: Vec<String>,
    /// Bytes: compressed layers plus config, as `crictl images` shows.
    pub size: u64,
    /// Layer (diff) digests, bottom first.
    pub layers: Vec<String>,
    /// What the runtime takes from the image's config blob.
    pub config: ImageConfig,
}

/// The runtime-relevant part of the image's config blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `User`: the default user (`name`, `uid`, `uid:gid`), if set.
    pub user: Option<String>,
    /// `Env`: `KEY=value` pairs the container starts with.
    pub env: Vec<String>,
    /// `Entrypoint`: used when the container spec gives no command.
    pub entrypoint: Vec<String>,
    /// `Cmd`: the default arguments (or command, without an entrypoint).
    pub cmd: Vec<String>,
    /// `WorkingDir`: the default working directory.
    pub working_dir: Option<String>,
    /// `StopSignal`: the signal StopContainer sends first (`SIGTERM` if unset).
    pub stop_signal: Option<String>,
    /// `Labels` of the image.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Who an image runs as, as `ImageStatus` reports it (`uid` or `username`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageUser {
    /// No user or a numeric one (`1000`, `1000:1000`): the CRI `uid`.
    Uid(i64),
    /// A name (`nobody`, `nobody:nogroup`): the CRI `username`.
    Name(String),
}

impl ImageConfig {
    /// The image's user the way containerd reports it: the part before `:`,
    /// numeric → uid, anything else → username; no user → `None` (leave both
    /// CRI fields empty).
    pub fn image_user(&self) -> Option<ImageUser> {
        let user = self.user.as_deref()?.split(':').next()?.trim();
        if user.is_empty() {
            return None;
        }
        Some(match user.parse::<i64>() {
            Ok(uid) => ImageUser::Uid(uid),
            Err(_) => ImageUser::Name(user.to_string()),
        })
    }
}

/// The parts of an image config blob (OCI or Docker schema 2) the node uses.
#[derive(Debug, Deserialize)]
struct ConfigBlob {
    architecture: Option<String>,
    os: Option<String>,
    config: Option<ConfigSection>,
    rootfs: RootFs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigSection {
    user: Option<String>,
    env: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    stop_signal: Option<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// An image config blob, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedConfig {
    pub config: ImageConfig,
    /// Uncompressed layer digests, bottom first.
    pub diff_ids: Vec<crate::digest::Digest>,
}

/// Parses the config blob of `reference`, refusing images for another
/// platform than linux on this node's architecture.
pub(crate) fn parse_config(
    reference: &str,
    bytes: &[u8],
) -> Result<ParsedConfig, crate::error::Error> {
    let bad = |reason: String| crate::error::Error::BadImage {
        reference: reference.to_string(),
        what: "config",
        reason,
    };
    let blob: ConfigBlob = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if let Some(os) = blob.os.as_deref().filter(|os| *os != "linux") {
        return Err(bad(format!("image is for os {os:?}, this node runs linux")));
    }
    let host = crate::platform::host_arch();
    if let Some(arch) = blob.architecture.as_deref().filter(|a| *a != host) {
        return Err(bad(format!(
            "image is for architecture {arch:?}, this node runs {host}"
        )));
    }
    let diff_ids = blob
        .rootfs
        .diff_ids
        .iter()
        .map(|d| crate::digest::Digest::parse(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let c = blob.config.unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ParsedConfig {
        config: ImageConfig {
            user: non_empty(c.user),
            env: c.env.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            working_dir: non_empty(c.working_dir),
            stop_signal: non_empty(c.stop_signal),
            labels: c.labels.unwrap_or_default(),
        },
        diff_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_style_config_section_is_read() {
        let blob = br#"{"architecture":"amd64","os":"linux",
            "config":{"User":"1000","Env":["PATH=/bin"],"Entrypoint":null,"Cmd":["sh"],
                      "WorkingDir":"","StopSignal":"SIGQUIT","Labels":{"a":"b"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
        let parsed = parse_config("x", blob).unwrap();
        assert_eq!(parsed.config.user.as_deref(), Some("1000"));
        assert_eq!(parsed.config.env, vec!["PATH=/bin"]);
        assert!(parsed.config.entrypoint.is_empty());
        assert_eq!(parsed.config.cmd, vec!["sh"]);
        assert_eq!(parsed.config.working_dir, None);
        assert_eq!(parsed.config.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(parsed.diff_ids.len(), 1);
    }

    #[test]
    fn image_user_is_a_uid_when_numeric_and_a_name_otherwise() {
        let user = |u: Option<&str>| {
            ImageConfig {
                user: u.map(str::to_string),
                ..Default::default()
            }
            .image_user()
        };
        assert_eq!(user(None), None);
        assert_eq!(user(Some("")), None);
        assert_eq!(user(Some("1000")), Some(ImageUser::Uid(1000)));
        assert_eq!(user(Some("1000:50")), Some(ImageUser::Uid(1000)));
        assert_eq!(user(Some("nobody")), Some(ImageUser::Name("nobody".into())));
        assert_eq!(user(Some("www:www")), Some(ImageUser::Name("www".into())));
    }

    #[test]
    fn config_for_another_architecture_is_refused() {
        let blob =
            br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert!(parse_config("x", blob).is_err());
    }
}
