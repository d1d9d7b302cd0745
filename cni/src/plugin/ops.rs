//! The plugin's verbs. ADD builds the attachment step by step; if any step
//! fails, the DEL path (which tolerates every partial state) undoes all that
//! was done, so ADD either succeeds completely or leaves nothing.

use super::cidr::Cidr;
use super::conf::{BridgeConf, Env, Range};
use super::error::{PluginError, code};
use super::ipam::{Allocation, Store};
use super::link::{Link, Netlink};
use super::{masq, netns};
use crate::types::CniResult;
use serde_json::{Value, json};
use std::fs::File;
use std::future::Future;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The host-side veth name of an attachment: derived from its identity, so
/// DEL finds it even when the pod's namespace is already gone.
pub fn host_veth_name(network: &str, id: &str, ifname: &str) -> String {
    format!("crv{:08x}", fnv(&[network, id, ifname]) as u32)
}

/// FNV-1a: stable across builds and releases (std's hasher is not).
fn fnv(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Runs the async netlink work on a one-thread runtime inside this process.
fn block_on<T>(work: impl Future<Output = Result<T, PluginError>>) -> Result<T, PluginError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| PluginError::io("starting the netlink runtime".into(), e))?;
    runtime.block_on(work)
}

/// Opens a netlink connection inside the namespace `ns`.
fn connect_in(ns: &File) -> Result<Netlink, PluginError> {
    netns::within(ns, Netlink::connect)?
}

/// ADD: returns the result JSON.
pub fn add(conf: &BridgeConf, env: &Env) -> Result<Value, PluginError> {
    let sets = conf.range_sets()?;
    let ns = netns::open(Path::new(&env.netns))?;
    let requested: Vec<IpAddr> = conf
        .runtime_config
        .ips
        .iter()
        .filter_map(|s| s.split('/').next().and_then(|ip| ip.parse().ok()))
        .collect();
    let allocations = {
        let store = Store::lock(&conf.data_dir())?;
        store.allocate(&sets, &env.container_id, &env.ifname, &requested)?
    };
    match block_on(attach(conf, env, &ns, &allocations, &sets)) {
        Ok(result) => Ok(result),
        Err(e) => {
            if let Err(undo) = del(conf, env) {
                tracing::warn!("undoing a failed ADD: {undo}");
            }
            Err(e)
        }
    }
}

async fn attach(
    conf: &BridgeConf,
    env: &Env,
    ns: &File,
    allocations: &[Allocation],
    sets: &[Vec<Range>],
) -> Result<Value, PluginError> {
    let host = Netlink::connect()?;
    let pod = connect_in(ns)?;
    if pod.link(&env.ifname).await?.is_some() {
        return Err(PluginError::new(
            code::NETLINK,
            format!("interface {} already exists in {}", env.ifname, env.netns),
        ));
    }
    let bridge = host.ensure_bridge(&conf.bridge, conf.mtu).await?;
    if conf.is_gateway {
        for a in allocations {
            host.add_address(bridge.index, a.gateway, a.prefix).await?;
        }
        enable_forwarding(allocations);
    }
    let host_name = host_veth_name(&conf.name, &env.container_id, &env.ifname);
    // A leftover of an interrupted earlier ADD of the same attachment.
    host.delete(&host_name).await?;
    host.add_veth(&host_name, &env.ifname, conf.mtu, ns.as_raw_fd())
        .await?;
    let pod_end = pod.require(&env.ifname).await?;
    pod.set_up(pod_end.index).await?;
    for a in allocations {
        pod.add_address(pod_end.index, a.ip, a.prefix).await?;
    }
    let routes = routes(conf, allocations);
    for (dst, gw) in &routes {
        pod.add_route(dst.addr, dst.prefix, *gw, pod_end.index)
            .await?;
    }
    let pod_link = pod.require(&env.ifname).await?;

    let host_link = host.require(&host_name).await?;
    host.set_master(host_link.index, bridge.index).await?;
    host.set_up(host_link.index).await?;
    if conf.hairpin_mode {
        host.set_hairpin(host_link.index).await?;
    }
    if conf.ip_masq {
        for a in allocations {
            masq::add(a.ip, &subnet_of(sets, a.ip)?, &conf.name, &env.container_id)?;
        }
    }
    Ok(result_json(
        conf,
        env,
        [&bridge, &host_link, &pod_link],
        allocations,
        &routes,
    ))
}

/// The routes to install in the pod: the default route per family via the
/// gateway (`isDefaultGateway`), then the IPAM section's routes.
fn routes(conf: &BridgeConf, allocations: &[Allocation]) -> Vec<(Cidr, IpAddr)> {
    let mut out: Vec<(Cidr, IpAddr)> = Vec::new();
    if conf.is_default_gateway {
        for a in allocations {
            let any = if a.ip.is_ipv6() { "::/0" } else { "0.0.0.0/0" };
            if let Some(dst) = Cidr::parse(any)
                && !out.iter().any(|(d, _)| *d == dst)
            {
                out.push((dst, a.gateway));
            }
        }
    }
    for route in &conf.ipam.routes {
        let Some(dst) = Cidr::parse(&route.dst) else {
            continue;
        };
        let gw = route.gw.or_else(|| {
            allocations
                .iter()
                .find(|a| a.ip.is_ipv6() == dst.addr.is_ipv6())
                .map(|a| a.gateway)
        });
        if let Some(gw) = gw
            && !out.iter().any(|(d, _)| *d == dst.network())
        {
            out.push((dst.network(), gw));
        }
    }
    out
}

fn enable_forwarding(allocations: &[Allocation]) {
    for a in allocations {
        let path = if a.ip.is_ipv6() {
            "/proc/sys/net/ipv6/conf/all/forwarding"
        } else {
            "/proc/sys/net/ipv4/ip_forward"
        };
        if let Err(e) = std::fs::write(path, "1") {
            tracing::warn!("enabling forwarding in {path}: {e}");
        }
    }
}

fn subnet_of(sets: &[Vec<Range>], ip: IpAddr) -> Result<Cidr, PluginError> {
    sets.iter()
        .flatten()
        .find(|r| r.subnet.contains(ip))
        .map(|r| r.subnet)
        .ok_or_else(|| PluginError::config(format!("{ip} is in no configured range")))
}

fn result_json(
    conf: &BridgeConf,
    env: &Env,
    links: [&Link; 3],
    allocations: &[Allocation],
    routes: &[(Cidr, IpAddr)],
) -> Value {
    let old_format = crate::version::SpecVersion::parse(&conf.cni_version)
        .is_some_and(|v| v < crate::version::SpecVersion(1, 0, 0));
    let [bridge, host, pod] = links;
    let interfaces = json!([
        {"name": bridge.name, "mac": bridge.mac},
        {"name": host.name, "mac": host.mac},
        {"name": pod.name, "mac": pod.mac, "sandbox": env.netns},
    ]);
    let ips: Vec<Value> = allocations
        .iter()
        .map(|a| {
            let mut ip = json!({"address": format!("{}/{}", a.ip, a.prefix), "gateway": a.gateway, "interface": 2});
            if old_format {
                ip["version"] = json!(if a.ip.is_ipv6() { "6" } else { "4" });
            }
            ip
        })
        .collect();
    let routes: Vec<Value> = routes
        .iter()
        .map(|(dst, gw)| json!({"dst": dst.to_string(), "gw": gw}))
        .collect();
    let mut result = json!({
        "cniVersion": if conf.cni_version.is_empty() { "1.1.0" } else { &conf.cni_version },
        "interfaces": interfaces,
        "ips": ips,
        "routes": routes,
    });
    if !conf.dns.is_empty() {
        result["dns"] = json!(conf.dns);
    }
    result
}

/// DEL: removes masquerade rules, the veth pair and the allocations.
/// Every step tolerates "already gone", so DEL is idempotent and also
/// serves as the undo of a partial ADD. A failed masquerade removal does not
/// stop the rest; a failed link removal keeps the addresses allocated (so
/// they are not handed to another pod while the old veth still holds them).
pub fn del(conf: &BridgeConf, env: &Env) -> Result<(), PluginError> {
    let dir = conf.data_dir();
    let held = if dir.exists() {
        Store::lock(&dir)?.held_by(&env.container_id, &env.ifname)?
    } else {
        Vec::new()
    };
    let mut first_error = None;
    if conf.ip_masq {
        let sets = conf.range_sets()?;
        for ip in &held {
            if let Ok(subnet) = subnet_of(&sets, *ip)
                && let Err(e) = masq::del(*ip, &subnet, &conf.name, &env.container_id)
            {
                first_error.get_or_insert(e);
            }
        }
    }
    let ns = if env.netns.is_empty() {
        None
    } else {
        match File::open(&env.netns) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(PluginError::io(format!("opening netns {}", env.netns), e)),
        }
    };
    block_on(async {
        if let Some(ns) = &ns {
            connect_in(ns)?.delete(&env.ifname).await?;
        }
        let host = Netlink::connect()?;
        host.delete(&host_veth_name(&conf.name, &env.container_id, &env.ifname))
            .await?;
        Ok(())
    })?;
    if dir.exists() {
        Store::lock(&dir)?.release(&env.container_id, &env.ifname)?;
    }
    first_error.map_or(Ok(()), Err)
}

/// CHECK: the pod interface is up with its addresses and routes, the host
/// end is on the bridge, the addresses are still allocated, and the
/// masquerade rules exist.
pub fn check(conf: &BridgeConf, env: &Env) -> Result<(), PluginError> {
    let allocations = prev_allocations(conf, env)?;
    let ns = netns::open(Path::new(&env.netns))?;
    block_on(async {
        check_pod_interface(conf, env, &ns, &allocations).await?;
        check_host_end(conf, env).await
    })?;
    let held = Store::lock(&conf.data_dir())?.held_by(&env.container_id, &env.ifname)?;
    for (ip, _, _) in &allocations {
        if !held.contains(ip) {
            return Err(PluginError::check(format!(
                "{ip} is not allocated to {}",
                env.container_id
            )));
        }
    }
    if conf.ip_masq {
        let sets = conf.range_sets()?;
        for (ip, _, _) in &allocations {
            if !masq::exists(*ip, &subnet_of(&sets, *ip)?, &conf.name, &env.container_id)? {
                return Err(PluginError::check(format!(
                    "masquerade rule for {ip} is missing"
                )));
            }
        }
    }
    Ok(())
}

/// An address the previous ADD gave the pod: address, prefix length, gateway.
type PrevAddress = (IpAddr, u8, Option<IpAddr>);

/// The addresses `prevResult` gives this attachment's interface (or no
/// interface in particular); an error when there are none.
fn prev_allocations(conf: &BridgeConf, env: &Env) -> Result<Vec<PrevAddress>, PluginError> {
    let prev = conf
        .prev_result
        .clone()
        .ok_or_else(|| PluginError::config("CHECK needs prevResult"))?;
    let prev: CniResult = serde_json::from_value(prev)
        .map_err(|e| PluginError::decode(format!("prevResult: {e}")))?;
    let allocations: Vec<PrevAddress> = prev
        .ips
        .iter()
        .filter(
            |ip| match ip.interface.and_then(|i| prev.interfaces.get(i)) {
                Some(iface) => iface.name == env.ifname && !iface.sandbox.is_empty(),
                None => true,
            },
        )
        .filter_map(|ip| {
            let cidr = Cidr::parse(&ip.address)?;
            Some((cidr.addr, cidr.prefix, ip.gateway))
        })
        .collect();
    if allocations.is_empty() {
        return Err(PluginError::check(format!(
            "prevResult has no address for {}",
            env.ifname
        )));
    }
    Ok(allocations)
}

/// The pod's interface in `ns` is up, has every address, and (for a
/// default gateway) a default route via each address's gateway.
async fn check_pod_interface(
    conf: &BridgeConf,
    env: &Env,
    ns: &File,
    allocations: &[PrevAddress],
) -> Result<(), PluginError> {
    let pod = connect_in(ns)?;
    let link = pod
        .link(&env.ifname)
        .await?
        .ok_or_else(|| PluginError::check(format!("{} is missing in {}", env.ifname, env.netns)))?;
    if !link.up {
        return Err(PluginError::check(format!("{} is down", env.ifname)));
    }
    let present = pod.addresses(link.index).await?;
    for (ip, prefix, gw) in allocations {
        if !present.contains(&(*ip, *prefix)) {
            return Err(PluginError::check(format!(
                "{} lacks address {ip}/{prefix}",
                env.ifname
            )));
        }
        if conf.is_default_gateway
            && let Some(gw) = gw
        {
            let routes = pod.routes(*ip).await?;
            let has_default = routes.iter().any(|(dst, len, via)| {
                *len == 0 && dst.is_none_or(|d| d.is_unspecified()) && *via == Some(*gw)
            });
            if !has_default {
                return Err(PluginError::check(format!(
                    "no default route via {gw} in the pod"
                )));
            }
        }
    }
    Ok(())
}

/// The host end of the veth pair exists and is attached to the bridge.
async fn check_host_end(conf: &BridgeConf, env: &Env) -> Result<(), PluginError> {
    let host = Netlink::connect()?;
    let bridge = host.require(&conf.bridge).await?;
    let veth = host
        .link(&host_veth_name(&conf.name, &env.container_id, &env.ifname))
        .await?
        .ok_or_else(|| PluginError::check("the host end of the veth pair is missing"))?;
    if veth.master != Some(bridge.index) {
        return Err(PluginError::check(format!(
            "{} is not attached to {}",
            veth.name, conf.bridge
        )));
    }
    Ok(())
}

/// STATUS: ready when the configuration is usable and the IPAM store can be
/// opened and locked.
pub fn status(conf: &BridgeConf) -> Result<(), PluginError> {
    conf.range_sets()?;
    Store::lock(&conf.data_dir()).map(|_| ())
}

/// GC: every attachment holding addresses that the runtime no longer lists
/// in `cni.dev/valid-attachments` gets the DEL treatment without a netns
/// (masquerade rules, host veth, addresses).
pub fn gc(conf: &BridgeConf) -> Result<(), PluginError> {
    let dir = conf.data_dir();
    if !dir.exists() {
        return Ok(());
    }
    let keep: Vec<(String, String)> = conf
        .valid_attachments
        .iter()
        .map(|a| (a.container_id.clone(), a.ifname.clone()))
        .collect();
    // The lock is released before the DELs, which take it themselves.
    let stale = Store::lock(&dir)?.stale_attachments(&keep)?;
    for (container_id, ifname) in stale {
        let env = Env {
            command: "DEL".into(),
            container_id,
            netns: String::new(),
            ifname,
        };
        del(conf, &env)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_stable_short_and_distinct() {
        let a = host_veth_name("net", "c1", "eth0");
        assert_eq!(a, host_veth_name("net", "c1", "eth0"));
        assert_ne!(a, host_veth_name("net", "c2", "eth0"));
        assert!(a.len() <= 15);
    }

    #[test]
    fn default_routes_come_first_and_ipam_routes_are_not_duplicated() {
        let conf = BridgeConf::parse(
            br#"{"name":"n","ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16"}]}}"#,
        )
        .unwrap();
        let a = vec![Allocation {
            ip: "10.244.1.2".parse().unwrap(),
            prefix: 24,
            gateway: "10.244.1.1".parse().unwrap(),
        }];
        let r = routes(&conf, &a);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0.to_string(), "0.0.0.0/0");
        assert_eq!(r[1].0.to_string(), "192.168.0.0/16");
    }
}
