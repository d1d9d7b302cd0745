//! `cradlectl gc` against a running cradled: two images pulled, a container
//! running from one; `gc --dry-run` lists the other as the one to remove
//! (and the used one as kept, naming its container) and removes nothing;
//! `gc` removes it, reports the blobs it freed, and keeps the used one,
//! whose container still runs. Root and docker-registry only; skipped with
//! a message elsewhere.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_daemon::admin::gc::GcOutcome;
use cradle_proto::cri;
use cradle_tests::cradlectl::{describe, run};
use cradle_tests::image_variant::push_variant;
use cradle_tests::steps::{
    container_config, create_and_start, list_images, pod_config, pull, run_pod,
    stop_and_remove_container, stop_and_remove_pod, wait_for_state,
};
use cradle_tests::{Daemon, World, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_dry_run_lists_the_unused_image_and_gc_removes_only_it() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w).await;
    w.finish_with_log(result).await;
}

/// `cradlectl gc <args> -o json`, parsed; and its table form's stdout.
async fn gc(daemon: &Daemon, dry_run: bool) -> anyhow::Result<(GcOutcome, String)> {
    let mut args = vec!["gc"];
    if dry_run {
        args.push("--dry-run");
        // The table of a dry run first (a real run would leave nothing to show).
        let table = run(daemon, &args).await?;
        ensure!(table.status.success(), "gc --dry-run: {}", describe(&table));
        let text = String::from_utf8_lossy(&table.stdout).into_owned();
        args.extend(["-o", "json"]);
        let json = run(daemon, &args).await?;
        ensure!(json.status.success(), "{args:?}: {}", describe(&json));
        return Ok((serde_json::from_slice(&json.stdout)?, text));
    }
    args.extend(["-o", "json"]);
    let json = run(daemon, &args).await?;
    ensure!(json.status.success(), "{args:?}: {}", describe(&json));
    let outcome = serde_json::from_slice(&json.stdout)
        .with_context(|| format!("gc -o json: {}", describe(&json)))?;
    Ok((outcome, String::new()))
}

async fn image_ids(w: &mut World) -> anyhow::Result<Vec<String>> {
    Ok(list_images(&mut w.cri)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect())
}

async fn scenario(w: &mut World) -> anyhow::Result<()> {
    let used_ref = w.registry.image_ref();
    let used = pull(&mut w.cri, &used_ref).await?;
    let unused_ref = push_variant(&w.registry, "gc-unused:latest", |config| {
        config.insert("Labels".into(), serde_json::json!({"cradle.test": "gc"}));
    })?;
    let unused = pull(&mut w.cri, &unused_ref).await?;
    ensure!(unused != used, "the variant has the base image's id");

    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(&mut w.cri, &pod).await?;
    let config = container_config(&used_ref, "sleeper", &["sleep", "600"]);
    let container = create_and_start(&mut w.cri, &pod_id, &pod, config).await?;
    wait_for_state(
        &mut w.cri,
        &container,
        cri::ContainerState::ContainerRunning,
        Duration::from_secs(30),
    )
    .await?;

    // The dry run: the unused image would go, the used one stays; nothing moves.
    let (plan, table) = gc(&w.daemon, true).await?;
    ensure!(plan.dry_run, "{plan:?}");
    let would: Vec<&str> = plan.removed.iter().map(|i| i.id.as_str()).collect();
    ensure!(would == [unused.as_str()], "would remove {would:?}");
    let kept = plan
        .kept
        .iter()
        .find(|k| k.id == used)
        .with_context(|| format!("the used image is not kept: {plan:?}"))?;
    ensure!(kept.reason.contains(&container), "{kept:?}");
    ensure!(
        !plan.blobs.is_empty() && plan.bytes > 0,
        "the unused image's config and manifest would be freed: {plan:?}"
    );
    ensure!(
        table.starts_with("Would remove 1 image(s):") && table.contains("gc-unused:latest"),
        "{table}"
    );
    let listed = image_ids(w).await?;
    ensure!(
        listed.contains(&used) && listed.contains(&unused),
        "the dry run removed something: {listed:?}"
    );

    // The real run removes what the dry run said, and only that.
    let (done, _) = gc(&w.daemon, false).await?;
    ensure!(!done.dry_run, "{done:?}");
    let removed: Vec<&str> = done.removed.iter().map(|i| i.id.as_str()).collect();
    ensure!(removed == [unused.as_str()], "removed {removed:?}");
    let blobs = |o: &GcOutcome| {
        let mut d: Vec<String> = o.blobs.iter().map(|b| b.digest.clone()).collect();
        d.sort();
        d
    };
    ensure!(
        blobs(&done) == blobs(&plan),
        "freed {:?}, the dry run said {:?}",
        done.blobs,
        plan.blobs
    );
    ensure!(done.bytes == plan.bytes, "{} != {}", done.bytes, plan.bytes);
    let listed = image_ids(w).await?;
    ensure!(
        listed.contains(&used) && !listed.contains(&unused),
        "after gc: {listed:?}"
    );
    let status = wait_for_state(
        &mut w.cri,
        &container,
        cri::ContainerState::ContainerRunning,
        Duration::from_secs(5),
    )
    .await?;
    ensure!(status.image_ref == used, "{status:?}");

    // Nothing left to collect.
    let (again, _) = gc(&w.daemon, false).await?;
    ensure!(
        again.removed.is_empty() && again.blobs.is_empty() && again.snapshots.is_empty(),
        "{again:?}"
    );
    stop_and_remove_container(&mut w.cri, &container).await?;
    stop_and_remove_pod(&mut w.cri, &pod_id).await?;
    Ok(())
}
