//! The files a sandbox shares with its containers: `/etc/hostname`,
//! `/etc/hosts` and `/etc/resolv.conf`, kept in `<root>/sandboxes/<id>/` and
//! bind-mounted into every container of the pod (as containerd does), so the
//! pod's DNS config and hostname hold whatever the image ships.

use cradle_proto::cri;
use std::path::{Path, PathBuf};

/// The shared files: (file name in the sandbox dir, path in the container).
pub const SANDBOX_FILES: [(&str, &str); 3] = [
    ("hostname", "/etc/hostname"),
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// `/etc/hosts` of a pod with its own network namespace.
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// resolv.conf from the kubelet's DNS config.
pub fn render_resolv_conf(dns: &cri::DnsConfig) -> String {
    let mut out = String::new();
    if !dns.searches.is_empty() {
        out.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for server in &dns.servers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !dns.options.is_empty() {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    out
}

/// Writes the shared files of a sandbox into `dir` (created here). Host-network
/// pods get the node's hosts file; without a DNS config the node's resolv.conf
/// is used; an empty hostname means the node's.
pub fn write_sandbox_files(
    dir: &Path,
    config: &cri::PodSandboxConfig,
    host_network: bool,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let hostname = if config.hostname.is_empty() {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        config.hostname.clone()
    };
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| DEFAULT_HOSTS.to_string())
    } else {
        DEFAULT_HOSTS.to_string()
    };
    std::fs::write(dir.join("hosts"), hosts)?;
    let resolv = match &config.dns_config {
        Some(dns) => render_resolv_conf(dns),
        None => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    std::fs::write(dir.join("resolv.conf"), resolv)
}

/// The bind mounts of the shared files for one container, skipping any
/// destination the kubelet already mounts (it manages `/etc/hosts` itself).
pub fn sandbox_mounts(dir: &Path, config: &cri::ContainerConfig) -> Vec<cri::Mount> {
    let readonly = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .is_some_and(|s| s.readonly_rootfs);
    SANDBOX_FILES
        .iter()
        .filter(|(_, dest)| !config.mounts.iter().any(|m| m.container_path == *dest))
        .map(|(file, dest)| cri::Mount {
            container_path: dest.to_string(),
            host_path: path_string(dir.join(file)),
            readonly,
            ..Default::default()
        })
        .collect()
}

fn path_string(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_lists_search_servers_and_options() {
        let dns = cri::DnsConfig {
            servers: vec!["10.0.0.10".into(), "10.0.0.11".into()],
            searches: vec!["ns.svc.cluster.local".into(), "cluster.local".into()],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            render_resolv_conf(&dns),
            "search ns.svc.cluster.local cluster.local\nnameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5\n"
        );
    }

    #[test]
    fn files_carry_the_pod_hostname_and_dns() {
        let dir = tempfile::tempdir().unwrap();
        let config = cri::PodSandboxConfig {
            hostname: "web-0".into(),
            dns_config: Some(cri::DnsConfig {
                servers: vec!["1.2.3.4".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        write_sandbox_files(dir.path(), &config, false).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(read("hostname"), "web-0\n");
        assert_eq!(read("resolv.conf"), "nameserver 1.2.3.4\n");
        assert!(read("hosts").starts_with("127.0.0.1\tlocalhost\n"));
    }

    #[test]
    fn kubelet_mounts_win_over_sandbox_files() {
        let config = cri::ContainerConfig {
            mounts: vec![cri::Mount {
                container_path: "/etc/hosts".into(),
                host_path: "/var/lib/kubelet/pods/x/etc-hosts".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mounts = sandbox_mounts(Path::new("/sb"), &config);
        let dests: Vec<_> = mounts.iter().map(|m| m.container_path.as_str()).collect();
        assert_eq!(dests, ["/etc/hostname", "/etc/resolv.conf"]);
        assert_eq!(mounts[0].host_path, "/sb/hostname");
        assert!(!mounts[0].readonly);
    }
}
