//! Namespace pinning, as root (skipped otherwise).

use super::*;
use std::os::unix::fs::MetadataExt;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Unpins on drop, so a failing assertion leaves no mount behind.
struct PinGuard(Pins);

impl Drop for PinGuard {
    fn drop(&mut self) {
        let _ = unpin(&self.0);
    }
}

fn mounted_under(dir: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_string_lossy();
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4).is_some_and(|m| m.starts_with(&*dir)))
}

#[test]
fn pinned_namespaces_are_new_with_lo_up_and_hostname_and_unpin_leaves_no_mount() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ns").join("pod1");
    let request = PinRequest {
        net: true,
        ipc: true,
        uts: true,
        hostname: "cradle-test-pod".into(),
    };
    let guard = PinGuard(pin(&dir, &request).unwrap());
    let pins = guard.0.clone();
    for (pin, kind) in [(&pins.net, "net"), (&pins.ipc, "ipc"), (&pins.uts, "uts")] {
        let pin = pin.as_ref().unwrap();
        let pinned_ino = std::fs::metadata(pin).unwrap().ino();
        let host_ino = std::fs::metadata(format!("/proc/self/ns/{kind}"))
            .unwrap()
            .ino();
        assert_ne!(pinned_ino, host_ino, "{kind} namespace must be new");
    }
    assert!(mounted_under(&dir));

    // Enter the pins on a throwaway thread and look around.
    let net = pins.net.clone().unwrap();
    let uts = pins.uts.clone().unwrap();
    let (link_ino, lo_flags, hostname) = std::thread::spawn(move || {
        let net_file = std::fs::File::open(&net).unwrap();
        let uts_file = std::fs::File::open(&uts).unwrap();
        nix::sched::setns(&net_file, CloneFlags::CLONE_NEWNET).unwrap();
        nix::sched::setns(&uts_file, CloneFlags::CLONE_NEWUTS).unwrap();
        let link_ino = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        let flags = interface_flags("lo").unwrap();
        let hostname = nix::unistd::gethostname().unwrap();
        (link_ino, flags, hostname)
    })
    .join()
    .unwrap();
    assert_eq!(
        link_ino,
        std::fs::metadata(pins.net.as_ref().unwrap()).unwrap().ino()
    );
    assert_ne!(lo_flags & libc::IFF_UP as libc::c_short, 0, "lo must be up");
    assert_eq!(hostname.to_string_lossy(), "cradle-test-pod");

    unpin(&pins).unwrap();
    assert!(!mounted_under(&dir), "no mount may remain after unpin");
    assert!(!dir.exists());
    unpin(&pins).unwrap();
}

#[test]
fn host_network_pins_no_net_namespace() {
    if !is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pod2");
    let request = PinRequest {
        net: false,
        ipc: true,
        uts: false,
        hostname: String::new(),
    };
    let guard = PinGuard(pin(&dir, &request).unwrap());
    assert!(guard.0.net.is_none());
    assert!(guard.0.uts.is_none());
    assert!(guard.0.ipc.is_some());
    unpin(&guard.0).unwrap();
    assert!(!mounted_under(&dir));
}
