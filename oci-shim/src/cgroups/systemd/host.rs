//! Whether systemd runs on this host, and where its bus is.

use std::path::Path;

/// systemd creates this directory at boot when it is PID 1 (`sd_booted`).
pub const RUNNING_DIR: &str = "/run/systemd/system";

/// The system bus (dbus-daemon or dbus-broker).
pub const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// systemd's own peer-to-peer socket, for root, where no bus daemon runs.
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";

/// True when systemd is the init system here (`sd_booted()`'s test).
pub fn systemd_running() -> bool {
    Path::new(RUNNING_DIR).is_dir()
}

/// Where to reach systemd's manager: the system bus when it exists (as
/// runc), otherwise systemd's private socket, talked to peer to peer.
/// `None` when neither socket exists.
pub fn bus_address() -> Option<BusAddress> {
    if Path::new(SYSTEM_BUS_SOCKET).exists() {
        Some(BusAddress {
            address: format!("unix:path={SYSTEM_BUS_SOCKET}"),
            peer_to_peer: false,
        })
    } else if Path::new(PRIVATE_SOCKET).exists() {
        Some(BusAddress {
            address: format!("unix:path={PRIVATE_SOCKET}"),
            peer_to_peer: true,
        })
    } else {
        None
    }
}

/// A D-Bus address and whether a bus daemon or systemd itself answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BusAddress {
    /// `unix:path=…`.
    pub address: String,
    /// True for systemd's private socket (no bus daemon, no AddMatch).
    pub peer_to_peer: bool,
}
