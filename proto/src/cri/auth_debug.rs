//! `Debug` of [`AuthConfig`] without its secrets: a PullImageRequest logged
//! with `{:?}` would otherwise print the registry password and tokens, as
//! prost's derived `Debug` does (upstream marks these fields `debug_redact`).

use std::fmt;

use super::AuthConfig;

/// What a redacted secret prints as: whether it was set, never its value.
fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "<redacted>" }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("auth", &redacted(&self.auth))
            .field("server_address", &self.server_address)
            .field("identity_token", &redacted(&self.identity_token))
            .field("registry_token", &redacted(&self.registry_token))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::PullImageRequest;

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let request = PullImageRequest {
            auth: Some(AuthConfig {
                username: "robot".into(),
                password: "hunter2".into(),
                auth: "cm9ib3Q6aHVudGVyMg==".into(),
                server_address: "registry.example".into(),
                identity_token: "id-token-secret".into(),
                registry_token: "registry-token-secret".into(),
            }),
            ..Default::default()
        };
        let shown = format!("{request:?}");
        for secret in [
            "hunter2",
            "cm9ib3Q6aHVudGVyMg==",
            "id-token-secret",
            "registry-token-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("robot") && shown.contains("registry.example"));
        assert!(shown.contains("<redacted>"));
        assert!(format!("{:?}", AuthConfig::default()).contains("password: \"\""));
    }
}
