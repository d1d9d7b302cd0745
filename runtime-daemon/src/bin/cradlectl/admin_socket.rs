//! cradled's admin socket (root only): image import and export and the
//! download progress of a pull, which the CRI does not carry.

use anyhow::Context as _;
use cradle_daemon::admin;
use std::path::Path;

/// Sends one request to the admin socket and returns the answer; an error
/// answer becomes an error.
pub async fn ask(socket: &Path, request: &admin::Request) -> anyhow::Result<admin::Response> {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let stream = cradle_daemon::platform::sockets::connect(socket)
        .await
        .with_context(|| format!("connecting to the admin socket {}", socket.display()))?;
    let (read, mut write) = stream.into_split();
    write.write_all(&admin::encode(request)?).await?;
    let line = tokio::io::BufReader::new(read)
        .lines()
        .next_line()
        .await?
        .with_context(|| format!("{} closed without answering", socket.display()))?;
    match admin::decode(&line)? {
        admin::Response::Error { message } => anyhow::bail!("{message}"),
        response => Ok(response),
    }
}

/// One progress line for the running downloads: layers, bytes, percent.
pub fn progress_line(downloads: &[admin::Download]) -> String {
    let received: u64 = downloads.iter().map(|d| d.received).sum();
    let size: u64 = downloads.iter().map(|d| d.size).sum();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let percent = (received * 100).checked_div(size).unwrap_or(0);
    format!(
        "downloading {} layer(s): {:.1} / {:.1} MiB ({percent}%)",
        downloads.len(),
        mib(received),
        mib(size)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_sums_the_layers() {
        let download = |received, size| admin::Download {
            image: "busybox".into(),
            layer: "sha256:0".into(),
            received,
            size,
        };
        let line = progress_line(&[
            download(1024 * 1024, 2 * 1024 * 1024),
            download(0, 2 * 1024 * 1024),
        ]);
        assert_eq!(line, "downloading 2 layer(s): 1.0 / 4.0 MiB (25%)");
        // A zero size (unknown) shows 0%, not a division by zero.
        assert_eq!(
            progress_line(&[download(5, 0)]),
            "downloading 1 layer(s): 0.0 / 0.0 MiB (0%)"
        );
    }
}
