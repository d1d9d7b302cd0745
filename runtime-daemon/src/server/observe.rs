//! The observer of every CRI call: a tower layer on the gRPC server that
//! records each call's latency and status code (when metrics are on) and
//! logs each error status returned to the client, once, at warn level.
//!
//! The status is where tonic puts it: in the response headers when the
//! handler returned an error (a trailers-only response), else in the
//! trailers at the end of the body. A unary call is counted when its
//! status is known; a server-streaming call (GetContainerEvents may run for
//! days) is counted when its response starts, and an error in its trailers
//! is still logged. The latency is the time until the response starts.

use crate::metrics::registry;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The CRI rpcs that answer with a stream, in the order of the proto.
const STREAMING: [&str; 7] = [
    "StreamPodSandboxes",
    "StreamContainers",
    "StreamContainerStats",
    "StreamPodSandboxStats",
    "GetContainerEvents",
    "StreamPodSandboxMetrics",
    "StreamImages",
];

/// The CRI services whose methods are labelled by name (others: `other`,
/// so a stray path cannot add labels without bound).
const SERVICES: [&str; 2] = ["/runtime.v1.RuntimeService/", "/runtime.v1.ImageService/"];

/// Wraps a gRPC service in [`Observe`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

/// The service of [`ObserveLayer`].
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

/// The method label of a request path: the rpc's name for a CRI service.
pub fn method_of(path: &str) -> String {
    SERVICES
        .iter()
        .find_map(|service| path.strip_prefix(service))
        .filter(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("other")
        .to_string()
}

/// The name of a gRPC code as gRPC spells it (`OK`, `NotFound`, `Canceled`).
pub fn code_name(code: tonic::Code) -> String {
    match code {
        tonic::Code::Ok => "OK".into(),
        tonic::Code::Cancelled => "Canceled".into(),
        other => format!("{other:?}"),
    }
}

/// One call whose status is not recorded yet.
#[derive(Debug)]
struct Call {
    method: String,
    took: Duration,
    span: tracing::Span,
}

impl Call {
    /// Counts the call with `code` (the latency was taken at response start).
    fn count(&self, code: tonic::Code) {
        if let Some(metrics) = registry::get() {
            metrics.rpc(&self.method, &code_name(code), self.took);
        }
    }
}

/// Logs an error status once, in the call's span (which names the rpc).
fn log_status(span: &tracing::Span, status: &tonic::Status) {
    if status.code() != tonic::Code::Ok {
        span.in_scope(|| {
            tracing::warn!(
                code = %code_name(status.code()),
                "returned {}: {}",
                code_name(status.code()),
                status.message()
            );
        });
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Observe<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = method_of(request.uri().path());
        let started = Instant::now();
        let span = tracing::Span::current();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let mut call = Call {
                took: started.elapsed(),
                method,
                span,
            };
            let (parts, body) = response.into_parts();
            let pending = if let Some(status) = tonic::Status::from_header_map(&parts.headers) {
                // Trailers-only: the handler's error (or an early OK).
                call.count(status.code());
                log_status(&call.span, &status);
                None
            } else if STREAMING.contains(&call.method.as_str()) {
                call.count(tonic::Code::Ok);
                // Still watch the trailers: an error there is logged.
                call.method.clear();
                Some(call)
            } else {
                Some(call)
            };
            Ok(http::Response::from_parts(
                parts,
                ObservedBody {
                    inner: body,
                    pending,
                },
            ))
        })
    }
}

/// A response body that reports the status in its trailers.
#[derive(Debug)]
pub struct ObservedBody<B> {
    inner: B,
    /// The call, while its status is not seen (an empty method: counted
    /// already, only an error is left to log).
    pending: Option<Call>,
}

impl<B> ObservedBody<B> {
    fn finish(&mut self, code: tonic::Code, status: Option<&tonic::Status>) {
        let Some(call) = self.pending.take() else {
            return;
        };
        if !call.method.is_empty() {
            call.count(code);
        }
        if let Some(status) = status {
            log_status(&call.span, status);
        } else if code != tonic::Code::Ok {
            let status = tonic::Status::new(code, "the response ended without a gRPC status");
            log_status(&call.span, &status);
        }
    }
}

impl<B: Body + Unpin> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    match tonic::Status::from_header_map(trailers) {
                        Some(status) => this.finish(status.code(), Some(&status)),
                        None => this.finish(tonic::Code::Unknown, None),
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => this.finish(tonic::Code::Internal, None),
            Poll::Ready(None) => this.finish(tonic::Code::Unknown, None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for ObservedBody<B> {
    fn drop(&mut self) {
        // Dropped before its status: the client went away.
        if let Some(call) = self.pending.take()
            && !call.method.is_empty()
        {
            call.count(tonic::Code::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_of_cri_services_are_named_and_others_pooled() {
        assert_eq!(
            method_of("/runtime.v1.RuntimeService/RunPodSandbox"),
            "RunPodSandbox"
        );
        assert_eq!(method_of("/runtime.v1.ImageService/PullImage"), "PullImage");
        assert_eq!(method_of("/runtime.v1.RuntimeService/"), "other");
        assert_eq!(method_of("/runtime.v1.RuntimeService/a/b"), "other");
        assert_eq!(method_of("/grpc.health.v1.Health/Check"), "other");
    }

    #[test]
    fn codes_are_spelled_as_grpc_spells_them() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::Cancelled), "Canceled");
        assert_eq!(code_name(tonic::Code::NotFound), "NotFound");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "InvalidArgument");
    }

    /// Answers each call with `headers` and a body of one message and `trailers`.
    async fn call(
        path: &str,
        headers: Option<(&'static str, &'static str)>,
        trailers: Option<http::HeaderMap>,
    ) {
        use http_body_util::BodyExt;
        use tower::{Layer, ServiceExt};
        let inner = tower::service_fn(move |_: http::Request<()>| {
            let trailers = trailers.clone();
            async move {
                let mut frames: Vec<Result<_, std::convert::Infallible>> =
                    vec![Ok(Frame::data(bytes::Bytes::from_static(b"x")))];
                frames.extend(trailers.map(|t| Ok(Frame::trailers(t))));
                let mut response = http::Response::new(http_body_util::StreamBody::new(
                    tokio_stream::iter(frames),
                ));
                if let Some((name, value)) = headers {
                    response
                        .headers_mut()
                        .insert(name, http::HeaderValue::from_static(value));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let request = http::Request::builder().uri(path).body(()).unwrap();
        let response = ObserveLayer.layer(inner).oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }

    fn count(text: &str, method: &str, code: &str) -> u64 {
        let line = format!(r#"cradle_grpc_requests_total{{method="{method}",code="{code}"}} "#);
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .map_or(0, |v| v.parse().unwrap())
    }

    #[tokio::test]
    async fn statuses_are_counted_from_headers_or_trailers() {
        let metrics = registry::install();
        let rt = "/runtime.v1.RuntimeService/";
        // Trailers-only: the handler's error.
        call(
            &format!("{rt}ObserveTestError"),
            Some(("grpc-status", "5")),
            None,
        )
        .await;
        // A unary answer: OK in the trailers.
        let mut ok = http::HeaderMap::new();
        ok.insert("grpc-status", http::HeaderValue::from_static("0"));
        call(&format!("{rt}ObserveTestUnary"), None, Some(ok.clone())).await;
        // An error in the trailers.
        let mut failed = http::HeaderMap::new();
        failed.insert("grpc-status", http::HeaderValue::from_static("3"));
        failed.insert("grpc-message", http::HeaderValue::from_static("bad%20id"));
        call(&format!("{rt}ObserveTestLate"), None, Some(failed.clone())).await;
        // A stream is counted when it starts, whatever its trailers say.
        call(&format!("{rt}GetContainerEvents"), None, Some(failed)).await;
        let text = metrics.encode().unwrap();
        assert_eq!(count(&text, "ObserveTestError", "NotFound"), 1, "{text}");
        assert_eq!(count(&text, "ObserveTestUnary", "OK"), 1, "{text}");
        assert_eq!(
            count(&text, "ObserveTestLate", "InvalidArgument"),
            1,
            "{text}"
        );
        assert!(count(&text, "GetContainerEvents", "OK") >= 1, "{text}");
        assert_eq!(
            count(&text, "GetContainerEvents", "InvalidArgument"),
            0,
            "{text}"
        );
        assert!(
            text.contains(
                r#"cradle_grpc_request_duration_seconds_count{method="ObserveTestUnary"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn every_streaming_rpc_of_the_cri_is_known() {
        let proto = include_str!("../../../proto/cri/runtime/v1/api.proto");
        let streaming: Vec<&str> = proto
            .lines()
            .filter(|l| l.contains("returns (stream "))
            .filter_map(|l| l.trim().strip_prefix("rpc ")?.split('(').next())
            .collect();
        assert_eq!(streaming, STREAMING);
    }
}
