//! `cradlectl gc [--dry-run]`: removes the images no container uses and
//! the blobs and layer snapshots nothing references, through cradled's
//! admin socket (root only), and prints what went (or would go) and the
//! bytes freed.

use cradle_daemon::admin::{self, gc::GcOutcome};
use std::path::Path;

use crate::admin_socket;
use crate::output::{self, Format};
use crate::table::{self, Table};

/// Asks the daemon to collect (or, with `dry_run`, what it would) and prints
/// the answer.
pub async fn run(admin_socket: &Path, dry_run: bool, format: Format) -> anyhow::Result<()> {
    match admin_socket::ask(admin_socket, &admin::Request::Gc { dry_run }).await? {
        admin::Response::Gc { outcome } => match format {
            Format::Table => output::raw(&render(&outcome)),
            Format::Json => output::json(&outcome),
            Format::Yaml => output::yaml(&outcome),
        },
        other => anyhow::bail!("unexpected answer {other:?}"),
    }
}

/// The removed (or to be removed) images, the kept ones with why, and the
/// blobs, snapshots and bytes.
pub fn render(outcome: &GcOutcome) -> String {
    let (removed, freed) = if outcome.dry_run {
        ("Would remove", "would free")
    } else {
        ("Removed", "freed")
    };
    let tags = |t: &[String]| {
        if t.is_empty() {
            "<none>".to_string()
        } else {
            t.join(",")
        }
    };
    let mut out = String::new();
    if outcome.removed.is_empty() {
        out.push_str(&format!("{removed} no image.\n"));
    } else {
        out.push_str(&format!("{removed} {} image(s):\n", outcome.removed.len()));
        let mut images = Table::new(&["IMAGE", "ID", "SIZE"]);
        for image in &outcome.removed {
            images.row(vec![
                tags(&image.repo_tags),
                table::short_id(&image.id),
                table::size(image.size),
            ]);
        }
        out.push_str(&images.render());
    }
    if !outcome.kept.is_empty() {
        out.push_str(&format!("\nKept {} image(s) in use:\n", outcome.kept.len()));
        let mut kept = Table::new(&["IMAGE", "ID", "REASON"]);
        for image in &outcome.kept {
            kept.row(vec![
                tags(&image.repo_tags),
                table::short_id(&image.id),
                image.reason.clone(),
            ]);
        }
        out.push_str(&kept.render());
    }
    out.push_str(&format!(
        "\n{} blob(s), {} layer snapshot(s): {freed} {}\n",
        outcome.blobs.len(),
        outcome.snapshots.len(),
        table::size(outcome.bytes)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cradle_daemon::admin::gc::{GcImage, KeptImage};

    #[test]
    fn a_dry_run_says_what_would_go_and_what_stays() {
        let outcome = GcOutcome {
            dry_run: true,
            removed: vec![GcImage {
                id: "sha256:0123456789abcdef0123".into(),
                repo_tags: vec!["example/old:1".into()],
                size: 2_500_000,
            }],
            kept: vec![KeptImage {
                id: "sha256:fedcba9876543210fedc".into(),
                repo_tags: vec![],
                reason: "container c1 (rootfs)".into(),
            }],
            blobs: vec![],
            snapshots: vec![],
            bytes: 3_000_000,
        };
        let text = render(&outcome);
        assert!(text.starts_with("Would remove 1 image(s):\n"), "{text}");
        assert!(
            text.contains("example/old:1   0123456789abc   2.5MB"),
            "{text}"
        );
        assert!(
            text.contains("<none>   fedcba9876543   container c1 (rootfs)"),
            "{text}"
        );
        assert!(
            text.ends_with("0 blob(s), 0 layer snapshot(s): would free 3MB\n"),
            "{text}"
        );
        let done = render(&GcOutcome::default());
        assert!(done.starts_with("Removed no image.\n"), "{done}");
        assert!(done.contains(": freed 0B"), "{done}");
    }
}
