//! Registry credentials: the CRI `AuthConfig` of a pull request and the
//! docker `config.json` credentials file (its `auths`, and the credential
//! helpers its `credHelpers` and `credsStore` name).
//!
//! All reduce to one [`HostAuth`] per registry host: a ready oci-client
//! [`RegistryAuth`] (Basic credentials, which oci-client sends to a Basic
//! registry directly or to the token realm of a Bearer registry; or a
//! registry token sent as `Authorization: Bearer`), or an identity token
//! that `oauth` exchanges for an access token first. The request's
//! credentials come first; for hosts they do not cover, the host's
//! `credHelpers` helper, then the `credsStore` helper, then `auths`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::credhelper::{self, HelperCredentials};
use crate::error::Error;

/// Credentials for one pull: the fields of the CRI `AuthConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The user name for basic auth (or the token service).
    pub username: String,
    /// The password for `username`.
    pub password: String,
    /// base64 of `username:password` (used when `username` is empty).
    pub auth: String,
    /// The registry host these credentials are for; empty: the image's own
    /// registry (and its mirrors).
    pub server_address: String,
    /// An OAuth2 refresh token, presented to the token service in place of
    /// a password (the `<token>` user, as docker and containerd do).
    pub identity_token: String,
    /// A bearer token for the registry itself, sent as is.
    pub registry_token: String,
}

/// Username and password for one pull; [`AuthConfig`] carries every field
/// of the CRI `AuthConfig` (see [`crate::ImageStore::pull_with_auth`]).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The user name for basic auth.
    pub username: String,
    /// The password for `username`.
    pub password: String,
}

impl From<Credentials> for AuthConfig {
    fn from(c: Credentials) -> Self {
        AuthConfig {
            username: c.username,
            password: c.password,
            ..Default::default()
        }
    }
}

/// The user name docker and containerd use with an identity token.
const IDENTITY_TOKEN_USER: &str = "<token>";

impl AuthConfig {
    /// What a credential helper answered for `host`: a `<token>` user
    /// means the secret is an identity token.
    fn from_helper(host: &str, found: HelperCredentials) -> Self {
        let mut auth = AuthConfig {
            server_address: host.to_string(),
            ..Default::default()
        };
        if found.username == IDENTITY_TOKEN_USER {
            auth.identity_token = found.secret;
        } else {
            auth.username = found.username;
            auth.password = found.secret;
        }
        auth
    }

    /// True when no field carries a credential.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.auth.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }

    /// The oci-client form: a registry token wins, then an identity token,
    /// then username/password (from the fields or the base64 `auth`).
    pub(crate) fn to_registry_auth(&self) -> Result<RegistryAuth, Error> {
        if !self.registry_token.is_empty() {
            return Ok(RegistryAuth::Bearer(self.registry_token.clone()));
        }
        if !self.identity_token.is_empty() {
            let user = if self.username.is_empty() {
                IDENTITY_TOKEN_USER.to_string()
            } else {
                self.username.clone()
            };
            return Ok(RegistryAuth::Basic(user, self.identity_token.clone()));
        }
        if !self.username.is_empty() {
            return Ok(RegistryAuth::Basic(
                self.username.clone(),
                self.password.clone(),
            ));
        }
        if !self.auth.is_empty() {
            let (user, password) = decode_basic(&self.auth)?;
            return Ok(RegistryAuth::Basic(user, password));
        }
        Ok(RegistryAuth::Anonymous)
    }

    /// True when these credentials apply to `host` while pulling from
    /// `image_registry`: the request's credentials are for the image's
    /// registry, and its mirrors receive them too, as containerd's CRI plugin
    /// does. A `server_address` naming another host limits them to it.
    pub(crate) fn applies_to(&self, host: &str, image_registry: &str) -> bool {
        if self.server_address.is_empty() {
            return true;
        }
        let server = normalize_host(&self.server_address);
        same_host(&server, host) || same_host(&server, image_registry)
    }
}

/// `base64(user:password)` → (user, password).
fn decode_basic(auth: &str) -> Result<(String, String), Error> {
    let bad = |reason: &str| Error::BadCredentials(reason.to_string());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("the auth field is not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("the auth field is not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| bad("the auth field is not user:password"))?;
    Ok((user.to_string(), password.to_string()))
}

/// A docker `config.json`: `auths`, `credHelpers` and `credsStore` are read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CredentialsFile {
    #[serde(default)]
    auths: BTreeMap<String, FileEntry>,
    /// Registry host → helper name (`docker-credential-<name>`).
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    /// The helper for every host without a `credHelpers` entry.
    #[serde(default, rename = "credsStore")]
    creds_store: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct FileEntry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    identitytoken: String,
    #[serde(default)]
    registrytoken: String,
}

impl CredentialsFile {
    /// Loads `path`; a missing file is an empty one (the node may have no
    /// credentials yet), a malformed one an error.
    pub fn load(path: &Path) -> Result<Self, Error> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes).map_err(|e| {
                Error::BadCredentials(format!("credentials file {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Parses the JSON of a `config.json`.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The credentials the file holds for `host`, if any. Keys may be URLs
    /// (`https://index.docker.io/v1/`) or bare hosts.
    pub fn lookup(&self, host: &str) -> Option<AuthConfig> {
        self.auths
            .iter()
            .find(|(key, _)| same_host(&normalize_host(key), host))
            .map(|(key, e)| AuthConfig {
                username: e.username.clone(),
                password: e.password.clone(),
                auth: e.auth.clone(),
                server_address: key.clone(),
                identity_token: e.identitytoken.clone(),
                registry_token: e.registrytoken.clone(),
            })
    }
}

impl CredentialsFile {
    /// The credential helper to ask for `host`: its `credHelpers` entry,
    /// else `credsStore`.
    pub fn helper_for(&self, host: &str) -> Option<&str> {
        self.cred_helpers
            .iter()
            .find(|(key, _)| same_host(&normalize_host(key), host))
            .map(|(_, name)| name.as_str())
            .or(Some(self.creds_store.as_str()).filter(|s| !s.is_empty()))
    }
}

/// `https://host:port/v1/` → `host:port`.
fn normalize_host(key: &str) -> String {
    let no_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    no_scheme.split('/').next().unwrap_or(no_scheme).to_string()
}

/// Host equality with Docker Hub's aliases.
fn same_host(a: &str, b: &str) -> bool {
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    a == b || (hub(a) && hub(b))
}

/// How to authenticate to one registry host.
#[derive(Debug, Clone)]
pub(crate) enum HostAuth {
    Ready(RegistryAuth),
    /// An identity (OAuth2 refresh) token to exchange at the registry's
    /// token realm first.
    IdentityToken {
        username: String,
        token: String,
    },
}

impl AuthConfig {
    /// A registry token is used as is; an identity token is exchanged (it
    /// wins over a password, as in docker); else username/password.
    pub(crate) fn to_host_auth(&self) -> Result<HostAuth, Error> {
        if self.registry_token.is_empty() && !self.identity_token.is_empty() {
            let username = if self.username.is_empty() {
                IDENTITY_TOKEN_USER.to_string()
            } else {
                self.username.clone()
            };
            return Ok(HostAuth::IdentityToken {
                username,
                token: self.identity_token.clone(),
            });
        }
        self.to_registry_auth().map(HostAuth::Ready)
    }
}

/// The credentials to use for `host` while pulling an image of
/// `image_registry`: the request's if they apply, else the file's (its
/// helper for the host, then its `auths`), else anonymous. Helpers are
/// looked up in `helpers_dir` (or `PATH`).
pub(crate) async fn for_host(
    request: Option<&AuthConfig>,
    file: Option<&CredentialsFile>,
    helpers_dir: Option<&Path>,
    host: &str,
    image_registry: &str,
) -> Result<HostAuth, Error> {
    if let Some(req) = request.filter(|r| !r.is_empty() && r.applies_to(host, image_registry)) {
        return req.to_host_auth();
    }
    let Some(file) = file else {
        return Ok(HostAuth::Ready(RegistryAuth::Anonymous));
    };
    if let Some(helper) = file.helper_for(host)
        && let Some(found) = credhelper::get(helpers_dir, helper, host).await?
    {
        return AuthConfig::from_helper(host, found).to_host_auth();
    }
    match file.lookup(host) {
        Some(found) => found.to_host_auth(),
        None => Ok(HostAuth::Ready(RegistryAuth::Anonymous)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(auth: &RegistryAuth) -> (String, String) {
        match auth {
            RegistryAuth::Basic(u, p) => (u.clone(), p.clone()),
            other => panic!("not basic: {other:?}"),
        }
    }

    #[test]
    fn base64_auth_field_decodes_to_basic_credentials() {
        let a = AuthConfig {
            auth: base64::engine::general_purpose::STANDARD.encode("alice:s3:cret"),
            ..Default::default()
        };
        assert_eq!(
            basic(&a.to_registry_auth().unwrap()),
            ("alice".into(), "s3:cret".into())
        );
        let bad = AuthConfig {
            auth: "%%%".into(),
            ..Default::default()
        };
        assert!(matches!(
            bad.to_registry_auth(),
            Err(Error::BadCredentials(_))
        ));
    }

    #[test]
    fn tokens_take_precedence_over_passwords() {
        let mut a = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            identity_token: "refresh".into(),
            ..Default::default()
        };
        assert_eq!(
            basic(&a.to_registry_auth().unwrap()),
            ("u".into(), "refresh".into())
        );
        a.username.clear();
        assert_eq!(basic(&a.to_registry_auth().unwrap()).0, "<token>");
        a.registry_token = "bearer".into();
        assert!(matches!(
            a.to_registry_auth().unwrap(),
            RegistryAuth::Bearer(t) if t == "bearer"
        ));
    }

    #[test]
    fn credentials_file_matches_hosts_urls_and_hub_aliases() {
        let file = CredentialsFile::parse(
            br#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"dTpw"},
                "127.0.0.1:5000":{"username":"bob","password":"pw"},
                "reg.example":{"identitytoken":"tok"}}}"#,
        )
        .unwrap();
        let hub = file.lookup("docker.io").unwrap();
        assert_eq!(
            basic(&hub.to_registry_auth().unwrap()),
            ("u".into(), "p".into())
        );
        let local = file.lookup("127.0.0.1:5000").unwrap();
        assert_eq!(local.username, "bob");
        assert_eq!(
            basic(
                &file
                    .lookup("reg.example")
                    .unwrap()
                    .to_registry_auth()
                    .unwrap()
            ),
            ("<token>".into(), "tok".into())
        );
        assert!(file.lookup("other.example").is_none());
    }

    fn ready(auth: HostAuth) -> RegistryAuth {
        match auth {
            HostAuth::Ready(a) => a,
            other => panic!("not ready: {other:?}"),
        }
    }

    #[tokio::test]
    async fn request_credentials_win_and_server_address_limits_them() {
        let file = CredentialsFile::parse(br#"{"auths":{"a.example":{"auth":"Zjpm"}}}"#).unwrap();
        let req = AuthConfig {
            username: "r".into(),
            password: "r".into(),
            ..Default::default()
        };
        let got = for_host(Some(&req), Some(&file), None, "a.example", "a.example")
            .await
            .unwrap();
        assert_eq!(basic(&ready(got)).0, "r");
        let scoped = AuthConfig {
            server_address: "b.example".into(),
            ..req
        };
        let got = for_host(Some(&scoped), Some(&file), None, "a.example", "a.example")
            .await
            .unwrap();
        assert_eq!(basic(&ready(got)).0, "f");
        let got = for_host(None, None, None, "a.example", "a.example")
            .await
            .unwrap();
        assert!(matches!(ready(got), RegistryAuth::Anonymous));
    }

    #[test]
    fn identity_tokens_are_exchanged_unless_a_registry_token_is_given() {
        let a = AuthConfig {
            identity_token: "refresh".into(),
            ..Default::default()
        };
        assert!(matches!(
            a.to_host_auth().unwrap(),
            HostAuth::IdentityToken { username, token } if username == "<token>" && token == "refresh"
        ));
        let b = AuthConfig {
            registry_token: "ready".into(),
            ..a
        };
        assert!(matches!(
            b.to_host_auth().unwrap(),
            HostAuth::Ready(RegistryAuth::Bearer(t)) if t == "ready"
        ));
    }

    #[test]
    fn cred_helpers_per_host_win_over_the_creds_store() {
        let file = CredentialsFile::parse(
            br#"{"credHelpers":{"https://a.example":"one"},"credsStore":"all","auths":{}}"#,
        )
        .unwrap();
        assert_eq!(file.helper_for("a.example"), Some("one"));
        assert_eq!(file.helper_for("b.example"), Some("all"));
        let none = CredentialsFile::parse(br#"{"credHelpers":{"a.example":"one"}}"#).unwrap();
        assert_eq!(none.helper_for("b.example"), None);
    }

    #[test]
    fn missing_credentials_file_is_empty_and_malformed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            CredentialsFile::load(&dir.path().join("none.json"))
                .unwrap()
                .lookup("x")
                .is_none()
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        assert!(matches!(
            CredentialsFile::load(&bad),
            Err(Error::BadCredentials(_))
        ));
    }
}
