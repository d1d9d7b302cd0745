//! The on-disk result cache: what each ADD returned, with the configuration
//! and arguments it ran with, so that DEL and CHECK work after the daemon
//! (or the host) restarts and after the configuration directory changed.
//!
//! The layout follows libcni's `/var/lib/cni/results`: one JSON file per
//! attachment named `<network>-<container id>-<ifname>` under `results/` in
//! the directory the runtime passes. Files are written atomically (temp file,
//! fsync, rename), so a crash leaves either the old state or the new one.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors of reading or writing the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file system refused a read, write or rename.
    #[error("CNI result cache {}: {source}", path.display())]
    Io {
        /// The entry (or its directory) being accessed.
        path: PathBuf,
        /// The refusal.
        source: std::io::Error,
    },
    /// A file in the cache does not parse as an entry (or an entry does not serialize).
    #[error("CNI result cache {}: not a cache entry: {source}", path.display())]
    Corrupt {
        /// The entry's file.
        path: PathBuf,
        /// Why it does not parse.
        source: serde_json::Error,
    },
    /// A network name, container id or interface name that would escape
    /// the cache directory or make an ambiguous file name.
    #[error("CNI result cache: unusable key part {0:?}")]
    BadKey(String),
}

/// The cache format's kind marker (libcni's name for the same layout).
pub const KIND: &str = "cniCacheV1";

/// One cached attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// The format marker, [`KIND`].
    pub kind: String,
    /// The `CNI_CONTAINERID` of the attachment (the sandbox id).
    pub container_id: String,
    /// The `CNI_IFNAME` of the attachment.
    pub if_name: String,
    /// The name of the network configuration list.
    pub network_name: String,
    /// The netns path the ADD ran with.
    #[serde(default)]
    pub netns: String,
    /// The network configuration list the ADD ran with.
    pub config: Value,
    /// The `CNI_ARGS` pairs the ADD ran with.
    #[serde(default)]
    pub cni_args: Vec<(String, String)>,
    /// The `runtimeConfig` capability arguments the ADD ran with.
    #[serde(default)]
    pub capability_args: serde_json::Map<String, Value>,
    /// The chain's final result.
    pub result: Value,
}

/// The cache directory (`<dir>/results`).
#[derive(Debug, Clone)]
pub struct ResultCache {
    root: PathBuf,
    dir: PathBuf,
}

impl ResultCache {
    /// A cache rooted at `dir` (entries live in `dir/results`); nothing is
    /// created until the first write.
    pub fn new(dir: &Path) -> Self {
        ResultCache {
            root: dir.to_path_buf(),
            dir: dir.join("results"),
        }
    }

    /// The directory the cache was opened with.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of one attachment.
    pub fn path(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<PathBuf, CacheError> {
        for part in [network, container_id, ifname] {
            if part.is_empty() || part.contains('/') || part.starts_with('.') {
                return Err(CacheError::BadKey(part.to_string()));
            }
        }
        Ok(self.dir.join(format!("{network}-{container_id}-{ifname}")))
    }

    /// Writes `entry` atomically, replacing any previous one.
    pub fn write(&self, entry: &CacheEntry) -> Result<(), CacheError> {
        let path = self.path(&entry.network_name, &entry.container_id, &entry.if_name)?;
        let io = |source| CacheError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let bytes = serde_json::to_vec(entry).map_err(|source| CacheError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// The entry of one attachment, `None` when there is none.
    pub fn read(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<CacheEntry>, CacheError> {
        let path = self.path(network, container_id, ifname)?;
        read_entry(&path)
    }

    /// Removes one attachment's entry; absent is fine.
    pub fn remove(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<(), CacheError> {
        let path = self.path(network, container_id, ifname)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CacheError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// All readable entries; unreadable files are skipped with a warning.
    pub fn list(&self) -> Result<Vec<CacheEntry>, CacheError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CacheError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'))
            {
                continue;
            }
            match read_entry(&path) {
                Ok(Some(entry)) => out.push(entry),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping {e}"),
            }
        }
        Ok(out)
    }

    /// The entries of one container and interface, in any network (for a DEL
    /// when the configuration directory no longer names the network).
    pub fn find(&self, container_id: &str, ifname: &str) -> Result<Vec<CacheEntry>, CacheError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|e| e.container_id == container_id && e.if_name == ifname)
            .collect())
    }
}

fn read_entry(path: &Path) -> Result<Option<CacheEntry>, CacheError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CacheError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| CacheError::Corrupt {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(network: &str, id: &str) -> CacheEntry {
        CacheEntry {
            kind: KIND.into(),
            container_id: id.into(),
            if_name: "eth0".into(),
            network_name: network.into(),
            netns: "/run/ns".into(),
            config: serde_json::json!({"cniVersion":"1.0.0","name":network,"plugins":[{"type":"x"}]}),
            cni_args: vec![("K8S_POD_NAME".into(), "p".into())],
            capability_args: serde_json::Map::new(),
            result: serde_json::json!({"ips":[{"address":"10.0.0.2/24"}]}),
        }
    }

    #[test]
    fn entries_round_trip_under_libcni_style_names() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(tmp.path());
        assert_eq!(cache.read("net", "c1", "eth0").unwrap(), None);
        cache.write(&entry("net", "c1")).unwrap();
        assert!(tmp.path().join("results/net-c1-eth0").is_file());
        assert_eq!(
            cache.read("net", "c1", "eth0").unwrap(),
            Some(entry("net", "c1"))
        );
        assert_eq!(cache.find("c1", "eth0").unwrap().len(), 1);
        cache.remove("net", "c1", "eth0").unwrap();
        cache.remove("net", "c1", "eth0").unwrap();
        assert_eq!(cache.list().unwrap(), vec![]);
    }

    #[test]
    fn keys_with_path_separators_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(tmp.path());
        assert!(matches!(
            cache.path("../x", "c", "eth0"),
            Err(CacheError::BadKey(_))
        ));
    }

    #[test]
    fn corrupt_files_are_reported_on_read_and_skipped_in_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(tmp.path());
        cache.write(&entry("net", "c1")).unwrap();
        std::fs::write(tmp.path().join("results/net-c2-eth0"), "{").unwrap();
        assert!(matches!(
            cache.read("net", "c2", "eth0"),
            Err(CacheError::Corrupt { .. })
        ));
        assert_eq!(cache.list().unwrap().len(), 1);
    }
}
