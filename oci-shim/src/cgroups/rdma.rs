//! `resources.rdma`: `rdma.max` lines (`<device> hca_handle=N
//! hca_object=M`), the same file in v1 and v2.

use std::collections::HashMap;
use std::path::Path;

use super::error::CgroupError;
use super::fs::{unsupported, write_field};
use crate::spec::LinuxRdma;

/// One `rdma.max` line; `None` when the entry limits nothing.
fn line(device: &str, r: &LinuxRdma) -> Result<Option<String>, CgroupError> {
    if device.is_empty() || device.contains(char::is_whitespace) {
        return Err(unsupported("rdma", format!("device name {device:?}")));
    }
    let mut parts = vec![device.to_string()];
    if let Some(h) = r.hca_handles {
        parts.push(format!("hca_handle={h}"));
    }
    if let Some(o) = r.hca_objects {
        parts.push(format!("hca_object={o}"));
    }
    Ok((parts.len() > 1).then(|| parts.join(" ")))
}

/// Writes every device's limits into `dir/rdma.max` (`None`: no rdma
/// controller mounted).
pub(super) fn apply(
    dir: Option<&Path>,
    rdma: &HashMap<String, LinuxRdma>,
) -> Result<(), CgroupError> {
    if rdma.is_empty() {
        return Ok(());
    }
    let Some(dir) = dir else {
        return Err(unsupported("rdma", "no rdma controller is mounted"));
    };
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (device, r) in devices {
        if let Some(l) = line(device, r)? {
            write_field(&dir.join("rdma.max"), &l, "rdma")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_limits_given() {
        let r: LinuxRdma =
            serde_json::from_value(serde_json::json!({"hcaHandles": 3, "hcaObjects": 100}))
                .unwrap();
        assert_eq!(
            line("mlx5_0", &r).unwrap().unwrap(),
            "mlx5_0 hca_handle=3 hca_object=100"
        );
        let none: LinuxRdma = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(line("mlx5_0", &none).unwrap(), None);
        assert!(line("a b", &r).is_err());
        let map = HashMap::from([("mlx5_0".to_string(), r)]);
        let e = apply(None, &map).unwrap_err();
        assert!(e.to_string().contains("resources.rdma"), "{e}");
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("rdma.max"), "").unwrap();
        apply(Some(d.path()), &map).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("rdma.max")).unwrap(),
            "mlx5_0 hca_handle=3 hca_object=100"
        );
    }
}
