//! Pulls from an htpasswd-protected docker-registry on 127.0.0.1: anonymous
//! and wrong credentials are refused with `Error::Unauthorized`, and every
//! way of giving the right ones (username/password, base64 `auth`, docker
//! `config.json` file) pulls; the Bearer token flow runs against a token
//! service of our own (`common::token`). Needs root and docker-registry.

mod common;

use base64::Engine as _;
use common::*;
use cradle_snapshotter::{AuthConfig, Credentials, Error, RegistrySettings};

fn image() -> TestImage {
    TestImage::new(
        vec![gzip_layer(&tar_of(&[("etc/secret", b"s")]))],
        "amd64",
        false,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_registry_refuses_anonymous_and_wrong_credentials_and_accepts_right_ones() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start_with(
        tmp.path(),
        Options {
            htpasswd: true,
            ..Default::default()
        },
    );
    let img = image();
    push(&registry.host(), "private", "v1", &img, false, true).await;
    let reference = format!("{}/private:v1", registry.host());
    let store = open_store(tmp.path(), RegistrySettings::default());

    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("credentials"), "{err}");
    let wrong = Credentials {
        username: USER.into(),
        password: "nope".into(),
    };
    let err = store.pull(&reference, Some(wrong)).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(store.list().is_empty());

    let right = Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let pulled = store.pull(&reference, Some(right)).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    store.remove(&pulled.id).await.unwrap();

    let encoded = AuthConfig {
        auth: base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")),
        ..Default::default()
    };
    let pulled = store
        .pull_with_auth(&reference, Some(encoded))
        .await
        .unwrap();
    assert_eq!(pulled.id, img.config_digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_file_supplies_what_the_request_lacks() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start_with(
        tmp.path(),
        Options {
            htpasswd: true,
            ..Default::default()
        },
    );
    let img = image();
    push(&registry.host(), "private", "v1", &img, false, true).await;
    let file = tmp.path().join("auth.json");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        &file,
        serde_json::json!({"auths": {format!("http://{}", registry.host()): {"auth": auth}}})
            .to_string(),
    )
    .unwrap();
    let store = open_store(
        tmp.path(),
        RegistrySettings {
            credentials_file: Some(file),
            ..Default::default()
        },
    );
    let pulled = store
        .pull(&format!("{}/private:v1", registry.host()), None)
        .await
        .unwrap();
    assert_eq!(pulled.id, img.config_digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow_with_basic_credentials_or_a_ready_registry_token() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tokens = token::TokenServer::start(&tmp.path().join("token-signer.pem"));
    let registry = Registry::start_with(
        tmp.path(),
        Options {
            token: Some((tokens.realm(), tmp.path().join("token-signer.pem"))),
            ..Default::default()
        },
    );
    let img = image();
    push(&registry.host(), "private", "v1", &img, false, true).await;
    let reference = format!("{}/private:v1", registry.host());
    let store = open_store(tmp.path(), RegistrySettings::default());

    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");

    // Basic credentials go to the token realm; the token to the registry.
    let right = Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let pulled = store.pull(&reference, Some(right)).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    store.remove(&pulled.id).await.unwrap();

    // A registry token is presented as is.
    let ready = AuthConfig {
        registry_token: tokens.token("repository:private:pull"),
        ..Default::default()
    };
    let pulled = store.pull_with_auth(&reference, Some(ready)).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
}
