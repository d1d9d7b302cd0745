//! The CDI devices of the spec directories, read afresh for each container
//! that asks for some (spec files are small and few; a device a driver
//! added a moment ago is found without a watcher).
//!
//! As the CDI library: only `*.json` and `*.yaml` files directly in each
//! directory are read, in name order; a file that cannot be read or is
//! malformed is skipped with a warning naming it; a device in a later
//! directory overrides one of the same name in an earlier directory, and
//! two definitions in one directory conflict (the device is then
//! unresolvable, naming both files).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::spec_file::{self, ContainerEdits, SpecFile};

/// One loaded spec file.
#[derive(Debug)]
pub struct LoadedSpec {
    pub path: PathBuf,
    pub spec: SpecFile,
}

/// Where a device is defined.
#[derive(Debug, Clone)]
struct Definition {
    spec: Arc<LoadedSpec>,
    device: usize,
    priority: usize,
}

/// Every device of the spec directories by fully-qualified name.
#[derive(Debug, Default)]
pub struct Registry {
    devices: HashMap<String, Definition>,
    conflicts: HashMap<String, Vec<PathBuf>>,
}

/// Edits to apply, in order, each with what it comes from (for errors).
pub type Edits = Vec<(String, ContainerEdits)>;

impl Registry {
    /// Reads the spec files of `dirs` (earlier ones have lower priority).
    /// Missing directories are fine.
    pub fn load(dirs: &[PathBuf]) -> Registry {
        let mut registry = Registry::default();
        for (priority, dir) in dirs.iter().enumerate() {
            for path in spec_files(dir) {
                match spec_file::read(&path) {
                    Ok(spec) => registry.add(LoadedSpec { path, spec }, priority),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), "skipping CDI spec file: {e}");
                    }
                }
            }
        }
        registry
    }

    fn add(&mut self, loaded: LoadedSpec, priority: usize) {
        let loaded = Arc::new(loaded);
        for (device, d) in loaded.spec.devices.iter().enumerate() {
            let name = format!("{}={}", loaded.spec.kind, d.name);
            let new = Definition {
                spec: Arc::clone(&loaded),
                device,
                priority,
            };
            match self.devices.get(&name) {
                Some(old) if old.priority == priority => {
                    let files = self.conflicts.entry(name.clone()).or_default();
                    if files.is_empty() {
                        files.push(old.spec.path.clone());
                    }
                    files.push(loaded.path.clone());
                }
                Some(old) if old.priority > priority => {}
                _ => {
                    self.conflicts.remove(&name);
                    self.devices.insert(name, new);
                }
            }
        }
    }

    /// The edits for `names` (fully qualified): each spec's own edits once,
    /// before its first device's, then the device's. An error lists every
    /// name that is malformed, unknown or conflicting.
    pub fn edits_for(&self, names: &[String]) -> Result<Edits, String> {
        let mut out = Vec::new();
        let mut specs_done: Vec<*const LoadedSpec> = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            if let Err(e) = super::names::parse_qualified(name) {
                problems.push(e);
                continue;
            }
            if let Some(files) = self.conflicts.get(name) {
                let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                problems.push(format!(
                    "{name} is defined in more than one spec file of the same directory ({})",
                    files.join(", ")
                ));
                continue;
            }
            let Some(def) = self.devices.get(name) else {
                problems.push(format!("{name} is not defined by any CDI spec"));
                continue;
            };
            let ptr = Arc::as_ptr(&def.spec);
            if !specs_done.contains(&ptr) {
                specs_done.push(ptr);
                let edits = &def.spec.spec.container_edits;
                if !edits.is_empty() {
                    let from = format!("spec {}", def.spec.path.display());
                    out.push((from, edits.clone()));
                }
            }
            let device = &def.spec.spec.devices[def.device];
            out.push((name.clone(), device.container_edits.clone()));
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(format!("unresolvable CDI devices: {}", problems.join("; ")))
        }
    }
}

/// `*.json` and `*.yaml` files directly in `dir`, in name order.
fn spec_files(dir: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), "cannot read CDI spec dir: {e}");
            }
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "yaml"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
