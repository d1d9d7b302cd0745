//! Image commands: `pull` (with a progress line), `images` (a table, or
//! import / export through the admin socket), `inspecti`, `rmi`.

use crate::admin_socket;
use crate::connect::Images;
use crate::output::{self, Format};
use crate::table::{self, Table};
use anyhow::Context as _;
use cradle_daemon::admin;
use cradle_proto::cri;
use std::path::{Path, PathBuf};

/// `cradlectl images <action>`; no action lists the images.
#[derive(Debug, clap::Subcommand)]
pub enum ImagesCommand {
    /// Import the images of an OCI layout directory or an OCI layout /
    /// docker-archive tarball (plain, gzip or zstd); prints them.
    Import {
        /// The directory or tarball.
        file: PathBuf,
    },
    /// Export an image (reference or id) as an OCI layout tarball.
    Export {
        /// Reference or id.
        image: String,
        /// The tarball to write.
        file: PathBuf,
    },
}

/// A CRI image spec for a reference or id.
pub fn image_spec(image: String) -> Option<cri::ImageSpec> {
    Some(cri::ImageSpec {
        image,
        ..Default::default()
    })
}

/// `path` made absolute against our working directory (the daemon's differs).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// `images import` / `images export`, through the admin socket.
pub async fn action(admin_socket: &Path, action: ImagesCommand) -> anyhow::Result<()> {
    match action {
        ImagesCommand::Import { file } => {
            let path = absolute(&file)?;
            anyhow::ensure!(
                path.exists(),
                "{}: no such file or directory",
                path.display()
            );
            match admin_socket::ask(admin_socket, &admin::Request::Import { path }).await? {
                admin::Response::Imported { images } => output::json(&images),
                other => anyhow::bail!("unexpected answer {other:?}"),
            }
        }
        ImagesCommand::Export { image, file } => {
            let path = absolute(&file)?;
            match admin_socket::ask(admin_socket, &admin::Request::Export { image, path }).await? {
                admin::Response::Exported { path } => output::line(&path.display().to_string()),
                other => anyhow::bail!("unexpected answer {other:?}"),
            }
        }
    }
}

/// Runs the pull; when stderr is a terminal, redraws a progress line from
/// the admin socket every 200 ms meanwhile (silently none if it is out of
/// reach, e.g. not root).
async fn pull(
    img: &mut Images,
    request: cri::PullImageRequest,
    admin_socket: &Path,
) -> anyhow::Result<String> {
    use std::io::{IsTerminal as _, Write as _};
    let terminal = std::io::stderr().is_terminal();
    let pull = img.pull_image(request);
    tokio::pin!(pull);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    let mut drawn = false;
    let result = loop {
        tokio::select! {
            result = &mut pull => break result,
            _ = tick.tick(), if terminal => {
                let asked = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    admin_socket::ask(admin_socket, &admin::Request::Downloads),
                )
                .await;
                if let Ok(Ok(admin::Response::Downloads { downloads })) = asked
                    && !downloads.is_empty()
                {
                    let _ = write!(
                        std::io::stderr(),
                        "\r\x1b[K{}",
                        admin_socket::progress_line(&downloads)
                    );
                    drawn = true;
                }
            }
        }
    };
    if drawn {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    Ok(result?.into_inner().image_ref)
}

/// `pull`: prints the image's id.
pub async fn pull_image(
    img: &mut Images,
    image: String,
    admin_socket: &Path,
) -> anyhow::Result<()> {
    let request = cri::PullImageRequest {
        image: image_spec(image),
        ..Default::default()
    };
    output::line(&pull(img, request, admin_socket).await?)
}

/// The rows of the images table: one per tag (an untagged image shows its
/// digest's repository and `<none>`).
pub fn images_table(images: &[cri::Image]) -> Table {
    let mut table = Table::new(&["IMAGE", "TAG", "IMAGE ID", "SIZE"]);
    for image in images {
        let size = table::size(image.size);
        let id = table::short_id(&image.id);
        if image.repo_tags.is_empty() {
            let repo = image
                .repo_digests
                .first()
                .and_then(|d| d.split_once('@'))
                .map_or("<none>", |(repo, _)| repo);
            table.row(vec![repo.into(), "<none>".into(), id.clone(), size.clone()]);
        }
        for tag in &image.repo_tags {
            let (repo, tag) = split_tag(tag);
            table.row(vec![repo.into(), tag.into(), id.clone(), size.clone()]);
        }
    }
    table
}

/// `registry:5000/app:v1` → (`registry:5000/app`, `v1`); no tag → `<none>`.
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "<none>"),
    }
}

/// `images` without an action.
pub async fn list(img: &mut Images, format: Format) -> anyhow::Result<()> {
    let answer = img
        .list_images(cri::ListImagesRequest::default())
        .await?
        .into_inner();
    match format {
        Format::Table => output::raw(&images_table(&answer.images).render()),
        _ => output::document(&answer, format, Format::Json),
    }
}

/// `inspecti`: the image status with its verbose info parsed.
pub async fn status(img: &mut Images, image: String, format: Format) -> anyhow::Result<()> {
    let request = cri::ImageStatusRequest {
        image: image_spec(image),
        verbose: true,
    };
    let answer = img.image_status(request).await?.into_inner();
    anyhow::ensure!(answer.image.is_some(), "no such image");
    let value = output::with_info(&answer, &answer.info)?;
    output::document(&value, format, Format::Json)
}

/// `rmi`.
pub async fn remove(img: &mut Images, image: String) -> anyhow::Result<()> {
    img.remove_image(cri::RemoveImageRequest {
        image: image_spec(image),
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_at_the_last_colon_not_the_port() {
        assert_eq!(
            split_tag("registry:5000/app:v1"),
            ("registry:5000/app", "v1")
        );
        assert_eq!(
            split_tag("registry:5000/app"),
            ("registry:5000/app", "<none>")
        );
        assert_eq!(split_tag("busybox:latest"), ("busybox", "latest"));
    }

    #[test]
    fn an_image_has_a_row_per_tag() {
        let image = cri::Image {
            id: "sha256:0123456789abcdef".into(),
            repo_tags: vec!["a:1".into(), "b:2".into()],
            size: 2_000_000,
            ..Default::default()
        };
        let untagged = cri::Image {
            id: "sha256:fedcba9876543210".into(),
            repo_digests: vec!["c@sha256:00".into()],
            size: 10,
            ..Default::default()
        };
        let text = images_table(&[image, untagged]).render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("IMAGE"));
        assert!(lines[1].starts_with("a  ") && lines[1].contains("0123456789abc "));
        assert!(lines[2].starts_with("b  ") && lines[2].ends_with("2MB"));
        assert!(lines[3].starts_with("c  ") && lines[3].contains("<none>"));
    }
}
