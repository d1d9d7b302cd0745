//! Pod churn beside a measurement, as a busy node has it: every tick a new
//! running pod is started and the previous churn pod removed, until told to
//! stop. A tick never cancels a pod half-way: the stop is seen between ticks.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::client::Cri;
use crate::cri_steps::PodTemplate;
use crate::fleet::{self, RunningPod};
use crate::stats::Summary;

/// What the churn did while it ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChurnReport {
    /// Pods per second asked for.
    pub rate_per_s: f64,
    pub seconds: f64,
    pub started: usize,
    pub removed: usize,
    pub failures: usize,
    pub first_error: Option<String>,
    /// RunPodSandbox → RUNNING of the churn pods.
    pub start: Option<Summary>,
}

/// The tick of a churn of `rate` pods per second; `None` for no churn.
pub fn interval_of(rate: f64) -> Option<Duration> {
    (rate.is_finite() && rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate))
}

fn failed(r: &mut ChurnReport, e: anyhow::Error) {
    r.failures += 1;
    r.first_error.get_or_insert_with(|| format!("{e:#}"));
}

/// Churns until `stop` turns true (or its sender is dropped), then removes
/// its last pod. `rate` pods per second; at most one pod at a time is in
/// flight, so a runtime slower than the rate gets as many as it can take.
pub async fn run(
    mut cri: Cri,
    t: PodTemplate,
    rate: f64,
    mut stop: watch::Receiver<bool>,
) -> ChurnReport {
    let mut report = ChurnReport {
        rate_per_s: rate,
        ..Default::default()
    };
    let Some(every) = interval_of(rate) else {
        return report;
    };
    let t0 = Instant::now();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut previous: Option<RunningPod> = None;
    let mut starts = Vec::new();
    let command = fleet::sleep_command();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        match fleet::start_pod(&mut cri, &t, &command).await {
            Ok((pod, timings)) => {
                report.started += 1;
                starts.push(timings.total);
                if let Some(old) = previous.replace(pod) {
                    match fleet::remove_pod(&mut cri, &t, &old).await {
                        Ok(()) => report.removed += 1,
                        Err(e) => failed(&mut report, e),
                    }
                }
            }
            Err(e) => failed(&mut report, e),
        }
    }
    if let Some(old) = previous {
        match fleet::remove_pod(&mut cri, &t, &old).await {
            Ok(()) => report.removed += 1,
            Err(e) => failed(&mut report, e),
        }
    }
    report.seconds = t0.elapsed().as_secs_f64();
    report.start = Summary::of(&starts);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_turns_into_a_tick_and_zero_means_none() {
        assert_eq!(interval_of(1.0), Some(Duration::from_secs(1)));
        assert_eq!(interval_of(4.0), Some(Duration::from_millis(250)));
        assert_eq!(interval_of(0.0), None);
        assert_eq!(interval_of(-1.0), None);
        assert_eq!(interval_of(f64::NAN), None);
    }
}
