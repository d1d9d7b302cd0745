//! From a streaming URL to an upgraded WebSocket: the TCP connection, TLS
//! for an https URL (checked against a CA the caller names; there is no
//! system trust store here), and the upgrade offering the remotecommand
//! subprotocols.

use super::error::ClientError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri, header};

/// The subprotocols offered, most preferred first (binary framing only).
const OFFER: &str = "v5.channel.k8s.io, v4.channel.k8s.io";

/// A plain or TLS connection.
pub trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// Where a URL points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// The same URL with a `ws`/`wss` scheme.
    ws_url: String,
}

fn parse(url: &str) -> Result<Target, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("http" | "ws") => false,
        Some("https" | "wss") => true,
        _ => return Err(invalid("the scheme is not http, https, ws or wss")),
    };
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let scheme = if tls { "wss" } else { "ws" };
    Ok(Target {
        tls,
        host,
        port,
        ws_url: format!("{scheme}://{authority}{path}"),
    })
}

/// Connects to `url` and upgrades; returns the session and the protocol
/// the server chose.
pub async fn connect(
    url: &str,
    tls_ca: Option<&Path>,
) -> Result<(WebSocketStream<Box<dyn Conn>>, String), ClientError> {
    let target = parse(url)?;
    let addr = format!("{}:{}", target.host, target.port);
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| ClientError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let conn: Box<dyn Conn> = if target.tls {
        let ca = tls_ca.ok_or_else(|| ClientError::TlsCaMissing {
            url: url.to_string(),
        })?;
        Box::new(tls(tcp, &target.host, ca).await?)
    } else {
        Box::new(tcp)
    };
    let mut request = target
        .ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::Handshake(Box::new(e)))?;
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(OFFER),
    );
    let (ws, response) = tokio_tungstenite::client_async(request, conn)
        .await
        .map_err(|e| ClientError::Handshake(Box::new(e)))?;
    let protocol = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok((ws, protocol))
}

/// TLS over `tcp`, the server's certificate checked against the
/// certificates in the PEM file `ca` and `host`.
async fn tls(
    tcp: tokio::net::TcpStream,
    host: &str,
    ca: &Path,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
    let bad = |e: &dyn std::fmt::Display| ClientError::Tls(format!("{}: {e}", ca.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| ClientError::Tls(format!("server name {host:?}: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_urls_become_websocket_urls() {
        let t = parse("http://127.0.0.1:41234/exec/abc?x=1").unwrap();
        assert_eq!(
            t,
            Target {
                tls: false,
                host: "127.0.0.1".into(),
                port: 41234,
                ws_url: "ws://127.0.0.1:41234/exec/abc?x=1".into(),
            }
        );
        let t = parse("https://[::1]/attach/t").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        assert_eq!(t.ws_url, "wss://[::1]/attach/t");
        assert!(matches!(
            parse("ftp://host/x"),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse("/exec/t"),
            Err(ClientError::InvalidUrl { .. })
        ));
    }
}
