//! Bridge networks through netavark, DNS between containers, published ports and the
//! network modes, driven through the real binary. Traffic stays on this machine: between
//! containers of a network a test made, and from the host to 127.0.0.1.
//!
//! Bridges and subnets are the host's, shared by every test running at once: each test
//! makes its own network with a subnet and bridge name no other test (or process) uses.

mod common;
use common::*;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};

/// A network of this test's own.
struct Net {
    name: String,
    /// The first three octets of its /24.
    prefix: String,
    bridge: String,
}

fn network(env: &Env, extra: &[&str]) -> Net {
    network_named(env, "tn", extra)
}

/// [`network`], named `{stem}{n}`.
fn network_named(env: &Env, stem: &str, extra: &[&str]) -> Net {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let prefix = format!("10.{}.{}", 200 + pid % 50, (pid / 50 % 20) * 12 + n);
    let name = format!("{stem}{n}");
    let bridge = format!("bt{}x{n}", pid % 100000);
    let subnet = format!("{prefix}.0/24");
    let mut args = vec![
        "network",
        "create",
        "--subnet",
        &subnet,
        "--interface-name",
        &bridge,
    ];
    args.extend_from_slice(extra);
    args.push(&name);
    env.ok(&args);
    Net {
        name,
        prefix,
        bridge,
    }
}

/// A tiny HTTP server in a container: answers every connection with `body`.
fn http_server(body: &str) -> String {
    format!("while true; do printf 'HTTP/1.0 200 OK\\r\\n\\r\\n{body}\\n' | nc -l -p 80; done")
}

/// GET / from the host (loopback only); the body, or None.
fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        std::time::Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split("\r\n\r\n").nth(1).map(str::to_string)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The host's firewall rules, whichever driver netavark uses (iptables or nftables).
fn firewall_rules() -> String {
    let mut text = String::new();
    for (cmd, args) in [
        ("iptables-save", &[][..]),
        ("nft", &["list", "ruleset"][..]),
    ] {
        if let Ok(o) = std::process::Command::new(cmd).args(args).output() {
            text.push_str(&String::from_utf8_lossy(&o.stdout));
        }
    }
    text
}

/// What a network left on the host: its bridge, firewall rules for its subnet, and the
/// environment's network namespaces.
/// Asserts that nothing of `net` is left on the host (see [`host_leftovers`]).
fn assert_no_leftovers(env: &Env, net: &Net) {
    let left = host_leftovers(env, net);
    assert!(left.is_empty(), "{left:?}");
}

fn host_leftovers(env: &Env, net: &Net) -> Vec<String> {
    let mut out = Vec::new();
    let rules = firewall_rules();
    out.extend(
        rules
            .lines()
            .filter(|l| l.contains(&format!("{}.", net.prefix)))
            .map(str::to_string),
    );
    if std::path::Path::new("/sys/class/net")
        .join(&net.bridge)
        .exists()
    {
        out.push(format!("interface {}", net.bridge));
    }
    if let Ok(rd) = std::fs::read_dir(env.runroot.join("netns")) {
        out.extend(rd.flatten().map(|e| format!("netns {:?}", e.file_name())));
    }
    out
}

#[test]
fn containers_reach_each_other_by_name_and_alias() {
    let env = Env::new();
    env.busybox();
    let net_net = network(&env, &[]);
    let (net, prefix) = (net_net.name.clone(), net_net.prefix.clone());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &net,
        "--network-alias",
        "www",
        BUSYBOX,
        "sh",
        "-c",
        &http_server("hello"),
    ]);
    let out = env.ok(&[
        "run", "--rm", "--network", &net, BUSYBOX, "sh", "-c",
        "for h in web www; do for i in 1 2 3 4 5 6 7 8 9 10; do echo | nc $h 80 && break; sleep 0.2; done; done",
    ]);
    assert_eq!(out.matches("hello").count(), 2, "{out}");
    // inspect shows the address on the network, with the alias.
    let ip = env.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "web",
    ]);
    assert!(ip.starts_with(&format!("{prefix}.")), "{ip}");
    let nets = env.ok(&[
        "inspect",
        "--format",
        "{{json .NetworkSettings.Networks}}",
        "web",
    ]);
    let v: serde_json::Value = serde_json::from_str(&nets).unwrap();
    assert_eq!(v[&net]["Gateway"], format!("{prefix}.1"));
    assert!(v[&net]["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "www"));
    assert_eq!(v[&net]["MacAddress"].as_str().unwrap().len(), 17);
    // /etc/hosts and resolv.conf as Podman writes them.
    let hosts = env.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{prefix}.1\thost.containers.internal")),
        "{hosts}"
    );
    assert!(
        hosts.contains(&format!("{}\t", ip.trim())) && hosts.contains(" web"),
        "{hosts}"
    );
    let resolv = env.ok(&["exec", "web", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with("search dns.podman"), "{resolv}");
    assert!(
        resolv.contains(&format!("nameserver {prefix}.1\n")),
        "{resolv}"
    );
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    env.ok(&["network", "rm", &net]);
    assert_no_leftovers(&env, &net_net);
}

#[test]
fn published_ports_are_reachable_on_loopback() {
    let env = Env::new();
    env.busybox();
    let net_net = network(&env, &[]);
    let net = net_net.name.clone();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "p",
        "--network",
        &net,
        "-p",
        &publish,
        "-p",
        "127.0.0.1::81/udp",
        BUSYBOX,
        "sh",
        "-c",
        &http_server("published"),
    ]);
    assert!(
        eventually(10, || http_get(port)
            .is_some_and(|b| b.contains("published"))),
        "nothing on 127.0.0.1:{port}"
    );
    let out = env.ok(&["port", "p"]);
    assert!(
        out.contains(&format!("80/tcp -> 127.0.0.1:{port}\n")),
        "{out}"
    );
    assert!(out.contains("81/udp -> 127.0.0.1:"), "{out}");
    assert_eq!(env.ok(&["port", "p", "80"]), format!("127.0.0.1:{port}\n"));
    let ps = env.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // The port is taken: a second container cannot have it, and leaves nothing behind.
    let err = env.fails(
        125,
        &[
            "run",
            "--rm",
            "--network",
            &net,
            "-p",
            &publish,
            BUSYBOX,
            "true",
        ],
    );
    assert!(
        err.contains("address already in use") || err.contains("bind"),
        "{err}"
    );
    // -P publishes the exposed ports on random host ports.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "all",
        "--network",
        &net,
        "--expose",
        "80",
        "-P",
        BUSYBOX,
        "sh",
        "-c",
        &http_server("random"),
    ]);
    let line = env.ok(&["port", "all", "80/tcp"]);
    let rport: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        eventually(10, || http_get(rport).is_some_and(|b| b.contains("random"))),
        "-P port {rport}"
    );
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert!(http_get(port).is_none(), "nothing answers after removal");
    env.ok(&["network", "rm", &net]);
    assert_no_leftovers(&env, &net_net);
}

#[test]
fn network_modes() {
    let env = Env::new();
    env.busybox();
    // none: loopback only.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        BUSYBOX,
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(out, "lo\n");
    // host: the host's interfaces.
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        BUSYBOX,
        "ls",
        "/sys/class/net",
    ]);
    let mut seen: Vec<&str> = out.lines().collect();
    seen.sort();
    // Interfaces of other tests come and go meanwhile: compare the stable ones.
    assert!(
        seen.contains(&"lo")
            && host
                .iter()
                .filter(|h| !h.starts_with("bt") && !h.starts_with("veth"))
                .all(|h| seen.contains(&h.as_str())),
        "{seen:?} vs {host:?}"
    );
    // container:NAME shares another container's namespace (and its address).
    let net_net = network(&env, &[]);
    let (net, prefix) = (net_net.name.clone(), net_net.prefix.clone());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "owner",
        "--network",
        &net,
        BUSYBOX,
        "sleep",
        "100",
    ]);
    let mine = env.ok(&["exec", "owner", "ip", "-4", "-o", "addr", "show", "eth0"]);
    let shared = env.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        BUSYBOX,
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(mine.contains(&format!("{prefix}.")), "{mine}");
    assert_eq!(
        mine.split_whitespace().nth(3),
        shared.split_whitespace().nth(3)
    );
    // ns:PATH joins a namespace by its path (here the owner's, through /proc).
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "owner"]);
    let ns = format!("ns:/proc/{}/ns/net", pid.trim());
    let by_path = env.ok(&[
        "run",
        "--rm",
        "--network",
        &ns,
        BUSYBOX,
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert_eq!(
        mine.split_whitespace().nth(3),
        by_path.split_whitespace().nth(3)
    );
    env.fails(
        125,
        &[
            "create",
            "--network",
            "ns:/nonexistent/netns",
            BUSYBOX,
            "true",
        ],
    );
    // --internal: no route out. --disable-dns: no name server of the network.
    let internal_net = network(&env, &["--internal"]);
    let internal = internal_net.name.clone();
    let routes = env.ok(&[
        "run",
        "--rm",
        "--network",
        &internal,
        BUSYBOX,
        "ip",
        "route",
    ]);
    assert!(!routes.contains("default"), "{routes}");
    let nodns_net = network(&env, &["--disable-dns"]);
    let (nodns, nprefix) = (nodns_net.name.clone(), nodns_net.prefix.clone());
    let resolv = env.ok(&[
        "run",
        "--rm",
        "--network",
        &nodns,
        BUSYBOX,
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        !resolv.contains(&format!("{nprefix}.1")) && !resolv.contains("dns.podman"),
        "{resolv}"
    );
    // --dns*, --add-host, --no-hosts.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:3",
        "--add-host",
        "db.example:192.0.2.7",
        BUSYBOX,
        "sh",
        "-c",
        "cat /etc/resolv.conf; grep db.example /etc/hosts",
    ]);
    assert_eq!(
        out,
        "search example.test\nnameserver 192.0.2.53\noptions ndots:3\n192.0.2.7\tdb.example\n"
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--no-hosts",
        BUSYBOX,
        "sh",
        "-c",
        "cat /etc/hosts 2>/dev/null | grep -c host.containers.internal || true",
    ]);
    assert_eq!(out.trim(), "0");
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    for n in [&net, &internal, &nodns] {
        env.ok(&["network", "rm", n]);
    }
    for p in [&net_net, &internal_net, &nodns_net] {
        assert_no_leftovers(&env, p);
    }
}

#[test]
fn parallel_runs_get_distinct_addresses() {
    let env = Env::new();
    env.busybox();
    let net_net = network(&env, &[]);
    let (net, prefix) = (net_net.name.clone(), net_net.prefix.clone());
    let ids: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| s.spawn(|| env.ok(&["run", "-d", "--network", &net, BUSYBOX, "sleep", "100"])))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap().trim().to_string())
            .collect()
    });
    let mut ips: Vec<String> = ids
        .iter()
        .map(|id| {
            env.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", id])
                .trim()
                .to_string()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "{ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with(&format!("{prefix}."))));
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    env.ok(&["network", "rm", &net]);
    assert_no_leftovers(&env, &net_net);
}

#[test]
fn network_commands_and_bad_input() {
    let env = Env::new();
    env.busybox();
    let net_net = network(&env, &["--label", "team=a"]);
    let (net, prefix) = (net_net.name.clone(), net_net.prefix.clone());
    let ls = env.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID    NAME"), "{ls}");
    assert!(ls.contains(&net) && ls.contains("berth "), "{ls}");
    assert_eq!(
        env.ok(&["network", "ls", "-q", "--filter", "label=team=a"]),
        format!("{net}\n")
    );
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(v[0]["subnets"][0]["subnet"], format!("{prefix}.0/24"));
    assert_eq!(v[0]["subnets"][0]["gateway"], format!("{prefix}.1"));
    assert_eq!(v[0]["dns_enabled"], true);
    assert_eq!(v[0]["labels"]["team"], "a");
    // The JSON file is Podman's format, in the network config dir.
    let file = env.root.join("networks").join(format!("{net}.json"));
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(f["network_interface"], v[0]["network_interface"]);
    env.ok(&["network", "exists", &net]);
    env.fails(1, &["network", "exists", "nope"]);
    // Bad input: each a clear error, nothing made.
    let sub = format!("{prefix}.128/25");
    assert!(env
        .fails(125, &["network", "create", "--subnet", &sub, "overlap"])
        .contains("already used"));
    assert!(env
        .fails(125, &["network", "create", "--subnet", "banana", "bad"])
        .contains("invalid subnet"));
    assert!(env
        .fails(125, &["network", "create", &net])
        .contains("already used"));
    assert!(env
        .fails(
            125,
            &["run", "--rm", "--network", "nosuchnet", BUSYBOX, "true"]
        )
        .contains("unable to find network with name or ID nosuchnet"));
    for bad in ["80:80:80:80", "abc", "80/xyz"] {
        env.fails(
            125,
            &["create", "--network", &net, "-p", bad, BUSYBOX, "true"],
        );
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.ok(&["network", "ls", "-q"]).lines().count(), 2);
    // connect / disconnect a running container.
    let other_net = network(&env, &[]);
    let (other, oprefix) = (other_net.name.clone(), other_net.prefix.clone());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        &net,
        BUSYBOX,
        "sleep",
        "100",
    ]);
    env.ok(&["network", "connect", "--alias", "cee", &other, "c"]);
    let addrs = env.ok(&["exec", "c", "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains(&format!("{oprefix}.")), "{addrs}");
    assert!(env
        .fails(125, &["network", "connect", &other, "c"])
        .contains("already connected"));
    env.ok(&["network", "disconnect", &other, "c"]);
    let addrs = env.ok(&["exec", "c", "ip", "-4", "-o", "addr"]);
    assert!(!addrs.contains(&format!("{oprefix}.")), "{addrs}");
    // reload keeps the address.
    let before = env.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "c"]);
    env.ok(&["network", "reload", "c"]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "c"]),
        before
    );
    // rm of a network in use: exit 2; -f removes the container too.
    let err = env.fails(2, &["network", "rm", &net]);
    assert!(err.contains("has associated containers"), "{err}");
    env.fails(1, &["network", "rm", "nope"]);
    env.ok(&["network", "rm", "-f", "-t", "0", &net]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.ok(&["network", "prune", "-f"]), format!("{other}\n"));
    assert!(env
        .fails(125, &["network", "rm", "berth"])
        .contains("cannot be removed"));
    for p in [&net_net, &other_net] {
        assert_no_leftovers(&env, p);
    }
}

#[test]
fn the_default_network_and_bridge_mode() {
    let env = Env::new();
    env.busybox();
    let net_net = network(&env, &[]);
    let (net, prefix) = (net_net.name.clone(), net_net.prefix.clone());
    // containers.conf: this test's network is the default one, and bridge the mode.
    std::fs::write(
        env.dir.join("containers.conf"),
        format!("[network]\ndefault_network = \"{net}\"\n"),
    )
    .unwrap();
    let out = env.ok(&[
        "run", "--rm", BUSYBOX, "ip", "-4", "-o", "addr", "show", "eth0",
    ]);
    assert!(out.contains(&format!("{prefix}.")), "{out}");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        BUSYBOX,
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.contains(&format!("{prefix}.")), "{out}");
    assert_no_leftovers(&env, &net_net);
}

#[test]
fn static_addresses_udp_ports_and_recovery_after_a_kill() {
    let env = Env::new();
    env.busybox();
    let net = network(&env, &[]);
    let ip = format!("{}.77", net.prefix);
    // --ip and --mac-address, and the NAME:ip=...,mac=... form.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "s",
        "--network",
        &net.name,
        "--ip",
        &ip,
        "--mac-address",
        "02:42:ac:11:00:77",
        "-p",
        "127.0.0.1::5353/udp",
        BUSYBOX,
        "sleep",
        "100",
    ]);
    let out = env.ok(&["exec", "s", "ip", "-o", "addr", "show", "eth0"]);
    assert!(out.contains(&format!("{ip}/24")), "{out}");
    let out = env.ok(&["exec", "s", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(out, "02:42:ac:11:00:77\n");
    let spec = format!("{}:ip={}.78,mac=02:42:ac:11:00:78", net.name, net.prefix);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &spec,
        BUSYBOX,
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(out, "02:42:ac:11:00:78\n");
    // The address is taken while s runs.
    let err = env.fails(
        125,
        &[
            "run",
            "--rm",
            "--network",
            &net.name,
            "--ip",
            &ip,
            BUSYBOX,
            "true",
        ],
    );
    assert!(err.contains("already allocated"), "{err}");
    // The UDP port is forwarded (busybox's nc has no UDP to send through it).
    let port = env.ok(&["port", "s", "5353/udp"]);
    let port = port.trim().rsplit(':').next().unwrap().to_string();
    let rules = firewall_rules();
    // iptables: `-p udp ... --dport P ... --to-destination IP:5353`; nftables: `udp dport
    // P ... dnat ip to IP:5353`.
    let forwarded = rules.lines().any(|l| {
        l.contains("udp")
            && l.contains(&format!("dport {port} "))
            && l.contains(&format!("{ip}:5353"))
    });
    assert!(forwarded, "no udp forward for {port}");
    // The monitor and the container are killed (as by a crash): rm -f still removes
    // every trace of the network.
    let mon: i32 = env
        .ok(&["inspect", "--format", "{{.State.ConmonPid}}", "s"])
        .trim()
        .parse()
        .unwrap();
    let pid: i32 = env
        .ok(&["inspect", "--format", "{{.State.Pid}}", "s"])
        .trim()
        .parse()
        .unwrap();
    for p in [mon, pid] {
        let _ = std::process::Command::new("kill")
            .arg("-9")
            .arg(p.to_string())
            .status();
    }
    env.ok(&["rm", "-f", "-t", "0", "s"]);
    env.ok(&["network", "rm", &net.name]);
    assert_no_leftovers(&env, &net);
}

#[test]
fn macvlan_and_ipv6_networks() {
    let env = Env::new();
    env.busybox();
    // A parent interface of this test's own for macvlan: one end of a veth pair (the
    // dummy driver is not there on every kernel).
    let parent = format!("bd{}", std::process::id() % 100000);
    let peer = format!("{parent}p");
    let made = std::process::Command::new("ip")
        .args([
            "link", "add", &parent, "type", "veth", "peer", "name", &peer,
        ])
        .status()
        .is_ok_and(|s| s.success());
    struct Link(String);
    impl Drop for Link {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.0])
                .status();
        }
    }
    let _guard = made.then(|| Link(parent.clone()));
    if made {
        let _ = std::process::Command::new("ip")
            .args(["link", "set", &parent, "up"])
            .status();
        let opt = format!("parent={parent}");
        let net = network_named(&env, "mv", &["-d", "macvlan", "-o", &opt]);
        let out = env.ok(&[
            "run",
            "--rm",
            "--network",
            &net.name,
            BUSYBOX,
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ]);
        assert!(out.contains(&format!("{}.", net.prefix)), "{out}");
        env.ok(&["network", "rm", &net.name]);
        assert_no_leftovers(&env, &net);
    } else {
        eprintln!("skipped macvlan: cannot make a veth pair here");
    }
    // IPv6: a unique ULA /64 of this test's own.
    let pid = std::process::id();
    // No zero group: the address the container shows must start with the same text.
    let subnet = format!("fd00:b{:x}:{:x}::/64", pid % 4096, pid / 4096 % 65535 + 1);
    let bridge = format!("b6{}", pid % 100000);
    env.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &subnet,
        "--interface-name",
        &bridge,
        "v6net",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        BUSYBOX,
        "ip",
        "-6",
        "-o",
        "addr",
        "show",
        "eth0",
        "scope",
        "global",
    ]);
    let prefix = subnet.trim_end_matches("::/64");
    assert!(out.contains(prefix), "{out}");
    env.ok(&["network", "rm", "v6net"]);
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
}

#[test]
fn a_pods_published_ports_reach_its_containers() {
    let env = Env::new();
    env.busybox();
    let net = network(&env, &[]);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    env.ok(&[
        "pod",
        "create",
        "--name",
        "web",
        "--network",
        &net.name,
        "-p",
        &publish,
    ]);
    env.ok(&[
        "run",
        "-d",
        "--pod",
        "web",
        "--name",
        "srv",
        BUSYBOX,
        "sh",
        "-c",
        &http_server("from the pod"),
    ]);
    assert!(
        eventually(10, || http_get(port)
            .is_some_and(|b| b.contains("from the pod"))),
        "nothing on 127.0.0.1:{port}"
    );
    // pod logs: its containers' logs.
    env.ok(&[
        "run",
        "--pod",
        "web",
        "--name",
        "talker",
        BUSYBOX,
        "echo",
        "said in the pod",
    ]);
    let logs = env.ok(&["pod", "logs", "-c", "talker", "web"]);
    assert!(logs.contains("said in the pod"), "{logs}");
    env.ok(&["pod", "rm", "-f", "-t", "0", "web"]);
    env.ok(&["network", "rm", &net.name]);
    assert_no_leftovers(&env, &net);
}

#[test]
fn containers_in_user_namespaces_on_a_bridge_network() {
    // The namespace is made by the runtime inside the container's user namespace and
    // set up by netavark after (Podman's post-configured network namespace).
    let env = Env::new();
    env.busybox();
    let net = network(&env, &[]);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        &net.name,
        "--uidmap",
        "0:500000:65536",
        "-p",
        &publish,
        BUSYBOX,
        "sh",
        "-c",
        &http_server("from a user namespace"),
    ]);
    assert!(
        eventually(10, || http_get(port)
            .is_some_and(|b| b.contains("from a user namespace"))),
        "nothing on 127.0.0.1:{port}"
    );
    // By name, from another container with a namespace of its own.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &net.name,
        "--uidmap",
        "0:600000:65536",
        BUSYBOX,
        "sh",
        "-c",
        "cat /proc/self/uid_map; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc srv 80",
    ]);
    assert!(out.contains("600000"), "{out}");
    assert!(out.contains("from a user namespace"), "{out}");
    // One that joins the server's user namespace gets a network namespace of its own too.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &net.name,
        "--userns",
        "container:srv",
        BUSYBOX,
        "sh",
        "-c",
        "cat /proc/self/uid_map; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc srv 80",
    ]);
    assert!(out.contains("500000"), "{out}");
    assert!(out.contains("from a user namespace"), "{out}");
    // A pod with a user namespace: its published port reaches its containers.
    let port2 = free_port();
    let publish2 = format!("127.0.0.1:{port2}:80");
    env.ok(&[
        "pod",
        "create",
        "--name",
        "upod",
        "--network",
        &net.name,
        "-p",
        &publish2,
        "--uidmap",
        "0:700000:65536",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--pod",
        "upod",
        BUSYBOX,
        "sh",
        "-c",
        &http_server("from the user namespace of a pod"),
    ]);
    assert!(
        eventually(10, || http_get(port2)
            .is_some_and(|b| b.contains("from the user namespace of a pod"))),
        "nothing on 127.0.0.1:{port2}"
    );
    env.ok(&["pod", "rm", "-f", "-t", "0", "upod"]);
    env.ok(&["rm", "-f", "-t", "0", "srv"]);
    env.ok(&["network", "rm", &net.name]);
    assert_no_leftovers(&env, &net);
    assert_eq!(env.mounts(), Vec::<String>::new());
}
