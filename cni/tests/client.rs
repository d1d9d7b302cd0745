//! The CNI client against small shell plugins that record what they get:
//! the environment, `prevResult` chaining, `runtimeConfig`, DEL order, error
//! messages, missing plugins and timeouts. No root needed.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use cradle_cni::{CniError, CniNetwork, PodNetwork, PortMapping};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const RECORDER: &str = r#"#!/bin/sh
name=$(basename "$0")
for kv in $(echo "$CNI_ARGS" | tr ';' ' '); do
  case "$kv" in LOGDIR=*) LOGDIR="${kv#LOGDIR=}";; esac
done
input=$(cat)
echo "$CNI_COMMAND $name" >> "$LOGDIR/order"
printf '%s' "$input" > "$LOGDIR/stdin-$CNI_COMMAND-$name"
env | grep '^CNI_' | sort > "$LOGDIR/env-$CNI_COMMAND-$name"
case "$name" in rec-a) n=1;; *) n=2;; esac
if [ "$CNI_COMMAND" = ADD ]; then
  printf '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"address":"10.9.0.%s/24","interface":0}]}' "$CNI_NETNS" "$n"
fi
"#;

const FAILING: &str = r#"#!/bin/sh
cat > /dev/null
if [ "$CNI_COMMAND" = DEL ]; then exit 0; fi
echo '{"cniVersion":"1.0.0","code":7,"msg":"boom: subnet overlaps","details":"10.0.0.0/8"}'
exit 1
"#;

const CRASHING: &str = "#!/bin/sh\ncat > /dev/null\necho 'no JSON here' >&2\nexit 2\n";

const SLOW: &str = r#"#!/bin/sh
for kv in $(echo "$CNI_ARGS" | tr ';' ' '); do
  case "$kv" in LOGDIR=*) LOGDIR="${kv#LOGDIR=}";; esac
done
if [ "$CNI_COMMAND" = DEL ]; then exit 0; fi
echo $$ > "$LOGDIR/slow.pid"
exec sleep 30
"#;

/// The shared plugin dir, written once before any test spawns a plugin (a
/// script still open for writing while another thread forks could not be
/// executed: ETXTBSY).
fn plugins() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("rec-a", RECORDER),
            ("rec-b", RECORDER),
            ("failing", FAILING),
            ("crashing", CRASHING),
            ("slow", SLOW),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    })
    .path()
}

struct Setup {
    tmp: tempfile::TempDir,
    log: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("log");
        std::fs::create_dir_all(&log).unwrap();
        Setup { tmp, log }
    }

    fn network(&self, version: &str, plugins_json: Value) -> CniNetwork {
        let conf = self.tmp.path().join("net.d");
        std::fs::create_dir_all(&conf).unwrap();
        let list = json!({"cniVersion": version, "name": "recnet", "plugins": plugins_json});
        std::fs::write(conf.join("10-rec.conflist"), list.to_string()).unwrap();
        let bins = [self.tmp.path().join("empty-bin"), plugins().to_path_buf()];
        CniNetwork::load(&conf, &bins, &self.tmp.path().join("cache"))
            .unwrap()
            .unwrap()
    }

    fn pod(&self) -> PodNetwork {
        let mut pod = PodNetwork::new("c".repeat(64), self.tmp.path().join("netns"));
        pod.pod_name = "web".into();
        pod.pod_namespace = "prod".into();
        pod.pod_uid = "uid-1".into();
        pod.extra_args = vec![("LOGDIR".into(), self.log.display().to_string())];
        pod.port_mappings = vec![PortMapping {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        }];
        pod
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.log.join(name)).unwrap_or_default()
    }

    fn stdin(&self, name: &str) -> Value {
        serde_json::from_str(&self.read(name)).unwrap()
    }
}

#[test]
fn add_chains_prev_result_passes_the_standard_env_and_declared_capabilities() {
    let s = Setup::new();
    let network = s.network(
        "1.0.0",
        json!([{"type": "rec-a"}, {"type": "rec-b", "capabilities": {"portMappings": true}}]),
    );
    let pod = s.pod();
    let result = network.setup(&pod).unwrap();
    assert_eq!(result.primary_ip(), Some("10.9.0.2".parse().unwrap()));
    assert_eq!(s.read("order"), "ADD rec-a\nADD rec-b\n");

    let a = s.stdin("stdin-ADD-rec-a");
    assert_eq!(a["name"], "recnet");
    assert_eq!(a["cniVersion"], "1.0.0");
    assert!(a.get("prevResult").is_none());
    assert!(
        a.get("runtimeConfig").is_none(),
        "rec-a declared no capability"
    );
    let b = s.stdin("stdin-ADD-rec-b");
    assert_eq!(b["prevResult"]["ips"][0]["address"], "10.9.0.1/24");
    assert_eq!(b["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);

    let env = s.read("env-ADD-rec-a");
    assert!(
        env.contains(&format!("CNI_CONTAINERID={}", pod.sandbox_id)),
        "{env}"
    );
    assert!(
        env.contains(&format!("CNI_NETNS={}", pod.netns.display())),
        "{env}"
    );
    assert!(env.contains("CNI_IFNAME=eth0"), "{env}");
    assert!(env.contains("CNI_PATH="), "{env}");
    assert!(
        env.contains("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web;"),
        "{env}"
    );
    assert!(env.contains("K8S_POD_UID=uid-1"), "{env}");
}

#[test]
fn del_runs_in_reverse_from_the_cached_result_and_removes_it() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "rec-a"}, {"type": "rec-b"}]));
    let pod = s.pod();
    network.setup(&pod).unwrap();
    let cache = s
        .tmp
        .path()
        .join("cache/results")
        .join(format!("recnet-{}-eth0", pod.sandbox_id));
    assert!(cache.is_file());
    std::fs::write(s.log.join("order"), "").unwrap();
    network.teardown(&pod).unwrap();
    assert_eq!(s.read("order"), "DEL rec-b\nDEL rec-a\n");
    assert_eq!(
        s.stdin("stdin-DEL-rec-a")["prevResult"]["ips"][0]["address"],
        "10.9.0.2/24"
    );
    assert!(!cache.exists());
    // The netns does not exist in this test: DEL passes an empty CNI_NETNS.
    assert!(s.read("env-DEL-rec-a").contains("CNI_NETNS=\n"));
    // Nor does an unmounted pin (an empty file) count as a namespace.
    network.setup(&pod).unwrap();
    std::fs::write(&pod.netns, "").unwrap();
    network.teardown(&pod).unwrap();
    assert!(s.read("env-DEL-rec-a").contains("CNI_NETNS=\n"));
}

#[test]
fn check_sends_the_cached_result_and_needs_an_attachment() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "rec-a"}]));
    let pod = s.pod();
    assert!(matches!(
        network.check(&pod),
        Err(CniError::NotAttached { .. })
    ));
    network.setup(&pod).unwrap();
    network.check(&pod).unwrap();
    assert_eq!(
        s.stdin("stdin-CHECK-rec-a")["prevResult"]["ips"][0]["address"],
        "10.9.0.1/24"
    );
}

#[test]
fn plugin_errors_carry_the_plugins_message_and_the_add_is_undone() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "rec-a"}, {"type": "failing"}]));
    let err = network.setup(&s.pod()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("boom: subnet overlaps: 10.0.0.0/8"), "{text}");
    assert!(text.contains("type=\"failing\""), "{text}");
    assert!(text.contains("(ADD)"), "{text}");
    assert_eq!(s.read("order"), "ADD rec-a\nDEL rec-a\n");
    assert!(network.cached_result(&s.pod()).unwrap().is_none());
}

#[test]
fn a_plugin_failing_without_json_reports_its_stderr() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "crashing"}]));
    let text = network.setup(&s.pod()).unwrap_err().to_string();
    assert!(text.contains("no JSON here"), "{text}");
}

#[test]
fn a_missing_plugin_is_a_clear_error() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "no-such-plugin"}]));
    let text = network.setup(&s.pod()).unwrap_err().to_string();
    assert!(text.contains("\"no-such-plugin\" not found in"), "{text}");
}

#[test]
fn a_plugin_past_its_deadline_is_killed() {
    let s = Setup::new();
    let network = s
        .network("1.0.0", json!([{"type": "slow"}]))
        .with_timeout(Duration::from_millis(300));
    let start = std::time::Instant::now();
    let text = network.setup(&s.pod()).unwrap_err().to_string();
    assert!(text.contains("did not finish within"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(10));
    let pid = s.read("slow.pid").trim().to_string();
    assert!(!pid.is_empty());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "plugin {pid} still runs"
    );
}

#[test]
fn gc_deletes_stale_cached_attachments_on_any_version() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "rec-a"}]));
    let pod = s.pod();
    network.setup(&pod).unwrap();
    network.gc(&[]).unwrap();
    assert!(s.read("order").ends_with("DEL rec-a\n"));
    assert!(network.cached_result(&pod).unwrap().is_none());
}

#[test]
fn a_second_add_of_an_attached_pod_is_refused_without_touching_it() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "rec-a"}]));
    let pod = s.pod();
    network.setup(&pod).unwrap();
    assert!(matches!(
        network.setup(&pod),
        Err(CniError::AlreadyAttached { .. })
    ));
    assert_eq!(s.read("order"), "ADD rec-a\n");
    assert!(network.cached_result(&pod).unwrap().is_some());
}

#[test]
fn del_after_the_config_changed_uses_the_cached_network() {
    let s = Setup::new();
    let old = s.network("1.0.0", json!([{"type": "rec-a"}]));
    let pod = s.pod();
    old.setup(&pod).unwrap();
    // A new file now comes first, with another name and plugin.
    let conf = s.tmp.path().join("net.d");
    let list = json!({"cniVersion": "1.0.0", "name": "newnet", "plugins": [{"type": "rec-b"}]});
    std::fs::write(conf.join("00-new.conflist"), list.to_string()).unwrap();
    let bins = [plugins().to_path_buf()];
    let new = CniNetwork::load(&conf, &bins, &s.tmp.path().join("cache"))
        .unwrap()
        .unwrap();
    assert_eq!(new.name(), "newnet");
    new.teardown(&pod).unwrap();
    assert_eq!(s.read("order"), "ADD rec-a\nDEL rec-a\n");
    assert!(old.cached_result(&pod).unwrap().is_none());
}

#[test]
fn a_torn_cache_entry_does_not_block_del() {
    let s = Setup::new();
    let network = s.network("1.0.0", json!([{"type": "rec-a"}]));
    let pod = s.pod();
    network.setup(&pod).unwrap();
    let cache = s
        .tmp
        .path()
        .join("cache/results")
        .join(format!("recnet-{}-eth0", pod.sandbox_id));
    std::fs::write(&cache, "{\"kind\":").unwrap();
    network.teardown(&pod).unwrap();
    assert!(s.read("order").ends_with("DEL rec-a\n"));
    assert!(!cache.exists());
}
