//! Hosts settings against real registries on 127.0.0.1 (and [::1]): mirrors tried in
//! order with fallback to the registry itself, and HTTPS trusted through a
//! per-host CA file. Needs root and docker-registry.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use common::*;
use cradle_snapshotter::{Error, HostConfig, RegistrySettings};

fn image(content: &[u8]) -> TestImage {
    TestImage::new(
        vec![gzip_layer(&tar_of(&[("etc/content", content)]))],
        "amd64",
        false,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_are_tried_in_order_then_the_registry_itself() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let upstream = Registry::start(tmp.path());
    let mirror = Registry::start(tmp.path());
    let dead = format!("127.0.0.1:{}", free_port());
    let only_on_mirror = image(b"mirror");
    push(&mirror.host(), "app", "v1", &only_on_mirror, false, false).await;
    let only_upstream = image(b"upstream");
    push(
        &upstream.host(),
        "other",
        "v1",
        &only_upstream,
        false,
        false,
    )
    .await;

    let mut settings = RegistrySettings::default();
    settings.hosts.insert(
        upstream.host(),
        HostConfig {
            mirrors: vec![dead.clone(), mirror.host()],
            plain_http: true,
            ..Default::default()
        },
    );
    for m in [&dead, &mirror.host()] {
        settings.hosts.insert(
            m.clone(),
            HostConfig {
                plain_http: true,
                ..Default::default()
            },
        );
    }
    let store = open_store(tmp.path(), settings);

    // Served by the second mirror (the first is down), named after upstream.
    let reference = format!("{}/app:v1", upstream.host());
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, only_on_mirror.config_digest);
    assert_eq!(pulled.repo_tags, vec![reference]);

    // Not on any mirror: the registry itself serves it.
    let pulled = store
        .pull(&format!("{}/other:v1", upstream.host()), None)
        .await
        .unwrap();
    assert_eq!(pulled.id, only_upstream.config_digest);

    // Nowhere: the registry's own answer, "no such image", is the error.
    let err = store
        .pull(&format!("{}/missing:v1", upstream.host()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

/// An offline node: the mirror answers that it has no such image, the
/// registry itself cannot be reached. The mirror's answer is the one that
/// means something (the kubelet gets NotFound, as from containerd).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_without_the_image_in_front_of_an_unreachable_registry_is_not_found() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mirror = Registry::start(tmp.path());
    let unreachable = format!("127.0.0.1:{}", free_port());
    let mut settings = RegistrySettings::default();
    settings.hosts.insert(
        unreachable.clone(),
        HostConfig {
            mirrors: vec![mirror.host()],
            plain_http: true,
            ..Default::default()
        },
    );
    settings.hosts.insert(
        mirror.host(),
        HostConfig {
            plain_http: true,
            ..Default::default()
        },
    );
    let store = open_store(tmp.path(), settings);
    let err = store
        .pull(&format!("{unreachable}/missing:v1"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_is_trusted_only_through_its_configured_ca() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start_with(
        tmp.path(),
        Options {
            tls: true,
            ..Default::default()
        },
    );
    let img = image(b"tls");
    push(&registry.host(), "secure", "v1", &img, true, false).await;
    let reference = format!("{}/secure:v1", registry.host());

    // An entry without a CA: HTTPS against an unknown issuer fails.
    let mut settings = RegistrySettings::default();
    settings
        .hosts
        .insert(registry.host(), HostConfig::default());
    let untrusting = open_store(&tmp.path().join("a"), {
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        settings.clone()
    });
    let err = untrusting.pull(&reference, None).await.unwrap_err();
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(untrusting.list().is_empty());

    settings.hosts.insert(
        registry.host(),
        HostConfig {
            ca: registry.ca.clone(),
            ..Default::default()
        },
    );
    let store = open_store(tmp.path(), settings);
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_literal_registry_on_loopback_pulls_over_plain_http_and_resolves() {
    if !usable() {
        return;
    }
    if !has_ipv6_loopback() {
        cradle_testkit::skip("no ::1 on lo (the reference parsing has unit tests)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start_with(
        tmp.path(),
        Options {
            ipv6: true,
            ..Default::default()
        },
    );
    assert!(registry.host().starts_with("[::1]:"));
    let img = image(b"v6");
    push(&registry.host(), "app", "v1", &img, false, false).await;
    // No hosts entry: [::1] counts as loopback, so plain HTTP.
    let store = open_store(tmp.path(), RegistrySettings::default());
    let reference = format!("{}/app:v1", registry.host());
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    assert_eq!(pulled.repo_tags, vec![reference.clone()]);
    assert_eq!(
        pulled.repo_digests,
        vec![format!("{}/app@{}", registry.host(), img.manifest_digest)]
    );
    assert_eq!(store.resolve(&reference).unwrap().id, pulled.id);
    assert_eq!(
        store.resolve(&pulled.repo_digests[0]).unwrap().id,
        pulled.id
    );
    store.remove(&reference).await.unwrap();
    assert!(store.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_literal_registry_as_a_mirror_is_found_by_its_hosts_entry() {
    if !usable() {
        return;
    }
    if !has_ipv6_loopback() {
        cradle_testkit::skip("no ::1 on lo");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mirror = Registry::start_with(
        tmp.path(),
        Options {
            ipv6: true,
            ..Default::default()
        },
    );
    let img = image(b"v6-mirror");
    push(&mirror.host(), "app", "v1", &img, false, false).await;
    let upstream = format!("127.0.0.1:{}", free_port());
    let mut settings = RegistrySettings::default();
    settings.hosts.insert(
        upstream.clone(),
        HostConfig {
            mirrors: vec![mirror.host()],
            plain_http: true,
            ..Default::default()
        },
    );
    settings.hosts.insert(
        mirror.host(),
        HostConfig {
            plain_http: true,
            ..Default::default()
        },
    );
    let store = open_store(tmp.path(), settings);
    let pulled = store
        .pull(&format!("{upstream}/app:v1"), None)
        .await
        .unwrap();
    assert_eq!(pulled.id, img.config_digest);
}
