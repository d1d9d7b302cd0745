//! The systemd cgroup driver (`cradle-oci --systemd-cgroup`): a
//! container's cgroup is a transient scope unit that systemd creates (over
//! D-Bus, with the init's pid in it and delegation on) in the slice the
//! `cgroupsPath` names; the limits systemd manages are given to it as
//! unit properties, and then, as runc does, every limit is also written
//! to the scope's cgroup files by the cgroupfs code ([`super::v1`],
//! [`super::v2`]). Delete stops the unit.
//!
//! The parts: [`unit`] (names and slice paths), [`properties`] (what a
//! scope gets), [`scope`] (the steps and what each answer means) over the
//! [`bus::Bus`] seam, [`zbus_bus`] (D-Bus itself), [`forked`] (each call
//! from a child process) and [`host`] (is systemd here).

pub(super) mod bus;
mod forked;
pub(super) mod host;
mod properties;
mod scope;
mod unit;
mod zbus_bus;

use crate::spec::LinuxResources;

use super::error::CgroupError;
use bus::Bus;
use forked::Forked;
pub use host::systemd_running;
pub use unit::{Unit, expand_slice};

/// A container's scope as a [`super::Cgroup`] carries it: the unit, the
/// container it is for, and the init's pid once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    unit: Unit,
    id: String,
    init_pid: Option<u32>,
}

impl Scope {
    /// The scope for container `id` from its `cgroupsPath` (see
    /// [`Unit::from_cgroups_path`]).
    pub fn new(cgroups_path: &str, id: &str) -> Result<Self, CgroupError> {
        Ok(Scope {
            unit: Unit::from_cgroups_path(cgroups_path, id)?,
            id: id.to_string(),
            init_pid: None,
        })
    }

    /// The scope a container was created in (recorded in its state).
    pub fn existing(unit: &str, cgroup_path: &str) -> Result<Self, CgroupError> {
        Ok(Scope {
            unit: Unit::existing(unit, cgroup_path)?,
            id: String::new(),
            init_pid: None,
        })
    }

    /// The unit.
    pub fn unit(&self) -> &Unit {
        &self.unit
    }

    /// The same scope, to be started with `pid` in it.
    pub fn with_init_pid(mut self, pid: u32) -> Self {
        self.init_pid = Some(pid);
        self
    }

    /// Asks systemd to start the scope with the init in it.
    pub fn start(&self) -> Result<(), CgroupError> {
        let pid = self.init_pid.ok_or_else(|| CgroupError::Systemd {
            op: "start",
            unit: self.unit.name().to_string(),
            reason: "a scope is started with the container's init in it, and there is none yet"
                .into(),
        })?;
        scope::start(&self.bus()?, &self.unit, &self.id, pid)
    }

    /// Gives systemd the limits it manages.
    pub fn set_resources(&self, res: &LinuxResources, v2: bool) -> Result<(), CgroupError> {
        scope::set_resources(&self.bus()?, &self.unit, res, v2)
    }

    /// Stops the unit (gone already is fine).
    pub fn stop(&self) -> Result<(), CgroupError> {
        scope::stop(&self.bus()?, &self.unit)
    }

    fn bus(&self) -> Result<impl Bus, CgroupError> {
        check_host()?;
        let address = host::bus_address().ok_or_else(|| CgroupError::Systemd {
            op: "reach",
            unit: self.unit.name().to_string(),
            reason: format!(
                "neither {} nor {} exists",
                host::SYSTEM_BUS_SOCKET,
                host::PRIVATE_SOCKET
            ),
        })?;
        Ok(Forked::new(address))
    }
}

/// The driver's precondition: systemd is this host's init.
pub fn check_host() -> Result<(), CgroupError> {
    if systemd_running() {
        Ok(())
    } else {
        Err(CgroupError::SystemdNotRunning)
    }
}
