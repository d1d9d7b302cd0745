//! Air-gapped images through cradled's admin socket, driven with the
//! `cradlectl` binary: export a pulled image to a tarball, remove it, import
//! the tarball back (same id, same tag) and run a container from it; a junk
//! file fails to import with a message naming it and stores nothing.
//! Root only; skipped with a message elsewhere.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    self, container_config, create_and_start, has_log_line, list_images, pod_config, pull, run_pod,
    stop_and_remove_container, stop_and_remove_pod, wait_for_state,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, World, skip_unless_ready, target_bin_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_image_imports_back_with_its_id_and_tag_and_runs() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = export_import_run(&mut w.cri, &w.daemon, &w.registry, &w.cgroup).await;
    w.finish_with_log(result).await;
}

async fn remove_image(cri: &mut Cri, image: &str) -> anyhow::Result<()> {
    steps::remove_image(cri, image)
        .await
        .with_context(|| format!("RemoveImage {image}"))
}

async fn export_import_run(
    cri: &mut Cri,
    daemon: &Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    let image_id = pull(cri, &image).await?;

    // Export to a file under the test's temp dir.
    let archive = daemon.dir().join("exported.tar");
    let archive_arg = archive.display().to_string();
    let out =
        cradle_tests::cradlectl::run(daemon, &["images", "export", &image, &archive_arg]).await?;
    ensure!(out.status.success(), "export failed: {out:?}");
    ensure!(
        std::fs::metadata(&archive)?.len() > 0,
        "{} is empty",
        archive.display()
    );

    // Remove the image; it is gone.
    remove_image(cri, &image).await?;
    ensure!(
        !list_images(cri).await?.iter().any(|i| i.id == image_id),
        "image still listed after RemoveImage"
    );

    // Import it back: same id, same tag.
    let out = cradle_tests::cradlectl::run(daemon, &["images", "import", &archive_arg]).await?;
    ensure!(out.status.success(), "import failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(stdout.contains(&image_id), "import printed {stdout}");
    let images = list_images(cri).await?;
    let listed = images
        .iter()
        .find(|i| i.id == image_id)
        .with_context(|| format!("imported image not listed: {images:?}"))?;
    ensure!(
        listed.repo_tags.contains(&image),
        "repo_tags {:?} lack {image}",
        listed.repo_tags
    );

    // A container runs from it (by tag).
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let command = ["echo", "from an imported image"];
    let id = create_and_start(cri, &pod_id, &pod, container_config(&image, "c1", &command)).await?;
    let status = wait_for_state(
        cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    ensure!(status.exit_code == 0, "exit code {}", status.exit_code);
    ensure!(
        status.image_ref == image_id,
        "image_ref {:?}",
        status.image_ref
    );
    let log = Path::new(&pod.log_directory).join("c1.log");
    ensure!(
        has_log_line(&log, "stdout", "from an imported image")?,
        "log {log:?} lacks the output"
    );
    stop_and_remove_container(cri, &id).await?;
    stop_and_remove_pod(cri, &pod_id).await?;

    // A junk file fails with a message naming it and adds nothing.
    let before = list_images(cri).await?.len();
    let junk = daemon.dir().join("junk.tar");
    std::fs::write(&junk, b"this is not an image archive")?;
    let junk_arg = junk.display().to_string();
    let out = cradle_tests::cradlectl::run(daemon, &["images", "import", &junk_arg]).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "junk import succeeded: {out:?}");
    ensure!(
        stderr.contains(&junk_arg),
        "error does not name the file: {stderr}"
    );
    let after = list_images(cri).await?.len();
    ensure!(
        after == before,
        "junk import changed the list: {before} -> {after}"
    );

    // Exporting into a directory that does not exist fails the same way.
    let missing = daemon.dir().join("no-such-dir").join("x.tar");
    let missing_arg = missing.display().to_string();
    let out =
        cradle_tests::cradlectl::run(daemon, &["images", "export", &image, &missing_arg]).await?;
    ensure!(!out.status.success(), "export to a missing dir succeeded");
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("parent directory"),
        "export error: {out:?}"
    );

    // `cradlectl pull` into a pipe prints the id and nothing on stderr; on a
    // terminal (a pty from script(1)) it polls the admin socket meanwhile
    // and still ends with the id.
    remove_image(cri, &image).await?;
    let out = cradle_tests::cradlectl::run(daemon, &["pull", &image]).await?;
    ensure!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).trim() == image_id
            && out.stderr.is_empty(),
        "piped pull: {out:?}"
    );
    remove_image(cri, &image).await?;
    let line = format!(
        "{} --socket {} --admin-socket {} pull {image}",
        target_bin_dir()?.join("cradlectl").display(),
        daemon.socket().display(),
        daemon.state_dir().join("admin.sock").display()
    );
    let mut script = tokio::process::Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), script.output())
        .await
        .context("pull on a terminal timed out")??;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&image_id),
        "pull on a terminal: {out:?}"
    );

    // `cradlectl images` with no action still lists (`-o json`: the full id).
    let out = cradle_tests::cradlectl::run(daemon, &["images", "-o", "json"]).await?;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&image_id),
        "images listing: {out:?}"
    );
    Ok(())
}
