//! Where a server bound to every address (`0.0.0.0`, `::`) can be reached:
//! loopback and each address of this machine's interfaces, as `serve` and
//! Vite print them at start-up.

// getifaddrs(3): std has no way to list the machine's addresses.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The addresses of the interfaces that are up, in the system's order.
pub(crate) fn local_addresses() -> io::Result<Vec<IpAddr>> {
    /// The list getifaddrs made, freed however the walk ends.
    struct List(*mut libc::ifaddrs);
    impl Drop for List {
        fn drop(&mut self) {
            // SAFETY: the head getifaddrs returned, freed once.
            unsafe { libc::freeifaddrs(self.0) };
        }
    }
    let mut head = std::ptr::null_mut();
    // SAFETY: on success getifaddrs stores the head of a list it allocated.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let list = List(head);
    let mut addresses = Vec::new();
    let mut node = list.0;
    while !node.is_null() {
        // SAFETY: a node of the list, which lives until `list` is dropped.
        let entry = unsafe { &*node };
        node = entry.ifa_next;
        let up = entry.ifa_flags & libc::IFF_UP as libc::c_uint != 0;
        if !up || entry.ifa_addr.is_null() {
            continue;
        }
        let addr = entry.ifa_addr;
        // SAFETY: `ifa_addr` points to a socket address whose family field
        // says which one; each is read unaligned, as its real type.
        let ip = unsafe {
            match i32::from((*addr).sa_family) {
                libc::AF_INET => {
                    let sin = addr.cast::<libc::sockaddr_in>().read_unaligned();
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = addr.cast::<libc::sockaddr_in6>().read_unaligned();
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                // Link-layer (AF_PACKET) entries and the like.
                _ => continue,
            }
        };
        addresses.push(ip);
    }
    Ok(addresses)
}

/// The addresses a listener on `bound` (an unspecified address) answers
/// on, given the machine's `local` addresses: loopback first, then IPv4,
/// then IPv6, each once. IPv4 ones for `::` only if `dual_stack` (the
/// socket is not `IPV6_V6ONLY`). IPv6 link-local addresses are left out:
/// their URLs need a zone (`[fe80::1%25eth0]`) that browsers do not take.
/// With no `local` addresses (they could not be listed), loopback only.
pub(crate) fn reachable(bound: SocketAddr, dual_stack: bool, local: &[IpAddr]) -> Vec<SocketAddr> {
    let (v4, v6) = match bound {
        SocketAddr::V4(_) => (true, false),
        SocketAddr::V6(_) => (dual_stack, true),
    };
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    let from = if local.is_empty() { &loopback[..] } else { local };
    let mut ips: Vec<IpAddr> = from
        .iter()
        .copied()
        .filter(|ip| match ip {
            IpAddr::V4(_) => v4,
            IpAddr::V6(ip) => v6 && !ip.is_unicast_link_local() && ip.to_ipv4_mapped().is_none(),
        })
        .filter(|ip| !ip.is_unspecified() && !ip.is_multicast())
        .collect();
    // Stable: the system's order within each group.
    ips.sort_by_key(|ip| (!ip.is_loopback(), ip.is_ipv6()));
    let mut seen = Vec::new();
    ips.retain(|ip| {
        let new = !seen.contains(ip);
        seen.push(*ip);
        new
    });
    ips.into_iter().map(|ip| SocketAddr::new(ip, bound.port())).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn strings(addrs: &[SocketAddr]) -> Vec<String> {
        addrs.iter().map(ToString::to_string).collect()
    }

    const MACHINE: &[&str] =
        &["192.0.2.2", "127.0.0.1", "fe80::fc:ff:fe00:1", "::1", "fd00::2", "192.0.2.2"];

    #[test]
    fn ipv4_any_lists_loopback_first_and_only_ipv4() {
        let got = reachable("0.0.0.0:8080".parse().unwrap(), false, &ips(MACHINE));
        assert_eq!(strings(&got), ["127.0.0.1:8080", "192.0.2.2:8080"]);
    }

    #[test]
    fn ipv6_any_lists_both_families_unless_v6only_and_never_link_local() {
        let bound = "[::]:80".parse().unwrap();
        let got = reachable(bound, true, &ips(MACHINE));
        assert_eq!(strings(&got), ["127.0.0.1:80", "[::1]:80", "192.0.2.2:80", "[fd00::2]:80"]);
        let got = reachable(bound, false, &ips(MACHINE));
        assert_eq!(strings(&got), ["[::1]:80", "[fd00::2]:80"]);
    }

    #[test]
    fn no_listed_addresses_means_loopback() {
        let got = reachable("0.0.0.0:1".parse().unwrap(), false, &[]);
        assert_eq!(strings(&got), ["127.0.0.1:1"]);
    }

    #[test]
    fn this_machine_has_a_loopback_address() {
        let local = local_addresses().unwrap();
        assert!(local.iter().any(IpAddr::is_loopback), "{local:?}");
    }
}
