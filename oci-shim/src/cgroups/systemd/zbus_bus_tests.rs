//! [`ZbusBus`] against a fake systemd manager served by zbus: over a
//! peer-to-peer socket (as systemd's private socket) and, where
//! `dbus-daemon` is installed, on a private bus. The fake records each
//! call with the D-Bus signature of every property, so the encoding of
//! StartTransientUnit is checked, not only the driver's logic.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};

use super::*;
use crate::cgroups::systemd::scope;
use crate::cgroups::systemd::unit::Unit;

/// What the fake saw: `method unit [property:signature=value ...]`.
type Journal = Arc<Mutex<Vec<String>>>;

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop.systemd1")]
enum SdError {
    #[zbus(error)]
    ZBus(zbus::Error),
    NoSuchUnit(String),
    UnitExists(String),
}

/// A property value as the journal writes it: strings quoted, arrays
/// as `[a, b]`.
fn show(v: &zbus::zvariant::Value<'_>) -> String {
    use zbus::zvariant::Value as V;
    match v {
        V::Str(s) => format!("{:?}", s.as_str()),
        V::Bool(b) => b.to_string(),
        V::U64(n) => n.to_string(),
        V::U32(n) => n.to_string(),
        V::U8(n) => n.to_string(),
        V::Array(a) => {
            let items: Vec<String> = a.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

struct FakeManager {
    journal: Journal,
    units: Mutex<BTreeSet<String>>,
    jobs: Mutex<u32>,
}

impl FakeManager {
    fn record(&self, method: &str, unit: &str, props: &[(String, OwnedValue)]) {
        let mut line = format!("{method} {unit}");
        for (k, v) in props {
            line.push_str(&format!(" {k}:{}={}", v.value_signature(), show(v)));
        }
        self.journal.lock().unwrap().push(line);
    }

    fn next_job(&self) -> OwnedObjectPath {
        let mut n = self.jobs.lock().unwrap();
        *n += 1;
        ObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{n}"))
            .unwrap()
            .into()
    }
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl FakeManager {
    async fn subscribe(&self) {}

    async fn start_transient_unit(
        &self,
        name: String,
        mode: String,
        properties: Vec<(String, OwnedValue)>,
        aux: Vec<(String, Vec<(String, OwnedValue)>)>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<OwnedObjectPath, SdError> {
        assert_eq!(mode, "replace");
        assert!(aux.is_empty());
        self.record("StartTransientUnit", &name, &properties);
        if !self.units.lock().unwrap().insert(name.clone()) {
            return Err(SdError::UnitExists(format!("Unit {name} already exists.")));
        }
        let job = self.next_job();
        Self::job_removed(&emitter, 1, job.as_ref(), &name, "done").await?;
        Ok(job)
    }

    async fn set_unit_properties(
        &self,
        name: String,
        runtime: bool,
        properties: Vec<(String, OwnedValue)>,
    ) -> Result<(), SdError> {
        assert!(runtime);
        self.record("SetUnitProperties", &name, &properties);
        if !self.units.lock().unwrap().contains(&name) {
            return Err(SdError::NoSuchUnit(format!("Unit {name} not loaded.")));
        }
        Ok(())
    }

    async fn stop_unit(
        &self,
        name: String,
        mode: String,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<OwnedObjectPath, SdError> {
        assert_eq!(mode, "replace");
        self.record("StopUnit", &name, &[]);
        if !self.units.lock().unwrap().remove(&name) {
            return Err(SdError::NoSuchUnit(format!("Unit {name} not loaded.")));
        }
        let job = self.next_job();
        Self::job_removed(&emitter, 2, job.as_ref(), &name, "done").await?;
        Ok(job)
    }

    async fn reset_failed_unit(&self, name: String) -> Result<(), SdError> {
        self.record("ResetFailedUnit", &name, &[]);
        Ok(())
    }

    #[zbus(signal)]
    async fn job_removed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        job: ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;
}

fn fake(journal: &Journal) -> FakeManager {
    FakeManager {
        journal: journal.clone(),
        units: Mutex::default(),
        jobs: Mutex::default(),
    }
}

/// The driver's whole life of a scope: start, limits, a second start of
/// the same name refused, stop, stop again (gone: fine).
fn drive(bus: &ZbusBus, journal: &Journal) {
    let unit = Unit::from_cgroups_path("kubepods-besteffort.slice:cri-cradle:c1", "c1").unwrap();
    scope::start(bus, &unit, "c1", 4242).unwrap();
    let res: crate::spec::LinuxResources = serde_json::from_value(serde_json::json!({
        "memory": {"limit": 1048576},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
        "pids": {"limit": 10}
    }))
    .unwrap();
    scope::set_resources(bus, &unit, &res, true).unwrap();
    let e = scope::start(bus, &unit, "c1", 4242).unwrap_err();
    assert!(e.to_string().contains("already running"), "{e}");
    scope::stop(bus, &unit).unwrap();
    scope::stop(bus, &unit).unwrap();
    let j = journal.lock().unwrap();
    let start = &j[0];
    for want in [
        "StartTransientUnit cri-cradle-c1.scope",
        "Description:s=\"cradle container c1\"",
        "Slice:s=\"kubepods-besteffort.slice\"",
        "PIDs:au=[4242]",
        "Delegate:b=true",
        "DefaultDependencies:b=false",
        "MemoryAccounting:b=true",
        "TasksAccounting:b=true",
    ] {
        assert!(start.contains(want), "{want} in {start}");
    }
    let set = &j[1];
    for want in [
        "SetUnitProperties cri-cradle-c1.scope",
        "MemoryMax:t=1048576",
        "CPUWeight:t=39",
        "CPUQuotaPerSecUSec:t=500000",
        "TasksMax:t=10",
        "AllowedCPUs:ay=[3]",
    ] {
        assert!(set.contains(want), "{want} in {set}");
    }
    let rest: Vec<&str> = j[2..].iter().map(String::as_str).collect();
    assert_eq!(
        rest,
        [
            j[0].as_str(),
            "ResetFailedUnit cri-cradle-c1.scope",
            j[0].as_str(),
            "StopUnit cri-cradle-c1.scope",
            "ResetFailedUnit cri-cradle-c1.scope",
            "StopUnit cri-cradle-c1.scope",
        ]
    );
}

/// `manager` served at systemd's object path to one peer-to-peer
/// connection on a socket in `dir`, as systemd's private socket: the
/// address to connect to, and the server's thread (it ends when the
/// connection closes).
fn serve_peer_to_peer<M: zbus::object_server::Interface>(
    dir: &std::path::Path,
    manager: M,
) -> (BusAddress, std::thread::JoinHandle<()>) {
    let socket = dir.join("private");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let conn = zbus::blocking::connection::Builder::async_io_unix_stream(stream)
            .server(zbus::Guid::generate())
            .unwrap()
            .p2p()
            .serve_at(PATH, manager)
            .unwrap()
            .build()
            .unwrap();
        conn.closed();
    });
    let address = BusAddress {
        address: format!("unix:path={}", socket.display()),
        peer_to_peer: true,
    };
    (address, server)
}

#[test]
fn the_driver_talks_to_systemd_peer_to_peer() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::default();
    let (address, server) = serve_peer_to_peer(dir.path(), fake(&journal));
    let bus = ZbusBus::connect(&address).unwrap();
    drive(&bus, &journal);
    drop(bus);
    server.join().unwrap();
}

#[test]
fn the_driver_talks_to_systemd_on_a_bus() {
    if !cradle_testkit::tools_or_skip(&["/usr/bin/dbus-daemon"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("bus").display());
    let config = dir.path().join("bus.conf");
    std::fs::write(
        &config,
        format!(
            "<busconfig><type>session</type><listen>{address}</listen>\
             <auth>EXTERNAL</auth><policy context=\"default\">\
             <allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>\
             <allow own=\"*\"/></policy></busconfig>"
        ),
    )
    .unwrap();
    let mut daemon = std::process::Command::new("/usr/bin/dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It prints its address once it listens.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(daemon.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("unix:"), "{line}");
    let journal = Journal::default();
    let _systemd = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name(DESTINATION)
        .unwrap()
        .serve_at(PATH, fake(&journal))
        .unwrap()
        .build()
        .unwrap();
    let bus = ZbusBus::connect(&BusAddress {
        address,
        peer_to_peer: false,
    })
    .unwrap();
    drive(&bus, &journal);
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn a_job_signal_that_never_comes_is_a_timeout() {
    // A manager that queues jobs but never reports them.
    struct Silent;
    #[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
    impl Silent {
        async fn subscribe(&self) {}
        async fn stop_unit(&self, _name: String, _mode: String) -> OwnedObjectPath {
            ObjectPath::try_from("/org/freedesktop/systemd1/job/9")
                .unwrap()
                .into()
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (address, server) = serve_peer_to_peer(dir.path(), Silent);
    let mut bus = ZbusBus::connect(&address).unwrap();
    bus.timeout = std::time::Duration::from_millis(200);
    assert!(matches!(
        bus.stop_unit("x.scope"),
        Err(BusError::Timeout(_))
    ));
    drop(bus);
    server.join().unwrap();
}
