//! The `[streaming]` table of the daemon's configuration and how it becomes a
//! [`StreamingConfig`].

use super::{StreamError, StreamingConfig, TlsFiles};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[streaming]`: where the streaming server listens, and TLS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingSettings {
    /// `ip:port`; port 0 picks a free one. Default `127.0.0.1:0` (loopback:
    /// the URLs carry one-time tokens, but no other authentication).
    pub address: String,
    /// PEM certificate: serve HTTPS (needs `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for StreamingSettings {
    fn default() -> Self {
        StreamingSettings {
            address: "127.0.0.1:0".into(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl StreamingSettings {
    /// Validates the table: an address that parses, cert and key together.
    pub fn to_config(&self) -> Result<StreamingConfig, StreamError> {
        let addr = self.address.parse().map_err(|e| {
            StreamError::InvalidRequest(format!("[streaming] address {:?}: {e}", self.address))
        })?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(StreamError::InvalidRequest(
                    "[streaming] tls_cert and tls_key go together".into(),
                ));
            }
        };
        Ok(StreamingConfig { addr, tls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_loopback_with_a_free_port_and_no_tls() {
        let config = StreamingSettings::default().to_config().unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:0");
        assert!(config.tls.is_none());
    }

    #[test]
    fn table_parses_and_cert_without_key_is_refused() {
        let s: StreamingSettings =
            toml::from_str("address = \"0.0.0.0:10010\"\ntls_cert = \"/c.pem\"").unwrap();
        assert_eq!(s.address, "0.0.0.0:10010");
        assert!(s.to_config().is_err());
        let s: StreamingSettings = toml::from_str("address = \"nowhere\"").unwrap();
        assert!(s.to_config().is_err());
    }
}
