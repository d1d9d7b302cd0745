//! Pulls from an htpasswd-protected docker-registry on 127.0.0.1: anonymous
//! and wrong credentials are refused with `Error::Unauthorized`, and every
//! way of giving the right ones (username/password, base64 `auth`, docker
//! `config.json` file, its credential helpers) pulls; the Bearer token flow
//! and the OAuth2 refresh-token exchange of identity tokens (POST, with the
//! GET fallback) run against a token service of our own (`common::token`).
//! Needs root and docker-registry.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

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

/// A registry requiring tokens from a fresh token server, with `image()`
/// pushed as `private:v1`.
async fn token_registry(
    dir: &std::path::Path,
) -> (token::TokenServer, Registry, TestImage, String) {
    let tokens = token::TokenServer::start(&dir.join("token-signer.pem"));
    let registry = Registry::start_with(
        dir,
        Options {
            token: Some((tokens.realm(), dir.join("token-signer.pem"))),
            ..Default::default()
        },
    );
    let img = image();
    push(&registry.host(), "private", "v1", &img, false, true).await;
    let reference = format!("{}/private:v1", registry.host());
    (tokens, registry, img, reference)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_token_is_exchanged_by_post_and_by_get_where_post_is_refused() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tokens, _registry, img, reference) = token_registry(tmp.path()).await;
    let store = open_store(tmp.path(), RegistrySettings::default());
    let identity = |token: &str| AuthConfig {
        identity_token: token.into(),
        ..Default::default()
    };
    tokens.log.lock().unwrap().clear();

    let pulled = store
        .pull_with_auth(&reference, Some(identity(token::REFRESH_TOKEN)))
        .await
        .unwrap();
    assert_eq!(pulled.id, img.config_digest);
    assert_eq!(
        tokens.log.lock().unwrap().clone(),
        vec!["POST refresh_token".to_string()]
    );
    store.remove(&pulled.id).await.unwrap();

    // A token server without the POST flow: 405, then GET with Basic.
    tokens
        .post_supported
        .store(false, std::sync::atomic::Ordering::SeqCst);
    tokens.log.lock().unwrap().clear();
    let pulled = store
        .pull_with_auth(&reference, Some(identity(token::REFRESH_TOKEN)))
        .await
        .unwrap();
    assert_eq!(pulled.id, img.config_digest);
    assert_eq!(
        tokens.log.lock().unwrap().clone(),
        vec!["POST refresh_token".to_string(), "GET basic".to_string()]
    );
    store.remove(&pulled.id).await.unwrap();

    tokens
        .post_supported
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let err = store
        .pull_with_auth(&reference, Some(identity("wrong-token")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("identity token"), "{err}");
    assert!(store.list().is_empty());
}

/// Writes `docker-credential-<name>` into `dir`: it logs the server address
/// it is given to `<dir>/<name>.log` and answers `answer` for `host`, "not
/// found" for any other.
fn write_helper(dir: &std::path::Path, name: &str, host: &str, answer: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("docker-credential-{name}"));
    let log = dir.join(format!("{name}.log"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nserver=$(cat)\necho \"$server\" >> {log}\n\
             if [ \"$server\" = \"{host}\" ]; then echo '{answer}'; exit 0; fi\n\
             echo 'credentials not found in native keychain'; exit 1\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn settings_with(file: std::path::PathBuf, helpers: &std::path::Path) -> RegistrySettings {
    RegistrySettings {
        credentials_file: Some(file),
        credential_helpers_dir: Some(helpers.to_path_buf()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helpers_from_cred_helpers_and_creds_store_supply_credentials() {
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
    let helpers = tmp.path().join("helpers");
    std::fs::create_dir(&helpers).unwrap();
    let answer = format!(
        r#"{{"ServerURL":"{}","Username":"{USER}","Secret":"{PASSWORD}"}}"#,
        registry.host()
    );
    write_helper(&helpers, "perhost", &registry.host(), &answer);
    write_helper(&helpers, "store", &registry.host(), &answer);
    write_helper(&helpers, "empty", "no-such-host", "{}");

    // credHelpers names the helper for this host (and wins over credsStore).
    let file = tmp.path().join("config.json");
    std::fs::write(
        &file,
        serde_json::json!({"credHelpers": {registry.host(): "perhost"}, "credsStore": "empty"})
            .to_string(),
    )
    .unwrap();
    let store = open_store(tmp.path(), settings_with(file.clone(), &helpers));
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    let asked = std::fs::read_to_string(helpers.join("perhost.log")).unwrap();
    assert_eq!(asked.trim(), registry.host());
    assert!(!helpers.join("empty.log").exists());
    store.remove(&pulled.id).await.unwrap();

    // credsStore answers for every host.
    std::fs::write(
        &file,
        serde_json::json!({"credsStore": "store", "auths": {registry.host(): {}}}).to_string(),
    )
    .unwrap();
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);

    // A helper without credentials for the host: anonymous, refused.
    store.remove(&pulled.id).await.unwrap();
    std::fs::write(&file, r#"{"credsStore": "empty"}"#).unwrap();
    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");

    // A helper that is missing fails the pull naming it.
    std::fs::write(&file, r#"{"credsStore": "missing"}"#).unwrap();
    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(matches!(err, Error::BadCredentials(_)), "{err}");
    assert!(
        err.to_string().contains("docker-credential-missing"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helper_identity_token_and_config_identitytoken_are_exchanged() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tokens, registry, img, reference) = token_registry(tmp.path()).await;
    let helpers = tmp.path().join("helpers");
    std::fs::create_dir(&helpers).unwrap();
    write_helper(
        &helpers,
        "oauth",
        &registry.host(),
        &format!(
            r#"{{"Username":"<token>","Secret":"{}"}}"#,
            token::REFRESH_TOKEN
        ),
    );
    let file = tmp.path().join("config.json");
    std::fs::write(&file, r#"{"credsStore": "oauth"}"#).unwrap();
    let store = open_store(tmp.path(), settings_with(file.clone(), &helpers));
    tokens.log.lock().unwrap().clear();
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    assert!(
        tokens
            .log
            .lock()
            .unwrap()
            .contains(&"POST refresh_token".to_string())
    );
    store.remove(&pulled.id).await.unwrap();

    std::fs::write(
        &file,
        serde_json::json!({"auths": {registry.host(): {"identitytoken": token::REFRESH_TOKEN}}})
            .to_string(),
    )
    .unwrap();
    tokens.log.lock().unwrap().clear();
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.id, img.config_digest);
    assert!(
        tokens
            .log
            .lock()
            .unwrap()
            .contains(&"POST refresh_token".to_string())
    );
}
