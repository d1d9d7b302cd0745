//! critest's "Image Manager" and "Image Consistency" groups, re-expressed over our CRI socket: its
//! gcr.io test images become the busybox test image (and variants of its
//! config) pushed under critest's names to our loopback registry. One
//! daemon for the area, every case run and reported.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

#[path = "../src/conformance.rs"]
mod conformance;

use std::time::Duration;

use anyhow::{Context, ensure};
use conformance::World;
use cradle_proto::cri;
use cradle_tests::image_variant::variant_layout;
use cradle_tests::{skip_unless_ready, steps};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critest_image_manager() {
    skip_unless_ready!(true);
    let mut w = World::new().await;
    let mut failures = Vec::new();
    let f = &mut failures;

    w.case(
        "public image with tag should be pulled and removed",
        f,
        async |w| {
            let image = {
                let l = distinct("test-image-tag:test")?;
                w.registry.push_layout(l.path(), "test-image-tag:test")?
            };
            pull_and_remove(w, &image, |s| {
                ensure!(
                    s.repo_tags == [image.clone()],
                    "repo_tags {:?}",
                    s.repo_tags
                );
                Ok(())
            })
            .await
        },
    )
    .await;
    w.case("public image should timeout if requested", f, async |w| {
        let image = {
            let l = distinct("test-image-tag:timeout")?;
            w.registry.push_layout(l.path(), "test-image-tag:timeout")?
        };
        let mut request = tonic::Request::new(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: image.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
        request.set_timeout(Duration::from_millis(1));
        let result = w.cri.image.pull_image(request).await;
        // critest's Go client reports its own deadline as DeadlineExceeded;
        // tonic's client reports it as Cancelled ("Timeout expired").
        match result {
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
                ) => {}
            other => anyhow::bail!("a 1 ms pull: {other:?}"),
        }
        // Whatever the pull left finishing, the image can go again.
        tokio::time::sleep(Duration::from_millis(500)).await;
        w.remove_image_if_present(&image).await
    })
    .await;
    w.case(
        "public image without tag should be pulled and removed",
        f,
        async |w| {
            let tagged = {
                let l = distinct("test-image-latest:latest")?;
                w.registry
                    .push_layout(l.path(), "test-image-latest:latest")?
            };
            let image = tagged.trim_end_matches(":latest").to_string();
            pull_and_remove(w, &image, |s| {
                ensure!(
                    s.repo_tags == [tagged.clone()],
                    "repo_tags {:?}",
                    s.repo_tags
                );
                Ok(())
            })
            .await
        },
    )
    .await;
    w.case(
        "public image with digest should be pulled and removed",
        f,
        async |w| {
            let tagged = {
                let l = distinct("test-image-digest:source")?;
                w.registry
                    .push_layout(l.path(), "test-image-digest:source")?
            };
            // The registry's manifest digest, as a pull by tag reports it.
            w.pull(&tagged).await?;
            let digested = w
                .image_status(&tagged)
                .await?
                .context("absent after pull")?
                .repo_digests
                .into_iter()
                .find(|d| d.contains("test-image-digest@sha256:"))
                .context("no repo digest")?;
            w.remove_image_if_present(&tagged).await?;
            pull_and_remove(w, &digested, |s| {
                ensure!(s.repo_tags.is_empty(), "repo_tags {:?}", s.repo_tags);
                ensure!(
                    s.repo_digests == [digested.clone()],
                    "repo_digests {:?}",
                    s.repo_digests
                );
                Ok(())
            })
            .await
        },
    )
    .await;
    w.case(
        "image status should support all kinds of references",
        f,
        async |w| {
            let image = {
                let l = distinct("test-image-tag:all")?;
                w.registry.push_layout(l.path(), "test-image-tag:all")?
            };
            w.remove_image_if_present(&image).await?;
            w.pull(&image).await?;
            let status = w.image_status(&image).await?.context("absent")?;
            let mut refs = vec![status.id.clone()];
            refs.extend(status.repo_tags.iter().cloned());
            refs.extend(status.repo_digests.iter().cloned());
            for r in refs {
                let by = w.image_status(&r).await?;
                ensure!(
                    by.as_ref() == Some(&status),
                    "ImageStatus({r}) = {by:?}, not {status:?}"
                );
            }
            w.remove_image_if_present(&image).await?;
            ensure!(
                w.image_status(&image).await?.is_none(),
                "still present after removal"
            );
            Ok(())
        },
    )
    .await;
    w.case(
        "image status fields should not have Uid|Username empty",
        f,
        async |w| {
            for (name, user, uid, username) in [
                ("test-image-user-uid", "1002", 1002, ""),
                ("test-image-user-username", "www-data", 0, "www-data"),
                ("test-image-user-uid-group", "1003:users", 1003, ""),
                (
                    "test-image-user-username-group",
                    "www-data:users",
                    0,
                    "www-data",
                ),
            ] {
                let variant = variant_layout(|c| {
                    c.insert("User".into(), Value::from(user));
                })?;
                let image = w
                    .registry
                    .push_layout(variant.path(), &format!("{name}:latest"))?;
                w.pull(&image).await?;
                let status = w.image_status(&image).await?.context("absent")?;
                let got_uid = status.uid.as_ref().map(|v| v.value).unwrap_or_default();
                ensure!(
                    got_uid == uid && status.username == username,
                    "{name} (User {user:?}): uid {:?}, username {:?}",
                    status.uid,
                    status.username
                );
                w.remove_image_if_present(&image).await?;
            }
            Ok(())
        },
    )
    .await;
    w.case(
        "listImage should get exactly 3 image in the result list",
        f,
        async |w| {
            let mut names = Vec::new();
            for n in 1..=3 {
                let variant = variant_layout(|c| {
                    c.insert("Env".into(), serde_json::json!([format!("VARIANT={n}")]));
                })?;
                names.push(
                    w.registry
                        .push_layout(variant.path(), &format!("test-image-{n}:latest"))?,
                );
            }
            let mut ids = Vec::new();
            for name in &names {
                ids.push(w.pull(name).await?);
            }
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            ensure!(unique.len() == 3, "image ids {ids:?}");
            let images = steps::list_images(&mut w.cri).await?;
            for (id, name) in ids.iter().zip(&names) {
                let image = images.iter().find(|i| &i.id == id).context("not listed")?;
                ensure!(
                    image.repo_tags == [name.clone()],
                    "repo_tags {:?}",
                    image.repo_tags
                );
            }
            for name in &names {
                w.remove_image_if_present(name).await?;
            }
            Ok(())
        },
    )
    .await;
    w.case(
        "listImage should get exactly 3 repoTags in the result image",
        f,
        async |w| {
            let mut names = Vec::new();
            let shared = distinct("test-image-tags")?;
            for n in 1..=3 {
                names.push(
                    w.registry
                        .push_layout(shared.path(), &format!("test-image-tags:{n}"))?,
                );
            }
            let mut ids = Vec::new();
            for name in &names {
                ids.push(w.pull(name).await?);
            }
            ids.dedup();
            ensure!(ids.len() == 1, "image ids {ids:?}");
            let images = steps::list_images(&mut w.cri).await?;
            let image = images
                .iter()
                .find(|i| i.id == ids[0])
                .context("not listed")?;
            let mut tags = image.repo_tags.clone();
            tags.sort();
            names.sort();
            ensure!(tags == names, "repo_tags {:?}", image.repo_tags);
            for name in &names {
                w.remove_image(name).await?;
            }
            Ok(())
        },
    )
    .await;

    // ---- Image Consistency ----
    w.case(
        "should not list or get image status immediately after removal",
        f,
        async |w| {
            let (_layout, image) = pulled_consistency_image(w).await?;
            w.remove_image_if_present(&image).await?;
            ensure!(
                !listed(w, &image).await?,
                "{image} listed right after removal"
            );
            ensure!(
                w.image_status(&image).await?.is_none(),
                "status right after removal"
            );
            Ok(())
        },
    )
    .await;
    w.case(
        "should list and get image status immediately after pulling",
        f,
        async |w| {
            let (_layout, image) = pulled_consistency_image(w).await?;
            ensure!(
                listed(w, &image).await?,
                "{image} not listed right after pulling"
            );
            ensure!(
                w.image_status(&image).await?.is_some(),
                "no status right after pulling"
            );
            w.remove_image_if_present(&image).await
        },
    )
    .await;
    w.case(
        "should not fail on simultaneous RemoveImage calls",
        f,
        async |w| {
            let l = distinct("test-image-tag:concurrent")?;
            let image = w
                .registry
                .push_layout(l.path(), "test-image-tag:concurrent")?;
            w.remove_image_if_present(&image).await?;
            w.pull(&image).await?;
            let id = w.image_status(&image).await?.context("absent")?.id;
            let mut calls = Vec::new();
            for _ in 0..5 {
                let mut cri = w.cri.clone();
                let id = id.clone();
                calls.push(tokio::spawn(async move {
                    let spec = Some(cri::ImageSpec {
                        image: id.clone(),
                        ..Default::default()
                    });
                    let removed = cri
                        .image
                        .remove_image(cri::RemoveImageRequest {
                            image: spec.clone(),
                        })
                        .await;
                    let status = cri
                        .image
                        .image_status(cri::ImageStatusRequest {
                            image: spec,
                            verbose: false,
                        })
                        .await;
                    (removed, status.map(|s| s.into_inner().image.is_some()))
                }));
            }
            for call in calls {
                let (removed, present) = call.await?;
                ensure!(removed.is_ok(), "concurrent RemoveImage: {removed:?}");
                ensure!(
                    !present?,
                    "image present right after a RemoveImage returned"
                );
            }
            ensure!(
                w.image_status(&id).await?.is_none(),
                "image present after all removals"
            );
            Ok(())
        },
    )
    .await;

    w.finish(failures).await;
}

/// critest's testPullPublicImage: absent first, pulled, status checked,
/// removed by id, absent again.
async fn pull_and_remove(
    w: &mut World,
    image: &str,
    check: impl FnOnce(&cri::Image) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    w.remove_image_if_present(image).await?;
    w.pull(image).await?;
    let status = w.image_status(image).await?.context("absent after pull")?;
    ensure!(
        !status.id.is_empty() && status.size > 0,
        "status {status:?}"
    );
    check(&status)?;
    w.remove_image_if_present(image).await?;
    ensure!(
        w.image_status(image).await?.is_none(),
        "{image} present after removal"
    );
    Ok(())
}

/// critest's test images are distinct images: each name here gets the test
/// image under a config of its own (a label), so no two share an id.
fn distinct(name: &str) -> anyhow::Result<tempfile::TempDir> {
    let name = name.to_string();
    variant_layout(move |c| {
        c.insert("Labels".into(), serde_json::json!({ "critest": name }));
    })
}

/// A distinct image for the consistency cases, pushed and freshly pulled;
/// the layout's temp dir lives as long as the returned guard.
async fn pulled_consistency_image(w: &mut World) -> anyhow::Result<(tempfile::TempDir, String)> {
    let layout = distinct("test-image-tag:consistency")?;
    let image = w
        .registry
        .push_layout(layout.path(), "test-image-tag:consistency")?;
    w.remove_image_if_present(&image).await?;
    w.pull(&image).await?;
    Ok((layout, image))
}

/// Whether ListImages names `image` among its tags.
async fn listed(w: &mut World, image: &str) -> anyhow::Result<bool> {
    Ok(steps::list_images(&mut w.cri)
        .await?
        .iter()
        .any(|i| i.repo_tags.iter().any(|t| t == image)))
}
