//! The `[streaming]` table of a configuration file (the daemon's, with
//! containerd's names) and how it becomes a [`StreamingConfig`].

use crate::error::StreamError;
use crate::server::StreamingConfig;
use crate::timeouts::{self, SessionTimeouts};
use crate::tls::TlsFiles;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[streaming]`: where the streaming server listens, TLS, and the session
/// limits ([`SessionTimeouts`]; Go-style durations as in containerd's
/// config, `"0s"` turning the idle timeout or the pings off).
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
    /// Close a session without traffic for this long (default `"4h"`).
    pub stream_idle_timeout: String,
    /// How long a client has to open a session's streams (default `"30s"`).
    pub stream_creation_timeout: String,
    /// How often SPDY clients are PINGed (default `"30s"`).
    pub stream_ping_interval: String,
}

impl Default for StreamingSettings {
    fn default() -> Self {
        StreamingSettings {
            address: "127.0.0.1:0".into(),
            tls_cert: None,
            tls_key: None,
            stream_idle_timeout: "4h".into(),
            stream_creation_timeout: "30s".into(),
            stream_ping_interval: "30s".into(),
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
        let duration = |key: &str, text: &str| {
            timeouts::parse_duration(text)
                .map_err(|e| StreamError::InvalidRequest(format!("[streaming] {key}: {e}")))
        };
        let creation = duration("stream_creation_timeout", &self.stream_creation_timeout)?;
        if creation.is_zero() {
            return Err(StreamError::InvalidRequest(
                "[streaming] stream_creation_timeout must be above zero".into(),
            ));
        }
        let nonzero = |d: std::time::Duration| (!d.is_zero()).then_some(d);
        let timeouts = SessionTimeouts {
            idle: nonzero(duration("stream_idle_timeout", &self.stream_idle_timeout)?),
            creation,
            ping: nonzero(duration(
                "stream_ping_interval",
                &self.stream_ping_interval,
            )?),
        };
        Ok(StreamingConfig {
            addr,
            tls,
            timeouts,
        })
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
        assert_eq!(config.timeouts, SessionTimeouts::default());
    }

    #[test]
    fn timeouts_parse_zero_turns_idle_and_pings_off_and_junk_names_its_key() {
        let s: StreamingSettings = toml::from_str(
            "stream_idle_timeout = \"0s\"\nstream_creation_timeout = \"1m30s\"\n\
             stream_ping_interval = \"0\"",
        )
        .unwrap();
        let timeouts = s.to_config().unwrap().timeouts;
        assert_eq!(timeouts.idle, None);
        assert_eq!(timeouts.ping, None);
        assert_eq!(timeouts.creation, std::time::Duration::from_secs(90));
        let s: StreamingSettings = toml::from_str("stream_idle_timeout = \"forever\"").unwrap();
        let error = s.to_config().unwrap_err().to_string();
        assert!(error.contains("stream_idle_timeout"), "{error}");
        let s: StreamingSettings = toml::from_str("stream_creation_timeout = \"0s\"").unwrap();
        assert!(s.to_config().is_err());
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
