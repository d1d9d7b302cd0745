//! The metric families the daemon records into, and the one process-wide
//! [`Metrics`] the hooks reach through [`get`].
//!
//! Nothing is recorded until `cradled` calls [`install`] (only when
//! `metrics_address` is set): every hook starts with [`get`], a single
//! atomic load that answers `None` while metrics are off.

use prometheus_client::collector::Collector;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Labels of one gRPC method (`method`: the RPC's name, `RunPodSandbox`).
pub type MethodLabels = [(&'static str, String); 1];
/// Labels of a finished gRPC call: its method and its status code name.
pub type CallLabels = [(&'static str, String); 2];
/// A label whose value is one of a few fixed words (`op`, `result`).
pub type WordLabel = [(&'static str, &'static str); 1];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Buckets of the gRPC latencies, in seconds (1 ms to 2 min).
const RPC_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Buckets of the image pull durations, in seconds (100 ms to 30 min).
const PULL_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 1800.0,
];
/// Buckets of the CNI ADD/DEL durations, in seconds (5 ms to 1 min).
const CNI_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

fn rpc_histogram() -> Histogram {
    Histogram::new(RPC_BUCKETS)
}

fn pull_histogram() -> Histogram {
    Histogram::new(PULL_BUCKETS)
}

fn cni_histogram() -> Histogram {
    Histogram::new(CNI_BUCKETS)
}

/// Every metric family of the daemon, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    rpc_duration: Histograms<MethodLabels>,
    rpc_requests: Family<CallLabels, Counter>,
    pulls: Family<WordLabel, Counter>,
    pull_bytes: Counter,
    pull_duration: Histogram,
    cni_duration: Histograms<WordLabel>,
    cni_failures: Family<WordLabel, Counter>,
    oom_kills: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding the daemon's families, all at zero (the
    /// collectors of state come with [`Metrics::add_collector`]).
    pub fn new() -> Self {
        let metrics = Metrics {
            registry: Mutex::new(Registry::default()),
            rpc_duration: Family::new_with_constructor(rpc_histogram),
            rpc_requests: Family::default(),
            pulls: Family::default(),
            pull_bytes: Counter::default(),
            pull_duration: pull_histogram(),
            cni_duration: Family::new_with_constructor(cni_histogram),
            cni_failures: Family::default(),
            oom_kills: Counter::default(),
        };
        {
            let mut r = metrics.lock();
            r.register(
                "cradle_grpc_request_duration_seconds",
                "Time the CRI gRPC calls took until their response started, by method",
                metrics.rpc_duration.clone(),
            );
            r.register(
                "cradle_grpc_requests",
                "CRI gRPC calls answered, by method and gRPC status code",
                metrics.rpc_requests.clone(),
            );
            r.register(
                "cradle_image_pulls",
                "Image pulls, by result (success or failure)",
                metrics.pulls.clone(),
            );
            r.register(
                "cradle_image_pull_bytes",
                "Size of the images pulled successfully, in bytes",
                metrics.pull_bytes.clone(),
            );
            r.register(
                "cradle_image_pull_duration_seconds",
                "Time the successful image pulls took",
                metrics.pull_duration.clone(),
            );
            r.register(
                "cradle_cni_operation_duration_seconds",
                "Time the CNI ADD and DEL operations took, failed ones included, by op",
                metrics.cni_duration.clone(),
            );
            r.register(
                "cradle_cni_operation_failures",
                "CNI ADD and DEL operations that failed, by op",
                metrics.cni_failures.clone(),
            );
            r.register(
                "cradle_oom_kills",
                "Container exits recorded as OOMKilled",
                metrics.oom_kills.clone(),
            );
        }
        metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while encoding leaves the registry itself intact.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a collector asked for its values at each scrape.
    pub fn add_collector(&self, collector: impl Collector) {
        self.lock().register_collector(Box::new(collector));
    }

    /// Everything, in the Prometheus text exposition format (0.0.4).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.lock())?;
        Ok(text)
    }

    /// Records a gRPC call of `method` answered with status `code` after `took`.
    pub fn rpc(&self, method: &str, code: &str, took: Duration) {
        self.rpc_duration
            .get_or_create(&[("method", method.to_string())])
            .observe(took.as_secs_f64());
        self.rpc_requests
            .get_or_create(&[("method", method.to_string()), ("code", code.to_string())])
            .inc();
    }

    /// Records an image pull: `Ok(bytes)` after `took`, or a failure.
    pub fn image_pull(&self, outcome: Result<u64, ()>, took: Duration) {
        match outcome {
            Ok(bytes) => {
                self.pulls.get_or_create(&[("result", "success")]).inc();
                self.pull_bytes.inc_by(bytes);
                self.pull_duration.observe(took.as_secs_f64());
            }
            Err(()) => {
                self.pulls.get_or_create(&[("result", "failure")]).inc();
            }
        }
    }

    /// Records a CNI operation (`op`: `add` or `del`) that took `took`.
    pub fn cni(&self, op: &'static str, ok: bool, took: Duration) {
        self.cni_duration
            .get_or_create(&[("op", op)])
            .observe(took.as_secs_f64());
        let failures = self.cni_failures.get_or_create(&[("op", op)]);
        if !ok {
            failures.inc();
        }
    }

    /// Records a container exit with reason OOMKilled.
    pub fn oom_kill(&self) {
        self.oom_kills.inc();
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Turns metrics on for the process; the first call wins and every call
/// returns the installed [`Metrics`].
pub fn install() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// The process's metrics, `None` while they are off.
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_encoded_with_their_names_labels_and_values() {
        let metrics = Metrics::new();
        metrics.rpc("RunPodSandbox", "OK", Duration::from_millis(30));
        metrics.rpc("RunPodSandbox", "OK", Duration::from_millis(30));
        metrics.rpc("PodSandboxStatus", "NotFound", Duration::from_millis(1));
        metrics.image_pull(Ok(1000), Duration::from_secs(2));
        metrics.image_pull(Err(()), Duration::from_secs(1));
        metrics.cni("add", true, Duration::from_millis(20));
        metrics.cni("del", false, Duration::from_millis(20));
        metrics.oom_kill();
        let text = metrics.encode().unwrap();
        for line in [
            "# TYPE cradle_grpc_request_duration_seconds histogram",
            r#"cradle_grpc_request_duration_seconds_count{method="RunPodSandbox"} 2"#,
            r#"cradle_grpc_requests_total{method="RunPodSandbox",code="OK"} 2"#,
            r#"cradle_grpc_requests_total{method="PodSandboxStatus",code="NotFound"} 1"#,
            r#"cradle_image_pulls_total{result="success"} 1"#,
            r#"cradle_image_pulls_total{result="failure"} 1"#,
            "cradle_image_pull_bytes_total 1000",
            "cradle_image_pull_duration_seconds_count 1",
            r#"cradle_cni_operation_duration_seconds_count{op="add"} 1"#,
            r#"cradle_cni_operation_failures_total{op="add"} 0"#,
            r#"cradle_cni_operation_failures_total{op="del"} 1"#,
            "cradle_oom_kills_total 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn a_fresh_registry_shows_every_unlabelled_family_at_zero() {
        let text = Metrics::new().encode().unwrap();
        for line in [
            "cradle_image_pull_bytes_total 0",
            "cradle_oom_kills_total 0",
            "cradle_image_pull_duration_seconds_count 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }
}
