//! Pod IP ranges: the cluster range split in per-node blocks, and the host-local
//! style allocation of pod IPs in a node's block (IPv4 only).
//!
//! Owns: CIDR parsing and arithmetic, per-node pod CIDRs and their IP sets.
//! Does not own: which node gets which block (the caller's index).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Errors of CIDR parsing and splitting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid CIDR {0:?}: want an IPv4 address/prefix such as 10.42.0.0/16")]
    Invalid(String),
    #[error("{cidr} holds {capacity} blocks of /{mask}, fewer than the {wanted} nodes")]
    TooSmall {
        cidr: Cidr,
        mask: u8,
        capacity: u64,
        wanted: u64,
    },
}

/// An IPv4 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Cidr, Error> {
        let bad = || Error::Invalid(s.to_string());
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Cidr {
            base: u32::from(ip) & mask(prefix),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl Cidr {
    /// How many blocks of `/sub` this network holds.
    pub fn blocks(&self, sub: u8) -> u64 {
        if sub < self.prefix || sub > 32 {
            return 0;
        }
        1u64 << (sub - self.prefix)
    }

    /// Block `index` of size `/sub`.
    pub fn block(&self, sub: u8, index: u64) -> Option<Cidr> {
        if index >= self.blocks(sub) {
            return None;
        }
        let size = 1u64 << (32 - u32::from(sub));
        let base = u64::from(self.base) + index * size;
        Some(Cidr {
            base: u32::try_from(base).ok()?,
            prefix: sub,
        })
    }

    /// Checks that `nodes` blocks of `/sub` fit.
    pub fn check_fits(&self, sub: u8, nodes: u64) -> Result<(), Error> {
        let capacity = self.blocks(sub);
        if capacity < nodes {
            return Err(Error::TooSmall {
                cidr: *self,
                mask: sub,
                capacity,
                wanted: nodes,
            });
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.base
    }
}

/// The pod IPs of one node's block, handed out as the CNI host-local plugin
/// does: the network address and the gateway (`.1`) are never given, and
/// addresses are taken round-robin so a freed IP is not reused at once.
#[derive(Debug)]
pub struct PodIps {
    cidr: Cidr,
    used: Vec<u64>,
    next: u64,
}

impl PodIps {
    pub fn new(cidr: Cidr) -> PodIps {
        let words = cidr.size().div_ceil(64);
        PodIps {
            cidr,
            used: vec![0; usize::try_from(words).unwrap_or(0)],
            next: 2,
        }
    }

    /// The first host address, the bridge gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.cidr.base.wrapping_add(1))
    }

    fn usable(&self, offset: u64) -> bool {
        // Not the network, the gateway or the broadcast address.
        offset >= 2 && offset + 1 < self.cidr.size()
    }

    fn bit(&mut self, offset: u64) -> Option<(&mut u64, u64)> {
        let word = self.used.get_mut(usize::try_from(offset / 64).ok()?)?;
        Some((word, 1u64 << (offset % 64)))
    }

    /// Takes `wanted` when it is in the block and free, else the next free IP.
    pub fn allocate(&mut self, wanted: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(ip) = wanted.filter(|ip| self.cidr.contains(*ip)) {
            let offset = u64::from(u32::from(ip) - self.cidr.base);
            if self.usable(offset)
                && let Some((word, bit)) = self.bit(offset)
                && *word & bit == 0
            {
                *word |= bit;
                return Some(ip);
            }
        }
        let size = self.cidr.size();
        for i in 0..size {
            let offset = (self.next + i) % size;
            if !self.usable(offset) {
                continue;
            }
            if let Some((word, bit)) = self.bit(offset)
                && *word & bit == 0
            {
                *word |= bit;
                self.next = offset + 1;
                let ip = u32::try_from(u64::from(self.cidr.base) + offset).ok()?;
                return Some(Ipv4Addr::from(ip));
            }
        }
        None
    }

    /// Gives an IP back.
    pub fn release(&mut self, ip: Ipv4Addr) {
        if !self.cidr.contains(ip) {
            return;
        }
        let offset = u64::from(u32::from(ip) - self.cidr.base);
        if let Some((word, bit)) = self.bit(offset) {
            *word &= !bit;
        }
    }

    /// The block.
    pub fn cidr(&self) -> Cidr {
        self.cidr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_allocation() {
        let c: Cidr = "10.42.0.0/16".parse().expect("cidr");
        assert_eq!(c.blocks(24), 256);
        assert_eq!(
            c.block(24, 3).map(|b| b.to_string()),
            Some("10.42.3.0/24".into())
        );
        assert!(c.block(24, 256).is_none());
        assert!(c.check_fits(24, 257).is_err());
        let mut ips = PodIps::new(c.block(24, 1).expect("block"));
        assert_eq!(ips.gateway(), Ipv4Addr::new(10, 42, 1, 1));
        assert_eq!(ips.allocate(None), Some(Ipv4Addr::new(10, 42, 1, 2)));
        assert_eq!(ips.allocate(None), Some(Ipv4Addr::new(10, 42, 1, 3)));
        // A wanted free IP is honoured; a taken one is not.
        let want = Ipv4Addr::new(10, 42, 1, 77);
        assert_eq!(ips.allocate(Some(want)), Some(want));
        assert_eq!(ips.allocate(Some(want)), Some(Ipv4Addr::new(10, 42, 1, 4)));
        ips.release(Ipv4Addr::new(10, 42, 1, 2));
        let mut n = 4; // .3, .4, .77 taken, .2 free again
        while ips.allocate(None).is_some() {
            n += 1;
        }
        assert_eq!(n, 253 + 1, "253 usable addresses in a /24");
        assert!("10.42.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }
}
