//! `resources.blockIO`: v1 `blkio.*` files and v2 `io.weight`/`io.max`,
//! with runc's conversions. A field the host cannot apply is an error
//! naming it (this VM's blkio controller, for one, has no weight file).

use std::path::Path;

use super::error::CgroupError;
use super::fs::{unsupported, write_field};
use crate::spec::{LinuxBlockIo, LinuxThrottleDevice};

/// v1 blkio weight (10..1000) to v2 `io.weight` (1..10000), runc's formula.
pub(super) fn weight_to_v2(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// `maj:min rate` for a v1 throttle file.
fn throttle_line(d: &LinuxThrottleDevice) -> String {
    format!("{}:{} {}", d.major, d.minor, d.rate)
}

/// The four throttle lists with their v1 file and v2 `io.max` key.
fn throttles(
    b: &LinuxBlockIo,
) -> [(
    &'static str,
    &'static str,
    &'static str,
    Vec<LinuxThrottleDevice>,
); 4] {
    [
        (
            "blockIO.throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            b.throttle_read_bps_device.clone().unwrap_or_default(),
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            b.throttle_write_bps_device.clone().unwrap_or_default(),
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            b.throttle_read_iops_device.clone().unwrap_or_default(),
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            b.throttle_write_iops_device.clone().unwrap_or_default(),
        ),
    ]
}

/// The v1 weight file: `blkio.weight` (CFQ) or `blkio.bfq.weight` (BFQ),
/// whichever this kernel has, as runc picks.
fn v1_weight_file(dir: &Path, bfq: &str, cfq: &str) -> std::path::PathBuf {
    if dir.join(bfq).exists() {
        dir.join(bfq)
    } else {
        dir.join(cfq)
    }
}

/// v1: writes into the blkio controller directory `dir` (`None` when the
/// controller is not mounted).
pub(super) fn apply_v1(dir: Option<&Path>, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let Some(dir) = dir else {
        return Err(unsupported("blockIO", "no blkio controller is mounted"));
    };
    if let Some(w) = b.weight {
        let file = v1_weight_file(dir, "blkio.bfq.weight", "blkio.weight");
        write_field(&file, &w.to_string(), "blockIO.weight")?;
    }
    if let Some(w) = b.leaf_weight {
        write_field(
            &dir.join("blkio.leaf_weight"),
            &w.to_string(),
            "blockIO.leafWeight",
        )?;
    }
    for d in b.weight_device.as_deref().unwrap_or(&[]) {
        if let Some(w) = d.weight {
            let file = v1_weight_file(dir, "blkio.bfq.weight_device", "blkio.weight_device");
            let line = format!("{}:{} {w}", d.major, d.minor);
            write_field(&file, &line, "blockIO.weightDevice")?;
        }
        if let Some(w) = d.leaf_weight {
            let line = format!("{}:{} {w}", d.major, d.minor);
            write_field(
                &dir.join("blkio.leaf_weight_device"),
                &line,
                "blockIO.weightDevice.leafWeight",
            )?;
        }
    }
    for (field, file, _, devices) in throttles(b) {
        for d in &devices {
            write_field(&dir.join(file), &throttle_line(d), field)?;
        }
    }
    Ok(())
}

/// v2: `io.weight` (or `io.bfq.weight`) and `io.max` in `dir`.
pub(super) fn apply_v2(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight {
        // BFQ takes the v1 scale; io.weight its own.
        let (file, value) = if bfq {
            ("io.bfq.weight", w.to_string())
        } else {
            ("io.weight", format!("default {}", weight_to_v2(w)))
        };
        write_field(&dir.join(file), &value, "blockIO.weight")?;
    }
    if b.leaf_weight.is_some() {
        return Err(unsupported(
            "blockIO.leafWeight",
            "cgroup v2 has no leaf weight",
        ));
    }
    for d in b.weight_device.as_deref().unwrap_or(&[]) {
        if d.leaf_weight.is_some() {
            return Err(unsupported(
                "blockIO.weightDevice.leafWeight",
                "cgroup v2 has no leaf weight",
            ));
        }
        if let Some(w) = d.weight {
            let (file, value) = if bfq {
                ("io.bfq.weight", format!("{}:{} {w}", d.major, d.minor))
            } else {
                (
                    "io.weight",
                    format!("{}:{} {}", d.major, d.minor, weight_to_v2(w)),
                )
            };
            write_field(&dir.join(file), &value, "blockIO.weightDevice")?;
        }
    }
    for (field, _, key, devices) in throttles(b) {
        for d in &devices {
            let line = format!("{}:{} {key}={}", d.major, d.minor, d.rate);
            write_field(&dir.join("io.max"), &line, field)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_io(v: serde_json::Value) -> LinuxBlockIo {
        serde_json::from_value(v).unwrap()
    }

    fn read(dir: &Path, f: &str) -> String {
        std::fs::read_to_string(dir.join(f)).unwrap()
    }

    #[test]
    fn weight_converts_like_runc() {
        assert_eq!(weight_to_v2(10), 1);
        assert_eq!(weight_to_v2(500), 4950);
        assert_eq!(weight_to_v2(1000), 10000);
    }

    #[test]
    fn v2_writes_io_weight_and_io_max() {
        let d = tempfile::tempdir().unwrap();
        for f in ["io.weight", "io.max"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        let b = block_io(serde_json::json!({
            "weight": 500,
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]
        }));
        apply_v2(d.path(), &b).unwrap();
        assert_eq!(read(d.path(), "io.weight"), "default 4950");
        // A plain file keeps the last line written.
        assert_eq!(read(d.path(), "io.max"), "8:0 wiops=100");
        let leaf = block_io(serde_json::json!({"leafWeight": 300}));
        let e = apply_v2(d.path(), &leaf).unwrap_err();
        assert!(e.to_string().contains("blockIO.leafWeight"), "{e}");
    }

    #[test]
    fn v1_missing_files_and_controllers_name_the_field() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("blkio.throttle.read_bps_device"), "").unwrap();
        let b = block_io(serde_json::json!({
            "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 4096}]
        }));
        apply_v1(Some(d.path()), &b).unwrap();
        assert_eq!(
            read(d.path(), "blkio.throttle.read_bps_device"),
            "254:0 4096"
        );
        let w = block_io(serde_json::json!({"weight": 300}));
        let e = apply_v1(Some(d.path()), &w).unwrap_err();
        assert!(e.to_string().contains("resources.blockIO.weight"), "{e}");
        let e = apply_v1(None, &b).unwrap_err();
        assert!(e.to_string().contains("no blkio controller"), "{e}");
    }
}
