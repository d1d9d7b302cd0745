//! The spans every log line about a pod or a container is made under, so an
//! operator can follow one by its id or by its name.
//!
//! The CRI entry points that take a pod or container enter one for the whole
//! call, and so do the background tasks (exit monitor, recovery, sweeps),
//! with the same field names: `pod_id`, `pod_name` (`namespace/name`),
//! `container_id`, `container_name`. A field not known when the span is
//! made (the id RunPodSandbox mints, a record not looked up yet) is left
//! empty and recorded later ([`record`]).
//!
//! A CRI call has a span of its own, made by the gRPC server for each
//! request ([`rpc`]): it names the rpc and declares the same four fields,
//! empty. An entry point fills them ([`Subject::call_span`]) and runs the
//! call in it rather than in a child span, so the error the call returns to
//! the kubelet, logged once in the rpc's span, carries them as well (and a
//! line shows each field once).
//!
//! The spans are at level ERROR, whatever the lines under them: a span is
//! dropped by any filter below its level, and with it its fields. At ERROR
//! every line a filter lets through still carries them.

use cradle_proto::cri;
use tracing::Span;

/// The pod's id.
pub const POD_ID: &str = "pod_id";
/// The pod's `namespace/name`.
pub const POD_NAME: &str = "pod_name";
/// The container's id.
pub const CONTAINER_ID: &str = "container_id";
/// The container's name (its metadata's).
pub const CONTAINER_NAME: &str = "container_name";

/// The name of a CRI call's span ([`rpc`]).
const RPC_SPAN: &str = "cri";

/// The span of one CRI call, `path` its request path (`rpc`); the fields
/// of its pod and container are empty until the entry point fills them
/// ([`Subject::call_span`]) or [`record`]s them.
pub fn rpc(path: &str) -> Span {
    tracing::error_span!(
        RPC_SPAN,
        rpc = %path,
        pod_id = tracing::field::Empty,
        pod_name = tracing::field::Empty,
        container_id = tracing::field::Empty,
        container_name = tracing::field::Empty
    )
}

/// Whether `span` is a CRI call's ([`rpc`]).
fn is_rpc(span: &Span) -> bool {
    span.metadata()
        .is_some_and(|m| m.name() == RPC_SPAN && m.fields().field(POD_ID).is_some())
}

/// What a CRI call or a task is about: the fields of its span, each `None`
/// left empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The pod's id ([`POD_ID`]).
    pub pod_id: Option<&'a str>,
    /// The pod's `namespace/name` ([`POD_NAME`]).
    pub pod_name: Option<&'a str>,
    /// The container's id ([`CONTAINER_ID`]).
    pub container_id: Option<&'a str>,
    /// The container's name ([`CONTAINER_NAME`]).
    pub container_name: Option<&'a str>,
}

impl Subject<'_> {
    /// The span a CRI entry point runs its call in: the call's own span
    /// (current at the entry point, see [`rpc`]) with the known fields
    /// recorded in it, so every line of the call and the error it returns
    /// carry them; outside a CRI call (an entry point called directly, as
    /// the unit tests do) a span of its own ([`Subject::span`]).
    ///
    /// Call it once per call, at the entry point: under a call's span it
    /// fills that span, whatever the span is about already.
    pub fn call_span(&self) -> Span {
        let current = Span::current();
        if !is_rpc(&current) {
            return self.span();
        }
        let fields = [
            (POD_ID, self.pod_id),
            (POD_NAME, self.pod_name),
            (CONTAINER_ID, self.container_id),
            (CONTAINER_NAME, self.container_name),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                current.record(field, value);
            }
        }
        current
    }

    /// A span of its own: a container's when it names a container, else a
    /// pod's.
    pub fn span(&self) -> Span {
        if self.container_id.is_some() || self.container_name.is_some() {
            container(
                self.container_id,
                self.container_name,
                self.pod_id,
                self.pod_name,
            )
        } else {
            pod(self.pod_id, self.pod_name)
        }
    }
}

/// A span about one pod; the fields not given are empty, for [`record`].
pub fn pod(id: Option<&str>, name: Option<&str>) -> Span {
    tracing::error_span!("pod", pod_id = id, pod_name = name)
}

/// A span about one container and its pod; the fields not given are
/// empty, for [`record`].
pub fn container(
    id: Option<&str>,
    name: Option<&str>,
    pod_id: Option<&str>,
    pod_name: Option<&str>,
) -> Span {
    tracing::error_span!(
        "container",
        container_id = id,
        container_name = name,
        pod_id = pod_id,
        pod_name = pod_name
    )
}

/// Records `value` as the current span's `field` (one of the constants
/// above), once it is known; a span without that field ignores it.
pub fn record(field: &str, value: &str) {
    Span::current().record(field, value);
}

/// `tokio::task::spawn_blocking`, with `f` run in the caller's span: a
/// blocking task does not inherit it, and the lines `f` logs (a CNI
/// plugin's, an unmount's) would lose the pod's or container's fields.
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}

/// A pod's `namespace/name`, as its span shows it.
pub fn pod_name(metadata: Option<&cri::PodSandboxMetadata>) -> Option<String> {
    metadata.map(|m| format!("{}/{}", m.namespace, m.name))
}

/// A container's name, as its span shows it.
pub fn container_name(metadata: Option<&cri::ContainerMetadata>) -> Option<&str> {
    metadata.map(|m| m.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_is_named_namespace_slash_name() {
        let metadata = cri::PodSandboxMetadata {
            name: "web".into(),
            namespace: "shop".into(),
            ..Default::default()
        };
        assert_eq!(pod_name(Some(&metadata)).as_deref(), Some("shop/web"));
        assert_eq!(pod_name(None), None);
    }

    /// The JSON lines logged by `f`, with their current span.
    fn json_lines(f: impl FnOnce()) -> Vec<serde_json::Value> {
        use std::sync::{Arc, Mutex};
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(move || Writer(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_call_span_is_the_rpc_span_filled_so_its_error_line_carries_the_fields() {
        let lines = json_lines(|| {
            let call = rpc("/runtime.v1.RuntimeService/CreateContainer");
            let span = call.in_scope(|| {
                Subject {
                    pod_id: Some("p1"),
                    pod_name: Some("shop/web"),
                    container_name: Some("app"),
                    ..Subject::default()
                }
                .call_span()
            });
            span.in_scope(|| record(CONTAINER_ID, "c1"));
            // Logged after the call, in the rpc's span (as the observer does).
            call.in_scope(|| tracing::warn!("returned NotFound"));
        });
        let span = &lines[0]["span"];
        assert_eq!(span["name"], "cri", "{span}");
        assert_eq!(span["rpc"], "/runtime.v1.RuntimeService/CreateContainer");
        assert_eq!(span["pod_id"], "p1");
        assert_eq!(span["pod_name"], "shop/web");
        assert_eq!(span["container_id"], "c1");
        assert_eq!(span["container_name"], "app");
    }

    #[test]
    fn outside_a_call_a_subject_has_a_span_of_its_own() {
        let lines = json_lines(|| {
            let subject = Subject {
                pod_id: Some("p1"),
                ..Subject::default()
            };
            subject.call_span().in_scope(|| tracing::info!("pod line"));
            let container = Subject {
                container_id: Some("c1"),
                ..subject
            };
            container
                .call_span()
                .in_scope(|| tracing::info!("container line"));
        });
        assert_eq!(lines[0]["span"]["name"], "pod");
        assert_eq!(lines[0]["span"]["pod_id"], "p1");
        assert_eq!(lines[1]["span"]["name"], "container");
        assert_eq!(lines[1]["span"]["container_id"], "c1");
        assert_eq!(lines[1]["span"]["pod_id"], "p1");
    }
}
