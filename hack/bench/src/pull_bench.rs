//! `cradle-bench pull`: PullImage time (download + unpack, as the runtime
//! does it) of one image, with RemoveImage between iterations so every pull
//! starts from nothing; throughput from the image's compressed size.
//! Given the runtime's root directory, the disk usage under it is read after
//! each RemoveImage and after each pull: a pull is cold when the root grew
//! by at least the image's size (the content and layers really were gone).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use cradle_proto::cri;
use serde::Serialize;

use crate::client::Cri;
use crate::disk_usage::du;
use crate::stats::Summary;

/// Options of a `pull` run.
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoint: String,
    pub image: String,
    pub iterations: usize,
    /// Bytes one pull moves (the compressed blobs); `None`: ImageStatus's size.
    pub bytes: Option<u64>,
    pub call_timeout: Duration,
    /// Seconds to sleep after each RemoveImage (lets a runtime's async GC run).
    pub settle: Duration,
    /// The runtime's root (its content and snapshots), for the cold check.
    pub root_dir: Option<PathBuf>,
}

/// Disk usage of the runtime's root around each pull.
#[derive(Debug, Clone, Serialize)]
pub struct ColdCheck {
    pub root_dir: PathBuf,
    /// After each RemoveImage (and settle), before the pull.
    pub before_pull_bytes: Vec<u64>,
    /// Growth of the root by each pull.
    pub growth_bytes: Vec<u64>,
    /// Every pull grew the root by at least 90% of the image's bytes.
    pub cold: bool,
}

/// Cold when every pull grew the root by at least 90% of `bytes`.
pub fn all_cold(growth: &[u64], bytes: u64) -> bool {
    !growth.is_empty() && growth.iter().all(|&g| g as f64 >= 0.9 * bytes as f64)
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub runtime: String,
    pub image: String,
    pub bytes: u64,
    pub bytes_source: String,
    pub pull: Option<Summary>,
    /// MiB/s at the median and at the best pull.
    pub median_mib_s: f64,
    pub best_mib_s: f64,
    pub failures: Vec<String>,
    /// With `root_dir`: whether the pulls were cold.
    pub cold_check: Option<ColdCheck>,
}

fn spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}

async fn remove(cri: &mut Cri, image: &str) -> anyhow::Result<()> {
    cri.image
        .remove_image(cri::RemoveImageRequest {
            image: Some(spec(image)),
        })
        .await
        .with_context(|| format!("RemoveImage {image}"))?;
    Ok(())
}

async fn size(cri: &mut Cri, image: &str) -> anyhow::Result<u64> {
    Ok(cri
        .image
        .image_status(cri::ImageStatusRequest {
            image: Some(spec(image)),
            verbose: false,
        })
        .await
        .context("ImageStatus")?
        .into_inner()
        .image
        .map(|i| i.size)
        .unwrap_or(0))
}

/// MiB per second for `bytes` moved in `ms` milliseconds.
pub fn mib_per_s(bytes: u64, ms: f64) -> f64 {
    if ms <= 0.0 {
        0.0
    } else {
        bytes as f64 / (1024.0 * 1024.0) / (ms / 1e3)
    }
}

pub async fn run(o: &Options) -> anyhow::Result<Report> {
    let mut cri = Cri::connect(&o.endpoint, o.call_timeout).await?;
    let runtime = match cri.runtime.version(cri::VersionRequest::default()).await {
        Ok(v) => {
            let v = v.into_inner();
            format!("{} {}", v.runtime_name, v.runtime_version)
        }
        Err(e) => format!("unknown ({})", e.message()),
    };
    let mut times = Vec::new();
    let mut failures = Vec::new();
    let mut status_size = 0;
    let root_du = || o.root_dir.as_deref().and_then(du);
    let (mut before, mut growth) = (Vec::new(), Vec::new());
    for _ in 0..o.iterations {
        remove(&mut cri, &o.image).await?;
        tokio::time::sleep(o.settle).await;
        let root_before = root_du();
        before.extend(root_before);
        let t0 = Instant::now();
        let r = cri
            .image
            .pull_image(cri::PullImageRequest {
                image: Some(spec(&o.image)),
                ..Default::default()
            })
            .await;
        let d = t0.elapsed();
        match r {
            Ok(_) => {
                times.push(d);
                growth.extend(root_before.zip(root_du()).map(|(b, a)| a.saturating_sub(b)));
                status_size = size(&mut cri, &o.image).await?;
            }
            Err(e) => failures.push(format!("PullImage: {}", e.message())),
        }
    }
    remove(&mut cri, &o.image).await?;
    let (bytes, bytes_source) = match o.bytes {
        Some(b) => (b, "--bytes (compressed blobs)".to_string()),
        None => (status_size, "ImageStatus.size".to_string()),
    };
    let pull = Summary::of(&times);
    let cold_check = o.root_dir.clone().map(|root_dir| ColdCheck {
        root_dir,
        cold: all_cold(&growth, bytes),
        before_pull_bytes: before,
        growth_bytes: growth,
    });
    Ok(Report {
        endpoint: o.endpoint.clone(),
        runtime,
        image: o.image.clone(),
        bytes,
        bytes_source,
        median_mib_s: pull.map(|s| mib_per_s(bytes, s.median_ms)).unwrap_or(0.0),
        best_mib_s: pull.map(|s| mib_per_s(bytes, s.min_ms)).unwrap_or(0.0),
        pull,
        failures,
        cold_check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_is_mib_per_second() {
        assert_eq!(mib_per_s(200 * 1024 * 1024, 2000.0), 100.0);
        assert_eq!(mib_per_s(1, 0.0), 0.0);
    }

    #[test]
    fn a_pull_is_cold_only_if_the_root_grew_by_the_image() {
        assert!(all_cold(&[100, 95], 100));
        assert!(!all_cold(&[100, 10], 100));
        assert!(!all_cold(&[], 100));
    }
}
