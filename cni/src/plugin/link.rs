//! The netlink operations cradle-bridge needs, over one rtnetlink
//! connection per namespace: find, create and delete links, set MTU, state,
//! master and hairpin, add and list addresses and routes.
//!
//! The connection's socket is opened in whichever namespace the thread is
//! in at [`Netlink::connect`]; see [`super::netns::within`].

use super::error::PluginError;
use super::error::code;
use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags};
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::net::IpAddr;
use std::os::fd::RawFd;

/// A link's facts the plugin uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The kernel's interface index, the handle of every later request.
    pub index: u32,
    /// The interface name.
    pub name: String,
    /// Its hardware address, `aa:bb:...`; empty if it has none.
    pub mac: String,
    /// Its MTU, if the kernel reported one.
    pub mtu: Option<u32>,
    /// Whether it is administratively up.
    pub up: bool,
    /// The index of the bridge it is enslaved to.
    pub master: Option<u32>,
}

/// A handle to one namespace's routing netlink.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

fn nl_err(what: impl std::fmt::Display, e: rtnetlink::Error) -> PluginError {
    PluginError::new(code::NETLINK, format!("{what}: {e}"))
}

/// The errno of a netlink failure, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

impl Netlink {
    /// Opens a connection in the current thread's namespace and drives it on
    /// the current tokio runtime.
    pub fn connect() -> Result<Netlink, PluginError> {
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|e| PluginError::io("opening a netlink socket".into(), e))?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The link named `name`, `None` when there is none.
    pub async fn link(&self, name: &str) -> Result<Option<Link>, PluginError> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Some(to_link(&msg))),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl_err(format!("looking up link {name}"), e)),
        }
    }

    /// The link `name`, or an error saying it is missing.
    pub async fn require(&self, name: &str) -> Result<Link, PluginError> {
        self.link(name)
            .await?
            .ok_or_else(|| PluginError::new(code::NETLINK, format!("link {name} not found")))
    }

    /// The bridge `name`, created (up, with `mtu`) when missing. Concurrent
    /// plugins may race to create it: "exists" means another one won.
    pub async fn ensure_bridge(&self, name: &str, mtu: u32) -> Result<Link, PluginError> {
        if self.link(name).await?.is_none() {
            let msg = LinkBridge::new(name).mtu(mtu).build();
            match self.handle.link().add(msg).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(nl_err(format!("creating bridge {name}"), e)),
            }
        }
        let bridge = self.require(name).await?;
        if !bridge.up {
            self.set_up(bridge.index).await?;
        }
        Ok(bridge)
    }

    /// Creates a veth pair whose `peer` end is born inside the namespace
    /// open as `netns_fd` under its final name: no move between namespaces
    /// (which waits for an RCU grace period) and no rename.
    pub async fn add_veth(
        &self,
        host: &str,
        peer: &str,
        mtu: u32,
        netns_fd: RawFd,
    ) -> Result<(), PluginError> {
        let peer_msg = LinkUnspec::new_with_name(peer)
            .mtu(mtu)
            .setns_by_fd(netns_fd)
            .build();
        let msg = LinkVeth::new(host, peer)
            .mtu(mtu)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .build();
        match self.handle.link().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Err(PluginError::new(
                code::NETLINK,
                format!(
                    "creating veth pair {host}/{peer}: an interface of that name already exists"
                ),
            )),
            Err(e) => Err(nl_err(format!("creating veth pair {host}/{peer}"), e)),
        }
    }

    /// Brings link `index` up.
    pub async fn set_up(&self, index: u32) -> Result<(), PluginError> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| nl_err(format!("setting link {index} up"), e))
    }

    /// Attaches link `index` to bridge `master`.
    pub async fn set_master(&self, index: u32, master: u32) -> Result<(), PluginError> {
        let msg = LinkUnspec::new_with_index(index).controller(master).build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| nl_err(format!("attaching link {index} to bridge {master}"), e))
    }

    /// Lets frames leave a bridge port they came in on (pod to itself
    /// through a service address).
    pub async fn set_hairpin(&self, index: u32) -> Result<(), PluginError> {
        let msg = LinkBridgePort::new(index).hairpin(true).build();
        self.handle
            .link()
            .set_port(msg)
            .execute()
            .await
            .map_err(|e| nl_err(format!("setting hairpin on link {index}"), e))
    }

    /// Deletes the link `name`; absent is fine. Returns whether it existed.
    pub async fn delete(&self, name: &str) -> Result<bool, PluginError> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(nl_err(format!("deleting link {name}"), e)),
        }
    }

    /// Adds `ip/prefix` to link `index`; already present is fine. IPv6
    /// addresses skip duplicate address detection (the IPAM already made
    /// them unique), so they are usable at once instead of "tentative".
    pub async fn add_address(&self, index: u32, ip: IpAddr, prefix: u8) -> Result<(), PluginError> {
        let mut request = self.handle.address().add(index, ip, prefix);
        if ip.is_ipv6() {
            request.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(nl_err(
                format!("adding address {ip}/{prefix} to link {index}"),
                e,
            )),
        }
    }

    /// The addresses (with prefix lengths) of link `index`.
    pub async fn addresses(&self, index: u32) -> Result<Vec<(IpAddr, u8)>, PluginError> {
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err(format!("listing addresses of link {index}"), e))?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.index == index)
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some((*ip, m.header.prefix_len)),
                    _ => None,
                })
            })
            .collect())
    }

    /// Adds a route to `dst/len` via `gw` out of link `index`.
    pub async fn add_route(
        &self,
        dst: IpAddr,
        len: u8,
        gw: IpAddr,
        index: u32,
    ) -> Result<(), PluginError> {
        let bad = |e: String| PluginError::config(format!("route {dst}/{len} via {gw}: {e}"));
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(dst, len)
            .map_err(|e| bad(e.to_string()))?
            .gateway(gw)
            .map_err(|e| bad(e.to_string()))?
            .output_interface(index)
            .build();
        match self.handle.route().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(nl_err(format!("adding route {dst}/{len} via {gw}"), e)),
        }
    }

    /// The (destination, prefix length, gateway) of the main table's routes
    /// of the family of `family_of`.
    pub async fn routes(
        &self,
        family_of: IpAddr,
    ) -> Result<Vec<(Option<IpAddr>, u8, Option<IpAddr>)>, PluginError> {
        let query: RouteMessage = match family_of {
            IpAddr::V4(_) => RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
            IpAddr::V6(_) => RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
        };
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err("listing routes", e))?;
        Ok(msgs
            .iter()
            .map(|m| {
                let mut dst = None;
                let mut gw = None;
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Destination(addr) => dst = route_ip(addr),
                        RouteAttribute::Gateway(addr) => gw = route_ip(addr),
                        _ => {}
                    }
                }
                (dst, m.header.destination_prefix_length, gw)
            })
            .collect())
    }
}

fn route_ip(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn to_link(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        mac: String::new(),
        mtu: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        master: None,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name = name.clone(),
            LinkAttribute::Address(bytes) => {
                link.mac = bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
            }
            LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
            LinkAttribute::Controller(index) => link.master = Some(*index),
            _ => {}
        }
    }
    link
}
