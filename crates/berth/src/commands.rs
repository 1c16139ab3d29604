//! One handler per command: arguments -> engine options -> engine call -> printed report.

use crate::attach::{self, End, Session};
use crate::cli::*;
use crate::format::{json_indent, print_each, print_rows};
use crate::ExitCode;
use anyhow::{anyhow, bail, Context, Result};
use libberth::copy::DiffKind;
use libberth::types::{CreateOptions, ExecOptions, LogOptions, PsEntry, PsOptions, Ulimit};
use libberth::{Config, Engine, LocalEngine};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub fn run(cli: Cli) -> Result<i32> {
    // Podman (Go) dies quietly of SIGPIPE when its output is a closed pipe (`berth ps | head
    // -1`); Rust ignores the signal and print! panics. Commands that write to the monitor's
    // attach socket keep it ignored (a closed socket must be an error, not death) and handle
    // a closed stdout themselves.
    let attaches = matches!(
        &cli.command,
        Command::Ctr(ContainerCmd::Run(_) | ContainerCmd::Start(_) | ContainerCmd::Attach(_))
            | Command::Container(ContainerGroup::Shared(
                ContainerCmd::Run(_) | ContainerCmd::Start(_) | ContainerCmd::Attach(_)
            ))
    );
    if !attaches {
        // SAFETY: restoring the default disposition of one signal.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if !matches!(
        cli.log_level.as_str(),
        "trace" | "debug" | "info" | "warn" | "warning" | "error" | "fatal" | "panic"
    ) {
        bail!(
            "{:?} is not a valid log level: use trace, debug, info, warn, error, fatal or panic",
            cli.log_level
        );
    }
    if cli.cgroup_manager != "cgroupfs" {
        bail!(
            "cgroup manager {:?} is not supported: berth uses cgroupfs (no systemd needed)",
            cli.cgroup_manager
        );
    }
    if let Command::Version(f) = &cli.command {
        return version(f);
    }
    let (default_root, runroot) = Config::default_paths();
    let root = cli.root.clone().unwrap_or_else(|| default_root.clone());
    let network = berth_image::containers_conf::network_settings();
    let network_config_dir = cli
        .network_config_dir
        .clone()
        .unwrap_or_else(|| Config::default_network_dir(&root, &default_root, &network));
    let cfg = Config {
        network_config_dir,
        network,
        root,
        runroot: cli.runroot.clone().unwrap_or(runroot),
        storage_driver: cli
            .storage_driver
            .clone()
            .unwrap_or_else(|| "overlay".into()),
        runtime: cli.runtime.clone(),
        cgroup_manager: cli.cgroup_manager.clone(),
        exe: std::env::current_exe().context("finding the berth binary")?,
    };
    let engine = LocalEngine::open(cfg)?;
    let e: &dyn Engine = &engine;
    match cli.command {
        Command::Ctr(c) => container_cmd(e, c),
        Command::Img(c) => image_shared(e, c),
        Command::Ps(a) => ps(e, a),
        Command::Images(a) => images(e, a),
        Command::Rmi(a) => rmi(e, a),
        Command::Inspect(a) => inspect(e, a, "all"),
        Command::Diff(a) => crate::cp::diff(e, &a, DiffKind::Any),
        Command::Container(ContainerGroup::Diff(a)) => crate::cp::diff(e, &a, DiffKind::Container),
        Command::Image(ImageGroup::Diff(a)) => crate::cp::diff(e, &a, DiffKind::Image),
        Command::Container(ContainerGroup::Shared(c)) => container_cmd(e, c),
        Command::Container(ContainerGroup::Ps(a)) => ps(e, a),
        Command::Container(ContainerGroup::Inspect(a)) => inspect(e, a, "container"),
        Command::Container(ContainerGroup::Exists(n)) => {
            Ok(if e.container_exists(&n.name)? { 0 } else { 1 })
        }
        Command::Container(ContainerGroup::Prune(_)) => {
            for id in e.container_prune()? {
                println!("{id}");
            }
            Ok(0)
        }
        Command::Container(ContainerGroup::Cleanup(a)) => {
            for n in &a.names {
                e.container_cleanup(n)?;
            }
            Ok(0)
        }
        Command::Image(ImageGroup::Shared(c)) => image_shared(e, c),
        Command::Image(ImageGroup::Images(a)) => images(e, a),
        Command::Image(ImageGroup::Inspect(a)) => inspect(e, a, "image"),
        Command::Image(ImageGroup::Rm(a)) => rmi(e, a),
        Command::Image(ImageGroup::Exists(n)) => Ok(if e.image_exists(&n.name)? { 0 } else { 1 }),
        Command::Image(ImageGroup::Prune(a)) => {
            for id in e.image_prune(a.all)? {
                println!("{id}");
            }
            Ok(0)
        }
        Command::Image(ImageGroup::Mount(a)) => image_mount(e, a),
        Command::Image(ImageGroup::Unmount(a)) => image_unmount(e, a),
        Command::Info(f) => info(e, &f),
        Command::Login(a) => login(e, a),
        Command::Manifest(c) => manifest(e, c),
        Command::Volume(c) => volume(e, c),
        Command::Network(c) => network_cmd(e, c),
        Command::Pod(c) => pod_cmd(e, c),
        Command::Port(a) => port(e, a),
        Command::Search(a) => {
            let o = pull_options(&a.registry)?;
            let rows = e.image_search(&a.term, a.limit, a.list_tags, &o)?;
            if a.format.as_deref() == Some("json") {
                println!("{}", json_indent(&rows, 4));
                return Ok(0);
            }
            let format = a.format.clone().unwrap_or_else(|| {
                if a.list_tags {
                    "table {{.Name}}\t{{.Tag}}".into()
                } else {
                    "table {{.Name}}\t{{.Description}}".into()
                }
            });
            let vals: Vec<Value> = rows
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect();
            print_rows(
                &format,
                &vals,
                &|f| match f {
                    "Name" => Some("NAME"),
                    "Description" => Some("DESCRIPTION"),
                    "Tag" => Some("TAG"),
                    "Index" => Some("INDEX"),
                    "Stars" => Some("STARS"),
                    _ => None,
                },
                false,
            )?;
            Ok(0)
        }
        Command::Logout(a) => {
            if a.all == a.registry.is_some() {
                bail!("logout needs either a registry or --all (not both)");
            }
            let o = libberth::pull::PullOptions {
                authfile: a.authfile.clone(),
                ..Default::default()
            };
            e.logout(a.registry.as_deref(), &o)?;
            match &a.registry {
                Some(r) => println!("Removed login credentials for {r}"),
                None => println!("Removed login credentials for all registries"),
            }
            Ok(0)
        }
        Command::Version(_) => unreachable!("handled above"),
    }
}

/// Writes a tar stream to `path` (complete or not at all: a partial file is removed), or
/// to stdout when it is not a terminal.
fn write_output(
    path: Option<&std::path::Path>,
    produce: impl FnOnce(&mut dyn Write) -> libberth::Result<()>,
) -> Result<()> {
    match path {
        Some(path) => {
            let tmp = path.with_extension("berth-partial");
            let mut f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", path.display()))?;
            if let Err(err) = produce(&mut f) {
                let _ = std::fs::remove_file(&tmp);
                return Err(err.into());
            }
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if attach::is_tty(1) {
                bail!("refusing to export to terminal: use -o or redirect the output");
            }
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            produce(&mut lock)?;
            lock.flush()?;
        }
    }
    Ok(())
}

fn container_cmd(e: &dyn Engine, c: ContainerCmd) -> Result<i32> {
    match c {
        ContainerCmd::Create(a) => {
            let o = create_options(&a.flags, &a.args)?;
            ensure_image(e, &a.flags, &o.image)?;
            let id = e.container_create(&o)?;
            println!("{id}");
            Ok(0)
        }
        ContainerCmd::Run(a) => run_container(e, a),
        ContainerCmd::Start(a) => start(e, a),
        ContainerCmd::Stop(a) => {
            let names = targets(e, &a.names, a.all, a.latest)?;
            each(&names, a.ignore, |n| {
                e.container_stop(n, a.time)?;
                Ok(n.clone())
            })
        }
        ContainerCmd::Restart(a) => {
            let names = targets(e, &a.names, a.all, a.latest)?;
            each(&names, false, |n| {
                e.container_stop(n, a.time)?;
                let id = e.container_lookup(n)?;
                e.container_start(&id, false)?;
                Ok(id)
            })
        }
        ContainerCmd::Kill(a) => {
            let sig = libberth::containers::parse_signal(&a.signal)?;
            let names = targets(e, &a.names, a.all, a.latest)?;
            each(&names, false, |n| {
                e.container_kill(n, sig)?;
                Ok(n.clone())
            })
        }
        ContainerCmd::Rm(a) => rm(e, a),
        ContainerCmd::Logs(a) => logs(e, a),
        ContainerCmd::Wait(a) => {
            let interval = parse_duration(&a.interval)
                .ok_or_else(|| anyhow!("invalid interval {:?}", a.interval))?;
            let names = targets(e, &a.names, false, a.latest)?;
            each(&names, a.ignore, |n| {
                let code =
                    e.container_wait(n, &a.condition, interval.min(Duration::from_millis(50)))?;
                Ok(code.to_string())
            })
        }
        ContainerCmd::Exec(a) => exec(e, a),
        ContainerCmd::Attach(a) => {
            let name = match (&a.name, a.latest) {
                (_, true) => e.container_latest()?,
                (Some(n), _) => n.clone(),
                _ => bail!(
                    "attach requires the name or id of one running container or the latest flag"
                ),
            };
            let keys = attach::parse_detach_keys(&a.detach_keys)?;
            let insp = e.container_inspect(&name)?;
            let (id, conn) = e.container_attach(&name)?;
            let sess = Session {
                stdin: !a.no_stdin && insp["Config"]["OpenStdin"] == true,
                tty: insp["Config"]["Tty"] == true,
                detach_keys: keys,
                proxy_pid: a.sig_proxy.then(|| e.container_pid(&id).unwrap_or(0)),
            };
            finish_session(e, &id, attach::run(conn, sess)?, false)
        }
        ContainerCmd::Top(a) => {
            // With --latest every argument is a descriptor.
            let (name, descriptors) = if a.latest {
                (e.container_latest()?, &a.args[..])
            } else if a.args.is_empty() {
                bail!("you must provide the name or id of a running container");
            } else {
                (a.args[0].clone(), &a.args[1..])
            };
            print_table(&e.container_top(&name, descriptors)?)?;
            Ok(0)
        }
        ContainerCmd::Stats(a) => crate::stats::run(e, &a),
        ContainerCmd::Rename(a) => {
            e.container_rename(&a.container, &a.name)?;
            Ok(0)
        }
        ContainerCmd::Pause(a) => {
            let names = targets(e, &a.names, a.all, a.latest)?;
            each(&names, false, |n| {
                e.container_pause(n, true)?;
                Ok(n.clone())
            })
        }
        ContainerCmd::Unpause(a) => {
            let names = targets(e, &a.names, a.all, a.latest)?;
            each(&names, false, |n| {
                e.container_pause(n, false)?;
                Ok(n.clone())
            })
        }
        ContainerCmd::Mount(a) => {
            if a.names.is_empty() {
                for (id, path) in e.mounted_containers()? {
                    println!("{}  {}", &id[..12], path.display());
                }
                return Ok(0);
            }
            each(&a.names, false, |n| {
                Ok(e.container_mount(n)?.display().to_string())
            })
        }
        ContainerCmd::Unmount(a) => {
            let names = targets(e, &a.names, a.all, a.latest)?;
            each(&names, false, |n| {
                e.container_unmount(n)?;
                Ok(n.clone())
            })
        }
        ContainerCmd::Export(a) => {
            write_output(a.output.as_deref(), |out| e.container_export(&a.name, out))?;
            Ok(0)
        }
        ContainerCmd::Commit(a) => commit(e, a),
        ContainerCmd::Cp(a) => crate::cp::cp(e, &a),
        ContainerCmd::Update(a) => {
            println!(
                "{}",
                e.container_update(&a.name, &resource_flags(&a.resources))?
            );
            Ok(0)
        }
        ContainerCmd::Init(a) => {
            let names = targets(e, &a.names, a.all, a.latest)?;
            each(&names, false, |n| {
                e.container_init(n)?;
                Ok(n.clone())
            })
        }
    }
}

/// The containers a command acts on: the names given, all (`-a`), or the latest (`-l`).
fn targets(e: &dyn Engine, names: &[String], all: bool, latest: bool) -> Result<Vec<String>> {
    if all {
        return Ok(e.container_ids()?);
    }
    if latest {
        return Ok(vec![e.container_latest()?]);
    }
    if names.is_empty() {
        bail!("you must provide at least one container name or id");
    }
    Ok(names.to_vec())
}

/// Runs `f` on every name, up to 16 at a time (a stop may wait seconds per container);
/// the results come back in the order of `names`.
fn parallel<T: Send>(names: &[String], f: impl Fn(&String) -> T + Sync) -> Vec<T> {
    if names.len() <= 1 {
        return names.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<T>>> =
        std::sync::Mutex::new((0..names.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..names.len().min(16) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(n) = names.get(i) else { break };
                let r = f(n);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Runs `f` on each name (in parallel) and prints what each returns, in order; reports
/// every error and fails with the last one.
fn each(
    names: &[String],
    ignore: bool,
    f: impl Fn(&String) -> Result<String> + Sync,
) -> Result<i32> {
    let mut last: Option<anyhow::Error> = None;
    for r in parallel(names, f) {
        match r {
            Ok(line) => println!("{line}"),
            Err(err) => {
                if ignore {
                    if let Some(libberth::Error::NoSuchContainer(_)) =
                        err.downcast_ref::<libberth::Error>()
                    {
                        continue;
                    }
                }
                if let Some(prev) = last.take() {
                    eprintln!("Error: {prev:#}");
                }
                last = Some(err);
            }
        }
    }
    match last {
        Some(err) => Err(err),
        None => Ok(0),
    }
}

fn read_env_file(path: &PathBuf) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading env file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            if l.contains('=') {
                Some(l.to_string())
            } else {
                std::env::var(l).ok().map(|v| format!("{l}={v}"))
            }
        })
        .collect())
}

/// `-e K=V`, `-e K` (from our environment), `-e 'K*'` (all matching).
fn expand_env(list: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for e in list {
        if e.contains('=') {
            out.push(e.clone());
        } else if let Some(prefix) = e.strip_suffix('*') {
            for (k, v) in std::env::vars() {
                if k.starts_with(prefix) {
                    out.push(format!("{k}={v}"));
                }
            }
        } else if let Ok(v) = std::env::var(e) {
            out.push(format!("{e}={v}"));
        }
    }
    out
}

fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let bad = || anyhow!("invalid ulimit {s:?}: use TYPE=SOFT[:HARD], e.g. nofile=1024:2048");
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    if libberth_rlimit(name).is_none() {
        bail!("invalid ulimit type: {name}");
    }
    let num = |v: &str| -> Result<u64> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse().map_err(|_| bad())
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        bail!("ulimit error: {name}: soft limit {soft} is greater than hard limit {hard}");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

fn libberth_rlimit(name: &str) -> Option<&'static str> {
    berth_oci::spec::rlimit_type(name)
}

fn create_options(f: &CreateFlags, args: &[String]) -> Result<CreateOptions> {
    let (image, command) = args
        .split_first()
        .ok_or_else(|| anyhow!("an image name is required"))?;
    if !matches!(f.pull.as_str(), "always" | "missing" | "never" | "newer") {
        bail!(
            "invalid pull policy {:?}: use always, missing, never or newer",
            f.pull
        );
    }
    let mut env = Vec::new();
    for file in &f.env_file {
        env.extend(read_env_file(file)?);
    }
    env.extend(expand_env(&f.env));
    let labels = parse_labels(&f.label);
    let entrypoint = f.entrypoint.as_ref().map(|s| {
        if s.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<String>>(s).unwrap_or_else(|_| vec![s.clone()])
        } else {
            vec![s.clone()]
        }
    });
    let stop_signal = f
        .stop_signal
        .as_deref()
        .map(libberth::containers::parse_signal)
        .transpose()?;
    let ulimits = f
        .ulimit
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<Result<Vec<_>>>()?;
    Ok(CreateOptions {
        image: image.clone(),
        name: f.name.clone(),
        command: command.to_vec(),
        entrypoint,
        env,
        workdir: f.workdir.clone(),
        user: f.user.clone(),
        hostname: f.hostname.clone(),
        labels,
        tty: f.tty,
        interactive: f.interactive,
        read_only: f.read_only,
        privileged: f.privileged,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        init: f.init,
        stop_signal,
        stop_timeout: f.stop_timeout,
        ulimits,
        networks: f.network.clone(),
        ip: f.ip.iter().chain(&f.ip6).cloned().collect(),
        mac_address: f.mac_address.clone(),
        network_aliases: f.network_alias.clone(),
        publish: f.publish.clone(),
        publish_all: f.publish_all,
        expose: f.expose.clone(),
        dns_servers: f.dns.clone(),
        dns_search: f.dns_search.clone(),
        dns_options: f.dns_option.clone(),
        add_hosts: f.add_host.clone(),
        no_hosts: f.no_hosts,
        pod: f.pod.clone(),
        infra: false,
        namespace_modes: [
            ("pid", &f.pid),
            ("ipc", &f.ipc),
            ("uts", &f.uts),
            ("cgroup", &f.cgroupns),
        ]
        .iter()
        .filter_map(|(ns, v)| v.as_ref().map(|v| (ns.to_string(), v.clone())))
        .chain(f.cgroups.iter().map(|v| ("cgroups".to_string(), v.clone())))
        .collect(),
        resources: resource_flags(&f.resources),
        userns: f.userns.userns.clone(),
        uid_map: f.userns.uidmap.clone(),
        gid_map: f.userns.gidmap.clone(),
        subuidname: f.userns.subuidname.clone(),
        subgidname: f.userns.subgidname.clone(),
        cgroup_parent: f.cgroup_parent.clone(),
        auto_remove: f.rm,
        volumes: f.volume.clone(),
        tmpfs: f.tmpfs.clone(),
        mounts: f.mount.clone(),
        volumes_from: f.volumes_from.clone(),
        read_only_tmpfs: f.read_only_tmpfs,
        create_command: std::env::args().collect(),
    })
}

/// After an attach session: the exit code, removal for --rm, or a detach.
fn finish_session(e: &dyn Engine, id: &str, end: End, auto_remove: bool) -> Result<i32> {
    match end {
        End::Detached => Ok(0),
        End::Exited(code) => {
            if !auto_remove {
                e.container_sync(id)?;
            }
            if auto_remove {
                match e.container_remove(id, true, 0, true) {
                    Ok(()) | Err(libberth::Error::NoSuchContainer(_)) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(code)
        }
        End::Lost => {
            let code = e.container_wait(id, &[], Duration::from_millis(20))?;
            if auto_remove {
                let _ = e.container_remove(id, true, 0, true);
            }
            Ok(code)
        }
    }
}

fn run_container(e: &dyn Engine, a: RunArgs) -> Result<i32> {
    let keys = attach::parse_detach_keys(&a.detach_keys)?;
    let o = create_options(&a.flags, &a.args)?;
    ensure_image(e, &a.flags, &o.image)?;
    let id = e.container_create(&o)?;
    let started = e.container_start(&id, !a.detach);
    let (id, conn) = match started {
        Ok(v) => v,
        Err(err) => {
            if o.auto_remove {
                let _ = e.container_remove(&id, true, 0, true);
            }
            return Err(err.into());
        }
    };
    let Some(conn) = conn else {
        println!("{id}");
        return Ok(0);
    };
    let sess = Session {
        stdin: o.interactive,
        tty: o.tty,
        detach_keys: keys,
        proxy_pid: a.sig_proxy.then(|| e.container_pid(&id).unwrap_or(0)),
    };
    finish_session(e, &id, attach::run(conn, sess)?, o.auto_remove)
}

fn start(e: &dyn Engine, a: StartArgs) -> Result<i32> {
    let names = if a.all {
        e.container_ids()?
    } else {
        a.names.clone()
    };
    if names.is_empty() {
        bail!("start requires at least one argument");
    }
    if a.attach || a.interactive {
        if names.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let insp = e.container_inspect(&names[0])?;
        let (id, conn) = e.container_start(&names[0], true)?;
        let conn = conn.ok_or_else(|| anyhow!("container {id} cannot be attached"))?;
        let sess = Session {
            stdin: a.interactive && insp["Config"]["OpenStdin"] == true,
            tty: insp["Config"]["Tty"] == true,
            detach_keys: attach::parse_detach_keys(&a.detach_keys)?,
            proxy_pid: a.sig_proxy.then(|| e.container_pid(&id).unwrap_or(0)),
        };
        let auto = insp["HostConfig"]["AutoRemove"] == true;
        return finish_session(e, &id, attach::run(conn, sess)?, auto);
    }
    each(&names, false, |n| {
        e.container_start(n, false)?;
        Ok(n.clone())
    })
}

fn rm(e: &dyn Engine, a: RmArgs) -> Result<i32> {
    let names = if a.all {
        e.container_ids()?
    } else if a.latest {
        vec![e.container_latest()?]
    } else {
        a.names.clone()
    };
    if names.is_empty() && !a.all {
        bail!("you must provide at least one name or id");
    }
    let remove = |n: &String| {
        e.container_remove(n, a.force, a.time.unwrap_or(10), a.volumes)
            .map(|()| n.clone())
    };
    if !a.all && !a.depend {
        return report_removals(parallel(&names, remove), a.ignore || a.force);
    }
    // All, or with their dependents: in rounds, each removing (in parallel) what nothing
    // left depends on (a pod's members before its infra container).
    let deps = e.container_dependencies()?;
    let mut left: Vec<String> = if a.all {
        names
    } else {
        let mut ids = Vec::new();
        for n in &names {
            match e.container_inspect(n) {
                Ok(v) => ids.push(v["Id"].as_str().unwrap_or(n).to_string()),
                // Reported by the removal below, as without --depend.
                Err(_) => ids.push(n.clone()),
            }
        }
        // With every container that depends on them, however indirectly.
        let mut i = 0;
        while i < ids.len() {
            let cur = ids[i].clone();
            for (d, _) in deps.iter().filter(|(_, on)| *on == cur) {
                if !ids.contains(d) {
                    ids.push(d.clone());
                }
            }
            i += 1;
        }
        ids
    };
    let mut results = Vec::new();
    while !left.is_empty() {
        let (now, later): (Vec<String>, Vec<String>) = left.iter().cloned().partition(|c| {
            !deps
                .iter()
                .any(|(d, on)| on == c && d != c && left.contains(d))
        });
        // A cycle cannot be made, but never loop: then the rest go at once.
        let now = if now.is_empty() { later.clone() } else { now };
        results.extend(parallel(&now, remove));
        left.retain(|c| !now.contains(c));
    }
    report_removals(results, a.ignore || a.force)
}

/// Prints what each removal removed, as Podman's `rm` commands do, and returns the exit
/// code: 1 when an object was missing, 2 when one is in use, 125 for anything else. Every
/// error but the last is printed at once; the last is returned. With `ignore_missing`,
/// missing objects are no error.
fn report_removals(results: Vec<libberth::Result<String>>, ignore_missing: bool) -> Result<i32> {
    use libberth::Error as E;
    let mut code = 0;
    let mut last = None;
    for r in results {
        match r {
            Ok(shown) => println!("{shown}"),
            Err(E::NoSuchContainer(_) | E::NoSuchVolume(_) | E::NoSuchNetwork(_))
                if ignore_missing => {}
            Err(err) => {
                let c = match &err {
                    E::NoSuchContainer(_) | E::NoSuchVolume(_) | E::NoSuchNetwork(_) => 1,
                    E::VolumeInUse(..) | E::NetworkInUse(..) => 2,
                    E::Other(m) if m.contains("without force") => 2,
                    _ => 125,
                };
                if code == 0 || c == 125 || (c == 2 && code == 1) {
                    code = c;
                }
                if let Some(prev) = last.replace(err) {
                    eprintln!("Error: {prev}");
                }
            }
        }
    }
    match last {
        Some(err) => Err(ExitCode(code, err.to_string()).into()),
        None => Ok(0),
    }
}

/// Asks on stderr and reads the answer from stdin; anything but yes is no.
fn confirm(prompt: &str) -> Result<bool> {
    eprint!("{prompt} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(Duration::from_millis(n));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() || n == 'µ' {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += v * match unit.as_str() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// `--since`/`--until`: RFC 3339, a date, unix seconds, or a duration before now ("10m").
fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(secs) = s.parse::<f64>() {
        if let Some(t) =
            chrono::DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32)
        {
            return Ok(t);
        }
    }
    if let Some(d) = parse_duration(s) {
        return Ok(chrono::Utc::now() - chrono::Duration::from_std(d).unwrap_or_default());
    }
    bail!("invalid time {s:?}: use RFC 3339, a date, unix seconds or a duration like 10m")
}

/// A time as Go's RFC3339Nano prints it (Podman's `logs -t`): local time, the fraction
/// without trailing zeros, `Z` for UTC.
fn go_rfc3339_nano(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    let t = t.with_timezone(&chrono::Local);
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        s.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    let off = t.offset().local_minus_utc();
    if off == 0 {
        s.push('Z');
    } else {
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", off / 3600, off % 3600 / 60));
    }
    s
}

fn logs(e: &dyn Engine, a: LogsArgs) -> Result<i32> {
    let names = if a.latest {
        vec![e.container_latest()?]
    } else {
        a.containers.clone()
    };
    if names.is_empty() {
        bail!("specify at least one container name or ID to log");
    }
    let opts = LogOptions {
        follow: a.flags.follow,
        tail: (a.flags.tail >= 0).then_some(a.flags.tail as usize),
        since: a.flags.since.as_deref().map(parse_time).transpose()?,
        until: a.flags.until.as_deref().map(parse_time).transpose()?,
        timestamps: a.flags.timestamps,
    };
    let many = names.len() > 1 || a.flags.names;
    let run_one = |n: &String| -> Result<()> {
        let id = e.container_lookup(n)?;
        let prefix = if a.flags.names {
            let insp = e.container_inspect(&id)?;
            format!("{} ", insp["Name"].as_str().unwrap_or(""))
        } else if many {
            format!("{} ", &id[..12])
        } else {
            String::new()
        };
        // Each stream on its own: a partial line (P) is written at once and continued by the
        // next entry of the same stream; the prefix and timestamp start each line only.
        let mut at_start = [true, true];
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        e.container_logs(&id, &opts, &mut |l| {
            let err = l.stream == "stderr";
            let mut buf = Vec::with_capacity(l.text.len() + 64);
            if at_start[err as usize] {
                buf.extend_from_slice(prefix.as_bytes());
                if opts.timestamps {
                    buf.extend_from_slice(go_rfc3339_nano(&l.time).as_bytes());
                    buf.push(b' ');
                }
            }
            buf.extend_from_slice(&l.text);
            if !l.partial {
                buf.push(b'\n');
            }
            at_start[err as usize] = !l.partial;
            if err {
                stderr.lock().write_all(&buf)
            } else {
                let mut o = stdout.lock();
                o.write_all(&buf)?;
                o.flush()
            }
        })?;
        Ok(())
    };
    if a.flags.follow && names.len() > 1 {
        std::thread::scope(|s| -> Result<()> {
            let hs: Vec<_> = names.iter().map(|n| s.spawn(move || run_one(n))).collect();
            for h in hs {
                h.join().map_err(|_| anyhow!("log reader panicked"))??;
            }
            Ok(())
        })?;
        return Ok(0);
    }
    // One after the other: each container's log is printed whole.
    let mut last = None;
    for n in &names {
        if let Err(err) = run_one(n) {
            if let Some(prev) = last.replace(err) {
                eprintln!("Error: {prev:#}");
            }
        }
    }
    last.map_or(Ok(0), Err)
}

fn exec(e: &dyn Engine, a: ExecArgs) -> Result<i32> {
    let (name, cmd) = if a.latest {
        (e.container_latest()?, a.args.clone())
    } else {
        let (n, c) = a
            .args
            .split_first()
            .ok_or_else(|| anyhow!("exec requires the name or ID of a container"))?;
        (n.clone(), c.to_vec())
    };
    if cmd.is_empty() {
        bail!("exec requires the name or ID of a container or the --latest flag, and a command");
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(expand_env(&a.env));
    let o = ExecOptions {
        cmd,
        env,
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
    };
    let code = match e.container_exec(&name, &o) {
        Ok(c) => c,
        // Podman: an attached session that cannot start ends with its unset exit code, 255.
        Err(err @ libberth::Error::InvalidState(..)) if !a.detach => {
            return Err(ExitCode(255, err.to_string()).into())
        }
        Err(err) => return Err(err.into()),
    };
    if a.detach {
        println!("{}", e.container_lookup(&name)?);
    }
    Ok(code)
}

fn ps_header(f: &str) -> Option<&'static str> {
    Some(match f {
        "ID" => "CONTAINER ID",
        "Image" => "IMAGE",
        "ImageID" => "IMAGE ID",
        "Command" => "COMMAND",
        "CreatedHuman" | "Created" | "CreatedAt" | "RunningFor" => "CREATED",
        "Status" => "STATUS",
        "Ports" => "PORTS",
        "Names" => "NAMES",
        "State" => "STATE",
        "Labels" => "LABELS",
        "Pod" => "POD ID",
        "PodName" => "PODNAME",
        "Size" => "SIZE",
        "Networks" => "NETWORKS",
        "Mounts" => "MOUNTS",
        "Pid" => "PID",
        "ExitCode" => "EXIT CODE",
        _ => return None,
    })
}

/// The value a ps template sees: the JSON fields, with Podman's template accessors on top.
fn ps_template_value(p: &PsEntry, no_trunc: bool) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    let cmd = p.command.join(" ");
    let cmd = if !no_trunc && cmd.chars().count() > 17 {
        format!("{}...", cmd.chars().take(17).collect::<String>())
    } else {
        cmd
    };
    let created = chrono::DateTime::from_timestamp(p.created, 0)
        .unwrap_or_default()
        .with_timezone(&chrono::Local);
    // As Go prints a map[string]string: `map[k:v k2:v2]`, keys sorted.
    let labels = format!(
        "map[{}]",
        p.labels
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let o = v.as_object_mut().expect("ps entry is an object");
    o.insert(
        "ID".into(),
        json!(if no_trunc {
            p.id.clone()
        } else {
            p.id[..12].to_string()
        }),
    );
    o.insert("Command".into(), json!(cmd));
    o.insert("Names".into(), json!(p.names.join(",")));
    o.insert("CreatedHuman".into(), json!(p.created_at));
    o.insert("RunningFor".into(), json!(p.created_at));
    o.insert(
        "CreatedAt".into(),
        json!(created.format("%Y-%m-%d %H:%M:%S%.f %z %Z").to_string()),
    );
    o.insert(
        "Ports".into(),
        json!(ports_text(p.ports.as_deref().unwrap_or_default())),
    );
    o.insert("Networks".into(), json!(p.networks.join(",")));
    o.insert("Mounts".into(), json!(""));
    o.insert("Labels".into(), json!(labels));
    o.insert("Size".into(), json!(""));
    o.insert(
        "Pod".into(),
        json!(if no_trunc || p.pod.len() < 12 {
            p.pod.clone()
        } else {
            p.pod[..12].to_string()
        }),
    );
    o.insert("PodName".into(), json!(p.pod_name));
    o.insert("Restarts".into(), json!(0));
    v
}

/// Published ports as `ps` and `port` show them: `127.0.0.1:8080->80/tcp`.
fn ports_text(ports: &[libberth::types::PortMapping]) -> String {
    let mut out = Vec::new();
    for m in ports {
        let ip = if m.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            m.host_ip.as_str()
        };
        if m.range > 1 {
            out.push(format!(
                "{ip}:{}-{}->{}-{}/{}",
                m.host_port,
                m.host_port + m.range - 1,
                m.container_port,
                m.container_port + m.range - 1,
                m.protocol
            ));
        } else {
            out.push(format!(
                "{ip}:{}->{}/{}",
                m.host_port, m.container_port, m.protocol
            ));
        }
    }
    out.join(", ")
}

fn ps(e: &dyn Engine, a: PsArgs) -> Result<i32> {
    let mut filters = Vec::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid filter {f:?}: use KEY=VALUE"))?;
        filters.push((k.to_string(), v.to_string()));
    }
    let mut rows = e.container_list(&PsOptions {
        all: a.all || a.last.is_some() || a.latest,
        filters,
    })?;
    // -l / -n N: the newest containers, then shown in the order asked for.
    let keep = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n >= 0).map(|n| n as usize)
    };
    if let Some(n) = keep {
        // The list comes oldest first (to the nanosecond): keep its tail.
        rows.drain(..rows.len().saturating_sub(n));
    }
    match a.sort.as_str() {
        "created" | "runningfor" => rows.sort_by_key(|x| x.created),
        "id" => rows.sort_by(|x, y| x.id.cmp(&y.id)),
        "image" => rows.sort_by(|x, y| x.image.cmp(&y.image)),
        "names" => rows.sort_by(|x, y| x.names.cmp(&y.names)),
        "command" => rows.sort_by(|x, y| x.command.cmp(&y.command)),
        "status" => rows.sort_by(|x, y| x.state.cmp(&y.state)),
        "size" => {}
        other => bail!("invalid option for --sort, options are: command, created, id, image, names, runningfor, size, or status: {other}"),
    }
    if a.quiet {
        for r in &rows {
            println!("{}", if a.no_trunc { &r.id[..] } else { &r.id[..12] });
        }
        return Ok(0);
    }
    let format = a.format.clone().unwrap_or_else(|| {
        let mut f = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string();
        if a.pod {
            f.push_str("\t{{.Pod}}\t{{.PodName}}");
        }
        f
    });
    if format == "json" {
        println!("{}", json_indent(&rows, 2));
        return Ok(0);
    }
    let vals: Vec<Value> = rows
        .iter()
        .map(|r| ps_template_value(r, a.no_trunc))
        .collect();
    print_rows(&format, &vals, &ps_header, a.noheading)?;
    Ok(0)
}

fn image_header(f: &str) -> Option<&'static str> {
    Some(match f {
        "Repository" => "REPOSITORY",
        "Tag" => "TAG",
        "ID" | "Id" => "IMAGE ID",
        "Created" | "CreatedSince" | "CreatedAt" => "CREATED",
        "Size" => "SIZE",
        "Digest" => "DIGEST",
        "Containers" => "CONTAINERS",
        "ReadOnly" => "R/O",
        "History" => "HISTORY",
        _ => return None,
    })
}

fn images(e: &dyn Engine, a: ImagesArgs) -> Result<i32> {
    if !matches!(
        a.sort.as_str(),
        "created" | "id" | "repository" | "size" | "tag"
    ) {
        bail!(
            "invalid option for --sort, options are: created, id, repository, size, or tag: {}",
            a.sort
        );
    }
    let mut list = e.image_list(a.all)?;
    if let Some(name) = &a.name {
        let id = e
            .image_inspect(name)
            .ok()
            .and_then(|v| v["Id"].as_str().map(str::to_string));
        list.retain(|i| Some(&i.id) == id.as_ref());
    }
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid filter {f:?}"))?;
        match k {
            "dangling" => {
                let want = v == "true";
                list.retain(|i| i.names.is_empty() == want);
            }
            "reference" => list.retain(|i| i.names.iter().any(|n| n.contains(v))),
            "label" => list.retain(|i| match v.split_once('=') {
                Some((lk, lv)) => i.labels.get(lk).is_some_and(|x| x == lv),
                None => i.labels.contains_key(v),
            }),
            other => bail!("invalid image filter {other:?}"),
        }
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &list {
            if seen.insert(i.id.clone()) {
                println!(
                    "{}",
                    if a.no_trunc {
                        format!("sha256:{}", i.id)
                    } else {
                        i.id[..12].to_string()
                    }
                );
            }
        }
        return Ok(0);
    }
    if a.format.as_deref() == Some("json") {
        println!("{}", json_indent(&list, 4));
        return Ok(0);
    }
    // One row per name, as Podman prints them.
    let mut rows = Vec::new();
    for i in &list {
        let names: Vec<(String, String)> = if i.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.names
                .iter()
                .map(|n| {
                    let repo = libberth::images::repo_of(n).to_string();
                    let tag = n[repo.len()..].trim_start_matches(':').to_string();
                    (repo, if tag.is_empty() { "<none>".into() } else { tag })
                })
                .collect()
        };
        for (repo, tag) in names {
            let key = (repo.clone(), tag.clone(), i.id.clone(), i.size);
            let mut v = serde_json::to_value(i)?;
            let o = v.as_object_mut().expect("image summary is an object");
            o.insert("Repository".into(), json!(repo));
            o.insert("Tag".into(), json!(tag));
            o.insert(
                "ID".into(),
                json!(if a.no_trunc {
                    format!("sha256:{}", i.id)
                } else {
                    i.id[..12].to_string()
                }),
            );
            o.insert("Created".into(), json!(libberth::human::ago(i.created)));
            o.insert(
                "CreatedSince".into(),
                json!(libberth::human::ago(i.created)),
            );
            o.insert("CreatedAt".into(), json!(i.created_at));
            o.insert("Size".into(), json!(libberth::human::size(i.size)));
            o.insert("ReadOnly".into(), json!(false));
            rows.push((key, v));
        }
    }
    // The list comes newest first ("created"); the other orders keep that among equals.
    match a.sort.as_str() {
        "repository" => rows.sort_by(|x, y| x.0 .0.cmp(&y.0 .0)),
        "tag" => rows.sort_by(|x, y| x.0 .1.cmp(&y.0 .1)),
        "id" => rows.sort_by(|x, y| x.0 .2.cmp(&y.0 .2)),
        "size" => rows.sort_by_key(|x| x.0 .3),
        _ => {}
    }
    let rows: Vec<Value> = rows.into_iter().map(|(_, v)| v).collect();
    let format = a.format.clone().unwrap_or_else(|| {
        if a.digests {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.Created}}\t{{.Size}}".into()
        } else {
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}".into()
        }
    });
    print_rows(&format, &rows, &image_header, a.noheading)?;
    Ok(0)
}

/// `build`: finds the Containerfile and the ignore file as Podman does, runs the build,
/// prints the steps (unless `-q`) and the image ID.
fn build(e: &dyn Engine, mut a: BuildArgs) -> Result<i32> {
    // `build -`: standard input holds a tar of the context, or a Containerfile with no
    // context (as Podman and Docker read it).
    let mut _stdin_ctx = None;
    let mut stdin_cf = None;
    if a.context.as_deref() == Some(std::path::Path::new("-")) {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)
            .context("reading the build context from standard input")?;
        let dir = libberth::build::TempDir::new("berth-build-context")
            .context("creating a directory for the build context")?;
        if !libberth::build::unpack_context(&data, dir.path())? {
            stdin_cf = Some(String::from_utf8_lossy(&data).into_owned());
        }
        a.context = Some(dir.path().to_path_buf());
        _stdin_ctx = Some(dir);
    }
    let context = a.context.clone().unwrap_or_else(|| PathBuf::from("."));
    if !context.is_dir() {
        bail!("no such file or directory: {}", context.display());
    }
    let (text, name, cf_path) = match a.file.as_deref() {
        _ if stdin_cf.is_some() => (
            stdin_cf.take().unwrap_or_default(),
            "Containerfile".to_string(),
            None,
        ),
        Some("-") => {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                .context("reading the Containerfile from standard input")?;
            (t, "Containerfile".to_string(), None)
        }
        Some(f) => {
            let p = PathBuf::from(f);
            let t = std::fs::read_to_string(&p)
                .with_context(|| format!("reading Containerfile {f}"))?;
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.to_string());
            (t, n, Some(p))
        }
        None => {
            let p = berth_build::find_containerfile(&context).ok_or_else(|| {
                anyhow!(
                    "no Containerfile or Dockerfile specified or found in context directory, {}: no such file or directory",
                    context.display()
                )
            })?;
            let t =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (t, n, Some(p))
        }
    };
    let ignore_path = match &a.ignorefile {
        Some(p) => Some(p.clone()),
        None => berth_build::find_ignore_file(&context, cf_path.as_deref()),
    };
    let ignore = ignore_path
        .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let mut build_args = std::collections::BTreeMap::new();
    let mut arg_lines = Vec::new();
    for f in &a.build_arg_file {
        let t = std::fs::read_to_string(f)
            .with_context(|| format!("reading build arg file {}", f.display()))?;
        arg_lines.extend(
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    arg_lines.extend(a.build_arg.iter().cloned());
    for b in &arg_lines {
        match b.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            // `--build-arg NAME`: the value from our environment, if set.
            None => match std::env::var(b) {
                Ok(v) => build_args.insert(b.clone(), v),
                Err(_) => continue,
            },
        };
    }
    let labels = a
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    if !matches!(a.format.as_str(), "oci" | "docker") {
        bail!("unrecognized image type {:?}", a.format);
    }
    let tags = a
        .tag
        .iter()
        .map(|t| berth_image::normalize_name(t))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let opts = libberth::build::BuildOptions {
        containerfile: text,
        containerfile_name: name,
        context,
        ignore,
        tags: tags.clone(),
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        layers: a.layers,
        labels,
        format: a.format.clone(),
        pull: a.pull.clone(),
        network: a.network.clone(),
        volumes: a.volume.clone(),
        secrets: build_secrets(&a.secret)?,
        build_contexts: a
            .build_context
            .iter()
            .map(|c| {
                let (k, v) = c
                    .split_once('=')
                    .ok_or_else(|| anyhow!("invalid --build-context {c:?}: use name=path"))?;
                let p = PathBuf::from(v);
                if !p.is_dir() {
                    bail!("--build-context {k}: {v} is not a directory");
                }
                Ok((k.to_string(), p))
            })
            .collect::<Result<_>>()?,
        add_hosts: a.add_host.clone(),
        no_hosts: a.no_hosts,
        env: a
            .env
            .iter()
            .filter_map(|kv| match kv.split_once('=') {
                Some((k, v)) => Some((k.to_string(), v.to_string())),
                None => std::env::var(kv).ok().map(|v| (kv.clone(), v)),
            })
            .collect(),
        annotations: a
            .annotation
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect(),
        timestamp: a.timestamp,
        squash: a.squash,
        squash_all: a.squash_all,
        handle_signals: true,
    };
    let id = if a.quiet {
        e.image_build(&opts, &mut std::io::sink())?
    } else {
        let mut out = std::io::stdout();
        let id = e.image_build(&opts, &mut out)?;
        for t in &tags {
            println!("Successfully tagged {t}");
        }
        id
    };
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id)
            .with_context(|| format!("failed to write image ID to {}", f.display()))?;
    }
    println!("{id}");
    Ok(0)
}

/// `--secret id=ID,src=PATH` / `id=ID,env=VAR` (`type=file|env`): the contents by id.
fn build_secrets(specs: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (mut id, mut src, mut env) = (None, None, None);
        let mut kind = "file";
        for f in spec.split(',') {
            match f.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file")) => kind = "file",
                Some(("type", "env")) => kind = "env",
                _ => bail!("invalid --secret {spec:?}: use id=ID,src=PATH or id=ID,env=VAR"),
            }
        }
        if kind == "env" && env.is_none() {
            env = src.take();
        }
        let data = match (src, env) {
            (Some(p), _) => {
                std::fs::read(&p).with_context(|| format!("reading secret file {p}"))?
            }
            (None, Some(v)) => std::env::var(&v)
                .with_context(|| format!("secret environment variable {v} is not set"))?
                .into_bytes(),
            (None, None) => match &id {
                Some(i) => std::fs::read(i).with_context(|| format!("reading secret file {i}"))?,
                None => bail!("invalid --secret {spec:?}: use id=ID,src=PATH or id=ID,env=VAR"),
            },
        };
        let id = id.ok_or_else(|| anyhow!("invalid --secret {spec:?}: id= is required"))?;
        out.insert(id, data);
    }
    Ok(out)
}

/// `commit`: progress on stderr as Podman prints it (unless `-q`), the image ID on stdout.
fn commit(e: &dyn Engine, a: CommitArgs) -> Result<i32> {
    use libberth::commit::{CommitEvent, CommitOptions};
    let opts = CommitOptions {
        changes: a.change.clone(),
        message: a.message.clone(),
        author: a.author.clone(),
        pause: a.pause,
        squash: a.squash,
        format: a.format.clone(),
        include_volumes: a.include_volumes,
    };
    let mut err = std::io::stderr();
    let mut first = true;
    let id = e.container_commit(&a.container, a.image.as_deref(), &opts, &mut |ev| {
        if a.quiet {
            return;
        }
        if first {
            first = false;
            let _ = writeln!(err, "Getting image source signatures");
        }
        let _ = match ev {
            CommitEvent::CopyingBlob(d) => writeln!(err, "Copying blob {d}"),
            CommitEvent::CopyingConfig(d) => writeln!(err, "Copying config {d}"),
            CommitEvent::WritingManifest => writeln!(
                err,
                "Writing manifest to image destination\nStoring signatures"
            ),
        };
    })?;
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id)
            .with_context(|| format!("failed to write image ID to {}", f.display()))?;
    }
    println!("{id}");
    Ok(0)
}

/// `image mount`: one image prints its path; several (or `-a`) a NAME PATH table; none
/// lists the mounted images.
fn image_mount(e: &dyn Engine, a: ImageMountArgs) -> Result<i32> {
    if a.all && !a.images.is_empty() {
        bail!("when using the --all switch, you may not pass any image names or IDs");
    }
    let label =
        |names: &[String], id: &str| names.first().cloned().unwrap_or_else(|| id.to_string());
    if a.images.is_empty() && !a.all {
        let mounted = e.mounted_images()?;
        match a.format.as_deref() {
            Some(f) if f == "json" || f == "{{json .}}" => {
                let rows: Vec<Value> = mounted
                    .iter()
                    .map(|m| {
                        let digest = e
                            .image_inspect(&m.id)
                            .ok()
                            .and_then(|i| i["Digest"].as_str().map(str::to_string))
                            .unwrap_or_default();
                        json!({
                            "id": m.id,
                            "Names": [digest],
                            "Repositories": m.names,
                            "mountpoint": m.path,
                        })
                    })
                    .collect();
                println!("{}", json_indent(&rows, 1));
                return Ok(0);
            }
            Some(f) if !f.is_empty() => bail!("unknown --format argument: {f:?}"),
            _ => {}
        }
        let mut tw = tabwriter::TabWriter::new(std::io::stdout())
            .minwidth(10)
            .padding(2);
        for m in mounted {
            writeln!(tw, "{}\t{}", label(&m.names, &m.id), m.path.display())?;
        }
        tw.flush()?;
        return Ok(0);
    }
    let keys: Vec<String> = if a.all {
        e.image_list(false)?.into_iter().map(|i| i.id).collect()
    } else {
        a.images.clone()
    };
    let mut rows = Vec::new();
    let mut last: Option<anyhow::Error> = None;
    for k in &keys {
        match e.image_mount(k) {
            Ok((id, path)) => {
                let names = e
                    .image_list(false)?
                    .into_iter()
                    .find(|i| i.id == id)
                    .map(|i| i.names)
                    .unwrap_or_default();
                rows.push((label(&names, &id), path));
            }
            Err(err) => {
                if let Some(prev) = last.replace(err.into()) {
                    eprintln!("Error: {prev:#}");
                }
            }
        }
    }
    if keys.len() == 1 && !a.all {
        for (_, path) in &rows {
            println!("{}", path.display());
        }
    } else {
        let mut tw = tabwriter::TabWriter::new(std::io::stdout())
            .minwidth(10)
            .padding(2);
        for (name, path) in &rows {
            writeln!(tw, "{name}\t{}", path.display())?;
        }
        tw.flush()?;
    }
    match last {
        Some(err) => Err(err),
        None => Ok(0),
    }
}

/// `image unmount`: prints the ID of each image that was mounted.
fn image_unmount(e: &dyn Engine, a: ImageUnmountArgs) -> Result<i32> {
    if a.all && !a.images.is_empty() {
        bail!("when using the --all switch, you may not pass any image names or IDs");
    }
    if !a.all && a.images.is_empty() {
        bail!("image name or ID must be specified");
    }
    let keys: Vec<String> = if a.all {
        e.mounted_images()?.into_iter().map(|m| m.id).collect()
    } else {
        a.images.clone()
    };
    let mut last: Option<anyhow::Error> = None;
    for k in &keys {
        match e.image_unmount(k, a.force) {
            Ok(Some(id)) => println!("{id}"),
            Ok(None) => {}
            Err(err) => {
                if let Some(prev) = last.replace(err.into()) {
                    eprintln!("Error: {prev:#}");
                }
            }
        }
    }
    match last {
        Some(err) => Err(err),
        None => Ok(0),
    }
}

fn rmi(e: &dyn Engine, a: RmiArgs) -> Result<i32> {
    if a.names.is_empty() && !a.all {
        bail!("image name or ID must be specified");
    }
    let report = e.image_remove(&a.names, a.force, a.all)?;
    for u in &report.untagged {
        println!("Untagged: {u}");
    }
    for d in &report.deleted {
        println!("Deleted: {d}");
    }
    let mut errors: Vec<libberth::Error> = report.errors;
    if a.ignore {
        errors.retain(|e| !matches!(e, libberth::Error::NoSuchImage(_)));
    }
    let Some(last) = errors.pop() else {
        return Ok(0);
    };
    for err in &errors {
        eprintln!("Error: {err}");
    }
    // Podman: 1 when an image was not found, 2 when one is in use.
    let code = match last {
        libberth::Error::NoSuchImage(_) => 1,
        libberth::Error::ImageInUse(..) => 2,
        _ => 125,
    };
    Err(ExitCode(code, last.to_string()).into())
}

fn inspect(e: &dyn Engine, a: InspectArgs, default_kind: &str) -> Result<i32> {
    let kind = if a.kind == "all" {
        default_kind
    } else {
        a.kind.as_str()
    };
    if !matches!(kind, "all" | "container" | "image" | "volume") {
        bail!(
            "invalid type {:?}: must be container, image, volume or all",
            a.kind
        );
    }
    let names = if a.latest {
        vec![e.container_latest()?]
    } else {
        a.names.clone()
    };
    if names.is_empty() {
        bail!("no names or ids specified");
    }
    let results = names.iter().map(|n| match kind {
        "container" => e.container_inspect(n).map_err(|err| err.to_string()),
        "image" => e.image_inspect(n).map_err(|err| err.to_string()),
        "volume" => e.volume_inspect(n).map_err(|err| err.to_string()),
        _ => e
            .container_inspect(n)
            .or_else(|_| e.image_inspect(n))
            .or_else(|_| e.volume_inspect(n))
            .map_err(|_| format!("no such object: {n:?}")),
    });
    print_inspected(results, a.format.as_deref())
}

/// `inspect`'s output: the objects found (JSON, or each through a template), then the
/// errors for those not found; the last error is the command's.
fn print_inspected(
    results: impl IntoIterator<Item = std::result::Result<Value, String>>,
    format: Option<&str>,
) -> Result<i32> {
    let (mut items, mut errors) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(v) => items.push(v),
            Err(m) => errors.push(m),
        }
    }
    let items = &items;
    match format {
        Some(f) if f != "json" => print_each(f, items)?,
        _ => println!("{}", json_indent(&items, 5)),
    }
    match errors.pop() {
        Some(last) => {
            for m in errors {
                eprintln!("Error: {m}");
            }
            Err(anyhow!(last))
        }
        None => Ok(0),
    }
}

fn resource_flags(a: &ResourceArgs) -> libberth::resources::ResourceFlags {
    libberth::resources::ResourceFlags {
        memory: a.memory.clone(),
        memory_reservation: a.memory_reservation.clone(),
        memory_swap: a.memory_swap.clone(),
        cpus: a.cpus.clone(),
        cpu_shares: a.cpu_shares,
        cpu_quota: a.cpu_quota,
        cpu_period: a.cpu_period,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        oom_kill_disable: a.oom_kill_disable,
        oom_score_adj: a.oom_score_adj,
    }
}

/// `ls -q` (each object's `key`) or `ls --format json` (2-space JSON, as Podman prints
/// volumes and networks); false when neither was asked for.
fn print_names_or_json(list: &[Value], key: &str, quiet: bool, format: Option<&str>) -> bool {
    if quiet {
        for v in list {
            println!("{}", v[key].as_str().unwrap_or_default());
        }
        return true;
    }
    if format == Some("json") {
        println!("{}", json_indent(&list, 2));
        return true;
    }
    false
}

/// `--label K=V` values (a key alone has an empty value).
fn parse_labels(values: &[String]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn image_shared(e: &dyn Engine, c: ImageShared) -> Result<i32> {
    match c {
        ImageShared::Build(a) => build(e, *a),
        ImageShared::Load(a) => {
            let (path, _tmp) = input_file(
                a.input
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .as_deref(),
            )?;
            let names = e.image_load(&path)?;
            if !a.quiet {
                println!("Loaded image: {}", names.join("\nLoaded image: "));
            }
            Ok(0)
        }
        ImageShared::Import(a) => {
            let (path, _tmp) = input_file(Some(&a.path))?;
            let id = e.image_import(
                &path,
                a.reference.as_deref(),
                &a.change,
                a.message.as_deref(),
            )?;
            println!("sha256:{id}");
            Ok(0)
        }
        ImageShared::Tag(a) => {
            e.image_tag(&a.image, &a.names)?;
            Ok(0)
        }
        ImageShared::Save(a) => save(e, a),
        ImageShared::History(a) => history(e, a),
        ImageShared::Untag(a) => {
            e.image_untag(&a.image, &a.names)?;
            Ok(0)
        }
        ImageShared::Push(a) => {
            use libberth::push::PushEvent;
            if !matches!(a.compression_format.as_str(), "gzip" | "zstd") {
                bail!(
                    "invalid --compression-format {:?}: use gzip or zstd",
                    a.compression_format
                );
            }
            if let Some(f) = a.format.as_deref().filter(|f| *f != "oci") {
                bail!("--format {f:?} is not supported yet: berth pushes OCI manifests");
            }
            let mut o = pull_options(&a.registry)?;
            o.zstd = a.compression_format == "zstd";
            let mut err = std::io::stderr();
            let mut first = true;
            let quiet = a.quiet;
            let digest = e.image_push(&a.image, a.destination.as_deref(), &o, &mut |ev| {
                if quiet {
                    return;
                }
                if first {
                    first = false;
                    let _ = writeln!(err, "Getting image source signatures");
                }
                let _ = match ev {
                    PushEvent::CopyingBlob {
                        digest,
                        skipped: true,
                    } => {
                        writeln!(err, "Copying blob {digest} skipped: already exists")
                    }
                    PushEvent::CopyingBlob { digest, .. } => writeln!(err, "Copying blob {digest}"),
                    PushEvent::CopyingConfig(d) => writeln!(err, "Copying config {d}"),
                    PushEvent::WritingManifest => {
                        writeln!(
                            err,
                            "Writing manifest to image destination\nStoring signatures"
                        )
                    }
                };
            })?;
            if let Some(f) = &a.digestfile {
                std::fs::write(f, &digest)
                    .with_context(|| format!("writing the digest to {}", f.display()))?;
            }
            Ok(0)
        }
        ImageShared::Pull(a) => {
            let mut o = pull_options(&a.registry)?;
            if let Some(p) = &a.platform {
                let parts: Vec<&str> = p.split('/').collect();
                if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|x| x.is_empty()) {
                    bail!("invalid platform {p:?}: use OS/ARCH[/VARIANT]");
                }
                o.os = Some(parts[0].to_string());
                o.arch = Some(parts[1].to_string());
                o.variant = parts.get(2).map(|v| v.to_string());
            }
            o.os = a.os.clone().or(o.os);
            o.arch = a.arch.clone().or(o.arch);
            o.variant = a.variant.clone().or(o.variant);
            o.retries = a.retry;
            let images = if a.all_tags {
                // Every tag of the repository named (which must carry no tag itself).
                let mut all = Vec::new();
                for img in &a.images {
                    let repo = img.strip_prefix("docker://").unwrap_or(img);
                    let last = repo.rsplit('/').next().unwrap_or(repo);
                    if last.contains(':') || repo.contains('@') {
                        bail!(
                            "--all-tags: {img:?} must name a repository, without a tag or digest"
                        );
                    }
                    for row in e.image_search(repo, usize::MAX, true, &o)? {
                        all.push(format!("{}:{}", row.name, row.tag));
                    }
                }
                all
            } else {
                a.images.clone()
            };
            for img in &images {
                let id = pull_one(e, img, &o, a.quiet)?;
                println!("{id}");
            }
            Ok(0)
        }
    }
}

/// A readable file for `path`, copying standard input to a temporary file for "-" or none.
fn input_file(path: Option<&str>) -> Result<(PathBuf, Option<TempFile>)> {
    match path {
        Some(p) if p != "-" => {
            let pb = PathBuf::from(p);
            if !pb.exists() {
                bail!("{p}: no such file or directory");
            }
            Ok((pb, None))
        }
        _ => {
            if attach::is_tty(0) {
                bail!("cannot read from terminal: use the -i flag or redirect input");
            }
            // A new file only (O_EXCL, never through a planted symlink), private to us.
            use std::os::unix::fs::OpenOptionsExt;
            let mut n = 0u32;
            let (tmp, mut f) = loop {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let tmp = std::env::temp_dir()
                    .join(format!("berth-stdin-{}-{nanos:x}-{n}", std::process::id()));
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                {
                    Ok(f) => break (tmp, f),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                    Err(e) => {
                        return Err(e).context("creating a temporary file for standard input")
                    }
                }
            };
            let guard = TempFile(tmp.clone());
            std::io::copy(&mut std::io::stdin(), &mut f).context("reading standard input")?;
            Ok((tmp, Some(guard)))
        }
    }
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn info(e: &dyn Engine, f: &FormatArg) -> Result<i32> {
    let v = e.info()?;
    match f.format.as_deref() {
        None | Some("json") if f.format.is_some() => println!("{}", json_indent(&v, 4)),
        // Templates name Podman's Go fields: {{.Store.GraphDriverName}}, {{.Host.OCIRuntime.Name}}.
        Some(t) => print_each(t, &[go_field_names(&v)])?,
        None => print_yaml(&v, 0),
    }
    Ok(0)
}

/// `info`'s JSON keys (Podman's json tags) renamed to the Go field names its templates use.
fn go_field_names(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let name = match k.as_str() {
                        "ociRuntime" => "OCIRuntime".to_string(),
                        "cgroupVersion" => "CgroupsVersion".to_string(),
                        "cpus" => "CPUs".to_string(),
                        "os" => "OS".to_string(),
                        "idMappings" => "IDMappings".to_string(),
                        "uidmap" => "UIDMap".to_string(),
                        "gidmap" => "GIDMap".to_string(),
                        "slirp4netns" => "Slirp4NetNS".to_string(),
                        "cpuUtilization" => "CPUUtilization".to_string(),
                        other => {
                            let mut c = other.chars();
                            c.next()
                                .map(|f| f.to_uppercase().chain(c).collect())
                                .unwrap_or_default()
                        }
                    };
                    (name, go_field_names(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(go_field_names).collect()),
        other => other.clone(),
    }
}

/// A YAML rendering of a JSON value (for `info` without --format, as Podman prints YAML).
fn print_yaml(v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    if let Some(m) = v.as_object() {
        for (k, val) in m {
            match val {
                Value::Object(_) => {
                    println!("{pad}{k}:");
                    print_yaml(val, indent + 2);
                }
                Value::Array(items) => {
                    println!("{pad}{k}:");
                    for i in items {
                        println!("{pad}- {}", scalar(i));
                    }
                }
                other => println!("{pad}{k}: {}", scalar(other)),
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn version(f: &FormatArg) -> Result<i32> {
    let v = libberth::engine::version_json();
    match f.format.as_deref() {
        // Podman prints this one compact, on one line.
        Some("json") => println!("{}", json!({"Client": v})),
        Some(t) => print_each(t, &[json!({"Client": v, "Version": v["Version"]})])?,
        None => {
            println!("Client:       berth Engine");
            println!("Version:      {}", v["Version"].as_str().unwrap_or(""));
            println!("API Version:  {}", v["APIVersion"].as_str().unwrap_or(""));
            println!("OS/Arch:      {}", v["OsArch"].as_str().unwrap_or(""));
        }
    }
    Ok(0)
}

fn entry_options(f: &crate::cli::ManifestEntryFlags) -> libberth::manifest::ManifestEntryOptions {
    libberth::manifest::ManifestEntryOptions {
        os: f.os.clone(),
        arch: f.arch.clone(),
        variant: f.variant.clone(),
        annotations: f.annotation.clone(),
        all: false,
    }
}

/// `manifest ...`
fn manifest(e: &dyn Engine, c: crate::cli::ManifestCmd) -> Result<i32> {
    use crate::cli::ManifestCmd as M;
    match c {
        M::Create(a) => {
            let o = pull_options(&a.registry)?;
            println!("{}", e.manifest_create(&a.name, &a.images, &o)?);
        }
        M::Add(a) => {
            let o = pull_options(&a.registry)?;
            let mut opts = entry_options(&a.entry);
            opts.all = a.all;
            println!("{}", e.manifest_add(&a.name, &a.image, &opts, &o)?);
        }
        M::Inspect(a) => {
            let o = pull_options(&a.registry)?;
            println!("{}", json_indent(&e.manifest_inspect(&a.name, &o)?, 4));
        }
        M::Annotate(a) => {
            println!(
                "{}",
                e.manifest_annotate(&a.name, &a.digest, &entry_options(&a.entry))?
            );
        }
        M::Rm(a) => {
            e.manifest_remove(&a.names)?;
            for n in &a.names {
                println!("{n}");
            }
        }
        M::Exists(n) => return Ok(if e.manifest_exists(&n.name)? { 0 } else { 1 }),
        M::Push(a) => {
            use libberth::push::PushEvent;
            let o = pull_options(&a.registry)?;
            let quiet = a.quiet;
            let mut err = std::io::stderr();
            let digest = e.manifest_push(&a.name, &a.destination, a.all, &o, &mut |ev| {
                if quiet {
                    return;
                }
                let _ = match ev {
                    PushEvent::CopyingBlob {
                        digest,
                        skipped: true,
                    } => writeln!(err, "Copying blob {digest} skipped: already exists"),
                    PushEvent::CopyingBlob { digest, .. } => writeln!(err, "Copying blob {digest}"),
                    PushEvent::CopyingConfig(d) => writeln!(err, "Copying config {d}"),
                    PushEvent::WritingManifest => {
                        writeln!(err, "Writing manifest to image destination")
                    }
                };
            })?;
            if let Some(f) = &a.digestfile {
                std::fs::write(f, &digest)
                    .with_context(|| format!("writing the digest to {}", f.display()))?;
            }
            println!("{digest}");
        }
    }
    Ok(0)
}

/// Registry options from the shared flags (`--tls-verify`, `--creds`, `--cert-dir`).
fn pull_options(r: &RegistryFlags) -> Result<libberth::pull::PullOptions> {
    let credentials = match &r.creds {
        Some(c) if c.is_empty() => bail!("--creds: credentials must not be empty"),
        Some(c) => {
            let (u, p) = c.split_once(':').unwrap_or((c.as_str(), ""));
            if u.is_empty() {
                bail!("--creds: the user name must not be empty");
            }
            Some(berth_registry::Credentials {
                username: u.to_string(),
                password: p.to_string(),
            })
        }
        None => None,
    };
    if let Some(d) = &r.cert_dir {
        if !d.is_dir() {
            bail!("--cert-dir {}: not a directory", d.display());
        }
    }
    Ok(libberth::pull::PullOptions {
        tls_verify: r.tls_verify,
        authfile: r.authfile.clone(),
        signature_policy: r.signature_policy.clone(),
        credentials,
        cert_dir: r.cert_dir.clone(),
        ..Default::default()
    })
}

/// Pulls one image, printing Podman's progress lines on stderr unless `quiet`.
fn pull_one(
    e: &dyn Engine,
    image: &str,
    o: &libberth::pull::PullOptions,
    quiet: bool,
) -> Result<String> {
    use libberth::pull::PullEvent;
    // A short name that several registries could serve, on a terminal: the user chooses
    // (as Podman asks), and the choice is remembered as an alias once it was pulled.
    if attach::is_tty(0) && attach::is_tty(1) {
        if let Some((short, candidates)) = e.short_name_choice(image, true)? {
            eprintln!("? Please select an image:");
            for (i, c) in candidates.iter().enumerate() {
                eprintln!("  {}) {c}", i + 1);
            }
            let answer = prompt("Enter a number: ", false)?;
            let n: usize = answer
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=candidates.len()).contains(n))
                .ok_or_else(|| anyhow!("{answer:?} is not one of the images listed"))?;
            let chosen = candidates[n - 1].clone();
            let id = pull_one(e, &chosen, o, quiet)?;
            e.record_short_name_alias(&short, libberth::images::repo_of(&chosen))?;
            return Ok(id);
        }
    }
    let mut err = std::io::stderr();
    let mut first_blob = true;
    // On a terminal, one line per blob, redrawn in place with its progress and speed.
    let tty = attach::is_tty(2);
    let mut bars = Progress::default();
    let mut print = |ev: PullEvent| {
        if quiet {
            return;
        }
        let _ = match ev {
            PullEvent::Trying(n) => writeln!(err, "Trying to pull {n}..."),
            PullEvent::CopyingBlob {
                digest,
                skipped,
                size,
            } => {
                if first_blob {
                    first_blob = false;
                    let _ = writeln!(err, "Getting image source signatures");
                }
                let short = digest.trim_start_matches("sha256:");
                let short = &short[..12.min(short.len())];
                if skipped {
                    bars.add(
                        &digest,
                        format!("Copying blob {short} skipped: already exists"),
                        0,
                    );
                    writeln!(err, "Copying blob {short} skipped: already exists")
                } else if tty {
                    bars.add(&digest, format!("Copying blob {short}"), size);
                    writeln!(err, "Copying blob {short}")
                } else {
                    writeln!(err, "Copying blob {digest}")
                }
            }
            PullEvent::Progress { digest, done, .. } if tty => bars.update(&mut err, &digest, done),
            PullEvent::Progress { .. } => Ok(()),
            PullEvent::CopyingConfig(d) => {
                if tty {
                    let _ = bars.finish(&mut err);
                }
                writeln!(err, "Copying config {d}")
            }
            PullEvent::WritingManifest => {
                writeln!(
                    err,
                    "Writing manifest to image destination\nStoring signatures"
                )
            }
        };
    };
    let mut tries = 0;
    loop {
        match e.image_pull(image, o, &mut print) {
            Ok(id) => return Ok(id),
            // Only a registry that did not answer is worth asking again.
            Err(libberth::Error::Other(m))
                if m.starts_with("pinging container registry") && tries < o.retries =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_secs(1));
                let _ = m;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// `--pull`: pulls the image for `create`/`run` when the policy asks for it.
fn ensure_image(e: &dyn Engine, f: &CreateFlags, image: &str) -> Result<()> {
    let present = e.image_exists(image)?;
    let pull = match f.pull.as_str() {
        "never" => false,
        "missing" => !present,
        _ => true, // always, newer
    };
    if !pull {
        return Ok(());
    }
    let mut o = pull_options(&f.registry)?;
    o.only_if_newer = f.pull == "newer";
    match pull_one(e, image, &o, f.quiet) {
        Ok(_) => Ok(()),
        // `newer` with an image at hand: a registry that cannot tell is no reason to fail.
        Err(err) if f.pull == "newer" && present => {
            if !f.quiet {
                eprintln!("Warning: checking for a newer {image}: {err:#}; using the local image");
            }
            Ok(())
        }
        Err(err) => Err(err),
    }
}

fn save(e: &dyn Engine, a: SaveArgs) -> Result<i32> {
    use libberth::save::{SaveDest, SaveOptions};
    if a.images.is_empty() {
        bail!("need at least 1 argument");
    }
    let format = berth_image::SaveFormat::parse(&a.format).ok_or_else(|| {
        anyhow!("format value must be one of oci-dir oci-archive docker-dir docker-archive")
    })?;
    if a.compress && format != berth_image::SaveFormat::DockerDir {
        bail!("--compress can only be set when --format is 'docker-dir'");
    }
    let opts = SaveOptions {
        format,
        multi_image: a.multi_image_archive,
        compress: a.compress,
        uncompressed: a.uncompressed,
    };
    // Podman says nothing when the archive itself goes to standard output.
    let quiet = a.quiet || a.output.is_none();
    let mut events = |ev: berth_image::SaveEvent<'_>| {
        if quiet {
            return;
        }
        match ev {
            berth_image::SaveEvent::Blob(d) => eprintln!("Copying blob {d}"),
            berth_image::SaveEvent::Config(d) => eprintln!("Copying config {d}"),
            berth_image::SaveEvent::Manifest => {
                eprintln!("Writing manifest to image destination\nStoring signatures")
            }
        }
    };
    match &a.output {
        Some(o) => {
            if o.contains(':') {
                bail!("invalid filename (should not contain ':') {o:?}");
            }
            e.image_save(
                &a.images,
                &opts,
                SaveDest::Path(PathBuf::from(o)),
                &mut events,
            )?;
        }
        None => {
            if attach::is_tty(1) {
                bail!("refusing to save to terminal. Use -o flag or redirect");
            }
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            e.image_save(&a.images, &opts, SaveDest::Writer(&mut out), &mut events)?;
            out.flush()?;
        }
    }
    Ok(0)
}

fn history_header(f: &str) -> Option<&'static str> {
    Some(match f {
        "ID" => "ID",
        "Created" | "CreatedSince" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "CreatedBy" => "CREATED BY",
        "Size" => "SIZE",
        "Comment" => "COMMENT",
        "Tags" => "TAGS",
        _ => return None,
    })
}

fn history(e: &dyn Engine, a: HistoryArgs) -> Result<i32> {
    if a.images.len() != 1 {
        bail!("accepts 1 arg(s), received {}", a.images.len());
    }
    let rows = e.image_history(&a.images[0])?;
    let json_format = a
        .format
        .as_deref()
        .map(|f| f.trim())
        .is_some_and(|f| f == "json" || f.replace(' ', "") == "{{json.}}");
    if json_format {
        // Podman's ad-hoc shape: the entry plus "Created" as RFC 3339 seconds.
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("Created".into(), json!(rfc3339_secs(&r.created)));
                }
                v
            })
            .collect();
        let out = berth_image::to_go_json(&list)?;
        println!("{}", String::from_utf8_lossy(&out));
        return Ok(0);
    }
    let vals: Vec<Value> = rows
        .iter()
        .map(|r| {
            let t = berth_image::parse_go_time(&r.created).unwrap_or_default();
            let created = if a.human {
                libberth::human::ago(t.timestamp())
            } else {
                rfc3339_secs(&r.created)
            };
            let id = if a.no_trunc || r.id.len() < 12 {
                r.id.clone()
            } else {
                r.id[..12].to_string()
            };
            let created_by = if !a.no_trunc && r.created_by.len() > 45 {
                let mut end = 42;
                while !r.created_by.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}...", &r.created_by[..end])
            } else {
                r.created_by.clone()
            };
            json!({
                "ID": id,
                "Created": created,
                "CreatedSince": created,
                "CreatedAt": t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
                "CreatedBy": created_by,
                "Size": libberth::human::size(r.size),
                "Comment": r.comment,
                "Tags": [],
            })
        })
        .collect();
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format.clone().unwrap_or_else(|| {
            "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into()
        })
    };
    print_rows(&format, &vals, &history_header, false)?;
    Ok(0)
}

/// An RFC 3339 time as Go's `time.RFC3339` layout prints it (whole seconds).
fn rfc3339_secs(t: &str) -> String {
    berth_image::parse_go_time(t)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// Reads one line from the terminal, without echo when `secret`.
fn prompt(label: &str, secret: bool) -> Result<String> {
    use std::io::BufRead;
    eprint!("{label}");
    let stdin = std::io::stdin();
    let saved = if secret {
        nix::sys::termios::tcgetattr(&stdin).ok().inspect(|t| {
            let mut quiet = t.clone();
            quiet
                .local_flags
                .remove(nix::sys::termios::LocalFlags::ECHO);
            let _ =
                nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet);
        })
    } else {
        None
    };
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
        eprintln!();
    }
    r.context("reading from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn login(e: &dyn Engine, a: LoginArgs) -> Result<i32> {
    let registry = a
        .registry
        .clone()
        .ok_or_else(|| anyhow!("please provide a registry to log in to"))?;
    let mut o = pull_options(&a.registry_flags)?;
    o.credentials = None;
    if a.get_login {
        println!("{}", e.login_user(&registry, &o)?);
        return Ok(0);
    }
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let tty = attach::is_tty(0);
    let user = match &a.username {
        Some(u) => u.clone(),
        None if tty && !a.password_stdin => prompt("Username: ", false)?,
        None => bail!("a username is required: use --username"),
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading the password from stdin")?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &a.password {
        p.clone()
    } else if tty {
        prompt("Password: ", true)?
    } else {
        bail!("a password is required: use --password-stdin or --password");
    };
    if user.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    e.login(&registry, &user, &password, &o)?;
    println!("Login Succeeded!");
    Ok(0)
}

/// Per-blob progress lines on a terminal, redrawn in place.
#[derive(Default)]
struct Progress {
    /// (digest, label, total bytes, bytes done)
    lines: Vec<(String, String, u64, u64)>,
    started: Option<std::time::Instant>,
    finished: bool,
}

impl Progress {
    fn add(&mut self, digest: &str, label: String, total: u64) {
        self.started.get_or_insert_with(std::time::Instant::now);
        self.lines.push((digest.to_string(), label, total, 0));
    }

    fn update(&mut self, out: &mut impl Write, digest: &str, done: u64) -> std::io::Result<()> {
        if self.finished {
            return Ok(());
        }
        if let Some(l) = self.lines.iter_mut().find(|l| l.0 == digest) {
            l.3 = done;
        }
        self.draw(out)
    }

    fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        for l in &mut self.lines {
            if l.2 > 0 {
                l.3 = l.2;
            }
        }
        self.draw(out)?;
        self.finished = true;
        Ok(())
    }

    fn draw(&self, out: &mut impl Write) -> std::io::Result<()> {
        let secs = self
            .started
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0)
            .max(0.001);
        // Back to the first blob line, then each line anew.
        write!(out, "\x1b[{}A", self.lines.len())?;
        for (_, label, total, done) in &self.lines {
            if *total == 0 {
                writeln!(out, "\r\x1b[2K{label}")?;
                continue;
            }
            let width = 30usize;
            let fill = ((*done as f64 / *total as f64) * width as f64) as usize;
            let bar: String = "=".repeat(fill.min(width)) + &" ".repeat(width - fill.min(width));
            let state = if done >= total { " done" } else { "" };
            writeln!(
                out,
                "\r\x1b[2K{label} [{bar}] {} / {} ({}/s){state}",
                binary_size(*done as f64),
                binary_size(*total as f64),
                binary_size(*done as f64 / secs)
            )?;
        }
        out.flush()
    }
}

/// "512.0KiB", "36.0MiB", as Podman's progress bars print sizes.
fn binary_size(b: f64) -> String {
    if b < 1024.0 * 1024.0 {
        format!("{:.1}KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1}MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.1}GiB", b / (1024.0 * 1024.0 * 1024.0))
    }
}

fn volume(e: &dyn Engine, c: VolumeCmd) -> Result<i32> {
    match c {
        VolumeCmd::Create(a) => {
            let labels = parse_labels(&a.label);
            let o = libberth::volumes::VolumeCreateOptions {
                name: a.name.clone(),
                driver: Some(a.driver.clone()),
                labels,
                options: a.opt.clone(),
                ignore: a.ignore,
            };
            println!("{}", e.volume_create(&o)?);
            Ok(0)
        }
        VolumeCmd::Ls(a) => {
            let list = e.volume_list(&time_filters(&a.filter)?)?;
            if print_names_or_json(&list, "Name", a.quiet, a.format.as_deref()) {
                return Ok(0);
            }
            let format = a
                .format
                .clone()
                .unwrap_or_else(|| "table {{.Driver}}\t{{.Name}}".into());
            print_rows(
                &format,
                &list,
                &|f| match f {
                    "Name" => Some("VOLUME NAME"),
                    "Driver" => Some("DRIVER"),
                    "Mountpoint" => Some("MOUNTPOINT"),
                    "Scope" => Some("SCOPE"),
                    "CreatedAt" => Some("CREATED AT"),
                    "Labels" => Some("LABELS"),
                    "Options" => Some("OPTIONS"),
                    _ => None,
                },
                a.noheading,
            )?;
            Ok(0)
        }
        VolumeCmd::Inspect(a) => {
            if a.all != a.names.is_empty() {
                bail!("provide one or more volume names or use --all");
            }
            let names: Vec<String> = if a.all {
                e.volume_list(&[])?
                    .iter()
                    .filter_map(|v| v["Name"].as_str().map(str::to_string))
                    .collect()
            } else {
                a.names.clone()
            };
            let results = names.iter().map(|n| match e.volume_inspect(n) {
                Err(libberth::Error::NoSuchVolume(_)) => {
                    Err(format!("inspecting object: no such volume {n}"))
                }
                r => r.map_err(|err| err.to_string()),
            });
            print_inspected(results, a.format.as_deref())
        }
        VolumeCmd::Rm(a) => {
            if a.all != a.names.is_empty() {
                bail!("choose either one or more volumes or all");
            }
            let names: Vec<String> = if a.all {
                e.volume_list(&[])?
                    .iter()
                    .filter_map(|v| v["Name"].as_str().map(str::to_string))
                    .collect()
            } else {
                a.names.clone()
            };
            let results = names
                .iter()
                .map(|n| e.volume_remove(n, a.force).map(|()| n.clone()))
                .collect();
            report_removals(results, a.force)
        }
        VolumeCmd::Prune(a) => {
            let filters = time_filters(&a.filter)?;
            if !a.force {
                eprintln!("WARNING! This will remove all volumes not used by at least one container. The following volumes will be removed:");
                let mut unused = filters.clone();
                unused.push("dangling=true".into());
                for v in e.volume_list(&unused)? {
                    eprintln!("{}", v["Name"].as_str().unwrap_or_default());
                }
                if !confirm("Are you sure you want to continue?")? {
                    return Ok(0);
                }
            }
            for n in e.volume_prune(&filters)? {
                println!("{n}");
            }
            Ok(0)
        }
        VolumeCmd::Exists(n) => Ok(if e.volume_exists(&n.name)? { 0 } else { 1 }),
        VolumeCmd::Export(a) => {
            write_output(a.output.as_deref(), |out| e.volume_export(&a.name, out))?;
            Ok(0)
        }
        VolumeCmd::Import(a) => {
            if a.source == "-" {
                let stdin = std::io::stdin();
                let mut lock = stdin.lock();
                e.volume_import(&a.name, &mut lock)?;
            } else {
                let mut f = std::fs::File::open(&a.source)
                    .with_context(|| format!("opening {}", a.source))?;
                e.volume_import(&a.name, &mut f)?;
            }
            Ok(0)
        }
    }
}

/// Filters for `volume ls/prune` and `network ls/prune`: `until=` values become Unix
/// seconds (durations and dates as `logs --since` takes them).
fn time_filters(filters: &[String]) -> Result<Vec<String>> {
    filters
        .iter()
        .map(|f| match f.split_once('=') {
            Some(("until", v)) => Ok(format!("until={}", parse_time(v)?.timestamp())),
            _ => Ok(f.clone()),
        })
        .collect()
}

fn network_cmd(e: &dyn Engine, c: NetworkCmd) -> Result<i32> {
    match c {
        NetworkCmd::Create(a) => {
            let labels = parse_labels(&a.label);
            let o = libberth::network::NetworkCreateOptions {
                name: a.name.clone(),
                driver: a.driver.clone(),
                subnets: a.subnet.clone(),
                gateways: a.gateway.clone(),
                ip_ranges: a.ip_range.clone(),
                ipv6: a.ipv6,
                internal: a.internal,
                disable_dns: a.disable_dns,
                options: a.opt.clone(),
                labels,
                interface_name: a.interface_name.clone(),
                ignore: a.ignore,
            };
            println!("{}", e.network_create(&o)?);
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let list = e.network_list(&time_filters(&a.filter)?)?;
            if print_names_or_json(&list, "name", a.quiet, a.format.as_deref()) {
                return Ok(0);
            }
            let rows: Vec<Value> = list
                .iter()
                .map(|n| {
                    let mut r = libberth::network::list_row(n);
                    if a.no_trunc {
                        r["ID"] = n["id"].clone();
                    }
                    r
                })
                .collect();
            let format = a
                .format
                .clone()
                .unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}".into());
            print_rows(
                &format,
                &rows,
                &|f| match f {
                    "ID" => Some("NETWORK ID"),
                    "Name" => Some("NAME"),
                    "Driver" => Some("DRIVER"),
                    "Labels" => Some("LABELS"),
                    _ => None,
                },
                a.noheading,
            )?;
            Ok(0)
        }
        NetworkCmd::Inspect(a) => {
            let results = a.names.iter().map(|n| {
                e.network_inspect(n)
                    .map_err(|err| format!("inspecting object: network {n}: {err}"))
            });
            print_inspected(results, a.format.as_deref())
        }
        NetworkCmd::Rm(a) => {
            let results = a
                .names
                .iter()
                .map(|n| e.network_remove(n, a.force, a.time.unwrap_or(10)))
                .collect();
            report_removals(results, false)
        }
        NetworkCmd::Prune(a) => {
            let filters = time_filters(&a.filter)?;
            if !a.force {
                eprintln!(
                    "WARNING! This will remove all networks not used by at least one container."
                );
                if !confirm("Are you sure you want to continue?")? {
                    return Ok(0);
                }
            }
            for n in e.network_prune(&filters)? {
                println!("{n}");
            }
            Ok(0)
        }
        NetworkCmd::Exists(n) => Ok(if e.network_exists(&n.name)? { 0 } else { 1 }),
        NetworkCmd::Connect(a) => {
            let ips: Vec<String> = a.ip.iter().chain(&a.ip6).cloned().collect();
            e.network_connect(
                &a.network,
                &a.container,
                &a.alias,
                &ips,
                a.mac_address.as_deref(),
            )?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            let _ = a.force;
            e.network_disconnect(&a.network, &a.container)?;
            Ok(0)
        }
        NetworkCmd::Reload(a) => {
            let names = if a.all {
                e.container_list(&PsOptions::default())?
                    .iter()
                    .filter(|p| !p.networks.is_empty())
                    .map(|p| p.id.clone())
                    .collect()
            } else {
                targets(e, &a.names, false, a.latest)?
            };
            each(&names, false, |n| Ok(e.network_reload(n)?))
        }
    }
}

fn port(e: &dyn Engine, a: PortArgs) -> Result<i32> {
    let (names, filter) = if a.all || a.latest {
        let names = if a.all {
            e.container_list(&PsOptions::default())?
                .iter()
                .map(|p| p.id.clone())
                .collect()
        } else {
            vec![e.container_latest()?]
        };
        (names, a.args.first().cloned())
    } else {
        let (first, rest) = a
            .args
            .split_first()
            .ok_or_else(|| anyhow!("you must supply a running container name or id"))?;
        (vec![first.clone()], rest.first().cloned())
    };
    let filter = filter.map(|f| {
        if f.contains('/') {
            f
        } else {
            format!("{f}/tcp")
        }
    });
    let mut found = false;
    for n in &names {
        let v = e.container_inspect(n)?;
        let ports = v["HostConfig"]["PortBindings"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let id = v["Id"].as_str().unwrap_or_default();
        for (ctr, binds) in &ports {
            if filter.as_ref().is_some_and(|f| f != ctr) {
                continue;
            }
            for b in binds.as_array().into_iter().flatten() {
                let ip = b["HostIp"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("0.0.0.0");
                let host = format!("{ip}:{}", b["HostPort"].as_str().unwrap_or_default());
                found = true;
                match (&filter, a.all) {
                    (Some(_), false) => println!("{host}"),
                    _ if a.all => println!("{}\t{ctr} -> {host}", &id[..12]),
                    _ => println!("{ctr} -> {host}"),
                }
            }
        }
    }
    if let (Some(f), false) = (&filter, found) {
        bail!("failed to find published port {f:?}");
    }
    Ok(0)
}

/// Tab-separated lines through Go's tabwriter (minwidth 12 including the padding of 2),
/// as Podman prints `top`.
fn print_table(lines: &[String]) -> Result<()> {
    let mut tw = tabwriter::TabWriter::new(std::io::stdout())
        .minwidth(10)
        .padding(2);
    for l in lines {
        writeln!(tw, "{l}")?;
    }
    tw.flush()?;
    Ok(())
}

/// The pods a pod command acts on: the names given, or all of them.
fn pod_targets(e: &dyn Engine, names: &[String], all: bool) -> Result<Vec<String>> {
    if all {
        return Ok(e
            .pod_list()?
            .iter()
            .filter_map(|p| p["Id"].as_str().map(str::to_string))
            .collect());
    }
    if names.is_empty() {
        bail!("you must provide at least one pod name or id");
    }
    Ok(names.to_vec())
}

fn pod_cmd(e: &dyn Engine, c: PodCmd) -> Result<i32> {
    match c {
        PodCmd::Create(a) => {
            let network = CreateOptions {
                userns: a.userns.userns.clone(),
                uid_map: a.userns.uidmap.clone(),
                gid_map: a.userns.gidmap.clone(),
                subuidname: a.userns.subuidname.clone(),
                subgidname: a.userns.subgidname.clone(),
                networks: a.network.clone(),
                publish: a.publish.clone(),
                dns_servers: a.dns.clone(),
                add_hosts: a.add_host.clone(),
                volumes: a.volume.clone(),
                namespace_modes: a
                    .pid
                    .iter()
                    .map(|p| ("pid".to_string(), p.clone()))
                    .collect(),
                ..Default::default()
            };
            let o = libberth::pod::PodCreateOptions {
                name: a.name.clone(),
                infra: a.infra && !a.no_infra,
                infra_image: a.infra_image.clone(),
                infra_command: a.infra_command.as_ref().map(|s| {
                    serde_json::from_str::<Vec<String>>(s).unwrap_or_else(|_| vec![s.clone()])
                }),
                infra_name: a.infra_name.clone(),
                share: a.share.clone(),
                hostname: a.hostname.clone(),
                labels: parse_labels(&a.label),
                exit_policy: a.exit_policy.clone(),
                share_parent: a.share_parent,
                resources: libberth::resources::ResourceFlags {
                    memory: a.memory.clone(),
                    cpus: a.cpus.clone(),
                    cpuset_cpus: a.cpuset_cpus.clone(),
                    ..Default::default()
                },
                network,
                create_command: std::env::args().collect(),
            };
            println!("{}", e.pod_create(&o)?);
            Ok(0)
        }
        PodCmd::Ps(a) => {
            let mut list = e.pod_list()?;
            for f in &a.filter {
                let (k, v) = f
                    .split_once('=')
                    .ok_or_else(|| anyhow!("invalid filter {f:?}: use KEY=VALUE"))?;
                match k {
                    "name" => list.retain(|p| p["Name"].as_str().is_some_and(|n| n.contains(v))),
                    "id" => list.retain(|p| p["Id"].as_str().is_some_and(|n| n.starts_with(v))),
                    "status" => list.retain(|p| {
                        p["Status"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(v))
                    }),
                    "label" => list.retain(|p| match v.split_once('=') {
                        Some((lk, lv)) => p["Labels"][lk].as_str() == Some(lv),
                        None => p["Labels"].get(v).is_some(),
                    }),
                    other => bail!("{other} is an invalid filter"),
                }
            }
            if a.quiet {
                for p in &list {
                    let id = p["Id"].as_str().unwrap_or_default();
                    println!("{}", if a.no_trunc { id } else { &id[..12] });
                }
                return Ok(0);
            }
            if a.format.as_deref() == Some("json") {
                println!("{}", json_indent(&list, 2));
                return Ok(0);
            }
            let trunc = |s: &str| {
                if a.no_trunc || s.len() < 12 {
                    s.to_string()
                } else {
                    s[..12].to_string()
                }
            };
            let rows: Vec<Value> = list
                .iter()
                .map(|p| {
                    let ctrs = p["Containers"].as_array().cloned().unwrap_or_default();
                    let created = p["CreatedUnix"].as_i64().unwrap_or(0);
                    json!({
                        "ID": trunc(p["Id"].as_str().unwrap_or_default()),
                        "Name": p["Name"],
                        "Status": p["Status"],
                        "Created": libberth::human::ago(created),
                        "InfraID": trunc(p["InfraId"].as_str().unwrap_or_default()),
                        "NumberOfContainers": ctrs.len(),
                        "ContainerNames": ctrs.iter().filter_map(|c| c["Names"].as_str()).collect::<Vec<_>>().join(","),
                        "ContainerStatuses": ctrs.iter().filter_map(|c| c["Status"].as_str()).collect::<Vec<_>>().join(","),
                        "ContainerIds": ctrs.iter().filter_map(|c| c["Id"].as_str()).map(trunc).collect::<Vec<_>>().join(","),
                        "Labels": p["Labels"],
                        "Networks": p["Networks"],
                        "Cgroup": p["Cgroup"],
                    })
                })
                .collect();
            let format = a.format.clone().unwrap_or_else(|| {
                let mut f =
                    "table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}".to_string();
                if a.ctr_ids {
                    f.push_str("\t{{.ContainerIds}}");
                }
                if a.ctr_names {
                    f.push_str("\t{{.ContainerNames}}");
                }
                if a.ctr_status {
                    f.push_str("\t{{.ContainerStatuses}}");
                }
                if !a.ctr_ids && !a.ctr_names && !a.ctr_status {
                    f.push_str("\t{{.NumberOfContainers}}");
                }
                f
            });
            print_rows(
                &format,
                &rows,
                &|f| match f {
                    "ID" => Some("POD ID"),
                    "Name" => Some("NAME"),
                    "Status" => Some("STATUS"),
                    "Created" => Some("CREATED"),
                    "InfraID" => Some("INFRA ID"),
                    "NumberOfContainers" => Some("# OF CONTAINERS"),
                    "ContainerNames" => Some("NAMES"),
                    "ContainerStatuses" => Some("STATUS"),
                    "ContainerIds" => Some("IDS"),
                    "Labels" => Some("LABELS"),
                    "Networks" => Some("NETWORKS"),
                    _ => None,
                },
                a.noheading,
            )?;
            Ok(0)
        }
        PodCmd::Inspect(a) => {
            let results = a
                .names
                .iter()
                .map(|n| e.pod_inspect(n).map_err(|err| err.to_string()));
            print_inspected(results, a.format.as_deref())
        }
        PodCmd::Start(a) => {
            let names = pod_targets(e, &a.names, a.all)?;
            each(&names, false, |n| Ok(e.pod_start(n)?))
        }
        PodCmd::Stop(a) => {
            let names = pod_targets(e, &a.names, a.all)?;
            each(&names, false, |n| Ok(e.pod_stop(n, a.time)?))
        }
        PodCmd::Restart(a) => {
            let names = pod_targets(e, &a.names, a.all)?;
            each(&names, false, |n| {
                e.pod_stop(n, None)?;
                Ok(e.pod_start(n)?)
            })
        }
        PodCmd::Kill(a) => {
            let sig = libberth::containers::parse_signal(&a.signal)?;
            let names = pod_targets(e, &a.names, a.all)?;
            each(&names, false, |n| Ok(e.pod_kill(n, sig)?))
        }
        PodCmd::Pause(a) => {
            let names = pod_targets(e, &a.names, a.all)?;
            each(&names, false, |n| Ok(e.pod_pause(n, true)?))
        }
        PodCmd::Unpause(a) => {
            let names = pod_targets(e, &a.names, a.all)?;
            each(&names, false, |n| Ok(e.pod_pause(n, false)?))
        }
        PodCmd::Rm(a) => {
            let names = pod_targets(e, &a.names, a.all)?;
            let results = names
                .iter()
                .map(|n| e.pod_remove(n, a.force, a.time.unwrap_or(10)))
                .collect::<Vec<_>>();
            // A missing pod: exit 1, as Podman (and nothing with -i).
            let mut code = 0;
            let mut last = None;
            for r in results {
                match r {
                    Ok(id) => println!("{id}"),
                    Err(libberth::Error::NoSuchPod(_)) if a.ignore => {}
                    Err(err) => {
                        let c = if matches!(err, libberth::Error::NoSuchPod(_)) {
                            1
                        } else {
                            125
                        };
                        if code == 0 || c == 125 {
                            code = c;
                        }
                        if let Some(prev) = last.replace(err) {
                            eprintln!("Error: {prev}");
                        }
                    }
                }
            }
            match last {
                Some(err) => Err(ExitCode(code, err.to_string()).into()),
                None => Ok(0),
            }
        }
        PodCmd::Prune(a) => {
            if !a.force
                && !confirm("WARNING! This will remove all stopped/exited pods..\nAre you sure you want to continue?")?
            {
                return Ok(0);
            }
            for id in e.pod_prune()? {
                println!("{id}");
            }
            Ok(0)
        }
        PodCmd::Exists(n) => Ok(if e.pod_exists(&n.name)? { 0 } else { 1 }),
        PodCmd::Stats(a) => crate::stats::run_pods(e, &a),
        PodCmd::Logs(a) => {
            let mut ids = e.pod_container_ids(&a.pod)?;
            if let Some(c) = &a.container {
                let id = e.container_lookup(c)?;
                if !ids.contains(&id) {
                    bail!("container {c} is not in pod {}", a.pod);
                }
                ids = vec![id];
            }
            logs(
                e,
                LogsArgs {
                    flags: a.flags,
                    latest: false,
                    containers: ids,
                },
            )
        }
        PodCmd::Clone(a) => {
            let name = a.name.clone().or(a.new_name.clone());
            let id = e.pod_clone(&a.pod, name.as_deref())?;
            if a.start {
                e.pod_start(&id)?;
            }
            if a.destroy {
                e.pod_remove(&a.pod, true, 10)?;
            }
            println!("{id}");
            Ok(0)
        }
        PodCmd::Top(a) => {
            let mut header_done = false;
            let mut rows = Vec::new();
            for id in e.pod_container_ids(&a.name)? {
                let Ok(t) = e.container_top(&id, &[]) else {
                    continue;
                };
                for (i, r) in t.into_iter().enumerate() {
                    if i == 0 {
                        if !header_done {
                            rows.push(r);
                            header_done = true;
                        }
                        continue;
                    }
                    rows.push(r);
                }
            }
            if rows.is_empty() {
                bail!("no containers in pod {} are running", a.name);
            }
            print_table(&rows)?;
            Ok(0)
        }
    }
}
