//! Image and snapshot records: redb tables plus an in-memory index.
//!
//! The database is the truth across restarts; the index (loaded at open) is
//! what `list` and `resolve` read, so they never touch the disk. Every change
//! is one write transaction followed by the same change to the index, both
//! under one commit lock, so memory never disagrees with what was committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::digest::is_hex;
use crate::error::Error;
use crate::image::Image;
use crate::reference::ImageRef;

/// image id → JSON [`ImageRecord`].
const IMAGES: TableDefinition<&str, &str> = TableDefinition::new("snapshotter.images");
/// diff id → JSON [`SnapshotRecord`].
const SNAPSHOTS: TableDefinition<&str, &str> = TableDefinition::new("snapshotter.snapshots");

/// Shortest id prefix `resolve` accepts, as `docker`/`crictl` print (12).
pub const MIN_ID_PREFIX: usize = 12;

/// An image with the blobs it owns in the content store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub image: Image,
    pub config_digest: Digest,
    /// The manifest and, when pulled through one, the index.
    pub manifest_digests: Vec<Digest>,
    /// Compressed layer blobs, bottom first.
    pub layer_blobs: Vec<Digest>,
}

impl ImageRecord {
    fn blobs(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.config_digest)
            .chain(&self.manifest_digests)
            .chain(&self.layer_blobs)
    }

    /// The layers' diff ids (snapshot keys), bottom first.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.image
            .layers
            .iter()
            .filter_map(|l| Digest::parse(l).ok())
            .collect()
    }
}

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub diff_id: Digest,
    /// Bytes of file content, recorded at unpack so usage never walks the tree.
    pub size: u64,
    /// Inodes the layer created (0 in records written before this was kept).
    #[serde(default)]
    pub inodes: u64,
}

#[derive(Debug, Default, Clone)]
struct Index {
    images: BTreeMap<String, ImageRecord>,
    snapshots: BTreeMap<Digest, SnapshotRecord>,
}

/// What a removal freed (to delete from disk after the commit).
#[derive(Debug, Default)]
pub struct Freed {
    pub blobs: Vec<Digest>,
    pub snapshots: Vec<Digest>,
}

/// The records of one image store.
pub struct Records {
    db: Arc<Database>,
    index: RwLock<Index>,
    commit: Mutex<()>,
}

impl Records {
    /// Creates the tables if needed and loads them into memory.
    pub fn load(db: Arc<Database>) -> Result<Self, Error> {
        let txn = db
            .begin_write()
            .map_err(|e| Error::db("creating tables", e))?;
        {
            txn.open_table(IMAGES)
                .map_err(|e| Error::db("creating tables", e))?;
            txn.open_table(SNAPSHOTS)
                .map_err(|e| Error::db("creating tables", e))?;
        }
        txn.commit().map_err(|e| Error::db("creating tables", e))?;

        let mut index = Index::default();
        let read = db
            .begin_read()
            .map_err(|e| Error::db("loading records", e))?;
        let images = read
            .open_table(IMAGES)
            .map_err(|e| Error::db("loading records", e))?;
        for item in images.iter().map_err(|e| Error::db("loading records", e))? {
            let (k, v) = item.map_err(|e| Error::db("loading records", e))?;
            let rec: ImageRecord = parse(k.value(), v.value())?;
            index.images.insert(rec.image.id.clone(), rec);
        }
        let snaps = read
            .open_table(SNAPSHOTS)
            .map_err(|e| Error::db("loading records", e))?;
        for item in snaps.iter().map_err(|e| Error::db("loading records", e))? {
            let (k, v) = item.map_err(|e| Error::db("loading records", e))?;
            let rec: SnapshotRecord = parse(k.value(), v.value())?;
            index.snapshots.insert(rec.diff_id.clone(), rec);
        }
        Ok(Records {
            db,
            index: RwLock::new(index),
            commit: Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// All images.
    pub fn images(&self) -> Vec<Image> {
        self.read()
            .images
            .values()
            .map(|r| r.image.clone())
            .collect()
    }

    /// The record of snapshot `diff_id`.
    pub fn snapshot(&self, diff_id: &Digest) -> Option<SnapshotRecord> {
        self.read().snapshots.get(diff_id).cloned()
    }

    /// Bytes and inodes of all recorded snapshots.
    pub fn snapshot_usage(&self) -> (u64, u64) {
        let index = self.read();
        let bytes = index.snapshots.values().map(|s| s.size).sum();
        let inodes = index.snapshots.values().map(|s| s.inodes).sum();
        (bytes, inodes)
    }

    /// Finds an image by id, unique id prefix, tag or digest reference.
    pub fn find(&self, reference_or_id: &str) -> Option<ImageRecord> {
        let index = self.read();
        let hex = reference_or_id
            .strip_prefix("sha256:")
            .unwrap_or(reference_or_id);
        if is_hex(hex) && hex.len() >= MIN_ID_PREFIX {
            let mut hits = index
                .images
                .values()
                .filter(|r| r.image.id["sha256:".len()..].starts_with(hex));
            if let (Some(hit), None) = (hits.next(), hits.next()) {
                return Some(hit.clone());
            }
        }
        let r = ImageRef::parse(reference_or_id).ok()?;
        let wanted = match &r.digest {
            Some(d) => r.with_digest(d),
            None => r.tagged()?,
        };
        index
            .images
            .values()
            .find(|rec| {
                rec.image.repo_tags.contains(&wanted) || rec.image.repo_digests.contains(&wanted)
            })
            .cloned()
    }

    /// Records a pulled image and its new snapshots in one transaction. The
    /// image's tags move to it from any other image that held them; tags and
    /// digests it already had are kept.
    pub fn commit_pull(
        &self,
        mut rec: ImageRecord,
        snapshots: Vec<SnapshotRecord>,
    ) -> Result<Image, Error> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.read().clone();
        if let Some(old) = next.images.get(&rec.image.id) {
            rec.image.repo_tags = union(&old.image.repo_tags, &rec.image.repo_tags);
            rec.image.repo_digests = union(&old.image.repo_digests, &rec.image.repo_digests);
        }
        let mut changed = vec![rec.image.id.clone()];
        for other in next
            .images
            .values_mut()
            .filter(|o| o.image.id != rec.image.id)
        {
            let before = other.image.repo_tags.len();
            other
                .image
                .repo_tags
                .retain(|t| !rec.image.repo_tags.contains(t));
            if other.image.repo_tags.len() != before {
                changed.push(other.image.id.clone());
            }
        }
        next.images.insert(rec.image.id.clone(), rec.clone());
        for s in snapshots {
            next.snapshots.insert(s.diff_id.clone(), s);
        }

        let txn = self
            .db
            .begin_write()
            .map_err(|e| Error::db("recording a pull", e))?;
        {
            let mut images = txn
                .open_table(IMAGES)
                .map_err(|e| Error::db("recording a pull", e))?;
            for id in &changed {
                if let Some(r) = next.images.get(id) {
                    images
                        .insert(id.as_str(), to_json(r).as_str())
                        .map_err(|e| Error::db("recording a pull", e))?;
                }
            }
            let mut snaps = txn
                .open_table(SNAPSHOTS)
                .map_err(|e| Error::db("recording a pull", e))?;
            for diff_id in rec.diff_ids() {
                if let Some(s) = next.snapshots.get(&diff_id) {
                    snaps
                        .insert(diff_id.as_str(), to_json(s).as_str())
                        .map_err(|e| Error::db("recording a pull", e))?;
                }
            }
        }
        txn.commit().map_err(|e| Error::db("recording a pull", e))?;
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(rec.image)
    }

    /// Deletes image `id` and the snapshot records no remaining image uses;
    /// returns what is no longer referenced, for the caller to delete.
    pub fn commit_remove(&self, id: &str) -> Result<Freed, Error> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.read().clone();
        let Some(gone) = next.images.remove(id) else {
            return Ok(Freed::default());
        };
        let (used_blobs, used_snaps) = referenced(&next);
        let freed = Freed {
            blobs: gone
                .blobs()
                .filter(|b| !used_blobs.contains(*b))
                .cloned()
                .collect(),
            snapshots: gone
                .diff_ids()
                .into_iter()
                .filter(|d| !used_snaps.contains(d))
                .collect(),
        };
        for d in &freed.snapshots {
            next.snapshots.remove(d);
        }
        let txn = self
            .db
            .begin_write()
            .map_err(|e| Error::db("removing an image", e))?;
        {
            let mut images = txn
                .open_table(IMAGES)
                .map_err(|e| Error::db("removing an image", e))?;
            images
                .remove(id)
                .map_err(|e| Error::db("removing an image", e))?;
            let mut snaps = txn
                .open_table(SNAPSHOTS)
                .map_err(|e| Error::db("removing an image", e))?;
            for d in &freed.snapshots {
                snaps
                    .remove(d.as_str())
                    .map_err(|e| Error::db("removing an image", e))?;
            }
        }
        txn.commit()
            .map_err(|e| Error::db("removing an image", e))?;
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(freed)
    }

    /// Of `blobs` and `snapshots` found on disk, those no record references
    /// (left by a crash between a commit and the file deletions, or by an
    /// interrupted pull).
    pub fn unreferenced(&self, blobs: Vec<Digest>, snapshots: Vec<Digest>) -> Freed {
        self.unreferenced_without(&BTreeSet::new(), blobs, snapshots)
    }

    /// As [`Records::unreferenced`], as if the images `removing` (ids) were
    /// gone: what a collection after their removal would delete.
    pub fn unreferenced_without(
        &self,
        removing: &BTreeSet<String>,
        blobs: Vec<Digest>,
        snapshots: Vec<Digest>,
    ) -> Freed {
        let index = self.read();
        let (used_blobs, used_snaps) = referenced_without(&index, removing);
        Freed {
            blobs: blobs
                .into_iter()
                .filter(|b| !used_blobs.contains(b))
                .collect(),
            snapshots: snapshots
                .into_iter()
                .filter(|s| !used_snaps.contains(s))
                .collect(),
        }
    }
}

fn referenced(index: &Index) -> (BTreeSet<Digest>, BTreeSet<Digest>) {
    referenced_without(index, &BTreeSet::new())
}

/// The blobs and snapshots the images of `index` reference, but for the
/// images `removing`.
fn referenced_without(
    index: &Index,
    removing: &BTreeSet<String>,
) -> (BTreeSet<Digest>, BTreeSet<Digest>) {
    let kept = || {
        index
            .images
            .iter()
            .filter(|(id, _)| !removing.contains(*id))
            .map(|(_, r)| r)
    };
    let blobs = kept().flat_map(|r| r.blobs().cloned()).collect();
    let snaps = kept().flat_map(|r| r.diff_ids()).collect();
    (blobs, snaps)
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    out.extend(b.iter().filter(|x| !a.contains(x)).cloned());
    out
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|source| Error::CorruptRecord {
        key: key.to_string(),
        source,
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Records are plain structs of strings and numbers: serializing cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", hex::encode([n; 32]))).unwrap()
    }

    fn record(config: u8, tag: &str, layers: &[u8]) -> ImageRecord {
        ImageRecord {
            image: Image {
                id: digest(config).to_string(),
                repo_tags: vec![tag.to_string()],
                repo_digests: vec![format!("docker.io/library/x@{}", digest(config + 100))],
                size: 1,
                layers: layers.iter().map(|l| digest(*l).to_string()).collect(),
                config: Default::default(),
            },
            config_digest: digest(config),
            manifest_digests: vec![digest(config + 100)],
            layer_blobs: layers.iter().map(|l| digest(l + 50)).collect(),
        }
    }

    fn snaps(layers: &[u8]) -> Vec<SnapshotRecord> {
        layers
            .iter()
            .map(|l| SnapshotRecord {
                diff_id: digest(*l),
                size: 10,
                inodes: 1,
            })
            .collect()
    }

    fn open(dir: &tempfile::TempDir) -> Records {
        let db = Arc::new(Database::create(dir.path().join("db.redb")).unwrap());
        Records::load(db).unwrap()
    }

    #[test]
    fn repull_moves_the_tag_and_records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let tag = "docker.io/library/x:latest";
        {
            let recs = open(&dir);
            recs.commit_pull(record(1, tag, &[10]), snaps(&[10]))
                .unwrap();
            recs.commit_pull(record(2, tag, &[10, 11]), snaps(&[11]))
                .unwrap();
            assert_eq!(recs.find("x").unwrap().image.id, digest(2).to_string());
        }
        let recs = open(&dir);
        let old = recs.find(&digest(1).to_string()).unwrap();
        assert!(old.image.repo_tags.is_empty());
        assert_eq!(
            recs.find("x:latest").unwrap().image.id,
            digest(2).to_string()
        );
        assert_eq!(recs.snapshot_usage(), (20, 2));
    }

    #[test]
    fn images_resolve_by_id_prefix_and_digest_reference() {
        let dir = tempfile::tempdir().unwrap();
        let recs = open(&dir);
        recs.commit_pull(record(1, "docker.io/library/x:v1", &[10]), snaps(&[10]))
            .unwrap();
        let hex = digest(1).hex().to_string();
        assert!(recs.find(&hex).is_some());
        assert!(recs.find(&hex[..12]).is_some());
        assert!(recs.find(&hex[..11]).is_none());
        assert!(recs.find(&format!("x@{}", digest(101))).is_some());
        assert!(recs.find("x:v2").is_none());
    }

    #[test]
    fn remove_frees_only_what_no_other_image_uses() {
        let dir = tempfile::tempdir().unwrap();
        let recs = open(&dir);
        recs.commit_pull(
            record(1, "docker.io/library/a:latest", &[10, 11]),
            snaps(&[10, 11]),
        )
        .unwrap();
        recs.commit_pull(record(2, "docker.io/library/b:latest", &[10]), vec![])
            .unwrap();
        let freed = recs.commit_remove(&digest(1).to_string()).unwrap();
        assert_eq!(freed.snapshots, vec![digest(11)]);
        assert!(freed.blobs.contains(&digest(1)) && freed.blobs.contains(&digest(61)));
        assert!(!freed.blobs.contains(&digest(60)));
        assert!(recs.snapshot(&digest(10)).is_some() && recs.snapshot(&digest(11)).is_none());
        assert!(
            recs.commit_remove(&digest(1).to_string())
                .unwrap()
                .blobs
                .is_empty()
        );
    }
}
