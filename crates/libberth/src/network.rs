//! Networks: one JSON file per network in berth's network config dir, in the format
//! Podman and netavark use, so that a network looks the same to both tools. IP addresses
//! are handed out from the state database. The default network ("berth", bridge
//! `berth0`, 10.90.0.0/16) needs no file; it is written when changed.

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::types::ContainerRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

pub const DEFAULT_NETWORK: &str = "berth";
pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_SUBNET: &str = "10.90.0.0/16";
/// Where new networks get their subnets when none is given (a /24 each).
const DEFAULT_POOL: (&str, u8) = ("10.91.0.0/16", 24);

fn is_empty_map(m: &BTreeMap<String, String>) -> bool {
    m.is_empty()
}

/// A network, as Podman's and netavark's JSON spell it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network_interface: String,
    #[serde(default)]
    pub created: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub ipv6_enabled: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub dns_enabled: bool,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub ipam_options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Subnet {
    pub subnet: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_range: Option<LeaseRange>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LeaseRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ip: Option<String>,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreateOptions {
    pub name: Option<String>,
    pub driver: String,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub ip_ranges: Vec<String>,
    pub ipv6: bool,
    pub internal: bool,
    pub disable_dns: bool,
    /// `-o KEY=VALUE`.
    pub options: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub interface_name: Option<String>,
    pub ignore: bool,
}

// ---- addresses ----

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn bits(&self) -> u32 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn mask(&self) -> u128 {
        let host = self.bits() - self.prefix as u32;
        let all = if self.bits() == 32 {
            u32::MAX as u128
        } else {
            u128::MAX
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> Cidr {
        Cidr {
            addr: from_u128(to_u128(self.addr) & self.mask(), self.addr.is_ipv6()),
            prefix: self.prefix,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && to_u128(ip) & self.mask() == to_u128(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && (self.contains(other.network().addr) || other.contains(self.network().addr))
    }

    /// The address `n` places after the network address.
    pub fn nth(&self, n: u128) -> IpAddr {
        from_u128(to_u128(self.network().addr) + n, self.addr.is_ipv6())
    }

    /// The last address of the network (IPv4 broadcast).
    pub fn last(&self) -> IpAddr {
        from_u128(
            to_u128(self.network().addr) | !self.mask() & self.host_mask(),
            self.addr.is_ipv6(),
        )
    }

    fn host_mask(&self) -> u128 {
        if self.bits() == 32 {
            u32::MAX as u128
        } else {
            u128::MAX
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The networks the host's interfaces and routes are on (new subnets avoid them).
fn host_subnets() -> Vec<Cidr> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                continue;
            }
            let (Ok(dst), Ok(mask)) =
                (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
            else {
                continue;
            };
            if mask == 0 {
                continue;
            }
            let addr = Ipv4Addr::from(u32::from_be(dst));
            let prefix = u32::from_be(mask).count_ones() as u8;
            out.push(Cidr {
                addr: IpAddr::V4(addr),
                prefix,
            });
        }
    }
    out
}

fn name_ok(name: &str) -> bool {
    crate::ids::valid_name(name)
}

impl LocalEngine {
    fn network_file(&self, name: &str) -> PathBuf {
        self.cfg.network_config_dir.join(format!("{name}.json"))
    }

    pub(crate) fn default_network_name(&self) -> String {
        self.cfg
            .network
            .default_network
            .clone()
            .unwrap_or_else(|| DEFAULT_NETWORK.into())
    }

    /// The default network as it is when no file defines it.
    fn builtin_default_network(&self) -> Network {
        let subnet = self
            .cfg
            .network
            .default_subnet
            .clone()
            .unwrap_or_else(|| DEFAULT_SUBNET.into());
        let gateway = Cidr::parse(&subnet).map(|c| c.nth(1).to_string());
        let name = self.default_network_name();
        Network {
            id: crate::ids::sha256_hex(name.as_bytes()),
            name,
            driver: "bridge".into(),
            network_interface: DEFAULT_BRIDGE.into(),
            created: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            subnets: vec![Subnet {
                subnet,
                gateway,
                lease_range: None,
            }],
            ipv6_enabled: false,
            internal: false,
            dns_enabled: false,
            ipam_options: BTreeMap::from([("driver".into(), "host-local".into())]),
            ..Default::default()
        }
    }

    /// All networks, by name (the default one included).
    pub fn networks(&self) -> Result<Vec<Network>> {
        let mut out: Vec<Network> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.cfg.network_config_dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_none_or(|x| x != "json") {
                    continue;
                }
                let text =
                    std::fs::read_to_string(&p).ctx(|| format!("reading {}", p.display()))?;
                let n: Network = serde_json::from_str(&text)
                    .map_err(|err| Error::Other(format!("network file {}: {err}", p.display())))?;
                out.push(n);
            }
        }
        let default = self.default_network_name();
        if !out.iter().any(|n| n.name == default) {
            out.push(self.builtin_default_network());
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A network by name, full ID or unique ID prefix.
    pub fn network(&self, key: &str) -> Result<Network> {
        let all = self.networks()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(n.clone());
        }
        let matches: Vec<&Network> = all
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchNetwork(key.to_string())),
            _ => Err(Error::InvalidArg(format!(
                "more than one result for network ID {key}"
            ))),
        }
    }

    /// `network create`.
    pub fn network_create(&self, o: &NetworkCreateOptions) -> Result<Network> {
        let _l = self.lock("networks")?;
        let all = self.networks()?;
        let name = match &o.name {
            Some(n) => {
                if !name_ok(n) {
                    return Err(Error::InvalidArg(format!(
                        "network name {n} invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
                    )));
                }
                if let Some(existing) = all.iter().find(|x| x.name == *n) {
                    if o.ignore {
                        return Ok(existing.clone());
                    }
                    return Err(Error::InvalidArg(format!(
                        "network name {n} already used: network already exists"
                    )));
                }
                n.clone()
            }
            None => (1..)
                .map(|i| format!("berth{i}"))
                .find(|n| !all.iter().any(|x| x.name == *n))
                .unwrap_or_default(),
        };
        let driver = if o.driver.is_empty() {
            "bridge".to_string()
        } else {
            o.driver.clone()
        };
        if !matches!(driver.as_str(), "bridge" | "macvlan" | "ipvlan") {
            return Err(Error::InvalidArg(format!(
                "unsupported driver {driver}: invalid argument"
            )));
        }
        let mut options = BTreeMap::new();
        for opt in &o.options {
            let (k, v) = opt.split_once('=').unwrap_or((opt.as_str(), ""));
            let known = match driver.as_str() {
                "bridge" => matches!(
                    k,
                    "mtu" | "vlan" | "isolate" | "com.docker.network.bridge.name" | "metric"
                ),
                _ => matches!(k, "mtu" | "parent" | "mode" | "metric"),
            };
            if !known {
                return Err(Error::InvalidArg(format!(
                    "unsupported {driver} network option {k}"
                )));
            }
            if k == "mtu" && v.parse::<u32>().is_err() {
                return Err(Error::InvalidArg(format!(
                    "invalid mtu {v:?}: a number is required"
                )));
            }
            if k == "com.docker.network.bridge.name" {
                continue;
            }
            options.insert(k.to_string(), v.to_string());
        }
        let interface = if driver == "bridge" {
            let iface = o.interface_name.clone().or_else(|| {
                o.options.iter().find_map(|x| {
                    x.strip_prefix("com.docker.network.bridge.name=")
                        .map(str::to_string)
                })
            });
            match iface {
                Some(i) => {
                    if i.is_empty() || i.len() > 15 || i.contains(['/', ' ', ':']) {
                        return Err(Error::InvalidArg(format!(
                            "invalid interface name {i:?}: at most 15 characters, no '/', ':' or spaces"
                        )));
                    }
                    if let Some(other) = all.iter().find(|x| x.network_interface == i) {
                        return Err(Error::InvalidArg(format!(
                            "bridge name {i} already in use by network {}",
                            other.name
                        )));
                    }
                    i
                }
                None => (0..)
                    .map(|i| format!("berth{i}"))
                    .find(|n| {
                        !all.iter().any(|x| x.network_interface == *n)
                            && !std::path::Path::new("/sys/class/net").join(n).exists()
                    })
                    .unwrap_or_default(),
            }
        } else {
            let parent = options.get("parent").cloned().unwrap_or_default();
            if !parent.is_empty()
                && !std::path::Path::new("/sys/class/net")
                    .join(&parent)
                    .exists()
            {
                return Err(Error::InvalidArg(format!(
                    "parent interface {parent} does not exist"
                )));
            }
            parent
        };
        if o.gateways.len() > o.subnets.len() || o.ip_ranges.len() > o.subnets.len() {
            return Err(Error::InvalidArg(
                "cannot set more gateways or ip ranges than subnets".into(),
            ));
        }
        let taken: Vec<Cidr> = all
            .iter()
            .flat_map(|n| n.subnets.iter().filter_map(|s| Cidr::parse(&s.subnet)))
            .collect();
        let mut subnets = Vec::new();
        for (i, s) in o.subnets.iter().enumerate() {
            let c = Cidr::parse(s)
                .ok_or_else(|| {
                    Error::InvalidArg(format!("invalid subnet {s:?}: invalid CIDR address"))
                })?
                .network();
            if let Some(other) = all.iter().find(|n| {
                n.subnets
                    .iter()
                    .filter_map(|x| Cidr::parse(&x.subnet))
                    .any(|x| x.overlaps(&c))
            }) {
                return Err(Error::InvalidArg(format!(
                    "subnet {c} is already used on the host or by another config: network {} has an overlapping subnet",
                    other.name
                )));
            }
            if subnets
                .iter()
                .any(|x: &Subnet| Cidr::parse(&x.subnet).is_some_and(|x| x.overlaps(&c)))
            {
                return Err(Error::InvalidArg(format!("subnet {c} is given twice")));
            }
            let host_len = c.bits() - c.prefix as u32;
            if host_len < 2 {
                return Err(Error::InvalidArg(format!(
                    "subnet {c} is too small: it needs room for a gateway and a container"
                )));
            }
            let gateway = match o.gateways.get(i) {
                Some(g) => {
                    let ip: IpAddr = g
                        .parse()
                        .map_err(|_| Error::InvalidArg(format!("invalid gateway {g:?}")))?;
                    if !c.contains(ip) {
                        return Err(Error::InvalidArg(format!("gateway {g} not in subnet {c}")));
                    }
                    Some(ip.to_string())
                }
                None if driver == "bridge" => Some(c.nth(1).to_string()),
                None => None,
            };
            let lease_range = match o.ip_ranges.get(i) {
                Some(r) => {
                    let rc = Cidr::parse(r).ok_or_else(|| {
                        Error::InvalidArg(format!("invalid ip range {r:?}: invalid CIDR address"))
                    })?;
                    if !c.contains(rc.addr) || rc.prefix < c.prefix {
                        return Err(Error::InvalidArg(format!(
                            "ip range {r} is not in subnet {c}"
                        )));
                    }
                    let rc = rc.network();
                    Some(LeaseRange {
                        start_ip: Some(rc.nth(if rc == c { 1 } else { 0 }).to_string()),
                        end_ip: Some(rc.last().to_string()),
                    })
                }
                None => None,
            };
            subnets.push(Subnet {
                subnet: c.to_string(),
                gateway,
                lease_range,
            });
        }
        if subnets.is_empty() && driver == "bridge" {
            let c = self.free_subnet(&taken)?;
            subnets.push(Subnet {
                subnet: c.to_string(),
                gateway: Some(c.nth(1).to_string()),
                lease_range: None,
            });
        }
        let ipv6 = o.ipv6 || subnets.iter().any(|s| s.subnet.contains(':'));
        if o.ipv6 && !subnets.iter().any(|s| s.subnet.contains(':')) {
            return Err(Error::InvalidArg(
                "--ipv6 needs an IPv6 --subnet (berth does not pick IPv6 subnets yet)".into(),
            ));
        }
        let net = Network {
            id: crate::ids::new_id(),
            name: name.clone(),
            driver: driver.clone(),
            network_interface: interface,
            created: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            subnets,
            ipv6_enabled: ipv6,
            internal: o.internal,
            dns_enabled: driver == "bridge" && !o.disable_dns,
            labels: o.labels.clone(),
            options,
            ipam_options: BTreeMap::from([("driver".into(), "host-local".into())]),
        };
        self.write_network(&net)?;
        Ok(net)
    }

    /// The first /24 (by default) of the pool free of other networks and of the host's.
    fn free_subnet(&self, taken: &[Cidr]) -> Result<Cidr> {
        let pools: Vec<(String, u8)> = if self.cfg.network.default_subnet_pools.is_empty() {
            vec![(DEFAULT_POOL.0.to_string(), DEFAULT_POOL.1)]
        } else {
            self.cfg.network.default_subnet_pools.clone()
        };
        let host = host_subnets();
        for (base, size) in pools {
            let Some(b) = Cidr::parse(&base) else {
                continue;
            };
            if size < b.prefix || !b.addr.is_ipv4() || size > 30 {
                continue;
            }
            let count = 1u128 << (size - b.prefix);
            let step = 1u128 << (32 - size as u32);
            for i in 0..count {
                let c = Cidr {
                    addr: b.nth(i * step),
                    prefix: size,
                };
                if !taken.iter().any(|t| t.overlaps(&c)) && !host.iter().any(|h| h.overlaps(&c)) {
                    return Ok(c);
                }
            }
        }
        Err(Error::Other(
            "could not find a free subnet for the network: all of the default subnet pools are in use".into(),
        ))
    }

    fn write_network(&self, n: &Network) -> Result<()> {
        let dir = &self.cfg.network_config_dir;
        std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
        let path = self.network_file(&n.name);
        let tmp = path.with_extension("json.tmp");
        let mut data = serde_json::to_vec_pretty(n).map_err(|e| Error::Other(e.to_string()))?;
        data.push(b'\n');
        std::fs::write(&tmp, data).ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).ctx(|| format!("writing {}", path.display()))
    }

    /// The containers attached to network `name`.
    pub(crate) fn network_users(&self, name: &str) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .db()
            .containers()?
            .into_iter()
            .filter(|c| c.config.networks.iter().any(|n| n.name == name))
            .collect())
    }

    /// `network inspect` of one network (Podman 4.3 prints the network's JSON).
    pub fn network_inspect(&self, key: &str) -> Result<Value> {
        let n = self.network(key)?;
        serde_json::to_value(&n).map_err(|e| Error::Other(e.to_string()))
    }

    /// `network ls`, filtered (`name`, `id`, `driver`, `label`, `dangling`, `until`).
    pub fn network_list(&self, filters: &[String]) -> Result<Vec<Value>> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in filters {
            let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
            if !matches!(
                k,
                "name" | "id" | "driver" | "label" | "label!" | "dangling" | "until"
            ) {
                return Err(Error::InvalidArg(format!("invalid filter {k:?}")));
            }
            by_key.entry(k.into()).or_default().push(v.into());
        }
        let mut out = Vec::new();
        for n in self.networks()? {
            let mut ok = true;
            for (k, vals) in &by_key {
                let label = |want: &str| match want.split_once('=') {
                    Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                    None => n.labels.contains_key(want),
                };
                ok &= match k.as_str() {
                    "name" => vals.iter().any(|v| n.name.contains(v.as_str())),
                    "id" => vals.iter().any(|v| n.id.starts_with(v.as_str())),
                    "driver" => vals.contains(&n.driver),
                    "label" => vals.iter().all(|v| label(v)),
                    "label!" => vals.iter().all(|v| !label(v)),
                    "dangling" => {
                        let unused = self.network_users(&n.name)?.is_empty();
                        vals.iter().any(|v| (v == "true" || v == "1") == unused)
                    }
                    "until" => {
                        let created = chrono::DateTime::parse_from_rfc3339(&n.created)
                            .map(|t| t.timestamp())
                            .unwrap_or(0);
                        vals.iter()
                            .any(|v| v.parse::<i64>().is_ok_and(|t| created < t))
                    }
                    _ => true,
                };
            }
            if ok {
                out.push(serde_json::to_value(&n).map_err(|e| Error::Other(e.to_string()))?);
            }
        }
        Ok(out)
    }

    /// `network exists`.
    pub fn network_exists(&self, key: &str) -> Result<bool> {
        match self.network(key) {
            Ok(_) => Ok(true),
            Err(Error::NoSuchNetwork(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `network rm`: refuses a network in use unless `force`, which removes its
    /// containers first. The default network cannot be removed.
    pub fn network_remove(&self, key: &str, force: bool, timeout: u32) -> Result<String> {
        let n = self.network(key)?;
        if n.name == self.default_network_name() {
            return Err(Error::InvalidArg(format!(
                "default network {} cannot be removed",
                n.name
            )));
        }
        let users = self.network_users(&n.name)?;
        if !users.is_empty() {
            if !force {
                let ids: Vec<&str> = users.iter().map(|c| c.id.as_str()).collect();
                return Err(Error::NetworkInUse(n.name.clone(), ids.join(", ")));
            }
            for c in &users {
                match self.container_rm(&c.id, true, timeout, false) {
                    Ok(()) | Err(Error::NoSuchContainer(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let _l = self.lock("networks")?;
        if !self.network_users(&n.name)?.is_empty() {
            return Err(Error::NetworkInUse(n.name.clone(), String::new()));
        }
        let path = self.network_file(&n.name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(format!("removing {}", path.display()), e)),
        }
        self.db().write(|tx| {
            tx.execute("DELETE FROM network_ips WHERE network = ?1", [&n.name])?;
            Ok(())
        })?;
        Ok(n.name)
    }

    /// `network prune`: removes the networks no container uses (never the default).
    pub fn network_prune(&self, filters: &[String]) -> Result<Vec<String>> {
        let default = self.default_network_name();
        let mut removed = Vec::new();
        for v in self.network_list(filters)? {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            if name == default || !self.network_users(&name)?.is_empty() {
                continue;
            }
            match self.network_remove(&name, false, 0) {
                Ok(n) => removed.push(n),
                Err(Error::NetworkInUse(..) | Error::NoSuchNetwork(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    // ---- addresses for containers ----

    /// Hands out addresses on `net` for container `id`: the `wanted` ones (checked), or
    /// the next free one of each IPv4/IPv6 subnet. Recorded in the state database, so
    /// parallel starts get distinct addresses.
    pub(crate) fn allocate_ips(
        &self,
        net: &Network,
        id: &str,
        wanted: &[String],
    ) -> Result<Vec<String>> {
        let subnets: Vec<(Cidr, &Subnet)> = net
            .subnets
            .iter()
            .filter_map(|s| Cidr::parse(&s.subnet).map(|c| (c, s)))
            .collect();
        let mut want_ips = Vec::new();
        for w in wanted {
            let ip: IpAddr = w
                .parse()
                .map_err(|_| Error::InvalidArg(format!("invalid IP address {w:?}")))?;
            if !subnets.iter().any(|(c, _)| c.contains(ip)) {
                return Err(Error::InvalidArg(format!(
                    "requested static ip {w} not in any subnet on network {}",
                    net.name
                )));
            }
            want_ips.push(ip);
        }
        self.db().write(|tx| {
            // Addresses this container already holds (a restart) are its own again; those
            // of containers that are gone (a crash before their teardown) are free.
            tx.execute(
                "DELETE FROM network_ips WHERE network = ?1 AND (container = ?2 OR container NOT IN (SELECT id FROM containers))",
                rusqlite::params![net.name, id],
            )?;
            let used: std::collections::HashSet<String> = {
                let mut st = tx.prepare("SELECT ip FROM network_ips WHERE network = ?1")?;
                let rows = st.query_map([&net.name], |r| r.get::<_, String>(0))?;
                rows.collect::<std::result::Result<_, _>>()?
            };
            let mut out = Vec::new();
            let take = |ip: IpAddr, out: &mut Vec<String>| -> Result<()> {
                tx.execute(
                    "INSERT INTO network_ips(network, ip, container) VALUES (?1, ?2, ?3)",
                    rusqlite::params![net.name, ip.to_string(), id],
                )?;
                out.push(ip.to_string());
                Ok(())
            };
            for ip in &want_ips {
                if used.contains(&ip.to_string()) {
                    return Err(Error::InvalidArg(format!(
                        "IPAM error: requested ip address {ip} is already allocated to another container on network {}",
                        net.name
                    )));
                }
                take(*ip, &mut out)?;
            }
            for (c, s) in &subnets {
                if want_ips.iter().any(|ip| c.contains(*ip)) {
                    continue;
                }
                let gateway: Option<IpAddr> = s.gateway.as_deref().and_then(|g| g.parse().ok());
                let (first, last) = match &s.lease_range {
                    Some(r) => (
                        r.start_ip.as_deref().and_then(|x| x.parse().ok()).unwrap_or(c.nth(1)),
                        r.end_ip.as_deref().and_then(|x| x.parse().ok()).unwrap_or(c.last()),
                    ),
                    None => (c.nth(1), c.last()),
                };
                let (mut v, end) = (to_u128(first), to_u128(last));
                let v6 = c.addr.is_ipv6();
                let mut found = None;
                while v <= end {
                    let ip = from_u128(v, v6);
                    // Not the broadcast address (IPv4), not the gateway, not in use.
                    if (v6 || ip != c.last()) && Some(ip) != gateway && !used.contains(&ip.to_string()) {
                        found = Some(ip);
                        break;
                    }
                    v += 1;
                }
                let ip = found.ok_or_else(|| {
                    Error::Other(format!(
                        "IPAM error: failed to find free IP in range: {c} (network {})",
                        net.name
                    ))
                })?;
                take(ip, &mut out)?;
            }
            Ok(out)
        })
    }

    /// Gives back the addresses container `id` holds (on every network, or on `net`).
    pub(crate) fn release_ips(&self, id: &str, net: Option<&str>) -> Result<()> {
        self.db().write(|tx| {
            match net {
                Some(n) => tx.execute(
                    "DELETE FROM network_ips WHERE container = ?1 AND network = ?2",
                    rusqlite::params![id, n],
                )?,
                None => tx.execute("DELETE FROM network_ips WHERE container = ?1", [id])?,
            };
            Ok(())
        })
    }
}

/// `network ls`'s row values for a network.
pub fn list_row(n: &Value) -> Value {
    json!({
        "Name": n["name"], "ID": n["id"].as_str().map(|s| &s[..s.len().min(12)]),
        "Driver": n["driver"], "Labels": n["labels"], "Options": n["options"],
        "IPv6": n["ipv6_enabled"], "Internal": n["internal"], "DNSEnabled": n["dns_enabled"],
        "Subnets": n["subnets"], "NetworkInterface": n["network_interface"], "Created": n["created"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_math() {
        let c = Cidr::parse("10.90.3.7/16").unwrap();
        assert_eq!(c.network().to_string(), "10.90.0.0/16");
        assert_eq!(c.nth(1).to_string(), "10.90.0.1");
        assert_eq!(c.last().to_string(), "10.90.255.255");
        assert!(c.contains("10.90.200.1".parse().unwrap()));
        assert!(!c.contains("10.91.0.1".parse().unwrap()));
        let d = Cidr::parse("10.90.5.0/24").unwrap();
        assert!(c.overlaps(&d) && d.overlaps(&c));
        assert!(!d.overlaps(&Cidr::parse("10.90.6.0/24").unwrap()));
        let v6 = Cidr::parse("fd00:1::/64").unwrap();
        assert_eq!(v6.nth(1).to_string(), "fd00:1::1");
        assert!(v6.contains("fd00:1::99".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("banana").is_none());
    }
}
