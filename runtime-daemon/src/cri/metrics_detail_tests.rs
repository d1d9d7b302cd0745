use super::*;
use crate::stats::detail::DetailSample as Sample;
use crate::stats::filesystem::writable_layer_fs as fs;
use cradle_cgroupfs::DeviceIo;
use std::path::Path;

#[test]
fn every_pushed_metric_is_described_with_its_label_count() {
    let record = crate::cri::metrics::tests::record(None);
    let sample = Sample {
        cfs_periods: Some(1),
        threads: Some(1),
        io: vec![DeviceIo::default()],
        ..Default::default()
    };
    let fs = fs(Path::new("/"), Some(10));
    let mut m = Metrics::new(crate::cri::metrics::base_labels(&record));
    push(&mut m, &record, &sample, &fs, 5_000_000_000);
    assert!(
        m.out
            .iter()
            .any(|x| x.name == "container_start_time_seconds")
    );
    assert!(m.out.iter().any(|x| x.name == "container_fs_usage_bytes"));
    for metric in &m.out {
        let d = DESCRIPTORS
            .iter()
            .find(|d| d.name == metric.name)
            .unwrap_or_else(|| panic!("{} is not described", metric.name));
        assert_eq!(
            metric.label_values.len(),
            3 + d.labels.len(),
            "{}",
            metric.name
        );
    }
    let last_seen = m
        .out
        .iter()
        .find(|x| x.name == "container_last_seen")
        .expect("last seen");
    assert_eq!(last_seen.value.as_ref().map(|v| v.value), Some(5));
}
