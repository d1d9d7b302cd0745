//! The HTTP endpoint Prometheus scrapes: `GET /metrics` answers the text
//! exposition of the [`Metrics`]; every other path is 404, another method
//! on `/metrics` is 405. Plain HTTP/1.1 over hyper, no framework.

use super::registry::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The listening socket could not be bound.
    #[error("binding metrics_address {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The running endpoint; [`MetricsEndpoint::stop`] ends it.
#[derive(Debug)]
pub struct MetricsEndpoint {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Binds `addr` and serves `metrics` there until stopped. Call within
    /// a Tokio runtime.
    pub fn start(addr: SocketAddr, metrics: &'static Metrics) -> Result<Self, EndpointError> {
        let bind = |source| EndpointError::Bind { addr, source };
        let std_listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            tokio::spawn(serve_connection(stream, metrics));
                        }
                        Err(e) => {
                            tracing::warn!("metrics endpoint accept: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    },
                }
            }
        });
        Ok(MetricsEndpoint {
            addr: local,
            stop,
            task,
        })
    }

    /// The address it listens on (the bound port when the configured was 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting scrapes (one running finishes on its own).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, metrics: &'static Metrics) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| async move {
        Ok::<_, std::convert::Infallible>(answer(request.method(), request.uri().path(), metrics))
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("metrics connection: {e}");
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response
}

/// The response to `method` on `path`.
pub fn answer(method: &Method, path: &str, metrics: &Metrics) -> Response<Full<Bytes>> {
    if path != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics",
        );
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET");
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return response;
    }
    match metrics.encode() {
        Ok(text) => {
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(CONTENT_TYPE),
            );
            response
        }
        Err(e) => {
            tracing::warn!("encoding the metrics: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_metrics_and_refuses_other_paths() {
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
        metrics.oom_kill();
        let endpoint = MetricsEndpoint::start("127.0.0.1:0".parse().unwrap(), metrics).unwrap();
        let addr = endpoint.addr();
        assert_ne!(addr.port(), 0);
        let ok = get(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(CONTENT_TYPE), "{ok}");
        assert!(ok.lines().any(|l| l == "cradle_oom_kills_total 1"), "{ok}");
        let missing = get(
            addr,
            "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = get(
            addr,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        endpoint.stop().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn a_taken_address_is_refused_naming_metrics_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
        let err = MetricsEndpoint::start(addr, metrics).unwrap_err();
        assert!(err.to_string().contains("metrics_address"), "{err}");
    }
}
