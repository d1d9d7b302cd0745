//! The HTTP side of a streaming request: which upgrade the client asks for,
//! protocol negotiation as Kubernetes' `httpstream.Handshake` does it (the
//! first protocol in the client's list that we speak), and the 101 response.

use crate::spdy;
use hyper::header::{CONNECTION, HeaderMap, HeaderValue, UPGRADE};

/// The transport a client asked to upgrade to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Spdy,
    WebSocket,
}

pub const PROTOCOL_HEADER: &str = "x-stream-protocol-version";
pub const WS_PROTOCOL_HEADER: &str = "sec-websocket-protocol";

/// remotecommand subprotocols over WebSocket, most preferred first.
pub const WS_REMOTECOMMAND: [&str; 6] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];
/// portforward subprotocols over WebSocket: the channel protocols, and SPDY
/// port-forward tunneled through the WebSocket ([`super::ws_tunnel`]).
pub const WS_PORTFORWARD: [&str; 4] = [
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "portforward.k8s.io",
    "SPDY/3.1+portforward.k8s.io",
];

/// Which upgrade the request asks for, if any.
pub fn transport(headers: &HeaderMap) -> Option<Transport> {
    let upgrade = headers.get(UPGRADE)?.to_str().ok()?.trim();
    if upgrade.eq_ignore_ascii_case("websocket") {
        Some(Transport::WebSocket)
    } else if upgrade.eq_ignore_ascii_case(spdy::UPGRADE) {
        Some(Transport::Spdy)
    } else {
        None
    }
}

/// All values of `name`, across repeated headers and comma lists.
pub fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The first of the client's protocols that the server speaks. `Ok(None)`
/// when the client offered none (legacy clients; the server's oldest applies).
pub fn negotiate(client: &[String], server: &[&str]) -> Result<Option<String>, String> {
    if client.is_empty() {
        return Ok(None);
    }
    client
        .iter()
        .find(|c| server.contains(&c.as_str()))
        .map(|c| Some(c.clone()))
        .ok_or_else(|| {
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {client:?}, server accepts {server:?}"
            )
        })
}

/// The 101 answer headers.
pub fn switching_headers(
    transport: Transport,
    protocol: Option<&str>,
    ws_key: Option<&HeaderValue>,
) -> Vec<(&'static str, String)> {
    let mut out = vec![("connection", "Upgrade".to_string())];
    match transport {
        Transport::Spdy => {
            out.push(("upgrade", spdy::UPGRADE.to_string()));
            if let Some(p) = protocol {
                out.push((PROTOCOL_HEADER, p.to_string()));
            }
        }
        Transport::WebSocket => {
            out.push(("upgrade", "websocket".to_string()));
            if let Some(key) = ws_key {
                out.push((
                    "sec-websocket-accept",
                    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
                ));
            }
            if let Some(p) = protocol {
                out.push((WS_PROTOCOL_HEADER, p.to_string()));
            }
        }
    }
    out
}

/// Whether `Connection` names `upgrade` (required by both transports).
pub fn connection_upgrade(headers: &HeaderMap) -> bool {
    list(headers, CONNECTION.as_str())
        .iter()
        .any(|v| v.eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn client_order_decides_among_common_protocols() {
        let server = spdy::exec::PROTOCOLS;
        assert_eq!(
            negotiate(&s(&["v4.channel.k8s.io", "v3.channel.k8s.io"]), &server),
            Ok(Some("v4.channel.k8s.io".into()))
        );
        assert_eq!(
            negotiate(&s(&["v5.channel.k8s.io", "channel.k8s.io"]), &server),
            Ok(Some("channel.k8s.io".into()))
        );
        assert_eq!(negotiate(&[], &server), Ok(None));
        assert!(negotiate(&s(&["v9.example"]), &server).is_err());
    }

    #[test]
    fn repeated_and_comma_separated_values_are_one_list() {
        let mut h = HeaderMap::new();
        h.append(
            PROTOCOL_HEADER,
            HeaderValue::from_static("v4.channel.k8s.io"),
        );
        h.append(
            PROTOCOL_HEADER,
            HeaderValue::from_static("v3.channel.k8s.io, channel.k8s.io"),
        );
        assert_eq!(
            list(&h, PROTOCOL_HEADER),
            s(&["v4.channel.k8s.io", "v3.channel.k8s.io", "channel.k8s.io"])
        );
    }

    #[test]
    fn upgrade_header_picks_the_transport() {
        let mut h = HeaderMap::new();
        assert_eq!(transport(&h), None);
        h.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        assert_eq!(transport(&h), Some(Transport::Spdy));
        h.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        assert_eq!(transport(&h), Some(Transport::WebSocket));
    }
}
