//! Pods and containers by state, and the shims that should be running,
//! counted from the managers' in-memory indexes at each scrape.

use crate::containers::ContainerState;
use crate::pods::SandboxState;
use crate::runtime::Runtime;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::Arc;

/// How many objects are in each state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Pods: ready, not ready.
    pub pods: [i64; 2],
    /// Containers: created, running, exited, unknown.
    pub containers: [i64; 4],
}

/// The `state` label values of [`Counts::pods`], in order.
const POD_STATES: [&str; 2] = ["ready", "notready"];
/// The `state` label values of [`Counts::containers`], in order.
const CONTAINER_STATES: [&str; 4] = ["created", "running", "exited", "unknown"];

impl Counts {
    /// Counts the given pod and container states.
    pub fn of(
        pods: impl IntoIterator<Item = SandboxState>,
        containers: impl IntoIterator<Item = ContainerState>,
    ) -> Self {
        let mut counts = Counts::default();
        for pod in pods {
            counts.pods[match pod {
                SandboxState::Ready => 0,
                SandboxState::NotReady => 1,
            }] += 1;
        }
        for container in containers {
            counts.containers[match container {
                ContainerState::Created => 0,
                ContainerState::Running => 1,
                ContainerState::Exited => 2,
                ContainerState::Unknown => 3,
            }] += 1;
        }
        counts
    }

    /// The shims that hold a process: one per ready pod (its pause) and
    /// per created or running container.
    pub fn shims_running(&self) -> i64 {
        self.pods[0] + self.containers[0] + self.containers[1]
    }
}

/// Reports `cradle_pods`, `cradle_containers` and `cradle_shims_running`.
pub struct StateCollector {
    runtime: Arc<Runtime>,
}

impl StateCollector {
    /// Counts the objects of `runtime` at each scrape.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        StateCollector { runtime }
    }
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

fn by_state(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    states: &[&'static str],
    values: &[i64],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (state, value) in states.iter().zip(values) {
        let labels = [("state", *state)];
        ConstGauge::new(*value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes the families of `counts`.
pub fn encode_counts(
    counts: &Counts,
    mut encoder: DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    by_state(
        &mut encoder,
        "cradle_pods",
        "Pod sandboxes known to the daemon, by state",
        &POD_STATES,
        &counts.pods,
    )?;
    by_state(
        &mut encoder,
        "cradle_containers",
        "Containers known to the daemon, by state",
        &CONTAINER_STATES,
        &counts.containers,
    )?;
    let shims = ConstGauge::new(counts.shims_running());
    shims.encode(encoder.encode_descriptor(
        "cradle_shims_running",
        "Shims holding a process: one per ready pod and per created or running container",
        None,
        shims.metric_type(),
    )?)
}

impl Collector for StateCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts = Counts::of(
            self.runtime.pods.list().into_iter().map(|p| p.state),
            self.runtime.containers.list().into_iter().map(|c| c.state),
        );
        encode_counts(&counts, encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::registry::Metrics;

    #[derive(Debug)]
    struct Fixed(Counts);

    impl Collector for Fixed {
        fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode_counts(&self.0, encoder)
        }
    }

    #[test]
    fn states_are_counted_and_every_state_is_reported() {
        let counts = Counts::of(
            [
                SandboxState::Ready,
                SandboxState::Ready,
                SandboxState::NotReady,
            ],
            [
                ContainerState::Running,
                ContainerState::Exited,
                ContainerState::Created,
                ContainerState::Running,
            ],
        );
        assert_eq!(counts.pods, [2, 1]);
        assert_eq!(counts.containers, [1, 2, 1, 0]);
        assert_eq!(counts.shims_running(), 5);
        let metrics = Metrics::new();
        metrics.add_collector(Fixed(counts));
        let text = metrics.encode().unwrap();
        for line in [
            "# TYPE cradle_pods gauge",
            r#"cradle_pods{state="ready"} 2"#,
            r#"cradle_pods{state="notready"} 1"#,
            r#"cradle_containers{state="created"} 1"#,
            r#"cradle_containers{state="running"} 2"#,
            r#"cradle_containers{state="exited"} 1"#,
            r#"cradle_containers{state="unknown"} 0"#,
            "cradle_shims_running 5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }
}
