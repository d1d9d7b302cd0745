//! `cradle-bridge`, Cradle's own CNI plugin, usable by any CNI runtime.
//!
//! It attaches a pod to a Linux bridge on the host: the bridge (created on
//! first use, up, with the gateway address), a veth pair per pod (host end
//! on the bridge, pod end created directly inside the pod's namespace as
//! `CNI_IFNAME`), the MTU, addresses from a host-local compatible store
//! ([`ipam`]), the default route via the gateway, optional masquerade
//! ([`masq`]) and hairpin mode. DEL undoes all of it and is idempotent;
//! CHECK verifies it. Each module has one job: [`conf`] reads input,
//! [`link`] speaks netlink, [`ops`] sequences the verbs with their undo.

pub mod cidr;
pub mod conf;
mod error;
pub mod ipam;
pub mod link;
pub mod masq;
pub mod netns;
pub mod ops;

pub use error::{PluginError, code};
use serde_json::json;

/// The spec versions the plugin speaks.
pub const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// Runs one plugin invocation: `env` reads `CNI_*` variables, `stdin` is
/// the configuration. Returns what to print on stdout on success (possibly
/// nothing), or the error (the caller prints its JSON and exits non-zero).
pub fn run(
    env: impl Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Result<String, (PluginError, String)> {
    let command = env("CNI_COMMAND").unwrap_or_default();
    if command == "VERSION" {
        return Ok(
            json!({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS}).to_string(),
        );
    }
    let conf = conf::BridgeConf::parse(stdin).map_err(|e| (e, String::new()))?;
    let version = conf.cni_version.clone();
    let fail = |e: PluginError| (e, version.clone());
    if !version.is_empty() && !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(fail(PluginError::new(
            code::INCOMPATIBLE_VERSION,
            format!("cradle-bridge does not support cniVersion {version}"),
        )));
    }
    let env = conf::Env::from_vars(env).map_err(fail)?;
    match env.command.as_str() {
        "ADD" => ops::add(&conf, &env).map(|r| r.to_string()).map_err(fail),
        "DEL" => ops::del(&conf, &env).map(|()| String::new()).map_err(fail),
        "CHECK" => ops::check(&conf, &env)
            .map(|()| String::new())
            .map_err(fail),
        "STATUS" => ops::status(&conf).map(|()| String::new()).map_err(fail),
        "GC" => ops::gc(&conf).map(|()| String::new()).map_err(fail),
        other => Err(fail(PluginError::env(format!(
            "unknown CNI_COMMAND {other:?}"
        )))),
    }
}
