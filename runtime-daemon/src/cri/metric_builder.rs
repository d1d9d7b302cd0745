//! The shape every CRI metric of ListPodSandboxMetrics takes: a
//! [`Descriptor`] (name, help, the labels after the base `id`, `name`,
//! `image`) and [`Metrics`], which collects values sharing the base label
//! values. Apart from [`super::metrics`] so its second mapping file,
//! [`super::metrics_detail`], uses it without importing back.

use cradle_proto::cri;

/// One described metric: name, help, labels after the base labels.
pub(super) struct Descriptor {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) labels: &'static [&'static str],
}

/// Collects metrics that share the base label values.
pub(super) struct Metrics {
    base: [String; 3],
    pub(super) out: Vec<cri::Metric>,
}

impl Metrics {
    pub(super) fn new(base: [String; 3]) -> Self {
        Metrics {
            base,
            out: Vec::new(),
        }
    }

    /// Adds one value (nothing when unknown).
    pub(super) fn push(
        &mut self,
        name: &str,
        kind: cri::MetricType,
        extra: &[&str],
        value: Option<u64>,
    ) {
        let Some(value) = value else { return };
        self.out.push(cri::Metric {
            name: name.to_string(),
            timestamp: 0,
            metric_type: kind as i32,
            label_values: self
                .base
                .iter()
                .cloned()
                .chain(extra.iter().map(|s| s.to_string()))
                .collect(),
            value: Some(cri::UInt64Value { value }),
        });
    }
}
