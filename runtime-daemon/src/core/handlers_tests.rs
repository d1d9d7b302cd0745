use super::*;
use crate::platform::cgroup_host::CgroupVersion;

const HOST: CgroupHost = CgroupHost {
    version: CgroupVersion::Hybrid,
    systemd: false,
};

fn finds(names: &'static [&'static str]) -> impl Fn(&str) -> Option<PathBuf> {
    move |name| {
        names
            .contains(&name)
            .then(|| PathBuf::from("/usr/bin").join(name))
    }
}

fn settings(configured: &BTreeMap<String, HandlerConfig>) -> HandlerSettings<'_> {
    HandlerSettings {
        configured,
        default: DEFAULT_HANDLER,
        driver: CgroupDriver::Cgroupfs,
        default_cgroup_parent: "/cradle",
        state_dir: Path::new("/run/cradle"),
        launcher: Path::new("/opt/cradle/cradle-oci"),
    }
}

#[test]
fn built_ins_are_the_launcher_and_the_runtimes_found_in_path() {
    let none = BTreeMap::new();
    let handlers = Handlers::resolve(settings(&none), HOST, &finds(&["crun"])).unwrap();
    assert_eq!(handlers.names().collect::<Vec<_>>(), ["cradle-oci", "crun"]);
    let launcher = handlers.get("").unwrap();
    assert_eq!(launcher.name, "cradle-oci");
    assert_eq!(launcher.binary, PathBuf::from("/opt/cradle/cradle-oci"));
    assert_eq!(
        launcher.root,
        PathBuf::from("/run/cradle/runtime/cradle-oci")
    );
    assert_eq!(
        handlers.get("crun").unwrap().binary,
        PathBuf::from("/usr/bin/crun")
    );
    assert!(handlers.get("runc").is_none());
    let both = Handlers::resolve(settings(&none), HOST, &finds(&["runc", "crun"])).unwrap();
    assert_eq!(
        both.names().collect::<Vec<_>>(),
        ["cradle-oci", "crun", "runc"]
    );
}

#[test]
fn configured_handlers_replace_the_built_ins() {
    let mut configured = BTreeMap::new();
    configured.insert(
        "fast".to_string(),
        HandlerConfig {
            runtime: Some("crun".into()),
            root: Some("/run/fast".into()),
            systemd_cgroup: None,
            extra_args: vec!["--debug".into()],
        },
    );
    let mut s = settings(&configured);
    s.default = "fast";
    let handlers = Handlers::resolve(s, HOST, &finds(&["crun", "runc"])).unwrap();
    assert_eq!(handlers.names().collect::<Vec<_>>(), ["fast"]);
    let fast = handlers.get("").unwrap();
    assert_eq!(fast.binary, PathBuf::from("/usr/bin/crun"));
    assert_eq!(fast.root, PathBuf::from("/run/fast"));
    assert_eq!(fast.global_args(), [OsString::from("--debug")]);
    assert!(handlers.get("cradle-oci").is_none());
}

#[test]
fn a_default_that_is_not_configured_is_refused_naming_the_key() {
    let mut configured = BTreeMap::new();
    configured.insert("runc".to_string(), HandlerConfig::default());
    let err = Handlers::resolve(settings(&configured), HOST, &finds(&["runc"])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("default_runtime_handler \"cradle-oci\""),
        "{text}"
    );
    assert!(text.contains("\"runc\""), "{text}");
}

#[test]
fn bad_names_and_missing_binaries_are_refused_naming_the_key() {
    for bad in ["Runc", "-x", "x-", "a_b", "a.b", &"a".repeat(64)] {
        let mut configured = BTreeMap::new();
        configured.insert(bad.to_string(), HandlerConfig::default());
        configured.insert(DEFAULT_HANDLER.to_string(), HandlerConfig::default());
        let err = Handlers::resolve(settings(&configured), HOST, &finds(&[])).unwrap_err();
        assert!(
            matches!(err, HandlerError::BadName(ref n) if n == bad),
            "{bad}: {err}"
        );
    }
    let mut configured = BTreeMap::new();
    configured.insert(DEFAULT_HANDLER.to_string(), HandlerConfig::default());
    configured.insert("kata".to_string(), HandlerConfig::default());
    let err = Handlers::resolve(settings(&configured), HOST, &finds(&[])).unwrap_err();
    assert!(
        err.to_string().starts_with("runtime_handlers.kata.runtime"),
        "{err}"
    );
}

#[test]
fn the_systemd_driver_needs_systemd_and_a_slice_parent() {
    let none = BTreeMap::new();
    let mut s = settings(&none);
    s.driver = CgroupDriver::Systemd;
    let err = Handlers::resolve(s, HOST, &finds(&[])).unwrap_err();
    assert!(matches!(err, HandlerError::NoSystemd));
    assert!(err.to_string().contains("cgroup_driver = \"systemd\""));
    let with_systemd = CgroupHost {
        systemd: true,
        ..HOST
    };
    // The built-in default parent stands for system.slice; another path is refused.
    assert!(Handlers::resolve(s, with_systemd, &finds(&[])).is_ok());
    s.default_cgroup_parent = "/kubepods";
    let err = Handlers::resolve(s, with_systemd, &finds(&[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("default_cgroup_parent \"/kubepods\""),
        "{err}"
    );
    s.default_cgroup_parent = "system.slice";
    let handlers = Handlers::resolve(s, with_systemd, &finds(&["runc"])).unwrap();
    let runc = handlers.get("runc").unwrap();
    assert!(runc.systemd_cgroup);
    assert_eq!(runc.global_args(), [OsString::from("--systemd-cgroup")]);
    assert_eq!(handlers.driver(), CgroupDriver::Systemd);
}

#[test]
fn a_handlers_systemd_cgroup_may_not_contradict_the_driver() {
    let mut configured = BTreeMap::new();
    configured.insert(
        DEFAULT_HANDLER.to_string(),
        HandlerConfig {
            systemd_cgroup: Some(true),
            ..HandlerConfig::default()
        },
    );
    let err = Handlers::resolve(settings(&configured), HOST, &finds(&[])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("runtime_handlers.cradle-oci.systemd_cgroup = true contradicts"),
        "{err}"
    );
}

#[test]
fn systemd_cgroup_paths_are_slice_prefix_and_name() {
    assert_eq!(
        systemd_cgroups_path("kubepods-besteffort-podab.slice", "c1"),
        "kubepods-besteffort-podab.slice:cri-cradle:c1"
    );
    assert!(is_slice_name("kubepods.slice"));
    assert!(!is_slice_name("/kubepods.slice"));
    assert!(!is_slice_name(".slice"));
    assert!(!is_slice_name("/kubepods/burstable"));
}

#[test]
fn cgroup_paths_take_the_drivers_form() {
    assert_eq!(
        cgroups_path(CgroupDriver::Cgroupfs, "/kubepods/pod1", "c1").unwrap(),
        "/kubepods/pod1/c1"
    );
    assert_eq!(
        cgroups_path(CgroupDriver::Systemd, "kubepods-pod1.slice", "c1").unwrap(),
        "kubepods-pod1.slice:cri-cradle:c1"
    );
    let err = cgroups_path(CgroupDriver::Systemd, "/kubepods/pod1", "c1").unwrap_err();
    assert!(
        err.starts_with("config.linux.cgroup_parent \"/kubepods/pod1\""),
        "{err}"
    );
}

#[test]
fn path_lookup_finds_executables_only() {
    assert!(find_in_path("sh").is_some());
    assert!(find_in_path("no-such-runtime-anywhere").is_none());
}
