//! What the running downloads have received so far, for progress displays
//! (`cradlectl pull`) and the daemon's debug output. Each download registers
//! on start, updates on every chunk and deregisters when it ends however it
//! ends (a guard), so the table only ever shows live downloads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::digest::Digest;

/// One blob download in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadProgress {
    /// The reference being pulled (the first pull, when shared).
    pub image: String,
    /// The blob's digest.
    pub layer: String,
    /// Bytes received so far.
    pub received: u64,
    /// The blob's size from its descriptor.
    pub size: u64,
    /// Bytes an earlier, interrupted download had received (this one asked
    /// the registry only for the rest); counted in `received`.
    pub resumed_from: u64,
}

/// The table of live downloads.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    table: Arc<Mutex<BTreeMap<Digest, DownloadProgress>>>,
}

/// Keeps one download's row; removes it on drop.
pub struct Row {
    table: Arc<Mutex<BTreeMap<Digest, DownloadProgress>>>,
    digest: Digest,
}

impl Progress {
    /// Registers a download of `digest` for `image`, resumed after
    /// `resumed_from` bytes.
    pub fn start(&self, image: &str, digest: &Digest, size: u64, resumed_from: u64) -> Row {
        self.lock().insert(
            digest.clone(),
            DownloadProgress {
                image: image.to_string(),
                layer: digest.to_string(),
                received: resumed_from,
                size,
                resumed_from,
            },
        );
        Row {
            table: self.table.clone(),
            digest: digest.clone(),
        }
    }

    /// All live downloads.
    pub fn snapshot(&self) -> Vec<DownloadProgress> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Digest, DownloadProgress>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Row {
    /// Records the bytes received so far.
    pub fn update(&self, received: u64) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(row) = table.get_mut(&self.digest) {
            row.received = received;
        }
    }
}

impl Drop for Row {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.remove(&self.digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_received_bytes_and_vanish_when_dropped() {
        let progress = Progress::default();
        let d = Digest::of(b"layer");
        let row = progress.start("img", &d, 10, 0);
        row.update(4);
        assert_eq!(progress.snapshot()[0].received, 4);
        assert_eq!(progress.snapshot()[0].size, 10);
        drop(row);
        assert!(progress.snapshot().is_empty());
    }
}
