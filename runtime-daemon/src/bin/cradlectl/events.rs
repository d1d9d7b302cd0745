//! `events`: container lifecycle events as pretty lines (or one JSON object a
//! line with `-o json`), until interrupted.

use crate::clock::rfc3339_millis;
use crate::connect::Runtime;
use crate::output::{self, Format};
use crate::table::short_id;
use cradle_proto::cri;

/// One event as a line: `TIME  TYPE  container <id> (<name>) pod <id> (<ns>/<name>)`.
pub fn event_line(event: &cri::ContainerEventResponse) -> String {
    let kind = cri::ContainerEventType::try_from(event.container_event_type)
        .map_or("UNKNOWN_EVENT", |kind| kind.as_str_name());
    let name = event
        .containers_statuses
        .iter()
        .find(|status| status.id == event.container_id)
        .and_then(|status| status.metadata.as_ref())
        .map_or("?", |metadata| metadata.name.as_str());
    let mut text = format!(
        "{}  {kind}  container {} ({name})",
        rfc3339_millis(event.created_at),
        short_id(&event.container_id),
    );
    if let Some(pod) = &event.pod_sandbox_status {
        let metadata = pod.metadata.clone().unwrap_or_default();
        text.push_str(&format!(
            " pod {} ({}/{})",
            short_id(&pod.id),
            metadata.namespace,
            metadata.name
        ));
    }
    text
}

/// Follows the event stream: lines, or JSON objects with `-o json|yaml`
/// (YAML as one document per event).
pub async fn follow(rt: &mut Runtime, format: Format) -> anyhow::Result<()> {
    let mut stream = rt
        .get_container_events(cri::GetEventsRequest {})
        .await?
        .into_inner();
    while let Some(event) = stream.message().await? {
        match format {
            Format::Table => output::line(&event_line(&event))?,
            Format::Json => output::line(&serde_json::to_string(&event)?)?,
            Format::Yaml => {
                output::line("---")?;
                output::yaml(&event)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_the_container_and_its_pod() {
        let event = cri::ContainerEventResponse {
            container_id: "0123456789abcdef0123".into(),
            container_event_type: cri::ContainerEventType::ContainerStartedEvent as i32,
            created_at: 0,
            pod_sandbox_status: Some(cri::PodSandboxStatus {
                id: "fedcba9876543210".into(),
                metadata: Some(cri::PodSandboxMetadata {
                    name: "web".into(),
                    namespace: "prod".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            containers_statuses: vec![cri::ContainerStatus {
                id: "0123456789abcdef0123".into(),
                metadata: Some(cri::ContainerMetadata {
                    name: "nginx".into(),
                    attempt: 0,
                }),
                ..Default::default()
            }],
        };
        assert_eq!(
            event_line(&event),
            "1970-01-01T00:00:00.000Z  CONTAINER_STARTED_EVENT  container 0123456789abc (nginx) pod fedcba9876543 (prod/web)"
        );
    }
}
