//! Docker credential helpers: `docker-credential-<name> get` with the
//! registry's server address on stdin answers
//! `{"ServerURL":…,"Username":…,"Secret":…}` on stdout, as docker and
//! containerd's CRI plugin run them for `credHelpers` and `credsStore` of a
//! `config.json`. A `<token>` user means the secret is an identity (OAuth2
//! refresh) token. "Not found" is no credentials; any other failure is an
//! error naming the helper. Helpers run with a timeout and are killed if
//! they exceed it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::error::Error;

/// How long a helper may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// What a helper answered: a user name (`<token>` when the secret is an
/// identity token) and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperCredentials {
    /// The user, or `<token>`.
    pub username: String,
    /// The password, or the identity token.
    pub secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

/// The server address docker hands helpers for `host`: Docker Hub's legacy
/// URL, the bare host otherwise.
pub fn server_address(host: &str) -> String {
    if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    }
}

/// The helper program for `name`: `<dir>/docker-credential-<name>`, or
/// looked up in `PATH` when no dir is configured.
fn program(dir: Option<&Path>, name: &str) -> Result<PathBuf, Error> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(Error::BadCredentials(format!(
            "credential helper name {name:?} is not a plain name"
        )));
    }
    let file = format!("docker-credential-{name}");
    Ok(match dir {
        Some(d) => d.join(file),
        None => PathBuf::from(file),
    })
}

/// Asks helper `name` for the credentials of `host`; `None` when it has none.
pub async fn get(
    dir: Option<&Path>,
    name: &str,
    host: &str,
) -> Result<Option<HelperCredentials>, Error> {
    let program = program(dir, name)?;
    let failed = |reason: String| {
        Error::BadCredentials(format!(
            "credential helper {} for {host}: {reason}",
            program.display()
        ))
    };
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot run: {e}")))?;
    let server = server_address(host);
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its answer.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let output = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed(format!("no answer within {}s", TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!(
            "{}: {} {}",
            output.status,
            stdout.trim(),
            stderr.trim()
        )));
    }
    let answer: HelperAnswer =
        serde_json::from_str(&stdout).map_err(|e| failed(format!("bad answer: {e}")))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(HelperCredentials {
        username: answer.username,
        secret: answer.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_gets_its_legacy_server_address() {
        assert_eq!(server_address("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_address("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn helper_names_with_paths_are_refused() {
        assert!(program(None, "../evil").is_err());
        assert!(program(None, "").is_err());
        assert_eq!(
            program(Some(Path::new("/h")), "pass").unwrap(),
            PathBuf::from("/h/docker-credential-pass")
        );
    }
}
