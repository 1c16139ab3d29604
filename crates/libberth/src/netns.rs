//! A container's network: the `--network` options resolved at create, its network
//! namespace and netavark's set-up and teardown around each run (called as Podman calls
//! it: `netavark setup|teardown NETNS` with the options as JSON on stdin), and the
//! /etc/hosts and /etc/resolv.conf it gets.
//!
//! State: `<runroot>/netns/berth-<id>.json` records the namespace before anything is set up in it,
//! so that a `berth` killed half-way leaves something the next cleanup can undo.

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::network::{Cidr, Network};
use crate::types::{ContainerConfig, ContainerRecord, CreateOptions, NetAttach, PortMapping};
use berth_oci::spec::NetMode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Where netavark and aardvark-dns are looked for (after containers.conf's dirs): berth's
/// own build (netavark 2 with its nftables driver, see scripts/lib.sh), then Podman's
/// places.
const HELPER_DIRS: &[&str] = &[
    "/usr/local/libexec/berth",
    "/usr/local/libexec/podman",
    "/usr/local/lib/podman",
    "/usr/libexec/podman",
    "/usr/lib/podman",
];

/// What a running container's network is, kept in its run directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetState {
    /// The namespace's bind mount.
    pub netns: String,
    /// The container's name (netavark's options carry it).
    pub name: String,
    /// The networks with the addresses they got.
    pub attach: Vec<NetAttach>,
    /// netavark's answer, per network.
    pub status: BTreeMap<String, Value>,
    /// Set once `netavark setup` was called (teardown is needed).
    pub set_up: bool,
}

/// The network mode, networks, published and exposed ports of a new container.
pub(crate) type ResolvedNetwork = (String, Vec<NetAttach>, Vec<PortMapping>, Vec<String>);

/// Parses one `-p` value: `[ip:][hostPort:]containerPort[-end][/proto]`.
pub fn parse_publish(p: &str) -> Result<Vec<PortMapping>> {
    let bad = |why: &str| Error::InvalidArg(format!("invalid port format {p:?}: {why}"));
    let (spec, proto) = match p.rsplit_once('/') {
        Some((s, pr)) => (s, pr),
        None => (p, "tcp"),
    };
    let protos: Vec<&str> = proto.split(',').collect();
    for pr in &protos {
        if !matches!(*pr, "tcp" | "udp" | "sctp") {
            return Err(bad(&format!(
                "unknown protocol {pr:?}: use tcp, udp or sctp"
            )));
        }
    }
    // An IPv6 host address is written in brackets.
    let (host_ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, rest) = r.split_once(']').ok_or_else(|| bad("missing ]"))?;
        (
            ip.to_string(),
            rest.strip_prefix(':')
                .ok_or_else(|| bad("a port must follow the address"))?,
        )
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (String::new(), spec),
            3 => (parts[0].to_string(), &spec[parts[0].len() + 1..]),
            _ => return Err(bad("too many colons")),
        }
    };
    if !host_ip.is_empty() && host_ip.parse::<IpAddr>().is_err() {
        return Err(bad(&format!("invalid IP address {host_ip:?}")));
    }
    let range = |s: &str| -> Result<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a.parse().map_err(|_| bad(&format!("invalid port {a:?}")))?;
        let b: u16 = b.parse().map_err(|_| bad(&format!("invalid port {b:?}")))?;
        if a == 0 || b < a {
            return Err(bad(&format!("invalid port range {s:?}")));
        }
        Ok((a, b))
    };
    let (host, ctr) = match rest.split_once(':') {
        Some(("", c)) => (None, range(c)?),
        Some((h, c)) => (Some(range(h)?), range(c)?),
        None => (None, range(rest)?),
    };
    if let Some((hs, he)) = host {
        if he - hs != ctr.1 - ctr.0 {
            return Err(bad("host and container port ranges differ in length"));
        }
    }
    Ok(protos
        .iter()
        .map(|pr| PortMapping {
            host_ip: host_ip.clone(),
            container_port: ctr.0,
            host_port: host.map(|h| h.0).unwrap_or(0),
            range: ctr.1 - ctr.0 + 1,
            protocol: pr.to_string(),
        })
        .collect())
}

/// A free port on the host, chosen by the kernel.
fn random_port(ip: &str, proto: &str) -> Result<u16> {
    let addr = format!("{}:0", if ip.is_empty() { "0.0.0.0" } else { ip });
    let port = if proto == "udp" {
        std::net::UdpSocket::bind(&addr).and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind(&addr).and_then(|s| s.local_addr())
    }
    .ctx(|| format!("finding a free host port on {addr}"))?
    .port();
    Ok(port)
}

/// Refuses a host port another program holds (netavark would forward it silently).
fn check_port_free(m: &PortMapping) -> Result<()> {
    for i in 0..m.range {
        let port = m.host_port + i;
        let ip = if m.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            m.host_ip.as_str()
        };
        let addr = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let r = match m.protocol.as_str() {
            "udp" => std::net::UdpSocket::bind(&addr).map(drop),
            "tcp" => std::net::TcpListener::bind(&addr).map(drop),
            _ => Ok(()),
        };
        if let Err(e) = r {
            return Err(Error::InvalidArg(format!(
                "cannot listen on the {} port: listen {} {addr}: bind: {}",
                m.protocol.to_uppercase(),
                m.protocol,
                e.to_string()
                    .split(" (os error")
                    .next()
                    .unwrap_or_default()
                    .to_lowercase()
            )));
        }
    }
    Ok(())
}

fn find_helper(name: &str, extra: &[PathBuf]) -> Result<PathBuf> {
    extra
        .iter()
        .cloned()
        .chain(HELPER_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Other(format!(
                "could not find {name} in the helper binary directories ({}): install the {name} package",
                HELPER_DIRS.join(", ")
            ))
        })
}

/// Creates a network namespace bound at `path`, with loopback up.
fn create_netns(path: &Path) -> Result<()> {
    std::fs::File::create(path).ctx(|| format!("creating {}", path.display()))?;
    let p = path.to_path_buf();
    let r = std::thread::spawn(move || -> std::io::Result<()> {
        // Only this thread moves to the new namespace; it ends right after.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )?;
        loopback_up()
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")));
    if let Err(e) = r {
        remove_netns(path);
        return Err(Error::Io(
            format!("creating network namespace {}", path.display()),
            e,
        ));
    }
    Ok(())
}

/// Brings `lo` up in the calling thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a plain socket call; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    use std::os::fd::FromRawFd;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `req`, which outlives the calls.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Binds the network namespace of process `pid` at `path` (an existing file): a
/// container in a user namespace of its own makes its network namespace itself.
pub(crate) fn bind_netns(pid: i32, path: &Path) -> Result<()> {
    nix::mount::mount(
        Some(Path::new(&format!("/proc/{pid}/ns/net"))),
        path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        Error::Io(
            format!(
                "binding the network namespace of process {pid} at {}",
                path.display()
            ),
            e.into(),
        )
    })
}

/// Unmounts and removes a namespace file (idempotent).
fn remove_netns(path: &Path) {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

impl LocalEngine {
    /// Beside the namespace (the run directory is remade when the monitor starts).
    fn net_state_path(&self, id: &str) -> PathBuf {
        self.netns_dir().join(format!("berth-{id}.json"))
    }

    pub(crate) fn net_state(&self, id: &str) -> Option<NetState> {
        let text = std::fs::read(self.net_state_path(id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn write_net_state(&self, id: &str, s: &NetState) -> Result<()> {
        let p = self.net_state_path(id);
        std::fs::create_dir_all(self.netns_dir())
            .ctx(|| format!("creating {}", self.netns_dir().display()))?;
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(s).unwrap_or_default())
            .ctx(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).ctx(|| format!("writing {}", p.display()))
    }

    fn netns_dir(&self) -> PathBuf {
        self.cfg.runroot.join("netns")
    }

    /// At create: the network mode, the networks with their options, the published and
    /// exposed ports.
    pub(crate) fn resolve_network(
        &self,
        o: &CreateOptions,
        image_exposed: &[String],
        id: &str,
    ) -> Result<ResolvedNetwork> {
        let values: Vec<String> = if o.networks.is_empty() {
            // containers.conf's `netns`, else a bridge network.
            match self.cfg.network.default_netns.as_deref() {
                Some(m @ ("none" | "host")) => vec![m.to_string()],
                _ => vec!["bridge".into()],
            }
        } else {
            o.networks
                .iter()
                .flat_map(|n| n.split(',').map(str::to_string).collect::<Vec<_>>())
                .collect()
        };
        // `NAME:ip=..,mac=..,alias=..` options are split off before the commas above
        // would cut them: re-join `key=value` pieces onto the network before them.
        let mut specs: Vec<(String, Vec<String>)> = Vec::new();
        for v in values {
            let is_option = v.split_once('=').is_some_and(|(k, _)| !k.contains(':'));
            if is_option {
                match specs.last_mut() {
                    Some(last) => last.1.push(v),
                    None => {
                        return Err(Error::InvalidArg(format!(
                            "invalid network {v:?}: options follow a network name (NAME:ip=...)"
                        )))
                    }
                }
                continue;
            }
            match v.split_once(':') {
                Some((mode @ ("container" | "ns"), rest)) => {
                    specs.push((format!("{mode}:{rest}"), Vec::new()))
                }
                Some((name, opt)) => specs.push((name.to_string(), vec![opt.to_string()])),
                None => specs.push((v, Vec::new())),
            }
        }
        let single = |mode: &str| -> Result<()> {
            if specs.len() > 1 {
                return Err(Error::InvalidArg(format!(
                    "--network {mode} cannot be combined with other networks"
                )));
            }
            Ok(())
        };
        let mut expose: Vec<String> = image_exposed.to_vec();
        for e in &o.expose {
            let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
            let (a, b) = port.split_once('-').unwrap_or((port, port));
            let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) else {
                return Err(Error::InvalidArg(format!("invalid port {e:?} in --expose")));
            };
            if !matches!(proto, "tcp" | "udp" | "sctp") || b < a {
                return Err(Error::InvalidArg(format!("invalid port {e:?} in --expose")));
            }
            for p in a..=b {
                let k = format!("{p}/{proto}");
                if !expose.contains(&k) {
                    expose.push(k);
                }
            }
        }
        let mut ports = Vec::new();
        for p in &o.publish {
            ports.extend(parse_publish(p)?);
        }
        if o.publish_all {
            for e in &expose {
                let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
                let port: u16 = port.parse().unwrap_or(0);
                if !ports
                    .iter()
                    .any(|m| m.container_port == port && m.protocol == proto)
                {
                    ports.push(PortMapping {
                        host_ip: String::new(),
                        container_port: port,
                        host_port: 0,
                        range: 1,
                        protocol: proto.into(),
                    });
                }
            }
        }
        for m in &mut ports {
            if m.host_port == 0 {
                if m.range != 1 {
                    return Err(Error::InvalidArg(format!(
                        "a range of container ports ({}-{}) needs a range of host ports",
                        m.container_port,
                        m.container_port + m.range - 1
                    )));
                }
                m.host_port = random_port(&m.host_ip, &m.protocol)?;
            }
        }
        let (first, _) = &specs[0];
        let mode = match first.as_str() {
            "none" | "host" => {
                single(first)?;
                first.clone()
            }
            m if m.starts_with("container:") => {
                single("container")?;
                let other = self.lookup_container(&m["container:".len()..])?;
                format!("container:{other}")
            }
            m if m.starts_with("ns:") => {
                single("ns")?;
                let path = &m[3..];
                if !Path::new(path).exists() {
                    return Err(Error::InvalidArg(format!(
                        "network namespace {path}: no such file or directory"
                    )));
                }
                m.to_string()
            }
            "slirp4netns" | "pasta" | "private" => {
                return Err(Error::InvalidArg(format!(
                    "network mode {first:?} is not supported yet (rootless networking comes later)"
                )))
            }
            _ => "bridge".to_string(),
        };
        if mode != "bridge" {
            if !ports.is_empty() && mode != "host" {
                return Err(Error::InvalidArg(format!(
                    "published ports need a bridge network, not --network {mode}"
                )));
            }
            if !o.ip.is_empty() || o.mac_address.is_some() || !o.network_aliases.is_empty() {
                return Err(Error::InvalidArg(
                    "--ip, --mac-address and --network-alias need a bridge network".into(),
                ));
            }
            // Podman ignores -p with --network host (the ports are the host's).
            return Ok((mode, Vec::new(), Vec::new(), expose));
        }
        let mut attach: Vec<NetAttach> = Vec::new();
        for (i, (name, opts)) in specs.iter().enumerate() {
            let name = if name == "bridge" {
                self.default_network_name()
            } else {
                name.clone()
            };
            let net = self.network(&name)?;
            if attach.iter().any(|a| a.name == net.name) {
                return Err(Error::InvalidArg(format!(
                    "network {} is given twice",
                    net.name
                )));
            }
            let mut a = NetAttach {
                name: net.name.clone(),
                interface_name: format!("eth{i}"),
                ..Default::default()
            };
            for opt in opts.iter().flat_map(|o| o.split(',')) {
                match opt.split_once('=') {
                    Some(("ip" | "ip6", v)) => a.static_ips.push(v.to_string()),
                    Some(("mac", v)) => a.static_mac = v.to_string(),
                    Some(("alias", v)) => a.aliases.push(v.to_string()),
                    Some(("interface_name", v)) => a.interface_name = v.to_string(),
                    _ => {
                        return Err(Error::InvalidArg(format!(
                            "invalid option {opt:?} for network {}: use ip=, mac=, alias= or interface_name=",
                            net.name
                        )))
                    }
                }
            }
            if i == 0 {
                a.static_ips.extend(o.ip.iter().cloned());
                if let Some(m) = &o.mac_address {
                    a.static_mac = m.clone();
                }
                a.aliases.extend(o.network_aliases.iter().cloned());
            }
            for ip in &a.static_ips {
                let addr: IpAddr = ip
                    .parse()
                    .map_err(|_| Error::InvalidArg(format!("{ip} is not an IP address")))?;
                if !net
                    .subnets
                    .iter()
                    .filter_map(|s| Cidr::parse(&s.subnet))
                    .any(|c| c.contains(addr))
                {
                    return Err(Error::InvalidArg(format!(
                        "requested static ip {ip} not in any subnet on network {}",
                        net.name
                    )));
                }
            }
            if !a.static_mac.is_empty() && !valid_mac(&a.static_mac) {
                return Err(Error::InvalidArg(format!(
                    "invalid MAC address {:?}",
                    a.static_mac
                )));
            }
            a.aliases.push(id[..12].to_string());
            attach.push(a);
        }
        Ok(("bridge".into(), attach, ports, expose))
    }

    /// At init: the container's network namespace, set up (bridge networks) or found
    /// (container:, ns:). Returns the mode for the runtime spec.
    pub(crate) fn setup_network(&self, rec: &ContainerRecord) -> Result<NetMode> {
        let c = &rec.config;
        match c.network.as_str() {
            "host" => return Ok(NetMode::Host),
            "none" | "" => return Ok(NetMode::None),
            m if m.starts_with("ns:") => return Ok(NetMode::Path(PathBuf::from(&m[3..]))),
            m if m.starts_with("container:") => {
                let other = self.record(&m["container:".len()..])?;
                let st = self.live_state(&other).0;
                if !matches!(
                    st.as_str(),
                    crate::types::state::RUNNING | crate::types::state::PAUSED
                ) {
                    return Err(Error::InvalidState(
                        other.id.clone(),
                        "not running".into(),
                        "cannot join the network namespace of a container that is not running: container state improper",
                    ));
                }
                return Ok(NetMode::Path(PathBuf::from(format!(
                    "/proc/{}/ns/net",
                    other.pid
                ))));
            }
            _ => {}
        }
        let (mut state, infos) = self.prepare_netns(rec, true)?;
        if let Err(e) = self.netavark_setup(rec, &mut state, &infos) {
            self.teardown_network(&rec.id, c);
            return Err(e);
        }
        Ok(NetMode::Path(PathBuf::from(state.netns)))
    }

    /// A bridge container's namespace and addresses, recorded (the first half of its
    /// set-up, quick). On error, nothing is left. Without `make`, the namespace's file
    /// is made empty, for [`bind_netns`] to bind the namespace the runtime makes.
    pub(crate) fn prepare_netns(
        &self,
        rec: &ContainerRecord,
        make: bool,
    ) -> Result<(NetState, BTreeMap<String, Network>)> {
        let c = &rec.config;
        // A previous run's namespace that a crash left behind.
        self.teardown_network(&rec.id, c);
        for m in &c.ports {
            check_port_free(m)?;
        }
        std::fs::create_dir_all(self.netns_dir())
            .ctx(|| format!("creating {}", self.netns_dir().display()))?;
        let netns = self.netns_dir().join(format!("berth-{}", rec.id));
        let mut state = NetState {
            netns: netns.to_string_lossy().into_owned(),
            name: rec.name.clone(),
            attach: c.networks.clone(),
            ..Default::default()
        };
        // Recorded first: whatever happens next, cleanup finds the namespace.
        self.write_net_state(&rec.id, &state)?;
        let result = (|| -> Result<BTreeMap<String, Network>> {
            if make {
                create_netns(&netns)?;
            } else {
                std::fs::File::create(&netns).ctx(|| format!("creating {}", netns.display()))?;
            }
            let mut infos = BTreeMap::new();
            for a in &mut state.attach {
                let net = self.network(&a.name)?;
                a.static_ips = self.allocate_ips(&net, &rec.id, &a.static_ips)?;
                infos.insert(net.name.clone(), net);
            }
            state.set_up = true;
            self.write_net_state(&rec.id, &state)?;
            Ok(infos)
        })();
        match result {
            Ok(infos) => Ok((state, infos)),
            Err(e) => {
                self.teardown_network(&rec.id, c);
                Err(e)
            }
        }
    }

    /// The second half of a bridge container's set-up: netavark (the slow part). On error
    /// the caller tears down.
    pub(crate) fn netavark_setup(
        &self,
        rec: &ContainerRecord,
        state: &mut NetState,
        infos: &BTreeMap<String, Network>,
    ) -> Result<()> {
        let out = self.netavark("setup", Path::new(&state.netns), rec, &state.attach, infos)?;
        state.status = serde_json::from_slice(&out)
            .map_err(|e| Error::Other(format!("netavark setup: unexpected answer: {e}")))?;
        self.write_net_state(&rec.id, state)
    }

    /// Runs netavark (`setup` or `teardown`) for `attach`; returns its stdout.
    fn netavark(
        &self,
        verb: &str,
        netns: &Path,
        rec: &ContainerRecord,
        attach: &[NetAttach],
        infos: &BTreeMap<String, Network>,
    ) -> Result<Vec<u8>> {
        let helpers = &self.cfg.network.helper_binaries_dir;
        let netavark = find_helper("netavark", helpers)?;
        let aardvark = find_helper("aardvark-dns", helpers)
            .unwrap_or_else(|_| PathBuf::from("/usr/lib/podman/aardvark-dns"));
        let mut networks = serde_json::Map::new();
        for a in attach {
            let mut o = serde_json::Map::new();
            o.insert("static_ips".into(), json!(a.static_ips));
            o.insert("aliases".into(), json!(a.aliases));
            o.insert("interface_name".into(), json!(a.interface_name));
            if !a.static_mac.is_empty() {
                o.insert("static_mac".into(), json!(a.static_mac));
            }
            networks.insert(a.name.clone(), Value::Object(o));
        }
        let mut opts = json!({
            "container_id": rec.id,
            "container_name": rec.name,
            "port_mappings": rec.config.ports,
            "networks": networks,
            "network_info": infos,
        });
        if !rec.config.dns_servers.is_empty() {
            opts["dns_servers"] = json!(rec.config.dns_servers);
        }
        // netavark changes the host's firewall chains without a lock of its own: one
        // netavark at a time, machine-wide (the lock is on its binary, which every berth
        // shares whatever its storage).
        let lock =
            std::fs::File::open(&netavark).ctx(|| format!("opening {}", netavark.display()))?;
        lock.lock()
            .ctx(|| format!("locking {}", netavark.display()))?;
        let config_dir = self.cfg.runroot.join("networks");
        std::fs::create_dir_all(&config_dir)
            .ctx(|| format!("creating {}", config_dir.display()))?;
        let mut child = std::process::Command::new(&netavark)
            .arg("--config")
            .arg(&config_dir)
            .arg("--rootless=false")
            .arg(format!("--aardvark-binary={}", aardvark.display()))
            .arg(verb)
            .arg(netns)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ctx(|| format!("running {}", netavark.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&serde_json::to_vec(&opts).unwrap_or_default());
        }
        let out = child
            .wait_with_output()
            .ctx(|| format!("running {}", netavark.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            // netavark reports errors as JSON {"error": "..."} on stderr... or stdout.
            let msg = [&out.stderr, &out.stdout]
                .iter()
                .find_map(|b| {
                    serde_json::from_slice::<Value>(b)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_string))
                })
                .unwrap_or_else(|| {
                    err.lines()
                        .filter(|l| !l.contains("failed to connect to syslog"))
                        .collect::<Vec<_>>()
                        .join("; ")
                });
            return Err(Error::Other(format!("netavark ({verb}): {msg}")));
        }
        Ok(out.stdout)
    }

    /// When a container stops: tears its network down (idempotent). Every step is tried;
    /// the failures are returned.
    pub(crate) fn teardown_network(&self, id: &str, c: &ContainerConfig) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(state) = self.net_state(id) else {
            return errors;
        };
        let netns = PathBuf::from(&state.netns);
        if state.set_up {
            let infos: BTreeMap<String, Network> = state
                .attach
                .iter()
                .filter_map(|a| self.network(&a.name).ok().map(|n| (n.name.clone(), n)))
                .collect();
            let attach: Vec<NetAttach> = state
                .attach
                .iter()
                .filter(|a| infos.contains_key(&a.name))
                .cloned()
                .collect();
            if !attach.is_empty() {
                let rec = ContainerRecord {
                    id: id.to_string(),
                    name: state.name.clone(),
                    image_id: String::new(),
                    created: 0,
                    config: c.clone(),
                    state: String::new(),
                    pid: 0,
                    monitor_pid: 0,
                    exit_code: 0,
                    started_at: String::new(),
                    finished_at: String::new(),
                    restarts: 0,
                };
                if let Err(e) = self.netavark("teardown", &netns, &rec, &attach, &infos) {
                    errors.push(e.to_string());
                }
            }
        }
        if let Err(e) = self.release_ips(id, None) {
            errors.push(e.to_string());
        }
        remove_netns(&netns);
        let _ = std::fs::remove_file(self.net_state_path(id));
        errors
    }

    /// The /etc/hosts of a container (Podman's layout): `--add-host` entries, the host's
    /// hosts file, host.containers.internal, then the container's own name.
    pub(crate) fn hosts_file(&self, rec: &ContainerRecord) -> String {
        let c = &rec.config;
        let mut h = String::new();
        for e in &c.add_hosts {
            if let Some((name, ip)) = e.rsplit_once(':').or_else(|| e.rsplit_once('=')) {
                h.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        let base = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let has_localhost = base.lines().any(|l| {
            let l = l.split('#').next().unwrap_or_default();
            l.split_whitespace().skip(1).any(|n| n == "localhost")
        });
        if !has_localhost {
            h.push_str("127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n");
        }
        for l in base.lines() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut f = l.split_whitespace();
            if let Some(ip) = f.next() {
                let names: Vec<&str> = f.take_while(|n| !n.starts_with('#')).collect();
                if !names.is_empty() {
                    h.push_str(&format!("{ip}\t{}\n", names.join(" ")));
                }
            }
        }
        if c.network == "host" {
            return h;
        }
        let mut own = vec![c.hostname.clone()];
        if rec.name != c.hostname {
            own.push(rec.name.clone());
        }
        match self.net_state(&rec.id) {
            Some(s) if !s.status.is_empty() => {
                let first = s.attach.first().and_then(|a| s.status.get(&a.name));
                let subnets = first
                    .and_then(|st| st["interfaces"].as_object())
                    .and_then(|i| i.values().next())
                    .and_then(|i| i["subnets"].as_array())
                    .cloned()
                    .unwrap_or_default();
                if let Some(gw) = subnets.iter().find_map(|s| s["gateway"].as_str()) {
                    h.push_str(&format!("{gw}\thost.containers.internal\n"));
                }
                for s in &subnets {
                    if let Some(ip) = s["ipnet"].as_str().and_then(|n| n.split('/').next()) {
                        h.push_str(&format!("{ip}\t{}\n", own.join(" ")));
                    }
                }
            }
            _ => h.push_str(&format!("127.0.0.1\t{}\n", own.join(" "))),
        }
        h
    }

    /// The /etc/resolv.conf of a container: `--dns*` options, else the network's DNS
    /// server (aardvark-dns) first, then the host's (without loopback ones).
    pub(crate) fn resolv_conf(&self, rec: &ContainerRecord) -> String {
        let c = &rec.config;
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        if c.network == "host"
            && c.dns_servers.is_empty()
            && c.dns_search.is_empty()
            && c.dns_options.is_empty()
        {
            return host;
        }
        let field = |key: &str| -> Vec<String> {
            host.lines()
                .filter_map(|l| l.strip_prefix(key))
                .flat_map(|r| r.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect()
        };
        let mut search = field("search");
        let mut servers: Vec<String> = field("nameserver")
            .into_iter()
            .filter(|a| !(a.starts_with("127.") || a == "::1"))
            .collect();
        let mut options = field("options");
        if let Some(s) = self.net_state(&rec.id) {
            let mut dns: Vec<String> = Vec::new();
            let mut domains: Vec<String> = Vec::new();
            for a in &s.attach {
                if let Some(st) = s.status.get(&a.name) {
                    for ip in st["dns_server_ips"].as_array().into_iter().flatten() {
                        if let Some(ip) = ip.as_str() {
                            dns.push(ip.to_string());
                        }
                    }
                    for d in st["dns_search_domains"].as_array().into_iter().flatten() {
                        if let Some(d) = d.as_str() {
                            if !domains.contains(&d.to_string()) {
                                domains.push(d.to_string());
                            }
                        }
                    }
                }
            }
            if !dns.is_empty() {
                dns.extend(servers);
                servers = dns;
                domains.extend(search);
                search = domains;
            }
        }
        if !c.dns_servers.is_empty() {
            servers = c.dns_servers.clone();
        }
        if !c.dns_search.is_empty() {
            search = c.dns_search.iter().filter(|s| *s != ".").cloned().collect();
        }
        if !c.dns_options.is_empty() {
            options = c.dns_options.clone();
        }
        let mut r = String::new();
        if !search.is_empty() {
            r.push_str(&format!("search {}\n", search.join(" ")));
        }
        for s in &servers {
            r.push_str(&format!("nameserver {s}\n"));
        }
        if !options.is_empty() {
            r.push_str(&format!("options {}\n", options.join(" ")));
        }
        r
    }

    /// `inspect`'s NetworkSettings, as Podman shows them.
    pub(crate) fn network_settings(&self, rec: &ContainerRecord, running: bool) -> Value {
        let c = &rec.config;
        let state = if running {
            self.net_state(&rec.id)
        } else {
            None
        };
        let mut ports = serde_json::Map::new();
        for e in &c.expose {
            ports.insert(e.clone(), Value::Null);
        }
        for m in &c.ports {
            for i in 0..m.range {
                ports.insert(
                    format!("{}/{}", m.container_port + i, m.protocol),
                    json!([{"HostIp": m.host_ip, "HostPort": (m.host_port + i).to_string()}]),
                );
            }
        }
        let mut networks = serde_json::Map::new();
        let mut first: Option<Value> = None;
        for a in &c.networks {
            let st = state.as_ref().and_then(|s| s.status.get(&a.name));
            let iface = st
                .and_then(|s| s["interfaces"].as_object())
                .and_then(|i| i.values().next())
                .cloned()
                .unwrap_or(Value::Null);
            let v4 = iface["subnets"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["ipnet"].as_str().is_some_and(|n| !n.contains(':')))
                .cloned()
                .unwrap_or(Value::Null);
            let (ip, prefix) = v4["ipnet"]
                .as_str()
                .and_then(|n| n.split_once('/'))
                .map(|(i, p)| (i.to_string(), p.parse::<u32>().unwrap_or(0)))
                .unwrap_or_default();
            let entry = json!({
                "EndpointID": "",
                "Gateway": v4["gateway"].as_str().unwrap_or_default(),
                "IPAddress": ip,
                "IPPrefixLen": prefix,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": iface["mac_address"].as_str().unwrap_or_default(),
                "NetworkID": a.name,
                "DriverOpts": null,
                "IPAMConfig": null,
                "Links": null,
                "Aliases": a.aliases,
            });
            if first.is_none() {
                first = Some(entry.clone());
            }
            networks.insert(a.name.clone(), entry);
        }
        let f = first.unwrap_or(Value::Null);
        let s = |k: &str| f[k].clone();
        let mut v = json!({
            "EndpointID": "",
            "Gateway": s("Gateway").as_str().unwrap_or_default(),
            "IPAddress": s("IPAddress").as_str().unwrap_or_default(),
            "IPPrefixLen": s("IPPrefixLen").as_u64().unwrap_or(0),
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": s("MacAddress").as_str().unwrap_or_default(),
            "Bridge": "",
            "SandboxID": "",
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports,
            "SandboxKey": state.as_ref().map(|s| s.netns.clone()).unwrap_or_default(),
        });
        if !networks.is_empty() {
            v["Networks"] = Value::Object(networks);
        }
        v
    }
}

fn valid_mac(m: &str) -> bool {
    let parts: Vec<&str> = m.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok())
}

impl LocalEngine {
    /// `network connect`: adds a network to a container; a running one gets it at once.
    pub fn network_connect(
        &self,
        net_key: &str,
        key: &str,
        aliases: &[String],
        ips: &[String],
        mac: Option<&str>,
    ) -> Result<()> {
        let net = self.network(net_key)?;
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        if rec.config.network != "bridge" {
            return Err(Error::InvalidArg(format!(
                "network mode {:?} does not support adding networks to container {id}",
                rec.config.network
            )));
        }
        if rec.config.networks.iter().any(|a| a.name == net.name) {
            return Err(Error::InvalidArg(format!(
                "container {id} is already connected to network {}: network is already connected",
                net.name
            )));
        }
        let used: Vec<&str> = rec
            .config
            .networks
            .iter()
            .map(|a| a.interface_name.as_str())
            .collect();
        let iface = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !used.contains(&n.as_str()))
            .unwrap_or_default();
        let mut a = NetAttach {
            name: net.name.clone(),
            aliases: aliases.to_vec(),
            static_ips: ips.to_vec(),
            static_mac: mac.unwrap_or_default().to_string(),
            interface_name: iface,
        };
        a.aliases.push(id[..12].to_string());
        let mut cfg = rec.config.clone();
        cfg.networks.push(a.clone());
        let live = matches!(
            self.live_state(&rec).0.as_str(),
            crate::types::state::RUNNING | crate::types::state::PAUSED
        );
        if live {
            let mut state = self.net_state(&id).ok_or_else(|| {
                Error::Other(format!(
                    "container {id} has no network namespace to connect"
                ))
            })?;
            a.static_ips = self.allocate_ips(&net, &id, &a.static_ips)?;
            let infos = BTreeMap::from([(net.name.clone(), net.clone())]);
            let r = ContainerRecord {
                config: cfg.clone(),
                ..rec.clone()
            };
            let answer = self
                .netavark(
                    "setup",
                    Path::new(&state.netns),
                    &r,
                    std::slice::from_ref(&a),
                    &infos,
                )
                .and_then(|out| {
                    serde_json::from_slice::<BTreeMap<String, Value>>(&out).map_err(|e| {
                        Error::Other(format!("netavark setup: unexpected answer: {e}"))
                    })
                });
            let answer = match answer {
                Ok(v) => v,
                Err(e) => {
                    let _ = self.release_ips(&id, Some(&net.name));
                    return Err(e);
                }
            };
            state.attach.push(a);
            state.status.extend(answer);
            self.write_net_state(&id, &state)?;
        }
        self.save_config(&id, &cfg)
    }

    /// `network disconnect`: takes a network from a container (and from its namespace
    /// when it runs).
    pub fn network_disconnect(&self, net_key: &str, key: &str) -> Result<()> {
        let net = self.network(net_key)?;
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        if !rec.config.networks.iter().any(|a| a.name == net.name) {
            return Err(Error::InvalidArg(format!(
                "container {id} is not connected to network {}",
                net.name
            )));
        }
        let mut cfg = rec.config.clone();
        cfg.networks.retain(|a| a.name != net.name);
        if let Some(mut state) = self.net_state(&id) {
            if let Some(a) = state.attach.iter().find(|a| a.name == net.name).cloned() {
                let infos = BTreeMap::from([(net.name.clone(), net.clone())]);
                self.netavark("teardown", Path::new(&state.netns), &rec, &[a], &infos)?;
                self.release_ips(&id, Some(&net.name))?;
                state.attach.retain(|x| x.name != net.name);
                state.status.remove(&net.name);
                self.write_net_state(&id, &state)?;
            }
        }
        self.save_config(&id, &cfg)
    }

    /// `network reload`: sets a running container's networks up again (its firewall
    /// rules after a firewall flush), keeping its addresses.
    pub fn network_reload(&self, key: &str) -> Result<String> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        let Some(mut state) = self.net_state(&id) else {
            return Err(Error::InvalidState(
                id,
                "not running".into(),
                "only running containers with a bridge network can be reloaded: container state improper",
            ));
        };
        let infos: BTreeMap<String, Network> = state
            .attach
            .iter()
            .filter_map(|a| self.network(&a.name).ok().map(|n| (n.name.clone(), n)))
            .collect();
        let netns = PathBuf::from(&state.netns);
        // Teardown first (errors are expected after a flush), then set up again.
        let _ = self.netavark("teardown", &netns, &rec, &state.attach, &infos);
        let out = self.netavark("setup", &netns, &rec, &state.attach, &infos)?;
        state.status = serde_json::from_slice(&out)
            .map_err(|e| Error::Other(format!("netavark setup: unexpected answer: {e}")))?;
        self.write_net_state(&id, &state)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_values() {
        let p = parse_publish("127.0.0.1:8080:80").unwrap();
        assert_eq!(
            p,
            vec![PortMapping {
                host_ip: "127.0.0.1".into(),
                container_port: 80,
                host_port: 8080,
                range: 1,
                protocol: "tcp".into()
            }]
        );
        let p = parse_publish("9000-9002:90-92/udp").unwrap();
        assert_eq!(
            (p[0].host_port, p[0].container_port, p[0].range),
            (9000, 90, 3)
        );
        assert_eq!(p[0].protocol, "udp");
        let p = parse_publish("80").unwrap();
        assert_eq!((p[0].host_port, p[0].container_port), (0, 80));
        let p = parse_publish("[::1]:8080:80/tcp,udp").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].host_ip, "::1");
        for bad in [
            "abc",
            "80/xyz",
            "1.2.3:80:80",
            "9000-9001:80",
            "0",
            "1:2:3:4",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }
}
