//! Where a container's CRI log goes: the kubelet's `log_path` (`app/0.log`)
//! under the pod's `log_directory`, and nowhere else.
//!
//! The service boundary already refused absolute paths and `..` that climbs
//! out (`cri::validate`); what only the filesystem can tell is a symlink in
//! the pod's log directory that points elsewhere (`app -> /etc`). So the
//! existing part of the path is resolved and must still lie under the
//! resolved log directory, and the file itself must not be a symlink. The
//! shim then creates what is missing as plain directories.

use crate::core::error::{Error, Result};
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// The log file of a container with `log_path` in a pod with
/// `log_directory`, or `None` when either is empty (no CRI log).
pub(crate) fn confined(log_directory: &str, log_path: &str) -> Result<Option<PathBuf>> {
    if log_directory.is_empty() || log_path.is_empty() {
        return Ok(None);
    }
    let dir = Path::new(log_directory);
    let file = dir.join(log_path);
    let refuse = |why: String| {
        Error::InvalidArgument(format!(
            "config.log_path: {log_path:?} leaves the pod's log_directory {log_directory:?}: {why}"
        ))
    };
    let parent = file
        .parent()
        .ok_or_else(|| refuse("it names no file".into()))?;
    let real_dir = resolve(dir)?;
    let real_parent = resolve(parent)?;
    if !real_parent.starts_with(&real_dir) {
        return Err(refuse(format!(
            "its directory resolves to {}",
            real_parent.display()
        )));
    }
    match std::fs::symlink_metadata(&file) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(refuse(format!("{} is a symlink", file.display())));
        }
        Ok(m) if m.is_dir() => {
            return Err(refuse(format!("{} is a directory", file.display())));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&file, e)),
    }
    Ok(Some(file))
}

/// `path` with symlinks resolved as far as it exists; the missing rest is
/// appended as it is (it will be created as plain directories).
fn resolve(path: &Path) -> Result<PathBuf> {
    let mut existing = path;
    let mut missing = Vec::new();
    let real = loop {
        match std::fs::canonicalize(existing) {
            Ok(real) => break real,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(existing, e)),
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(_)) => {
                missing.push(existing.components().next_back());
                existing = parent;
            }
            // `..` at the end or the root itself missing: keep it lexical.
            _ => {
                missing.extend(existing.components().rev().map(Some));
                break PathBuf::from("/");
            }
        }
    };
    let mut out = real;
    for component in missing.into_iter().rev().flatten() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confined_in(dir: &Path, log_path: &str) -> Result<Option<PathBuf>> {
        confined(&dir.display().to_string(), log_path)
    }

    #[test]
    fn the_kubelets_log_path_is_kept_below_the_pods_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let pod = tmp.path().join("default_web_uid");
        std::fs::create_dir(&pod).unwrap();
        assert_eq!(
            confined_in(&pod, "app/0.log").unwrap(),
            Some(pod.join("app/0.log"))
        );
        std::fs::create_dir(pod.join("app")).unwrap();
        assert_eq!(
            confined_in(&pod, "app/0.log").unwrap(),
            Some(pod.join("app/0.log"))
        );
        assert_eq!(
            confined_in(&pod, "c1.log").unwrap(),
            Some(pod.join("c1.log"))
        );
        assert_eq!(confined("", "app/0.log").unwrap(), None);
        assert_eq!(confined_in(&pod, "").unwrap(), None);
    }

    #[test]
    fn a_pod_directory_that_does_not_exist_yet_is_fine() {
        let tmp = tempfile::tempdir().unwrap();
        let pod = tmp.path().join("not/yet");
        assert_eq!(
            confined_in(&pod, "app/0.log").unwrap(),
            Some(pod.join("app/0.log"))
        );
    }

    #[test]
    fn a_symlinked_directory_that_leaves_the_pods_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let pod = tmp.path().join("pod");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&pod).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, pod.join("app")).unwrap();
        let err = confined_in(&pod, "app/0.log").unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("config.log_path"), "{err}");
        std::os::unix::fs::symlink("../outside", pod.join("rel")).unwrap();
        assert!(confined_in(&pod, "rel/deeper/0.log").is_err());
        assert!(!outside.join("0.log").exists());
    }

    #[test]
    fn a_symlinked_log_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let pod = tmp.path().join("pod");
        std::fs::create_dir_all(pod.join("app")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("evil.log"), pod.join("app/0.log")).unwrap();
        let err = confined_in(&pod, "app/0.log").unwrap_err();
        assert!(err.to_string().contains("is a symlink"), "{err}");
    }

    #[test]
    fn a_symlinked_pod_directory_itself_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir_all(&real).unwrap();
        let link = tmp.path().join("pods");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            confined_in(&link, "app/0.log").unwrap(),
            Some(link.join("app/0.log"))
        );
    }

    #[test]
    fn lexical_escapes_are_refused_here_too() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(confined_in(tmp.path(), "../../../../etc/evil.log").is_err());
    }
}
