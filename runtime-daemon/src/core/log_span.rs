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
}
