//! The driver's steps over a [`Bus`]: start a container's scope with its
//! init in it, give it its limits, stop it. What each answer means (a
//! leftover unit of the same name, a failed job, a unit already gone) is
//! decided here, apart from D-Bus, so it is tested with a fake bus.

use crate::cgroups::error::CgroupError;
use crate::cgroups::systemd::bus::{Bus, BusError};
use crate::cgroups::systemd::properties::{self, Property};
use crate::cgroups::systemd::unit::Unit;
use crate::spec::LinuxResources;

fn failed(op: &'static str, unit: &Unit, reason: impl ToString) -> CgroupError {
    CgroupError::Systemd {
        op,
        unit: unit.name().to_string(),
        reason: reason.to_string(),
    }
}

/// Starts `unit` with `pid` in it and waits until systemd says it runs. A
/// failed unit of the same name left by an earlier container is reset and
/// the start tried once more; a live one is an error.
pub fn start(bus: &impl Bus, unit: &Unit, id: &str, pid: u32) -> Result<(), CgroupError> {
    let props = properties::scope_start(unit, id, pid);
    let result = match bus.start_transient_unit(unit.name(), &props) {
        Err(BusError::UnitExists) => {
            let _ = bus.reset_failed_unit(unit.name());
            bus.start_transient_unit(unit.name(), &props)
                .map_err(|e| match e {
                    BusError::UnitExists => failed(
                        "start",
                        unit,
                        "a unit of this name is already running (another container with this id?)",
                    ),
                    other => failed("start", unit, other),
                })?
        }
        other => other.map_err(|e| failed("start", unit, e))?,
    };
    if result != "done" {
        return Err(failed(
            "start",
            unit,
            format!("the start job ended {result:?}"),
        ));
    }
    Ok(())
}

/// Gives the running unit the limits of `res` systemd manages
/// ([`properties::resources`]); nothing to say is no call.
pub fn set_resources(
    bus: &impl Bus,
    unit: &Unit,
    res: &LinuxResources,
    v2: bool,
) -> Result<(), CgroupError> {
    let props: Vec<Property> = properties::resources(res, v2)?;
    if props.is_empty() {
        return Ok(());
    }
    bus.set_unit_properties(unit.name(), &props)
        .map_err(|e| failed("set properties of", unit, e))
}

/// Stops the unit (a unit already gone is fine) and clears a failed
/// state, so the name can be used again.
pub fn stop(bus: &impl Bus, unit: &Unit) -> Result<(), CgroupError> {
    match bus.stop_unit(unit.name()) {
        Ok(r) if r == "done" => {}
        Err(BusError::NoSuchUnit) => return Ok(()),
        Ok(r) => {
            let _ = bus.reset_failed_unit(unit.name());
            return Err(failed("stop", unit, format!("the stop job ended {r:?}")));
        }
        Err(e) => return Err(failed("stop", unit, e)),
    }
    match bus.reset_failed_unit(unit.name()) {
        Ok(()) | Err(BusError::NoSuchUnit) => Ok(()),
        Err(e) => Err(failed("reset", unit, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records each call; answers from a script (default: success).
    #[derive(Default)]
    struct Fake {
        calls: RefCell<Vec<String>>,
        start: RefCell<Vec<Result<String, BusError>>>,
        stop: Option<Result<String, BusError>>,
    }

    impl Bus for Fake {
        fn start_transient_unit(&self, name: &str, props: &[Property]) -> Result<String, BusError> {
            self.calls
                .borrow_mut()
                .push(format!("start {name} {}", props.len()));
            let mut s = self.start.borrow_mut();
            if s.is_empty() {
                Ok("done".into())
            } else {
                s.remove(0)
            }
        }
        fn set_unit_properties(&self, name: &str, props: &[Property]) -> Result<(), BusError> {
            let names: Vec<_> = props.iter().map(|p| p.name.as_str()).collect();
            self.calls
                .borrow_mut()
                .push(format!("set {name} {}", names.join(",")));
            Ok(())
        }
        fn stop_unit(&self, name: &str) -> Result<String, BusError> {
            self.calls.borrow_mut().push(format!("stop {name}"));
            self.stop.clone().unwrap_or(Ok("done".into()))
        }
        fn reset_failed_unit(&self, name: &str) -> Result<(), BusError> {
            self.calls.borrow_mut().push(format!("reset {name}"));
            Ok(())
        }
    }

    fn unit() -> Unit {
        Unit::from_cgroups_path("kubepods.slice:cri-cradle:c1", "c1").unwrap()
    }

    #[test]
    fn a_scope_starts_once() {
        let bus = Fake::default();
        start(&bus, &unit(), "c1", 7).unwrap();
        assert_eq!(*bus.calls.borrow(), ["start cri-cradle-c1.scope 9"]);
    }

    #[test]
    fn a_leftover_failed_unit_is_reset_and_the_start_retried() {
        let bus = Fake::default();
        bus.start.borrow_mut().push(Err(BusError::UnitExists));
        start(&bus, &unit(), "c1", 7).unwrap();
        assert_eq!(
            *bus.calls.borrow(),
            [
                "start cri-cradle-c1.scope 9",
                "reset cri-cradle-c1.scope",
                "start cri-cradle-c1.scope 9"
            ]
        );
    }

    #[test]
    fn a_live_unit_of_the_same_name_is_an_error() {
        let bus = Fake::default();
        bus.start
            .borrow_mut()
            .extend([Err(BusError::UnitExists), Err(BusError::UnitExists)]);
        let e = start(&bus, &unit(), "c1", 7).unwrap_err();
        assert!(e.to_string().contains("already running"), "{e}");
    }

    #[test]
    fn a_failed_start_job_is_an_error_naming_the_unit() {
        let bus = Fake::default();
        bus.start.borrow_mut().push(Ok("failed".into()));
        let e = start(&bus, &unit(), "c1", 7).unwrap_err();
        assert!(e.to_string().contains("cri-cradle-c1.scope"), "{e}");
        assert!(e.to_string().contains("failed"), "{e}");
    }

    #[test]
    fn limits_go_to_systemd_and_none_is_no_call() {
        let bus = Fake::default();
        let res: LinuxResources =
            serde_json::from_value(serde_json::json!({"pids": {"limit": 5}})).unwrap();
        set_resources(&bus, &unit(), &res, true).unwrap();
        set_resources(&bus, &unit(), &LinuxResources::default(), true).unwrap();
        assert_eq!(*bus.calls.borrow(), ["set cri-cradle-c1.scope TasksMax"]);
    }

    #[test]
    fn stopping_a_unit_already_gone_is_fine() {
        let bus = Fake {
            stop: Some(Err(BusError::NoSuchUnit)),
            ..Fake::default()
        };
        stop(&bus, &unit()).unwrap();
        let bus = Fake::default();
        stop(&bus, &unit()).unwrap();
        assert_eq!(
            *bus.calls.borrow(),
            ["stop cri-cradle-c1.scope", "reset cri-cradle-c1.scope"]
        );
    }
}
