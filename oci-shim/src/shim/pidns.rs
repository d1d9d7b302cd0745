//! Whether a container's processes die with its init.
//!
//! With a pid namespace of its own, the kernel kills every process of the
//! container when the init exits. Without one (the host's, or a pod's
//! shared namespace joined by path) the init's children outlive it:
//! re-parented to the shim, they would keep the cgroup busy and make the
//! pod's removal fail. The shim then kills them itself, as containerd's
//! runc shim does (`ShouldKillAllOnExit`) and runc's destroy.

use std::path::Path;

/// True unless the bundle's spec asks for a new pid namespace (a `pid`
/// entry without a path). An unreadable spec counts as shared: killing
/// what is left of an exited container's cgroup is never wrong.
pub fn kill_all_on_exit(bundle: &Path) -> bool {
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return true;
    };
    let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return true;
    };
    let namespaces = spec
        .pointer("/linux/namespaces")
        .and_then(|n| n.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    !namespaces.iter().any(|ns| {
        ns.get("type").and_then(|t| t.as_str()) == Some("pid")
            && ns
                .get("path")
                .and_then(|p| p.as_str())
                .is_none_or(str::is_empty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(config: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        kill_all_on_exit(dir.path())
    }

    #[test]
    fn only_a_new_pid_namespace_spares_the_kill() {
        assert!(!with(r#"{"linux":{"namespaces":[{"type":"pid"}]}}"#));
        assert!(!with(
            r#"{"linux":{"namespaces":[{"type":"mount"},{"type":"pid","path":""}]}}"#
        ));
        // The host's pid namespace, and a pod's joined by path.
        assert!(with(r#"{"linux":{"namespaces":[{"type":"mount"}]}}"#));
        assert!(with(
            r#"{"linux":{"namespaces":[{"type":"pid","path":"/proc/1/ns/pid"}]}}"#
        ));
        assert!(with("{}"));
    }
}
