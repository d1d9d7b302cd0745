//! Shared helpers of the cradle-cni integration tests: network namespaces
//! the tests create (and always delete), a throwaway "host" namespace the
//! plugins run in (so bridges, veths and iptables rules never touch the real
//! host), bounded pings, and the leak check.

#![allow(dead_code)]

pub mod lab;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Skips (returns false with a message) unless running as root.
pub fn is_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    cradle_testkit::skip(format!("{test}: needs root (network namespaces)"));
    false
}

/// A short name unique to this process and call: `<prefix><pid><n>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// The prefix of every netns these tests create, for the leak check.
pub const NETNS_PREFIX: &str = "crcni";

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique(NETNS_PREFIX);
        run("ip", &["netns", "add", &name]);
        run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Netns {
            path: PathBuf::from("/var/run/netns").join(&name),
            name,
        }
    }

    /// Runs a command inside the namespace; returns (success, output).
    pub fn exec(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("ip netns exec");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// One ping with a one-second deadline.
    pub fn ping(&self, ip: &str) -> bool {
        self.exec(&["busybox", "ping", "-c1", "-W1", ip]).0
    }

    /// The names of the links in the namespace.
    pub fn links(&self) -> Vec<String> {
        let (_, out) = self.exec(&["ip", "-o", "link", "show"]);
        out.lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .collect()
    }

    /// Moves the calling thread into this namespace until the guard drops;
    /// plugins the thread spawns run here too.
    pub fn enter(&self) -> Entered {
        let home = File::open("/proc/thread-self/ns/net").expect("current netns");
        let target = File::open(&self.path).expect("target netns");
        nix::sched::setns(target.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        Entered { home }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The thread is inside another namespace while this lives.
pub struct Entered {
    home: File,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = nix::sched::setns(self.home.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET);
    }
}

pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bin dir with the named plugins: `cradle-bridge` is the built binary,
/// others come from Debian's /usr/lib/cni.
pub fn bin_dir(root: &Path, plugins: &[&str]) -> PathBuf {
    let dir = root.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    for plugin in plugins {
        let source = if *plugin == "cradle-bridge" {
            PathBuf::from(env!("CARGO_BIN_EXE_cradle-bridge"))
        } else {
            Path::new("/usr/lib/cni").join(plugin)
        };
        std::os::unix::fs::symlink(source, dir.join(plugin)).unwrap();
    }
    dir
}

/// Whether a Debian plugin is installed.
pub fn has_debian_plugin(plugin: &str) -> bool {
    Path::new("/usr/lib/cni").join(plugin).is_file()
}

/// IP files (allocations) left in an IPAM data dir (any network below it).
pub fn ipam_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(networks) = std::fs::read_dir(data_dir) else {
        return out;
    };
    for network in networks.flatten() {
        let Ok(files) = std::fs::read_dir(network.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.parse::<std::net::IpAddr>().is_ok() {
                out.push(file.path());
            }
        }
    }
    out
}

/// The leak check on the real host: no netns, veth or bridge of these tests.
pub fn assert_no_host_leaks(own_netns: &[&str]) {
    let netns = run("ip", &["netns", "list"]);
    for name in own_netns {
        assert!(
            !netns.split_whitespace().any(|n| n == *name),
            "netns {name} leaked"
        );
    }
    let links = run("ip", &["-o", "link", "show"]);
    for line in links.lines() {
        assert!(
            !line.contains(": crv") && !line.contains(": crp") && !line.contains(": crbt"),
            "link leaked on the host: {line}"
        );
    }
}

/// `GET /` on `addr` from inside `netns` (the calling thread's namespace
/// when `None`), with one-second connect and two-second read deadlines.
pub fn http_get(netns: Option<&Netns>, addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let target = netns.map(|n| n.path.clone());
    let current = File::open("/proc/thread-self/ns/net").ok()?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let ns = match &target {
                    Some(path) => File::open(path).ok()?,
                    None => current,
                };
                nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
                let timeout = std::time::Duration::from_secs(1);
                let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
                stream.set_read_timeout(Some(timeout * 2)).ok()?;
                stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
                let mut body = String::new();
                stream.read_to_string(&mut body).ok()?;
                Some(body)
            })
            .join()
            .ok()
            .flatten()
    })
}
