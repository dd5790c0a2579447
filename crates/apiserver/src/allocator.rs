//! Service cluster IPs and node ports, allocated at create as the service
//! REST storage does upstream (`pkg/registry/core/service/ipallocator`,
//! `portallocator`).
//!
//! The allocated set is read from the watch cache (every Service's spec), plus
//! a short-lived reservation of what this server handed out but the cache has
//! not seen yet, so two concurrent creates never get the same address.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use skiff_core::Status;
use skiff_core::status::FieldError;

use crate::rest::Ctx;

/// How long a handed-out value is held for the cache to catch up.
const RESERVATION: Duration = Duration::from_secs(30);
const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

/// An IPv4 CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR {s:?}: missing '/'"))?;
        let base: Ipv4Addr = ip.parse().map_err(|e| format!("invalid CIDR {s:?}: {e}"))?;
        let prefix: u8 = len
            .parse()
            .map_err(|e| format!("invalid CIDR {s:?}: {e}"))?;
        if prefix > 30 {
            return Err(format!(
                "invalid CIDR {s:?}: a service range needs a prefix of at most /30"
            ));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Cidr {
            base: Ipv4Addr::from(u32::from(base) & mask),
            prefix,
        })
    }
}

impl Cidr {
    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(ip) & mask == u32::from(self.base)
    }

    /// The n-th address of the range.
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + n)
    }
}

pub struct ServiceAllocator {
    pub cidr: Cidr,
    reserved_ips: Mutex<HashMap<Ipv4Addr, Instant>>,
    reserved_ports: Mutex<HashMap<u16, Instant>>,
}

/// The allocator for a resource, if it allocates.
pub fn for_resource<'a>(ctx: &'a Ctx<'_>) -> Option<&'a ServiceAllocator> {
    (ctx.info.group.is_empty() && ctx.info.resource == "services").then_some(&ctx.server.services)
}

fn prune<K>(map: &mut HashMap<K, Instant>) {
    map.retain(|_, t| t.elapsed() < RESERVATION);
}

impl ServiceAllocator {
    pub fn new(cidr: Cidr) -> ServiceAllocator {
        ServiceAllocator {
            cidr,
            reserved_ips: Mutex::new(HashMap::new()),
            reserved_ports: Mutex::new(HashMap::new()),
        }
    }

    /// The address of the `kubernetes` Service: the first of the range.
    pub fn api_service_ip(&self) -> Ipv4Addr {
        self.cidr.nth(1)
    }

    async fn in_use(&self, ctx: &Ctx<'_>) -> (HashSet<Ipv4Addr>, HashSet<u16>) {
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        if let Some(cache) = ctx.server.cache.resource(ctx.info) {
            let snap = cache
                .snapshot(&format!("{}/", cache.prefix.trim_end_matches('/')), 0)
                .await;
            for e in snap.items {
                let v = e.value();
                if let Some(ip) = v
                    .pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                {
                    ips.insert(ip);
                }
                for p in v
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                        ports.insert(n as u16);
                    }
                }
            }
        }
        (ips, ports)
    }

    /// Allocates the cluster IP and node ports of a new Service.
    pub async fn allocate(&self, ctx: &Ctx<'_>, svc: &mut Value) -> Result<(), Status> {
        let name = skiff_core::meta::name(svc).to_string();
        let invalid = |errs: Vec<FieldError>| Status::invalid("Service", "", &name, &errs);
        let ty = svc
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty == "ExternalName" {
            return Ok(());
        }
        let (used_ips, used_ports) = self.in_use(ctx).await;
        let requested = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if requested != "None" {
            let ip = {
                let mut reserved = self
                    .reserved_ips
                    .lock()
                    .map_err(|_| Status::internal("allocator lock poisoned"))?;
                prune(&mut reserved);
                let taken = |ip: &Ipv4Addr| used_ips.contains(ip) || reserved.contains_key(ip);
                let ip = if requested.is_empty() {
                    // Upstream picks at random; scanning from a random offset keeps
                    // that spread without a bitmap.
                    let size = self.cidr.size();
                    let offset = rand::random::<u32>() % (size - 2);
                    (0..size - 2)
                        .map(|i| self.cidr.nth(1 + (offset + i) % (size - 2)))
                        .find(|ip| !taken(ip))
                        .ok_or_else(|| {
                            Status::internal("failed to allocate a serviceIP: range is full")
                        })?
                } else {
                    let ip: Ipv4Addr = requested.parse().map_err(|_| {
                        invalid(vec![FieldError::invalid(
                            "spec.clusterIPs[0]",
                            &json!(requested),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )])
                    })?;
                    if !self.cidr.contains(ip) {
                        return Err(invalid(vec![FieldError::invalid(
                            "spec.clusterIPs",
                            &json!([requested]),
                            format!(
                                "failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {}/{}",
                                self.cidr.base, self.cidr.prefix
                            ),
                        )]));
                    }
                    if taken(&ip) {
                        return Err(invalid(vec![FieldError::invalid(
                            "spec.clusterIPs",
                            &json!([requested]),
                            format!(
                                "failed to allocate IP {requested}: provided IP is already allocated"
                            ),
                        )]));
                    }
                    ip
                };
                reserved.insert(ip, Instant::now());
                ip
            };
            let spec = &mut svc["spec"];
            spec["clusterIP"] = json!(ip.to_string());
            spec["clusterIPs"] = json!([ip.to_string()]);
        } else {
            svc["spec"]["clusterIPs"] = json!(["None"]);
        }
        svc["spec"]["ipFamilies"] = json!(["IPv4"]);
        svc["spec"]["ipFamilyPolicy"] = json!("SingleStack");

        if ty == "NodePort" || ty == "LoadBalancer" {
            let mut reserved = self
                .reserved_ports
                .lock()
                .map_err(|_| Status::internal("allocator lock poisoned"))?;
            prune(&mut reserved);
            let mut taken: HashSet<u16> = used_ports
                .iter()
                .copied()
                .chain(reserved.keys().copied())
                .collect();
            let mut errs = Vec::new();
            if let Some(Value::Array(ports)) = svc.pointer_mut("/spec/ports") {
                for (i, p) in ports.iter_mut().enumerate() {
                    match p.get("nodePort").and_then(Value::as_u64) {
                        Some(n) => {
                            let n = n as u16;
                            if !NODE_PORT_RANGE.contains(&n) {
                                errs.push(FieldError::invalid(format!("spec.ports[{i}].nodePort"), &json!(n), format!("provided port is not in the valid range. The range of valid ports is {}-{}", NODE_PORT_RANGE.start(), NODE_PORT_RANGE.end())));
                            } else if !taken.insert(n) {
                                errs.push(FieldError::invalid(
                                    format!("spec.ports[{i}].nodePort"),
                                    &json!(n),
                                    "provided port is already allocated",
                                ));
                            } else {
                                reserved.insert(n, Instant::now());
                            }
                        }
                        None => {
                            let span = (NODE_PORT_RANGE.end() - NODE_PORT_RANGE.start()) as u32 + 1;
                            let offset = rand::random::<u32>() % span;
                            let port = (0..span)
                                .map(|k| NODE_PORT_RANGE.start() + ((offset + k) % span) as u16)
                                .find(|n| !taken.contains(n));
                            match port {
                                Some(n) => {
                                    taken.insert(n);
                                    reserved.insert(n, Instant::now());
                                    p["nodePort"] = json!(n);
                                }
                                None => {
                                    return Err(Status::internal(
                                        "failed to allocate a nodePort: range is full",
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            if !errs.is_empty() {
                return Err(invalid(errs));
            }
        }
        Ok(())
    }

    /// An update keeps what was allocated when the client left it out.
    pub fn keep_on_update(&self, new: &mut Value, old: &Value) {
        let Some(old_ports) = old.pointer("/spec/ports").and_then(Value::as_array) else {
            return;
        };
        let old_ports = old_ports.clone();
        if let Some(Value::Array(ports)) = new.pointer_mut("/spec/ports") {
            for p in ports {
                if p.get("nodePort").is_some() {
                    continue;
                }
                let same = old_ports.iter().find(|o| {
                    o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol")
                });
                if let Some(n) = same.and_then(|o| o.get("nodePort")) {
                    p["nodePort"] = n.clone();
                }
            }
        }
    }
}
