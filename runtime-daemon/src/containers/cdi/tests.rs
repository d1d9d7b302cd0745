//! CDI: spec files read from directories (JSON and YAML, priorities,
//! conflicts, malformed files skipped), device nodes completed from the
//! host, and the edits applied to an OCI spec.

use super::*;
use oci_spec::runtime::{LinuxBuilder, ProcessBuilder, Spec, UserBuilder};
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn asking(names: &[&str]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        cdi_devices: names
            .iter()
            .map(|n| cri::CdiDevice {
                name: n.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

const JSON_SPEC: &str = r#"{
  "cdiVersion": "0.7.0",
  "kind": "example.com/test",
  "containerEdits": {"env": ["FROM_SPEC=1"]},
  "devices": [
    {"name": "null0", "containerEdits": {
      "env": ["DEV=null0"],
      "deviceNodes": [{"path": "/dev/cradle-test0", "hostPath": "/dev/null", "permissions": "rw"}],
      "mounts": [{"hostPath": "/etc", "containerPath": "/cdi/etc", "options": ["rbind", "ro"]}],
      "hooks": [{"hookName": "createContainer", "path": "/bin/true", "args": ["true", "x"], "timeout": 5}],
      "additionalGids": [0, 1234]
    }},
    {"name": "other", "containerEdits": {"env": ["DEV=other"]}}
  ]
}"#;

const YAML_SPEC: &str = r#"
cdiVersion: 0.8.0
kind: example.com/yaml
devices:
  - name: zero
    containerEdits:
      deviceNodes:
        - path: /dev/yzero
          hostPath: /dev/zero
          type: c
          major: 1
          minor: 5
          fileMode: 0o600
"#;

#[test]
fn json_and_yaml_specs_resolve_and_device_nodes_are_completed_from_the_host() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", JSON_SPEC);
    write(dir.path(), "b.yaml", YAML_SPEC);
    let dirs = vec![dir.path().to_path_buf()];
    let edits = resolve(
        &dirs,
        &asking(&[
            "example.com/test=null0",
            "example.com/test=other",
            "example.com/yaml=zero",
        ]),
    )
    .unwrap();
    // The spec's own edits once, then each device's.
    assert_eq!(edits.env, ["FROM_SPEC=1", "DEV=null0", "DEV=other"]);
    assert_eq!(edits.devices.len(), 2);
    let null = &edits.devices[0];
    assert_eq!(null.node.path(), Path::new("/dev/cradle-test0"));
    assert_eq!((null.node.major(), null.node.minor()), (1, 3));
    assert_eq!(null.node.typ(), oci_spec::runtime::LinuxDeviceType::C);
    assert_eq!(null.node.file_mode(), Some(0o666));
    assert_eq!(null.access.as_deref(), Some("rw"));
    let zero = &edits.devices[1];
    assert_eq!((zero.node.major(), zero.node.minor()), (1, 5));
    assert_eq!(zero.node.file_mode(), Some(0o600));
    assert_eq!(zero.access.as_deref(), Some("rwm"));
    assert_eq!(edits.mounts[0].typ().as_deref(), Some("bind"));
    assert_eq!(edits.hooks[0].0, "createContainer");
    assert_eq!(edits.additional_gids, [0, 1234]);
    // Nothing asked, nothing read.
    assert!(
        resolve(&dirs, &cri::ContainerConfig::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn later_dirs_override_and_same_dir_duplicates_conflict() {
    let (low, high) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spec = |env: &str| {
        format!(
            r#"{{"cdiVersion":"0.3.0","kind":"example.com/x","devices":[{{"name":"d","containerEdits":{{"env":["{env}"]}}}}]}}"#
        )
    };
    write(low.path(), "a.json", &spec("V=low"));
    write(high.path(), "a.json", &spec("V=high"));
    let dirs = vec![low.path().to_path_buf(), high.path().to_path_buf()];
    let edits = resolve(&dirs, &asking(&["example.com/x=d"])).unwrap();
    assert_eq!(edits.env, ["V=high"]);

    write(high.path(), "b.json", &spec("V=other"));
    let err = resolve(&dirs, &asking(&["example.com/x=d"])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("example.com/x=d") && text.contains("b.json"),
        "{text}"
    );
}

#[test]
fn malformed_files_are_skipped_and_unknown_devices_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", JSON_SPEC);
    write(dir.path(), "broken.json", "{ not json");
    write(
        dir.path(),
        "old.yaml",
        "cdiVersion: 0.1.0\nkind: example.com/old\ndevices: []\n",
    );
    write(
        dir.path(),
        "extra.json",
        r#"{"cdiVersion":"0.5.0","kind":"example.com/e","devices":[{"name":"d","containerEdits":{"env":["A=1"]},"bogus":1}]}"#,
    );
    write(dir.path(), "notes.txt", "ignored");
    let dirs = vec![dir.path().to_path_buf()];
    assert!(resolve(&dirs, &asking(&["example.com/test=null0"])).is_ok());
    for missing in ["example.com/test=nope", "example.com/e=d", "not-qualified"] {
        let err = resolve(&dirs, &asking(&["example.com/test=null0", missing])).unwrap_err();
        assert!(matches!(err, CdiError::Unresolvable(_)));
        assert!(err.to_string().contains(missing), "{err}");
    }
}

#[test]
fn a_file_using_features_newer_than_its_version_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    // additionalGids came with 0.7.0, hostPath with 0.5.0.
    write(
        dir.path(),
        "gids.json",
        r#"{"cdiVersion":"0.6.0","kind":"example.com/g","devices":[{"name":"d","containerEdits":{"additionalGids":[5]}}]}"#,
    );
    write(
        dir.path(),
        "host.json",
        r#"{"cdiVersion":"0.4.0","kind":"example.com/h","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/dev/x","hostPath":"/dev/null"}]}}]}"#,
    );
    let dirs = vec![dir.path().to_path_buf()];
    for name in ["example.com/g=d", "example.com/h=d"] {
        let err = resolve(&dirs, &asking(&[name])).unwrap_err();
        assert!(err.to_string().contains("not defined"), "{name}: {err}");
    }
    let spec: spec_file::SpecFile = serde_json::from_str(
        r#"{"cdiVersion":"0.6.0","kind":"example.com/g","devices":[{"name":"d","containerEdits":{"additionalGids":[5]}}]}"#,
    )
    .unwrap();
    let err = spec.validate().unwrap_err();
    assert!(err.contains("0.7.0"), "{err}");
}

#[test]
fn intel_rdt_and_net_devices_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rdt.json",
        r#"{"cdiVersion":"0.7.0","kind":"example.com/r","devices":[{"name":"d","containerEdits":{"intelRdt":{"closID":"x"}}}]}"#,
    );
    let err = resolve(&[dir.path().to_path_buf()], &asking(&["example.com/r=d"])).unwrap_err();
    assert!(err.to_string().contains("intelRdt"), "{err}");
}

#[test]
fn a_node_whose_host_device_is_missing_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.json",
        r#"{"cdiVersion":"0.3.0","kind":"example.com/m","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/dev/cradle-no-such-node"}]}}]}"#,
    );
    let err = resolve(&[dir.path().to_path_buf()], &asking(&["example.com/m=d"])).unwrap_err();
    assert!(
        err.to_string().contains("/dev/cradle-no-such-node"),
        "{err}"
    );
}

fn base_spec(uid: u32) -> Spec {
    let mut spec = Spec::default();
    let user = UserBuilder::default().uid(uid).gid(uid).build().unwrap();
    let process = ProcessBuilder::default()
        .env(vec!["DEV=image".to_string(), "PATH=/bin".to_string()])
        .user(user)
        .build()
        .unwrap();
    spec.set_process(Some(process));
    spec.set_linux(Some(LinuxBuilder::default().build().unwrap()));
    spec
}

#[test]
fn edits_replace_env_add_nodes_rules_mounts_hooks_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", JSON_SPEC);
    let edits = resolve(
        &[dir.path().to_path_buf()],
        &asking(&["example.com/test=null0"]),
    )
    .unwrap();
    let mut spec = base_spec(1000);
    apply(&mut spec, &edits).unwrap();
    let process = spec.process().as_ref().unwrap();
    assert_eq!(
        process.env().as_ref().unwrap(),
        &["DEV=null0", "PATH=/bin", "FROM_SPEC=1"]
    );
    assert_eq!(process.user().additional_gids().as_ref().unwrap(), &[1234]);
    let linux = spec.linux().as_ref().unwrap();
    let node = &linux.devices().as_ref().unwrap()[0];
    assert_eq!(node.path(), Path::new("/dev/cradle-test0"));
    // No uid/gid in the spec: the (non-root) process's.
    assert_eq!((node.uid(), node.gid()), (Some(1000), Some(1000)));
    let rule = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .as_ref()
        .unwrap()[0]
        .clone();
    assert!(rule.allow());
    assert_eq!(
        (rule.major(), rule.minor(), rule.access().as_deref()),
        (Some(1), Some(3), Some("rw"))
    );
    let mounts = spec.mounts().as_ref().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m.destination() == Path::new("/cdi/etc"))
    );
    let hooks = spec.hooks().as_ref().unwrap();
    let hook = &hooks.create_container().as_ref().unwrap()[0];
    assert_eq!(
        (hook.path(), hook.timeout()),
        (&std::path::PathBuf::from("/bin/true"), Some(5))
    );
}
