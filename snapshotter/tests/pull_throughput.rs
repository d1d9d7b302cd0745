//! Pull+unpack throughput from a loopback registry (ignored by default: a
//! measurement, not a check). Run in release:
//! `cargo test --release -p cradle-snapshotter --test pull_throughput -- --ignored --nocapture`.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod common;

use std::time::Instant;

use common::*;
use cradle_snapshotter::RegistrySettings;

/// `files` files of `file_size` bytes of half-compressible data.
fn layer_tar(seed: u32, files: usize, file_size: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let contents: Vec<(String, Vec<u8>)> = (0..files)
        .map(|i| {
            let data = (0..file_size)
                .map(|j| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if j % 2 == 0 {
                        (x % 16) as u8 + b'a'
                    } else {
                        b' '
                    }
                })
                .collect();
            (format!("d{}/f{i}", i % 16), data)
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    tar_of(&refs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn pull_throughput_of_a_200_mib_image() {
    if !usable() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layers: Vec<Layer> = (0..4)
        .map(|i| gzip_layer(&layer_tar(i + 7, 400, 128 << 10)))
        .collect();
    let unpacked: usize = 4 * 400 * (128 << 10);
    let img = TestImage::new(layers, "amd64", false);
    push(&registry.host(), "bench", "v1", &img, false, false).await;
    let store = open_store(tmp.path(), RegistrySettings::default());
    let started = Instant::now();
    store
        .pull(&format!("{}/bench:v1", registry.host()), None)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "pull+unpack: {:.1} MiB compressed, {:.1} MiB unpacked in {secs:.2}s: {:.1} MiB/s unpacked",
        img.size() as f64 / 1048576.0,
        unpacked as f64 / 1048576.0,
        unpacked as f64 / 1048576.0 / secs
    );
}
