//! The OAuth2 refresh-token flow of the distribution token spec: an
//! identity token (the CRI `AuthConfig.identity_token`, `identitytoken` in a
//! docker `config.json`, or a credential helper's `<token>` secret) is
//! exchanged for a registry access token, as docker and containerd do.
//!
//! The registry's `/v2/` challenge names the token realm and service; the
//! token is asked for with `POST grant_type=refresh_token` (form body), and
//! with a `GET` carrying the identity token as Basic credentials when the
//! token server does not take the POST (404, 405, 401, as containerd falls
//! back). A registry that challenges with Basic instead gets the identity
//! token as the Basic password. oci-client only knows the GET flow with a
//! password, hence this module; it then presents the token as a ready
//! Bearer token.

use std::time::Duration;

use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::Error;
use crate::hosts::Endpoint;

const TIMEOUT: Duration = Duration::from_secs(30);
/// The `client_id` sent with the refresh token (the spec requires one).
const CLIENT_ID: &str = "cradle";

/// What a registry's `WWW-Authenticate` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
    },
    Basic,
    /// `/v2/` answered without asking for credentials.
    None,
}

/// Parses `Bearer realm="…",service="…"` (or `Basic realm="…"`).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        rest = next;
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
    })
}

/// The token server's answer (`access_token` per OAuth2, `token` in the
/// docker flavour).
#[derive(Debug, Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token: String,
}

/// An HTTP client for `endpoint`'s registry and its token realm, trusting
/// the endpoint's CA.
fn http_client(endpoint: &Endpoint) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .tls_danger_accept_invalid_certs(endpoint.skip_verify);
    if let Some(ca) = &endpoint.ca {
        let pem = std::fs::read(ca).map_err(|e| Error::io(ca, e))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::BadCredentials(format!("CA file {}: {e}", ca.display())))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| token_error(&endpoint.host, format!("HTTP client: {e}")))
}

fn token_error(host: &str, reason: String) -> Error {
    Error::Unauthorized {
        reference: host.to_string(),
        host: host.to_string(),
        reason: format!("identity token exchange: {reason}"),
    }
}

/// Exchanges `refresh_token` (with `username`, `<token>` when none) for
/// access to pull `repository` from `endpoint`.
pub async fn exchange(
    endpoint: &Endpoint,
    repository: &str,
    username: &str,
    refresh_token: &str,
) -> Result<RegistryAuth, Error> {
    let client = http_client(endpoint)?;
    let host = &endpoint.host;
    let (realm, service) = match challenge(&client, endpoint).await? {
        Challenge::Bearer { realm, service } => (realm, service),
        // Not a token registry: the identity token is the Basic password.
        Challenge::Basic | Challenge::None => {
            return Ok(RegistryAuth::Basic(
                username.to_string(),
                refresh_token.to_string(),
            ));
        }
    };
    let scope = format!("repository:{repository}:pull");
    let service = service.unwrap_or_default();
    let request = TokenRequest {
        host,
        realm: &realm,
        service: &service,
        scope: &scope,
        username,
        refresh_token,
    };
    let answer = request.send(&client).await?;
    let body: TokenResponse = answer
        .json()
        .await
        .map_err(|e| token_error(host, format!("token answer from {realm}: {e}")))?;
    let token = if body.access_token.is_empty() {
        body.token
    } else {
        body.access_token
    };
    if token.is_empty() {
        return Err(token_error(
            host,
            format!("{realm} answered without a token"),
        ));
    }
    Ok(RegistryAuth::Bearer(token))
}

/// What the registry's `/v2/` asks for: its 401 challenge, or
/// [`Challenge::None`] when it answers otherwise.
async fn challenge(client: &reqwest::Client, endpoint: &Endpoint) -> Result<Challenge, Error> {
    let host = &endpoint.host;
    let scheme = if endpoint.plain_http { "http" } else { "https" };
    let ping = client
        .get(format!("{scheme}://{host}/v2/"))
        .send()
        .await
        .map_err(|e| token_error(host, format!("GET /v2/: {e}")))?;
    if ping.status() == reqwest::StatusCode::UNAUTHORIZED {
        ping.headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
            .ok_or_else(|| token_error(host, "401 without a usable WWW-Authenticate".into()))
    } else {
        Ok(Challenge::None)
    }
}

/// One ask of a Bearer challenge's token realm.
struct TokenRequest<'a> {
    /// The registry, for errors.
    host: &'a str,
    realm: &'a str,
    /// The challenge's service; empty when it named none (then not sent).
    service: &'a str,
    scope: &'a str,
    username: &'a str,
    refresh_token: &'a str,
}

impl TokenRequest<'_> {
    /// The token server's successful answer: to the refresh-token POST, or,
    /// when it refuses that (401, 404, 405), to a GET with the identity
    /// token as Basic credentials.
    async fn send(&self, client: &reqwest::Client) -> Result<reqwest::Response, Error> {
        let Self {
            host,
            realm,
            service,
            scope,
            ..
        } = *self;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", self.refresh_token),
            ("client_id", CLIENT_ID),
            ("scope", scope),
        ];
        if !service.is_empty() {
            form.push(("service", service));
        }
        let posted = client
            .post(realm)
            .form(&form)
            .send()
            .await
            .map_err(|e| token_error(host, format!("POST {realm}: {e}")))?;
        let status = posted.status();
        if status.is_success() {
            Ok(posted)
        } else if matches!(status.as_u16(), 401 | 404 | 405) {
            tracing::debug!(%realm, %status, "token server refused the POST; asking with GET");
            self.send_get(client, status).await
        } else {
            Err(token_error(host, format!("POST {realm}: {status}")))
        }
    }

    /// The GET fallback, after the POST was answered with `post_status`.
    async fn send_get(
        &self,
        client: &reqwest::Client,
        post_status: reqwest::StatusCode,
    ) -> Result<reqwest::Response, Error> {
        let Self {
            host,
            realm,
            service,
            scope,
            ..
        } = *self;
        let mut query = vec![("scope", scope)];
        if !service.is_empty() {
            query.push(("service", service));
        }
        let got = client
            .get(realm)
            .query(&query)
            .basic_auth(self.username, Some(self.refresh_token))
            .send()
            .await
            .map_err(|e| token_error(host, format!("GET {realm}: {e}")))?;
        if !got.status().is_success() {
            return Err(token_error(
                host,
                format!("POST {realm}: {post_status}, GET: {}", got.status()),
            ));
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_challenges_parse() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://127.0.0.1:9/t"#),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:9/t".into(),
                service: None,
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="cradle-test""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
