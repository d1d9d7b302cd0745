//! What a garbage collection of the store deleted, or would delete: the
//! blobs and layer snapshots, each with the bytes it occupies on disk.

use serde::{Deserialize, Serialize};

/// One blob or layer snapshot a collection deleted (or would delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    /// The blob's digest, or the layer's diff id (`sha256:<hex>`).
    pub digest: String,
    /// Bytes of allocated blocks it occupied (`st_blocks * 512`, as `du`).
    pub bytes: u64,
}

/// The blobs and layer snapshots of one collection (or removal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Content-store blobs (manifests, configs, compressed layers).
    pub blobs: Vec<Collected>,
    /// Unpacked layer snapshots.
    pub snapshots: Vec<Collected>,
}

impl GcReport {
    /// The bytes of everything listed.
    pub fn bytes(&self) -> u64 {
        self.blobs
            .iter()
            .chain(&self.snapshots)
            .map(|c| c.bytes)
            .sum()
    }

    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty() && self.snapshots.is_empty()
    }

    /// Adds `other`'s items (an item already listed is not listed twice).
    pub fn merge(&mut self, other: GcReport) {
        for (mine, theirs) in [
            (&mut self.blobs, other.blobs),
            (&mut self.snapshots, other.snapshots),
        ] {
            for item in theirs {
                if !mine.iter().any(|m| m.digest == item.digest) {
                    mine.push(item);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(digest: &str, bytes: u64) -> Collected {
        Collected {
            digest: digest.into(),
            bytes,
        }
    }

    #[test]
    fn bytes_sum_blobs_and_snapshots_and_merge_lists_each_once() {
        let mut report = GcReport {
            blobs: vec![item("sha256:a", 10)],
            snapshots: vec![item("sha256:b", 100)],
        };
        assert_eq!(report.bytes(), 110);
        report.merge(GcReport {
            blobs: vec![item("sha256:a", 10), item("sha256:c", 1)],
            snapshots: vec![],
        });
        assert_eq!(report.blobs.len(), 2);
        assert_eq!(report.bytes(), 111);
        assert!(!report.is_empty());
        assert!(GcReport::default().is_empty());
    }
}
