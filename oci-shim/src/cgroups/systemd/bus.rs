//! The seam between the driver's logic and D-Bus: the four calls of
//! `org.freedesktop.systemd1.Manager` the driver makes. The real one is
//! [`super::zbus_bus::ZbusBus`] (run in a child process by
//! [`super::forked::Forked`]); tests give a recording fake.

use crate::cgroups::systemd::properties::Property;

/// How long a unit's start or stop job may take before the driver gives up.
pub const JOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A failed call, as the driver tells the cases apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum BusError {
    /// `org.freedesktop.systemd1.NoSuchUnit` (or not loaded).
    #[error("no such unit")]
    NoSuchUnit,
    /// `org.freedesktop.systemd1.UnitExists`.
    #[error("the unit already exists")]
    UnitExists,
    /// The job's JobRemoved signal did not come within [`JOB_TIMEOUT`].
    #[error("no answer from systemd within {0} s")]
    Timeout(u64),
    /// Connecting to the bus failed.
    #[error("connect to {address}: {reason}")]
    Connect {
        /// The bus address.
        address: String,
        /// Why.
        reason: String,
    },
    /// Any other D-Bus error or failure, as text.
    #[error("{0}")]
    Other(String),
}

/// The systemd manager calls the driver needs. Start and stop return the
/// job's result from its JobRemoved signal (`done`, `failed`, `canceled`…).
pub trait Bus {
    /// `StartTransientUnit(name, "fail", props, [])`, then waits for the job.
    fn start_transient_unit(&self, name: &str, props: &[Property]) -> Result<String, BusError>;
    /// `SetUnitProperties(name, runtime = true, props)`.
    fn set_unit_properties(&self, name: &str, props: &[Property]) -> Result<(), BusError>;
    /// `StopUnit(name, "replace")`, then waits for the job.
    fn stop_unit(&self, name: &str) -> Result<String, BusError>;
    /// `ResetFailedUnit(name)`.
    fn reset_failed_unit(&self, name: &str) -> Result<(), BusError>;
}
