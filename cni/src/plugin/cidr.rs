//! IP prefixes (`10.244.0.0/24`, `fd00::/64`) with the arithmetic IPAM needs:
//! containment, the first and last address, stepping through a range.
//! Addresses are handled as `u128` so IPv4 and IPv6 share one code path.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written (not necessarily the network address).
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::y/n`.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.trim().split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > bits(addr) {
            return None;
        }
        Some(Cidr { addr, prefix })
    }

    /// The same prefix with the host bits cleared.
    pub fn network(&self) -> Cidr {
        let n = to_u128(self.addr) & self.mask();
        Cidr {
            addr: from_u128(n, self.addr.is_ipv6()),
            prefix: self.prefix,
        }
    }

    fn mask(&self) -> u128 {
        let host_bits = u32::from(bits(self.addr) - self.prefix);
        let all = if self.addr.is_ipv6() {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        };
        all.checked_shl(host_bits).unwrap_or(0) & all
    }

    /// Whether `ip` (of the same family) lies inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv6() == self.addr.is_ipv6()
            && to_u128(ip) & self.mask() == to_u128(self.addr) & self.mask()
    }

    /// The first address (the network address).
    pub fn first(&self) -> IpAddr {
        self.network().addr
    }

    /// The last address (the IPv4 broadcast address).
    pub fn last(&self) -> IpAddr {
        let n = to_u128(self.addr) | !self.mask();
        let n = if self.addr.is_ipv6() {
            n
        } else {
            n & u128::from(u32::MAX)
        };
        from_u128(n, self.addr.is_ipv6())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(addr: IpAddr) -> u8 {
    if addr.is_ipv6() { 128 } else { 32 }
}

/// The address as a number.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The number as an address of the given family (truncated for IPv4).
pub fn from_u128(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from((n & u128::from(u32::MAX)) as u32))
    }
}

/// `ip + delta` within the family, `None` past the end.
pub fn offset(ip: IpAddr, delta: u128) -> Option<IpAddr> {
    let n = to_u128(ip).checked_add(delta)?;
    if !ip.is_ipv6() && n > u128::from(u32::MAX) {
        return None;
    }
    Some(from_u128(n, ip.is_ipv6()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_prefix_bounds_and_containment() {
        let c = Cidr::parse("10.244.3.7/24").unwrap();
        assert_eq!(c.network().to_string(), "10.244.3.0/24");
        assert_eq!(c.first(), "10.244.3.0".parse::<IpAddr>().unwrap());
        assert_eq!(c.last(), "10.244.3.255".parse::<IpAddr>().unwrap());
        assert!(c.contains("10.244.3.200".parse().unwrap()));
        assert!(!c.contains("10.244.4.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("10.0.0.0"), None);
    }

    #[test]
    fn ipv6_prefix_bounds() {
        let c = Cidr::parse("fd00:1::/64").unwrap();
        assert_eq!(
            c.last(),
            "fd00:1::ffff:ffff:ffff:ffff".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            offset(c.first(), 2),
            Some("fd00:1::2".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn offsets_stop_at_the_end_of_the_family() {
        assert_eq!(offset("255.255.255.255".parse().unwrap(), 1), None);
        assert_eq!(
            Cidr::parse("0.0.0.0/0").unwrap().last(),
            "255.255.255.255".parse::<IpAddr>().unwrap()
        );
    }
}
