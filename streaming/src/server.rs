//! The HTTP/1.1 listener: mints URLs for the CRI handlers, redeems their
//! tokens, upgrades the connection and hands it to the protocol.

use crate::backend::StreamingBackend;
use crate::error::StreamError;
use crate::handshake::{self, Transport};
use crate::remotecommand::Command;
use crate::request::{AttachRequest, ExecRequest, PortForwardRequest};
use crate::timeouts::SessionTimeouts;
use crate::tls::TlsFiles;
use crate::tokens::{Pending, TokenError, TokenStore};
use crate::{spdy, websocket, ws_tunnel};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct StreamingConfig {
    /// Listen address; port 0 picks a free one. Default 127.0.0.1:0.
    pub addr: SocketAddr,
    /// Serve HTTPS with this certificate and key (URLs then say `https`).
    pub tls: Option<TlsFiles>,
    /// Idle and stream-creation limits, and SPDY pings.
    pub timeouts: SessionTimeouts,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: None,
            timeouts: SessionTimeouts::default(),
        }
    }
}

struct Inner<B> {
    tokens: Arc<TokenStore>,
    backend: Arc<B>,
    timeouts: SessionTimeouts,
}

/// A running streaming server. Dropping it stops accepting connections
/// (sessions already upgraded run to their end).
pub struct StreamingServer {
    addr: SocketAddr,
    scheme: &'static str,
    tokens: Arc<TokenStore>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for StreamingServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

type Body = Full<Bytes>;

impl StreamingServer {
    /// Binds `config.addr` and serves in the background on the current runtime.
    pub async fn start<B: StreamingBackend>(
        config: StreamingConfig,
        backend: B,
    ) -> Result<Self, StreamError> {
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| StreamError::Listen {
                addr: config.addr,
                source,
            })?;
        let mut addr = listener
            .local_addr()
            .map_err(|source| StreamError::Listen {
                addr: config.addr,
                source,
            })?;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let tokens = Arc::new(TokenStore::default());
        let inner = Arc::new(Inner {
            tokens: tokens.clone(),
            backend: Arc::new(backend),
            timeouts: config.timeouts,
        });
        let accept_task = tokio::spawn(accept_loop(listener, tls, inner));
        tracing::info!("streaming server listening on {scheme}://{addr}");
        Ok(Self {
            addr,
            scheme,
            tokens,
            accept_task,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn url(&self, pending: Pending) -> String {
        let kind = pending.kind();
        let token = self.tokens.mint(pending);
        format!("{}://{}/{kind}/{token}", self.scheme, self.addr)
    }

    /// Validates an Exec request and returns its one-time URL.
    pub fn get_exec_url(&self, req: &ExecRequest) -> Result<String, StreamError> {
        check_streams(
            &req.container_id,
            req.tty,
            req.stdin,
            req.stdout,
            req.stderr,
        )?;
        if req.cmd.is_empty() {
            return Err(StreamError::InvalidRequest("cmd must not be empty".into()));
        }
        Ok(self.url(Pending::Exec(req.clone())))
    }

    /// Validates an Attach request and returns its one-time URL.
    pub fn get_attach_url(&self, req: &AttachRequest) -> Result<String, StreamError> {
        check_streams(
            &req.container_id,
            req.tty,
            req.stdin,
            req.stdout,
            req.stderr,
        )?;
        Ok(self.url(Pending::Attach(req.clone())))
    }

    /// Validates a PortForward request and returns its one-time URL.
    pub fn get_portforward_url(&self, req: &PortForwardRequest) -> Result<String, StreamError> {
        if req.pod_sandbox_id.is_empty() {
            return Err(StreamError::InvalidRequest(
                "missing required pod_sandbox_id".into(),
            ));
        }
        if let Some(p) = req.port.iter().find(|p| !(1..=65535).contains(*p)) {
            return Err(StreamError::InvalidRequest(format!("invalid port {p}")));
        }
        Ok(self.url(Pending::PortForward(req.clone())))
    }
}

/// The kubelet's validation of exec and attach requests.
fn check_streams(
    container_id: &str,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<(), StreamError> {
    let invalid = |m: &str| Err(StreamError::InvalidRequest(m.to_string()));
    if container_id.is_empty() {
        return invalid("missing required container_id");
    }
    if tty && stderr {
        return invalid("tty and stderr cannot both be true");
    }
    if !stdin && !stdout && !stderr {
        return invalid("one of stdin, stdout, or stderr must be set");
    }
    Ok(())
}

async fn accept_loop<B: StreamingBackend>(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    inner: Arc<Inner<B>>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("streaming accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let inner = inner.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_http(tcp, peer, inner).await,
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => serve_http(stream, peer, inner).await,
                    Err(e) => tracing::debug!("streaming TLS handshake from {peer}: {e}"),
                },
            }
        });
    }
}

async fn serve_http<B, IO>(io: IO, peer: SocketAddr, inner: Arc<Inner<B>>)
where
    B: StreamingBackend,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let inner = inner.clone();
        async move { Ok::<_, std::convert::Infallible>(route(req, inner)) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
    {
        tracing::debug!("streaming connection from {peer}: {e}");
    }
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(text.into() + "\n")));
    *resp.status_mut() = status;
    resp
}

fn route<B: StreamingBackend>(mut req: Request<Incoming>, inner: Arc<Inner<B>>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (kind, token) = match (parts.next(), parts.next()) {
        (Some(k @ ("exec" | "attach" | "portforward")), Some(t)) if !t.is_empty() => {
            (k, t.trim_end_matches('/'))
        }
        _ => return plain(StatusCode::NOT_FOUND, "not found"),
    };
    let headers = req.headers();
    let Some(transport) =
        handshake::transport(headers).filter(|_| handshake::connection_upgrade(headers))
    else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Upgrade request required (SPDY/3.1 or websocket)",
        );
    };
    let offered = match transport {
        Transport::Spdy => handshake::list(headers, handshake::PROTOCOL_HEADER),
        Transport::WebSocket => handshake::list(headers, handshake::WS_PROTOCOL_HEADER),
    };
    let server_protocols: &[&str] = match (transport, kind) {
        (Transport::Spdy, "portforward") => &[spdy::portforward::PROTOCOL],
        (Transport::Spdy, _) => &spdy::exec::PROTOCOLS,
        (Transport::WebSocket, "portforward") => &handshake::WS_PORTFORWARD,
        (Transport::WebSocket, _) => &handshake::WS_REMOTECOMMAND,
    };
    let protocol = match handshake::negotiate(&offered, server_protocols) {
        Ok(p) => p,
        Err(msg) => return plain(StatusCode::FORBIDDEN, msg),
    };
    let ws_key = headers.get("sec-websocket-key").cloned();
    if transport == Transport::WebSocket && ws_key.is_none() {
        return plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let pending = match inner.tokens.redeem(kind, token) {
        Ok(p) => p,
        Err(e @ TokenError::Unknown) => return plain(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ TokenError::Gone) => return plain(StatusCode::GONE, e.to_string()),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in
        handshake::switching_headers(transport, protocol.as_deref(), ws_key.as_ref())
    {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            resp.headers_mut().append(name, v);
        }
    }
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!("streaming upgrade failed: {e}");
                return;
            }
        };
        let backend = inner.backend.clone();
        let timeouts = inner.timeouts;
        let session_parts = Session {
            transport,
            protocol,
            pending,
            timeouts,
        };
        session(session_parts, &query, upgraded, backend).await;
    });
    resp
}

/// What the handshake settled for one upgraded connection.
struct Session {
    transport: Transport,
    protocol: Option<String>,
    pending: Pending,
    timeouts: SessionTimeouts,
}

async fn session<B, IO>(session: Session, query: &str, io: IO, backend: Arc<B>)
where
    B: StreamingBackend,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let Session {
        transport,
        protocol,
        pending,
        timeouts,
    } = session;
    match (transport, pending) {
        (Transport::Spdy, Pending::PortForward(req)) => {
            spdy_portforward(io, req, timeouts, backend).await;
        }
        (Transport::Spdy, pending) => {
            let Some(command) = Command::from_pending(pending) else {
                return;
            };
            let (conn, incoming) = spdy::conn::serve(io, timeouts);
            // No protocol header: the oldest protocol (no resize, text errors).
            let protocol = protocol.unwrap_or_else(|| "channel.k8s.io".into());
            let session = spdy::exec::Session {
                protocol: &protocol,
                command,
                creation_timeout: timeouts.creation,
            };
            spdy::exec::serve(conn, incoming, session, &*backend).await;
        }
        (Transport::WebSocket, Pending::PortForward(req))
            if protocol
                .as_deref()
                .and_then(ws_tunnel::inner_protocol)
                .is_some() =>
        {
            let io = ws_tunnel::byte_stream(io).await;
            spdy_portforward(io, req, timeouts, backend).await;
        }
        (Transport::WebSocket, Pending::PortForward(req)) => {
            let mut ports: Vec<u16> = req
                .port
                .iter()
                .filter_map(|p| u16::try_from(*p).ok())
                .collect();
            if ports.is_empty() {
                ports = websocket::query_ports(query);
            }
            let target = (req.pod_sandbox_id, ports);
            websocket::portforward(io, protocol, target, timeouts.idle, backend).await;
        }
        (Transport::WebSocket, pending) => {
            if let Some(command) = Command::from_pending(pending) {
                websocket::exec(io, protocol, command, timeouts.idle, &*backend).await;
            }
        }
    }
}

/// SPDY port-forward on `io`: an upgraded connection, or the byte stream a
/// WebSocket tunnels.
async fn spdy_portforward<B, IO>(
    io: IO,
    req: PortForwardRequest,
    timeouts: SessionTimeouts,
    backend: Arc<B>,
) where
    B: StreamingBackend,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (conn, incoming) = spdy::conn::serve(io, timeouts);
    let allowed = req
        .port
        .iter()
        .filter_map(|p| u16::try_from(*p).ok())
        .collect();
    let target = spdy::portforward::Target {
        sandbox_id: req.pod_sandbox_id,
        allowed,
        creation_timeout: timeouts.creation,
    };
    spdy::portforward::serve(conn, incoming, target, backend).await;
}
