//! Garbage collection: deleting the blobs and layer snapshots no image
//! references (left by failed or interrupted pulls, or freed by a removal),
//! or only listing them (a dry run), each with the bytes it occupies.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;

use crate::ImageStore;
use crate::digest::Digest;
use crate::error::Error;
use crate::gc_report::{Collected, GcReport};
use crate::store::Freed;
use crate::usage;

impl ImageStore {
    /// Deletes blobs and layer snapshots no image references (left by failed
    /// or interrupted pulls) and reports them. Waits for running pulls to
    /// finish first.
    pub async fn gc(&self) -> Result<GcReport, Error> {
        let _gc = self.gc.write().await;
        let orphans = self
            .records
            .unreferenced(self.content.list()?, self.layers.list()?);
        Ok(self.delete(&orphans))
    }

    /// What [`ImageStore::gc`] would delete if the images `removing` (by
    /// anything [`ImageStore::resolve`] accepts; absent ones are ignored)
    /// were removed first: the blobs and snapshots only they use, and the
    /// orphans already there. Deletes nothing. Waits for running pulls, as
    /// `gc` does, so their blobs are not taken for orphans.
    pub async fn gc_dry_run(&self, removing: &[String]) -> Result<GcReport, Error> {
        let _gc = self.gc.write().await;
        let removing: BTreeSet<String> = removing
            .iter()
            .filter_map(|r| self.records.find(r).map(|record| record.image.id))
            .collect();
        let freed =
            self.records
                .unreferenced_without(&removing, self.content.list()?, self.layers.list()?);
        Ok(GcReport {
            blobs: freed.blobs.iter().map(|d| self.blob_usage(d)).collect(),
            snapshots: freed
                .snapshots
                .iter()
                .map(|d| self.snapshot_usage(d))
                .collect(),
        })
    }

    /// Deletes freed files and reports those deleted. Failures are logged,
    /// not returned: the records are already gone, and the next open sweeps
    /// what is left.
    pub(crate) fn delete(&self, freed: &Freed) -> GcReport {
        let mut report = GcReport::default();
        for d in &freed.snapshots {
            let usage = self.snapshot_usage(d);
            match self.layers.remove(d) {
                Ok(()) => report.snapshots.push(usage),
                Err(e) => tracing::warn!(error = %e, "cannot delete snapshot"),
            }
        }
        for d in &freed.blobs {
            let usage = self.blob_usage(d);
            match self.content.remove(d) {
                Ok(()) => report.blobs.push(usage),
                Err(e) => tracing::warn!(error = %e, "cannot delete blob"),
            }
        }
        report
    }

    /// Blob `digest` with the blocks it occupies (0 when already gone).
    fn blob_usage(&self, digest: &Digest) -> Collected {
        let bytes = std::fs::symlink_metadata(self.content.path(digest))
            .map(|m| m.blocks() * 512)
            .unwrap_or(0);
        Collected {
            digest: digest.to_string(),
            bytes,
        }
    }

    /// Snapshot `diff_id` with the blocks its directory occupies (a bounded
    /// walk; 0 when already gone).
    fn snapshot_usage(&self, diff_id: &Digest) -> Collected {
        let fs_dir = self.layers.fs_dir(diff_id);
        let dir = fs_dir.parent().unwrap_or(&fs_dir);
        let bytes = usage::walk(dir).map(|u| u.bytes).unwrap_or(0);
        Collected {
            digest: diff_id.to_string(),
            bytes,
        }
    }
}
