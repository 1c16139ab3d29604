//! `build`: runs a Containerfile (parsed by `berth-build`) step by step. RUN steps run in
//! real containers through the same create/start path as `berth run`; COPY/ADD extract
//! into a container's file system; every step becomes an image whose config and history
//! are Podman's, kept as an intermediate image and recorded in the layer cache under
//! its key (parent image + resolved instruction + copied content).

use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::images::StoredLayer;
use crate::local::LocalEngine;
use crate::types::CreateOptions;
use berth_build::{
    CommandForm, Containerfile, Copy, CopySource, Healthcheck, IgnoreMatcher, Instruction,
    InstructionKind, Stage,
};
use berth_image::{Empty, HealthConfig, History, ImageConfig, RootFs};
use berth_oci::monitor::{read_frame, EXIT, STDERR, STDOUT};
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// What `build` is asked to do (the CLI has found the files).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Containerfile's text and the name shown in errors.
    pub containerfile: String,
    pub containerfile_name: String,
    pub context: PathBuf,
    /// The ignore file's text, if any.
    pub ignore: Option<String>,
    /// Normalized names for the final image.
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--layers` (default true): look up and record the cache.
    pub layers: bool,
    pub labels: Vec<(String, String)>,
    /// "oci" or "docker".
    pub format: String,
    /// "never", "missing" (others are treated as "missing").
    pub pull: String,
    /// `--network` for RUN (default none).
    pub network: Option<String>,
    /// `-v SRC:DST[:OPTS]` for RUN, as given.
    pub volumes: Vec<String>,
    /// `--secret id=ID,src=PATH|env=VAR`: the secrets' contents by id.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// `--build-context name=path`: extra contexts for `COPY --from` and `--mount from=`.
    pub build_contexts: BTreeMap<String, PathBuf>,
    /// `--add-host` and `--no-hosts` for RUN.
    pub add_hosts: Vec<String>,
    pub no_hosts: bool,
    /// `--env K=V`: set in every stage's config after FROM.
    pub env: Vec<(String, String)>,
    /// `--annotation K=V` on the final image.
    pub annotations: Vec<(String, String)>,
    /// `--timestamp SECONDS`: created times of the final image and its history.
    pub timestamp: Option<i64>,
    /// `--squash`: the new layers as one; `--squash-all`: every layer as one.
    pub squash: bool,
    pub squash_all: bool,
    /// SIGINT/SIGTERM to this process stop the build (the CLI; not a server thread,
    /// whose process signals are not the build's).
    pub handle_signals: bool,
}

/// The container of a RUN or COPY step.
#[derive(Default)]
struct StepSpec {
    command: Vec<String>,
    env: Vec<String>,
    user: Option<String>,
    volumes: Vec<String>,
    mounts: Vec<String>,
    /// `RUN --network`: none, host or default (the build's `--network`).
    network: Option<String>,
}

/// SIGINT and SIGTERM blocked for the build (restored on drop), to be taken with
/// [`SignalGuard::wait`] by the watcher thread.
struct SignalGuard {
    set: libc::sigset_t,
    old: libc::sigset_t,
}

impl SignalGuard {
    fn block() -> SignalGuard {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialize it, and
        // pthread_sigmask only changes this thread's mask (threads started after
        // inherit it).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SignalGuard { set, old }
        }
    }

    /// A blocked signal that arrived within `timeout`.
    fn wait(&self, timeout: std::time::Duration) -> Option<i32> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `set` is initialized and outlives the call; a null siginfo is allowed.
        let r = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts) };
        (r > 0).then_some(r)
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `block` on this same thread.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// What a `from=` (of COPY or a RUN mount) names.
enum FromSource {
    /// A directory on the host: a `--build-context`.
    Dir(PathBuf),
    /// An image (a built stage or an image by name), by ID.
    Image(String),
}

/// Host-side things a RUN step's mounts hold; released on drop.
#[derive(Default)]
struct RunMounts {
    /// `--mount` values for the step container.
    mounts: Vec<String>,
    /// Environment for `type=secret,env=`.
    env: Vec<String>,
    /// Images mounted for `from=`, unmounted after the step.
    images: Vec<String>,
    /// Temporary copies (secrets, rw binds), removed after the step.
    temp: Vec<PathBuf>,
    /// Locks of `sharing=locked` cache mounts.
    locks: Vec<crate::lock::Lock>,
    /// Lock files held by `sharing=private` cache mounts.
    files: Vec<std::fs::File>,
    /// Where the mounts go in the container.
    targets: Vec<String>,
}

/// A stage as it is being built.
struct StageState {
    /// None for `scratch` until a step makes an image.
    image: Option<String>,
    config: ImageConfig,
    /// Declared ARGs and their values, in order.
    args: Vec<(String, String)>,
    shell: Vec<String>,
    workdir_created: bool,
    /// ONBUILD triggers for images built from this one (docker format only).
    onbuild: Vec<String>,
    /// How many layers the stage's base image has (`--squash` keeps those).
    base_layers: usize,
}

impl StageState {
    fn lookup(&self, name: &str) -> Option<String> {
        let env = self.config.config.env.as_deref().unwrap_or_default();
        for e in env.iter().rev() {
            if let Some((k, v)) = e.split_once('=') {
                if k == name {
                    return Some(v.to_string());
                }
            }
        }
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

fn line_err(file: &str, line: usize, msg: impl std::fmt::Display) -> Error {
    Error::InvalidArg(format!("{file}:{line}: {msg}"))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(11)]
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Sets `key` as buildah does: a variable set again moves to the end.
fn set_env(config: &mut ImageConfig, key: &str, value: &str) {
    let env = config.config.env.get_or_insert_with(Vec::new);
    env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
    env.push(format!("{key}={value}"));
}

fn form_vec(form: &CommandForm, shell: &[String]) -> Vec<String> {
    match form {
        CommandForm::Exec(v) => v.clone(),
        CommandForm::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    }
}

/// A lexically normalized relative path inside a root; `None` when it climbs out.
fn inside(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(out)
}

/// Shell-style wildcard match of one path component (`*`, `?`, `[...]`).
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(b'['), Some(&c)) => match pattern.iter().position(|&b| b == b']') {
            Some(end) => {
                let set = &pattern[1..end];
                let (neg, set) = match set.first() {
                    Some(b'!' | b'^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != neg && wildcard(&pattern[end + 1..], &name[1..])
            }
            None => c == b'[' && wildcard(&pattern[1..], &name[1..]),
        },
        (Some(&p), Some(&c)) => p == c && wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Files to put in a COPY layer: a tar in memory and a checksum of what it holds
/// (names, modes, owners and contents, not times).
struct CopyTar {
    builder: tar::Builder<Vec<u8>>,
    hash: Sha256,
    mode: Option<u32>,
}

impl CopyTar {
    fn new(mode: Option<u32>) -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
            hash: Sha256::new(),
            mode,
        }
    }

    fn dir(&mut self, name: &Path, mode: u32, mtime: u64) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(self.mode.unwrap_or(mode));
        h.set_size(0);
        h.set_mtime(mtime);
        self.hash.update(format!(
            "d {} {:o}\n",
            name.display(),
            h.mode().unwrap_or(0)
        ));
        self.builder
            .append_data(&mut h, name, std::io::empty())
            .ctx(|| format!("adding {}", name.display()))
    }

    fn file(&mut self, name: &Path, src: &Path, meta: &std::fs::Metadata) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(meta.mtime().max(0) as u64);
        let mode = self.mode.unwrap_or(meta.permissions().mode() & 0o7777);
        h.set_mode(mode);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(src).ctx(|| format!("reading {}", src.display()))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            self.hash
                .update(format!("l {} {}\n", name.display(), target.display()));
            return self
                .builder
                .append_link(&mut h, name, &target)
                .ctx(|| format!("adding {}", name.display()));
        }
        let data = std::fs::read(src).ctx(|| format!("reading {}", src.display()))?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        self.hash
            .update(format!("f {} {mode:o} {}\n", name.display(), data.len()));
        self.hash.update(&data);
        self.builder
            .append_data(&mut h, name, data.as_slice())
            .ctx(|| format!("adding {}", name.display()))
    }

    fn data(&mut self, name: &Path, data: &[u8], mode: u32) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        let mode = self.mode.unwrap_or(mode);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        self.hash
            .update(format!("f {} {mode:o} {}\n", name.display(), data.len()));
        self.hash.update(data);
        self.builder
            .append_data(&mut h, name, data)
            .ctx(|| format!("adding {}", name.display()))
    }
}

/// A source root for COPY: the context (with its ignore file) or a stage's or image's
/// file system (mounted for the step).
struct SourceRoot<'a> {
    dir: PathBuf,
    ignore: Option<&'a IgnoreMatcher>,
}

impl SourceRoot<'_> {
    fn excluded(&self, rel: &Path) -> bool {
        self.ignore
            .is_some_and(|m| m.is_excluded(&rel.to_string_lossy()))
    }

    /// The paths (relative to the root) a source pattern names.
    fn matches(&self, pattern: &str) -> std::result::Result<Vec<PathBuf>, String> {
        let rel = inside(pattern)
            .ok_or_else(|| format!("forbidden path outside the build context: {pattern}"))?;
        let has_wild = pattern.contains(['*', '?', '[']);
        if !has_wild {
            let full = self.dir.join(&rel);
            if std::fs::symlink_metadata(&full).is_err() || self.excluded(&rel) {
                return Err(format!("no such file or directory: {pattern}"));
            }
            return Ok(vec![rel]);
        }
        // Wildcards: each component matched against the directory listing.
        let mut found = vec![PathBuf::new()];
        for comp in rel.components() {
            let pat = comp.as_os_str().to_string_lossy().into_owned();
            let mut next = Vec::new();
            for base in &found {
                if !pat.contains(['*', '?', '[']) {
                    let p = base.join(&pat);
                    if std::fs::symlink_metadata(self.dir.join(&p)).is_ok() {
                        next.push(p);
                    }
                    continue;
                }
                let Ok(rd) = std::fs::read_dir(self.dir.join(base)) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for n in names {
                    if wildcard(pat.as_bytes(), n.as_bytes()) {
                        next.push(base.join(n));
                    }
                }
            }
            found = next;
        }
        found.retain(|p| !self.excluded(p));
        if found.is_empty() {
            return Err(format!("no items matching glob {pattern:?} copied"));
        }
        Ok(found)
    }

    /// Adds `rel` to the tar as `name` (a directory's contents go under `name`).
    fn add(&self, tar: &mut CopyTar, rel: &Path, name: &Path) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let full = self.dir.join(rel);
        let meta =
            std::fs::symlink_metadata(&full).ctx(|| format!("reading {}", full.display()))?;
        if !meta.is_dir() {
            return tar.file(name, &full, &meta);
        }
        if !name.as_os_str().is_empty() {
            tar.dir(
                name,
                meta.permissions().mode() & 0o7777,
                meta.mtime().max(0) as u64,
            )?;
        }
        let mut entries: Vec<_> = std::fs::read_dir(&full)
            .ctx(|| format!("reading {}", full.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for e in entries {
            let child = rel.join(&e);
            if self.excluded(&child) {
                let is_dir = std::fs::symlink_metadata(self.dir.join(&child))
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                // An excluded directory may still hold re-included (`!`) files.
                if !is_dir
                    || self
                        .ignore
                        .is_some_and(|m| m.can_skip_dir(&child.to_string_lossy()))
                {
                    continue;
                }
            }
            self.add(tar, &child, &name.join(&e))?;
        }
        Ok(())
    }
}

struct Builder<'a> {
    engine: &'a LocalEngine,
    opts: &'a BuildOptions,
    cf: Containerfile,
    ignore: Option<IgnoreMatcher>,
    out: &'a mut dyn Write,
    step: usize,
    steps: usize,
    /// Images of the stages built so far, by index.
    stage_images: BTreeMap<usize, String>,
    /// Intermediate images made by this build.
    made: Vec<String>,
    /// The running step's container, for the signal watcher to stop.
    current: &'a std::sync::Mutex<Option<String>>,
    /// The signal that interrupted the build (0: none).
    interrupted: &'a std::sync::atomic::AtomicI32,
}

impl LocalEngine {
    /// `build`: returns the final image's ID. Progress goes to `out`, RUN output to `out`
    /// (stdout) and our stderr.
    pub fn build(&self, opts: &BuildOptions, out: &mut dyn Write) -> Result<String> {
        let cf = berth_build::parse_named(&opts.containerfile, &opts.containerfile_name)
            .map_err(|e| Error::InvalidArg(e.to_string()))?;
        let ignore = match &opts.ignore {
            Some(text) => {
                Some(IgnoreMatcher::new(text).map_err(|e| Error::InvalidArg(e.to_string()))?)
            }
            None => None,
        };
        if !opts.context.is_dir() {
            return Err(Error::InvalidArg(format!(
                "context directory {} does not exist",
                opts.context.display()
            )));
        }
        let target = match &opts.target {
            Some(t) => cf.stage_by_name(t, cf.stages.len()).ok_or_else(|| {
                Error::InvalidArg(format!(
                    "the target {t:?} was not found in the provided Containerfile"
                ))
            })?,
            None => cf.stages.len() - 1,
        };
        let needed = needed_stages(&cf, target);
        // SIGINT/SIGTERM stop the running step's container; the build then fails and
        // cleans up as after a failed step.
        let current = std::sync::Mutex::new(None::<String>);
        let interrupted = std::sync::atomic::AtomicI32::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        if !opts.handle_signals {
            return self.build_inner(
                opts,
                out,
                cf,
                ignore,
                target,
                &needed,
                &current,
                &interrupted,
            );
        }
        let guard = SignalGuard::block();
        let waiter = std::sync::Mutex::new(None::<libc::pthread_t>);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // SAFETY: pthread_self has no preconditions.
                *waiter.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(unsafe { libc::pthread_self() });
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let Some(sig) = guard.wait(std::time::Duration::from_millis(200)) else {
                        continue;
                    };
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    interrupted.store(sig, std::sync::atomic::Ordering::SeqCst);
                    let cid = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Some(cid) = cid {
                        let _ = self.container_kill(&cid, libc::SIGKILL);
                    }
                }
            });
            let r = self.build_inner(
                opts,
                out,
                cf,
                ignore,
                target,
                &needed,
                &current,
                &interrupted,
            );
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            // Wake the waiter now rather than at its next timeout: a blocked SIGTERM sent
            // to that thread alone ends its wait (it sees `done` and leaves).
            if let Some(t) = *waiter.lock().unwrap_or_else(|e| e.into_inner()) {
                // SAFETY: `t` is the waiter's thread, not joined yet (the scope joins it).
                unsafe { libc::pthread_kill(t, libc::SIGTERM) };
            }
            r
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn build_inner(
        &self,
        opts: &BuildOptions,
        out: &mut dyn Write,
        cf: Containerfile,
        ignore: Option<IgnoreMatcher>,
        target: usize,
        needed: &[usize],
        current: &std::sync::Mutex<Option<String>>,
        interrupted: &std::sync::atomic::AtomicI32,
    ) -> Result<String> {
        let steps = needed
            .iter()
            .map(|&i| cf.stages[i].instructions.len() + 1)
            .sum();
        let mut b = Builder {
            engine: self,
            opts,
            cf,
            ignore,
            out,
            step: 0,
            steps,
            stage_images: BTreeMap::new(),
            made: Vec::new(),
            current,
            interrupted,
        };
        let result = b.run(needed, target);
        let made = std::mem::take(&mut b.made);
        match result {
            Ok(id) => {
                self.db().write(|tx| {
                    tx.execute("DELETE FROM build_intermediate WHERE id = ?1", [&id])?;
                    Ok(())
                })?;
                Ok(id)
            }
            Err(e) => {
                // No half-built images: the images of this build that no cache entry
                // keeps (without --layers) go.
                if !opts.layers {
                    for id in made {
                        let _ = self.rmi(&[id], true, false);
                    }
                }
                Err(e)
            }
        }
    }

    fn cached_image(&self, key: &str) -> Result<Option<String>> {
        let id: Option<String> = {
            let db = self.db();
            let mut st = db
                .conn()
                .prepare("SELECT image_id FROM build_cache WHERE key = ?1")?;
            let mut rows = st.query([key])?;
            match rows.next()? {
                Some(r) => Some(r.get(0)?),
                None => None,
            }
        };
        match id {
            Some(id) if self.db().image(&id)?.is_some() => Ok(Some(id)),
            _ => Ok(None),
        }
    }

    fn layers_of(&self, image: Option<&str>) -> Result<Vec<StoredLayer>> {
        let Some(image) = image else {
            return Ok(Vec::new());
        };
        let img = self
            .db()
            .image(image)?
            .ok_or_else(|| Error::NoSuchImage(image.to_string()))?;
        let mut out = Vec::new();
        for (i, c) in img.layers.iter().enumerate() {
            let info = self.store.layer_info(c)?;
            out.push(StoredLayer {
                chain_id: info.chain_id,
                diff_id: info.diff_id,
                parent: i.checked_sub(1).map(|p| img.layers[p].clone()),
                size: info.size,
            });
        }
        Ok(out)
    }

    /// Stores an image of `layers` with `config`; returns its ID.
    fn store_step_image(
        &self,
        config: &ImageConfig,
        layers: &[StoredLayer],
        names: &[String],
    ) -> Result<String> {
        let bytes = config.to_json_bytes()?;
        let chain: Vec<String> = layers.iter().map(|l| l.chain_id.clone()).collect();
        self.commit_image(&bytes, None, &chain, layers, names)
    }
}

/// The stages the target needs, in file order.
fn needed_stages(cf: &Containerfile, target: usize) -> Vec<usize> {
    let mut need = vec![false; cf.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if need[i] {
            continue;
        }
        need[i] = true;
        let s = &cf.stages[i];
        if let Some(b) = cf.stage_by_name(&s.base, i) {
            todo.push(b);
        }
        for ins in &s.instructions {
            if let InstructionKind::Run(r) = &ins.kind {
                for m in &r.mounts {
                    if let Some(b) = m.from.as_deref().and_then(|f| cf.resolve_stage(f, i)) {
                        todo.push(b);
                    }
                }
            }
            if let InstructionKind::Copy(c) | InstructionKind::Add(c) = &ins.kind {
                if let Some(f) = &c.from {
                    if let Some(b) = cf.resolve_stage(f, i) {
                        todo.push(b);
                    }
                }
            }
        }
    }
    (0..cf.stages.len()).filter(|&i| need[i]).collect()
}

impl Builder<'_> {
    fn file(&self) -> &str {
        &self.opts.containerfile_name
    }

    /// A warning on stderr, as Podman logs it.
    fn warn(&self, msg: &str) {
        eprintln!(
            "time=\"{}\" level=warning msg=\"{msg}\"",
            Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
    }

    /// The shell for shell-form CMD/ENTRYPOINT: always `/bin/sh -c`, as Podman 4.3
    /// (imagebuilder) writes them whatever SHELL says.
    fn config_shell(&self, _st: &StageState) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    /// Fails the build when a signal asked it to stop.
    fn check_interrupted(&self) -> Result<()> {
        match self.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            0 => Ok(()),
            sig => Err(Error::Exec {
                msg: format!("build interrupted by signal {sig}"),
                code: 128 + sig,
            }),
        }
    }

    fn say(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    fn run(&mut self, needed: &[usize], target: usize) -> Result<String> {
        // Global ARGs.
        let mut globals: Vec<(String, String)> = Vec::new();
        for a in &self.cf.global_args.clone() {
            let value = match self.opts.build_args.get(&a.name) {
                Some(v) => Some(v.clone()),
                None => match &a.default {
                    Some(d) => Some(self.expand_with(d, a.line, &|k: &str| {
                        globals
                            .iter()
                            .rev()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.clone())
                    })?),
                    None => None,
                },
            };
            if let Some(v) = value {
                globals.push((a.name.clone(), v));
            }
        }
        let mut last = String::new();
        for &i in needed {
            let stage = self.cf.stages[i].clone();
            last = self.build_stage(&stage, &globals, i == target)?;
            self.stage_images.insert(i, last.clone());
        }
        Ok(last)
    }

    fn expand_with(
        &self,
        word: &str,
        line: usize,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String> {
        berth_build::expand(word, self.cf.escape, &|k: &str| lookup(k))
            .map_err(|e| line_err(self.file(), line, e))
    }

    fn base_state(&mut self, stage: &Stage, globals: &[(String, String)]) -> Result<StageState> {
        let lookup = |k: &str| {
            globals
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let base = self.expand_with(&stage.base, stage.line, &lookup)?;
        let image = if base == "scratch" {
            None
        } else if let Some(i) = self.cf.stage_by_name(&base, stage.index) {
            Some(self.stage_images[&i].clone())
        } else {
            let e = self.engine;
            let exists = e.image_exists(&base)?;
            if matches!(self.opts.pull.as_str(), "always" | "newer" | "true") {
                // `always` fails when the pull does; `newer` keeps a local image then.
                let pulled = crate::engine::Engine::image_pull(
                    e,
                    &base,
                    &crate::pull::PullOptions::default(),
                    &mut |_| {},
                );
                if let Err(err) = pulled {
                    if self.opts.pull != "newer" || !exists {
                        return Err(line_err(self.file(), stage.line, err));
                    }
                }
            } else if !exists {
                if self.opts.pull == "never" {
                    return Err(Error::InvalidArg(format!(
                        "{}:{}: {base}: image not known",
                        self.file(),
                        stage.line
                    )));
                }
                crate::engine::Engine::image_pull(
                    e,
                    &base,
                    &crate::pull::PullOptions::default(),
                    &mut |_| {},
                )
                .map_err(|err| line_err(self.file(), stage.line, err))?;
            }
            Some(e.lookup_image(&base)?.id)
        };
        let config = match &image {
            Some(id) => {
                let img = self
                    .engine
                    .db()
                    .image(id)?
                    .ok_or_else(|| Error::NoSuchImage(id.clone()))?;
                ImageConfig::from_slice(&img.config)
                    .map_err(|e| Error::Other(format!("image config of {id}: {e}")))?
            }
            None => ImageConfig {
                architecture: host_arch().into(),
                os: "linux".into(),
                rootfs: RootFs {
                    fs_type: "layers".into(),
                    diff_ids: Vec::new(),
                },
                ..ImageConfig::default()
            },
        };
        let base_layers = config.rootfs.diff_ids.len();
        let mut config = config;
        for (k, v) in &self.opts.env {
            set_env(&mut config, k, v);
        }
        Ok(StageState {
            base_layers,
            image,
            config,
            args: Vec::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
            workdir_created: false,
            onbuild: Vec::new(),
        })
    }

    fn build_stage(
        &mut self,
        stage: &Stage,
        globals: &[(String, String)],
        is_target: bool,
    ) -> Result<String> {
        self.step += 1;
        let header = format!("STEP {}/{}: {}", self.step, self.steps, stage.original);
        self.say(&header);
        let mut st = self.base_state(stage, globals)?;
        let n = stage.instructions.len();
        // The base image's ONBUILD triggers run first (not inherited further).
        let triggers = match &st.image {
            Some(id) => onbuild_of_image(self.engine, id)?,
            None => Vec::new(),
        };
        for t in triggers {
            let parsed = berth_build::parse_named(
                &format!("FROM scratch\n{t}\n"),
                &format!("ONBUILD trigger of {}", stage.base),
            )
            .map_err(|e| Error::InvalidArg(e.to_string()))?;
            if let Some(ins) = parsed.stages.first().and_then(|s| s.instructions.first()) {
                self.say(&format!("--> ONBUILD {t}"));
                self.step_one(&mut st, ins, globals, is_target && n == 0)?;
            }
        }
        for (k, ins) in stage.instructions.iter().enumerate() {
            self.step += 1;
            self.check_interrupted()?;
            let header = format!("STEP {}/{}: {}", self.step, self.steps, ins.original);
            self.say(&header);
            let last = is_target && k + 1 == n;
            self.step_one(&mut st, ins, globals, last)?;
        }
        // A stage without instructions (or labels to add) is its base image.
        if n == 0 && is_target && (!self.opts.labels.is_empty() || !self.opts.tags.is_empty()) {
            let mut cfg = st.config.clone();
            self.add_labels(&mut cfg);
            let layers = self.engine.layers_of(st.image.as_deref())?;
            let id = self.finish(&mut st, cfg, layers, "", true)?;
            return Ok(id);
        }
        match st.image {
            Some(id) => Ok(id),
            None => {
                let cfg = st.config.clone();
                self.finish(&mut st, cfg, Vec::new(), "", is_target)
            }
        }
    }

    fn add_labels(&self, cfg: &mut ImageConfig) {
        if !self.opts.labels.is_empty() {
            let l = cfg.config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in &self.opts.labels {
                l.insert(k.clone(), v.clone());
            }
        }
    }

    /// Stores the step's image (named when it is the last), records it, prints its ID.
    /// The final image needs more than its last step: squashed layers, fixed times or
    /// manifest annotations.
    fn needs_post(&self) -> bool {
        self.opts.squash
            || self.opts.squash_all
            || self.opts.timestamp.is_some()
            || !self.opts.annotations.is_empty()
    }

    fn finish(
        &mut self,
        st: &mut StageState,
        mut cfg: ImageConfig,
        layers: Vec<StoredLayer>,
        key: &str,
        is_last: bool,
    ) -> Result<String> {
        cfg.created = Some(Utc::now());
        cfg.rootfs = RootFs {
            fs_type: "layers".into(),
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        };
        if is_last {
            self.add_labels(&mut cfg);
            match self.opts.tags.first() {
                Some(name) => self.say(&format!("COMMIT {name}")),
                None => self.say("COMMIT"),
            }
        }
        // With post-processing, the last step's image is an intermediate one too.
        let last = is_last && !self.needs_post();
        let names = if last {
            self.opts.tags.clone()
        } else {
            Vec::new()
        };
        let id = if self.opts.format == "docker" {
            let bytes =
                crate::commit::docker_image_config(&cfg, "", "", "", st.onbuild.clone(), None)?;
            let manifest = crate::commit::docker_manifest(&bytes, &layers);
            let chain: Vec<String> = layers.iter().map(|l| l.chain_id.clone()).collect();
            self.engine
                .commit_image(&bytes, Some(manifest), &chain, &layers, &names)?
        } else {
            self.engine.store_step_image(&cfg, &layers, &names)?
        };
        self.engine.db().write(|tx| {
            if !last {
                tx.execute(
                    "INSERT OR IGNORE INTO build_intermediate(id) VALUES (?1)",
                    [&id],
                )?;
            }
            if !key.is_empty() && self.opts.layers {
                tx.execute(
                    "INSERT OR REPLACE INTO build_cache(key, image_id) VALUES (?1, ?2)",
                    [key, &id],
                )?;
            }
            Ok(())
        })?;
        if !last {
            self.made.push(id.clone());
        }
        st.image = Some(id.clone());
        st.config = cfg;
        let id = if is_last && !last {
            self.post_process(&id, st)?
        } else {
            id
        };
        self.say(&format!("--> {}", short(&id)));
        Ok(id)
    }

    fn step_one(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        globals: &[(String, String)],
        last: bool,
    ) -> Result<()> {
        let line = ins.line;
        let file = self.file().to_string();
        let exp = |st: &StageState, w: &str| -> Result<String> {
            berth_build::expand(w, self.cf.escape, &|k: &str| st.lookup(k))
                .map_err(|e| line_err(&file, line, e))
        };
        let mut cfg = st.config.clone();
        let mut text = ins.original.clone();
        let mut created_by = format!("/bin/sh -c #(nop) {}", ins.original);
        let mut copy: Option<&Copy> = None;
        let mut run: Option<&berth_build::Run> = None;
        let mut workdir: Option<String> = None;
        match &ins.kind {
            InstructionKind::Arg(decls) => {
                for a in decls {
                    let v = match self.opts.build_args.get(&a.name) {
                        Some(v) => Some(v.clone()),
                        None => match &a.default {
                            Some(d) => Some(exp(st, d)?),
                            None => globals
                                .iter()
                                .rev()
                                .find(|(n, _)| *n == a.name)
                                .map(|(_, v)| v.clone()),
                        },
                    };
                    st.args.push((a.name.clone(), v.unwrap_or_default()));
                }
                // ARG changes no config; the step shares its parent's image.
                return Ok(());
            }
            InstructionKind::Env(kvs) => {
                let before = StageState {
                    image: None,
                    config: st.config.clone(),
                    args: st.args.clone(),
                    shell: Vec::new(),
                    workdir_created: false,
                    onbuild: Vec::new(),
                    base_layers: 0,
                };
                let mut parts = Vec::new();
                for kv in kvs {
                    let k = exp(&before, &kv.key)?;
                    let v = exp(&before, &kv.value)?;
                    set_env(&mut cfg, &k, &v);
                    parts.push(format!("{k}={v}"));
                }
                text = format!("ENV {}", parts.join(" "));
                created_by = format!("/bin/sh -c #(nop) {text}");
            }
            InstructionKind::Label(kvs) => {
                let mut parts = Vec::new();
                for kv in kvs {
                    let k = exp(st, &kv.key)?;
                    let v = exp(st, &kv.value)?;
                    parts.push(format!("{k}={v}"));
                    cfg.config
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k, v);
                }
                text = format!("LABEL {}", parts.join(" "));
                created_by = format!("/bin/sh -c #(nop) {text}");
            }
            InstructionKind::Workdir(w) => {
                let w = exp(st, w)?;
                let cur = cfg.config.working_dir.clone().unwrap_or_else(|| "/".into());
                let abs = if w.starts_with('/') {
                    w.clone()
                } else {
                    format!("{}/{w}", cur.trim_end_matches('/'))
                };
                cfg.config.working_dir = Some(abs.clone());
                st.workdir_created = false;
                workdir = Some(abs);
                text = format!("WORKDIR {w}");
                created_by = format!("/bin/sh -c #(nop) {text}");
            }
            InstructionKind::User(u) => {
                let u = exp(st, u)?;
                cfg.config.user = Some(u.clone());
                text = format!("USER {u}");
                created_by = format!("/bin/sh -c #(nop) {text}");
            }
            InstructionKind::Expose(ports) => {
                let mut parts = Vec::new();
                for p in ports {
                    let p = exp(st, p)?;
                    let key = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    cfg.config
                        .exposed_ports
                        .get_or_insert_with(BTreeMap::new)
                        .insert(key, Empty {});
                    parts.push(p);
                }
                text = format!("EXPOSE {}", parts.join(" "));
                created_by = format!("/bin/sh -c #(nop) {text}");
            }
            InstructionKind::Volume(vols) => {
                for v in vols {
                    let v = exp(st, v)?;
                    cfg.config
                        .volumes
                        .get_or_insert_with(BTreeMap::new)
                        .insert(v, Empty {});
                }
            }
            InstructionKind::StopSignal(s) => {
                cfg.config.stop_signal = Some(exp(st, s)?);
            }
            InstructionKind::Cmd(f) => {
                cfg.config.cmd = Some(form_vec(f, &self.config_shell(st)));
            }
            InstructionKind::Entrypoint(f) => {
                cfg.config.entrypoint = Some(form_vec(f, &self.config_shell(st)));
            }
            InstructionKind::Shell(s) => {
                if self.opts.format != "docker" {
                    self.warn(&format!(
                        "SHELL is not supported for OCI image format, [{}] will be ignored. Must use `docker` format",
                        s.join(" ")
                    ));
                }
                st.shell = s.clone();
            }
            InstructionKind::Maintainer(m) => {
                cfg.author = Some(m.clone());
            }
            InstructionKind::Healthcheck(_) if self.opts.format != "docker" => {
                // OCI image configs have no health check (Podman drops it too).
                self.warn(
                    "HEALTHCHECK is not supported for OCI image format and will be ignored. Must use `docker` format",
                );
            }
            InstructionKind::Healthcheck(h) => {
                cfg.config.healthcheck = Some(match h {
                    Healthcheck::None => HealthConfig {
                        test: Some(vec!["NONE".into()]),
                        ..HealthConfig::default()
                    },
                    Healthcheck::Cmd {
                        command,
                        interval,
                        timeout,
                        start_period,
                        retries,
                        ..
                    } => {
                        let test = match command {
                            CommandForm::Exec(v) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(v.iter().cloned());
                                t
                            }
                            CommandForm::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        };
                        let ns = |d: &Option<std::time::Duration>| d.map(|d| d.as_nanos() as i64);
                        HealthConfig {
                            test: Some(test),
                            interval: ns(interval),
                            timeout: ns(timeout),
                            start_period: ns(start_period),
                            retries: retries.map(i64::from),
                        }
                    }
                });
            }
            InstructionKind::Onbuild(t) => {
                // Kept in docker-format configs only (as `commit --change ONBUILD`).
                if self.opts.format != "docker" {
                    self.warn(&format!(
                        "ONBUILD is not supported for OCI image format, {} will be ignored. Must use `docker` format",
                        t.original
                    ));
                }
                st.onbuild.push(t.original.clone());
                text = format!("{text}\n{}", st.onbuild.join("\n"));
            }
            InstructionKind::Run(r) => {
                run = Some(r);
                let script = match &r.command {
                    CommandForm::Exec(v) => v.join(" "),
                    CommandForm::Shell(_) => r.shell_script().unwrap_or_default(),
                };
                created_by = format!("{} {script}", st.shell.join(" "));
                // ARG values are part of the key: a changed --build-arg reruns the step.
                let args: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                text = format!("{}\n{}", ins.original, args.join("\n"));
            }
            InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                copy = Some(c);
            }
        }
        if let InstructionKind::Env(_)
        | InstructionKind::Workdir(_)
        | InstructionKind::User(_)
        | InstructionKind::Volume(_)
        | InstructionKind::StopSignal(_)
        | InstructionKind::Label(_)
        | InstructionKind::Expose(_) = &ins.kind
        {
            // Expanded values are in `text` (or the config) for the cache key.
            text = format!(
                "{text}\n{}",
                serde_json::to_string(&cfg.config).unwrap_or_default()
            );
        }
        if let InstructionKind::Shell(_) = &ins.kind {
            text = format!("{text}\n{}", st.shell.join(" "));
        }

        // COPY content is read before the cache lookup: its checksum is in the key.
        let prepared = match copy {
            Some(c) => Some(self.prepare_copy(st, ins, c)?),
            None => None,
        };
        if let Some(p) = &prepared {
            text = format!("{text}\n{}", p.checksum);
            created_by = format!(
                "/bin/sh -c #(nop) {} {}:{} in {} ",
                ins.keyword(),
                if p.is_dir { "dir" } else { "file" },
                p.checksum,
                p.dest_display
            );
        }
        let parent = st.image.clone().unwrap_or_else(|| "scratch".into());
        let key = {
            let mut h = Sha256::new();
            h.update(parent.as_bytes());
            h.update(b"\n");
            h.update(self.opts.format.as_bytes());
            h.update(b"\n");
            h.update(text.as_bytes());
            if last {
                for (k, v) in &self.opts.labels {
                    h.update(format!("\nlabel {k}={v}").as_bytes());
                }
            }
            hex::encode(h.finalize())
        };
        if self.opts.layers && !self.opts.no_cache {
            if let Some(id) = self.engine.cached_image(&key)? {
                self.say(&format!("--> Using cache {id}"));
                let img = self
                    .engine
                    .db()
                    .image(&id)?
                    .ok_or_else(|| Error::NoSuchImage(id.clone()))?;
                st.config = ImageConfig::from_slice(&img.config)
                    .map_err(|e| Error::Other(format!("image config of {id}: {e}")))?;
                st.onbuild = onbuild_of_image(self.engine, &id)?;
                st.image = Some(id.clone());
                if last {
                    if let Some(name) = self.opts.tags.first() {
                        self.say(&format!("COMMIT {name}"));
                    }
                    let id = if self.needs_post() {
                        self.post_process(&id, st)?
                    } else {
                        self.engine.tag(&id, &self.opts.tags)?;
                        id
                    };
                    self.say(&format!("--> {}", short(&id)));
                }
                return Ok(());
            }
        }
        let history_comment = st.image.as_deref().map(|p| format!("FROM {}", short(p)));
        let mut layers = self.engine.layers_of(st.image.as_deref())?;
        let mut empty_layer = true;
        if let Some(w) = &workdir {
            // WORKDIR makes its directory when the image lacks it (as Docker does).
            if let Some(layer) = self.workdir_step(st, w)? {
                layers.push(StoredLayer {
                    chain_id: layer.chain_id,
                    diff_id: layer.diff_id,
                    parent: layers.last().map(|l| l.chain_id.clone()),
                    size: layer.size,
                });
                empty_layer = false;
            }
        }
        if run.is_some() || prepared.is_some() {
            let layer = match (run, prepared) {
                (Some(r), _) => self.run_step(st, ins, r)?,
                (None, Some(p)) => self.copy_step(st, p)?,
                _ => unreachable!(),
            };
            layers.push(StoredLayer {
                chain_id: layer.chain_id,
                diff_id: layer.diff_id,
                parent: layers.last().map(|l| l.chain_id.clone()),
                size: layer.size,
            });
            empty_layer = false;
            cfg = st.config.clone();
        }
        cfg.history.push(History {
            created: Some(Utc::now()),
            created_by: Some(created_by),
            author: None,
            comment: history_comment,
            empty_layer,
        });
        self.finish(st, cfg, layers, &key, last)?;
        Ok(())
    }

    /// Creates a container of the stage's image for a step, without an entrypoint.
    fn step_container(&self, st: &StageState, spec: StepSpec) -> Result<String> {
        let StepSpec {
            command,
            env,
            user,
            volumes,
            mounts,
            network,
        } = spec;
        let image = st.image.clone().ok_or_else(|| {
            Error::InvalidArg("a RUN or COPY step needs a base image (not scratch)".into())
        })?;
        let o = CreateOptions {
            image,
            command,
            entrypoint: Some(Vec::new()),
            env,
            workdir: st
                .config
                .config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty()),
            user,
            networks: vec![match network.as_deref() {
                Some("default") | None => {
                    self.opts.network.clone().unwrap_or_else(|| "none".into())
                }
                Some(n) => n.to_string(),
            }],
            read_only_tmpfs: true,
            volumes,
            mounts,
            add_hosts: self.opts.add_hosts.clone(),
            no_hosts: self.opts.no_hosts,
            labels: BTreeMap::from([("io.berth.build".to_string(), "true".to_string())]),
            ..CreateOptions::default()
        };
        self.engine.container_create(&o)
    }

    /// Commits a step container's changes as a layer and removes the container.
    fn commit_and_remove(&self, cid: &str) -> Result<berth_storage::LayerInfo> {
        let r = (|| {
            let _storage = self.engine.storage_lock_shared()?;
            Ok::<_, Error>(self.engine.store.commit_container_layer(cid, false)?)
        })();
        let rm = self.engine.container_remove(cid, true, 0, true);
        let layer = r?;
        rm?;
        Ok(layer)
    }

    fn run_step(
        &mut self,
        st: &StageState,
        ins: &Instruction,
        r: &berth_build::Run,
    ) -> Result<berth_storage::LayerInfo> {
        let command = match &r.command {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(_) => {
                if let Some(h) = r.shebang_script() {
                    // Run through the shell: the script is its own argument.
                    let mut v = st.shell.clone();
                    v.push(format!(
                        "f=$(mktemp); cat > \"$f\" <<'BERTH_EOF'\n{}BERTH_EOF\nchmod +x \"$f\"; \"$f\"; rc=$?; rm -f \"$f\"; exit $rc",
                        h.content
                    ));
                    v
                } else {
                    let mut v = st.shell.clone();
                    v.push(r.shell_script().unwrap_or_default());
                    v
                }
            }
        };
        let mut env: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| st.lookup(k).is_some() && !env_has(&st.config, k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let user = st.config.config.user.clone().filter(|u| !u.is_empty());
        let mounts = self.run_mounts(st, ins, r)?;
        env.extend(mounts.env.iter().cloned());
        let cid = self.step_container(
            st,
            StepSpec {
                command,
                env,
                user,
                volumes: self.opts.volumes.clone(),
                mounts: mounts.mounts.clone(),
                network: r.network.clone(),
            },
        );
        let cid = match cid {
            Ok(c) => c,
            Err(e) => {
                self.release_mounts(mounts);
                return Err(e);
            }
        };
        // Mount points the runtime makes for the step are not part of its layer: the
        // outermost directory (or file) each one added is removed before the commit.
        let mut made_points = Vec::new();
        if !mounts.targets.is_empty() {
            // The image's own files (a stat through the container would see the mounts).
            let rootfs = self.engine.store.mount_container(&cid)?;
            for t in &mounts.targets {
                let Some(mut p) = inside(t) else { continue };
                let mut top = None;
                while !p.as_os_str().is_empty()
                    && std::fs::symlink_metadata(rootfs.join(&p)).is_err()
                {
                    top = Some(p.clone());
                    p.pop();
                }
                made_points.extend(top);
            }
            if self.engine.store.driver() == berth_storage::Driver::Overlay {
                let _ = self.engine.store.unmount_container(&cid);
            }
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(cid.clone());
        let code = if self.check_interrupted().is_err() {
            Ok(-1)
        } else {
            self.attach_run(&cid)
        };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.release_mounts(mounts);
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                let _ = self.engine.container_remove(&cid, true, 0, true);
                return Err(e);
            }
        };
        if code != 0 {
            let _ = self.engine.container_remove(&cid, true, 0, true);
            self.check_interrupted()?;
            return Err(Error::Exec {
                msg: format!(
                    "building at STEP \"{}\": while running runtime: exit status {code}",
                    ins.original
                ),
                code,
            });
        }
        let upper = self.engine.store.container_upper_dir(&cid);
        for m in &made_points {
            let p = upper.join(m);
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
        self.commit_and_remove(&cid)
    }

    /// Starts the container, streams its output, returns its exit code.
    fn attach_run(&mut self, cid: &str) -> Result<i32> {
        let (_, conn) = self.engine.container_start(cid, true)?;
        let conn =
            conn.ok_or_else(|| Error::Other(format!("container {cid} cannot be attached")))?;
        let mut r = std::io::BufReader::new(conn);
        loop {
            match read_frame(&mut r).ctx(|| format!("reading the output of {cid}"))? {
                None => break,
                Some((STDOUT, d)) => {
                    let _ = self.out.write_all(&d);
                    let _ = self.out.flush();
                }
                Some((STDERR, d)) => {
                    let _ = std::io::stderr().write_all(&d);
                }
                Some((EXIT, d)) => {
                    return Ok(String::from_utf8_lossy(&d).trim().parse().unwrap_or(-1));
                }
                Some(_) => {}
            }
        }
        // The monitor went away without a code: ask the engine.
        self.engine
            .container_wait(cid, &[], std::time::Duration::from_millis(100))
    }

    fn prepare_copy(
        &mut self,
        st: &StageState,
        ins: &Instruction,
        c: &Copy,
    ) -> Result<PreparedCopy> {
        let line = ins.line;
        let file = self.file().to_string();
        let exp = |w: &str| -> Result<String> {
            berth_build::expand(w, self.cf.escape, &|k: &str| st.lookup(k))
                .map_err(|e| line_err(&file, line, e))
        };
        let dest_raw = exp(&c.dest)?;
        let workdir = st
            .config
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into());
        let dest_abs = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{}/{}", workdir.trim_end_matches('/'), dest_raw)
        };
        let chmod =
            match &c.chmod {
                Some(m) => {
                    let m = exp(m)?;
                    Some(u32::from_str_radix(&m, 8).map_err(|_| {
                        line_err(&file, line, format!("invalid --chmod value {m:?}"))
                    })?)
                }
                None => None,
            };
        let chown = c.chown.as_deref().map(exp).transpose()?;
        // The source root: the context, or another stage's / image's file system.
        let mut mounted = None;
        let root = match &c.from {
            Some(f) => {
                let f = exp(f)?;
                match self.resolve_from(&f, line, &format!("COPY --from={f}"))? {
                    FromSource::Dir(dir) => SourceRoot { dir, ignore: None },
                    FromSource::Image(image) => {
                        let (id, path) = self.engine.image_mount(&image)?;
                        mounted = Some(id);
                        SourceRoot {
                            dir: path,
                            ignore: None,
                        }
                    }
                }
            }
            None => SourceRoot {
                dir: self.opts.context.clone(),
                ignore: self.ignore.as_ref(),
            },
        };
        let result = (|| -> Result<PreparedCopy> {
            let mut sources: Vec<(PathBuf, bool)> = Vec::new();
            let mut heredocs = Vec::new();
            for s in &c.sources {
                match s {
                    CopySource::Path(p) => {
                        let p = exp(p)?;
                        if (p.starts_with("http://") || p.starts_with("https://"))
                            && matches!(ins.kind, InstructionKind::Add(_))
                        {
                            let (data, _) = berth_registry::fetch_url(&p)
                                .map_err(|e| line_err(&file, line, e))?;
                            if let Some(want) = &c.checksum {
                                let want = exp(want)?;
                                let got = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
                                if want != got {
                                    return Err(line_err(
                                        &file,
                                        line,
                                        format!("ADD {p}: checksum mismatch: expected {want}, got {got}"),
                                    ));
                                }
                            }
                            let name = p
                                .split(['?', '#'])
                                .next()
                                .unwrap_or_default()
                                .rsplit('/')
                                .next()
                                .filter(|n| !n.is_empty())
                                .unwrap_or("download")
                                .to_string();
                            // Docker: a downloaded file is mode 0600.
                            heredocs.push((name, data, 0o600));
                            continue;
                        }
                        let found = root.matches(&p).map_err(|m| {
                            line_err(&file, line, format!("{}: {m}", ins.keyword()))
                        })?;
                        for rel in found {
                            let is_dir = std::fs::metadata(root.dir.join(&rel))
                                .map(|m| m.is_dir())
                                .unwrap_or(false);
                            sources.push((rel, is_dir));
                        }
                    }
                    CopySource::Heredoc(h) => {
                        let body = if h.expand {
                            berth_build::expand_heredoc(&h.content, self.cf.escape, &|k: &str| {
                                st.lookup(k)
                            })
                            .map_err(|e| line_err(&file, line, e))?
                        } else {
                            h.content.clone()
                        };
                        heredocs.push((h.name.clone(), body.into_bytes(), 0o644));
                    }
                }
            }
            let count = sources.len() + heredocs.len();
            let into_dir = dest_raw.ends_with('/')
                || count > 1
                || sources.iter().any(|(_, d)| *d)
                || dest_raw == "."
                || dest_raw.ends_with("/.");
            let mut tar = CopyTar::new(chmod);
            let is_add = matches!(ins.kind, InstructionKind::Add(_));
            for (rel, is_dir) in &sources {
                if *is_dir {
                    root.add(&mut tar, rel, Path::new(""))?;
                } else if is_add && root.ignore.is_some() && is_archive(&root.dir.join(rel)) {
                    add_archive(&mut tar, &root.dir.join(rel))?;
                } else {
                    let name = if into_dir {
                        PathBuf::from(rel.file_name().unwrap_or_default())
                    } else {
                        PathBuf::from(SINGLE)
                    };
                    root.add(&mut tar, rel, &name)?;
                }
            }
            for (name, body, mode) in &heredocs {
                let n = if into_dir {
                    PathBuf::from(name)
                } else {
                    PathBuf::from(SINGLE)
                };
                tar.data(&n, body, *mode)?;
            }
            let checksum = hex::encode(tar.hash.clone().finalize());
            let data = tar
                .builder
                .into_inner()
                .ctx(|| "building the copy archive".into())?;
            Ok(PreparedCopy {
                data,
                checksum,
                is_dir: sources.iter().any(|(_, d)| *d),
                single_name: sources
                    .first()
                    .and_then(|(r, _)| r.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .or_else(|| heredocs.first().map(|(n, _, _)| n.clone()))
                    .unwrap_or_default(),
                into_dir,
                dest: dest_abs.clone(),
                dest_display: dest_raw.clone(),
                chown: chown.clone(),
            })
        })();
        if let Some(id) = mounted {
            let _ = self.engine.image_unmount(&id, false);
        }
        result
    }

    /// The final image from the last step's: `--squash`/`--squash-all` layers,
    /// `--timestamp` times, `--annotation`s; named with the tags.
    fn post_process(&mut self, id: &str, st: &mut StageState) -> Result<String> {
        let img = self
            .engine
            .db()
            .image(id)?
            .ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
        let mut cfg = ImageConfig::from_slice(&img.config)
            .map_err(|e| Error::Other(format!("image config of {id}: {e}")))?;
        let mut layers = self.engine.layers_of(Some(id))?;
        let keep = if self.opts.squash_all {
            0
        } else if self.opts.squash {
            st.base_layers.min(layers.len())
        } else {
            layers.len()
        };
        let mtime = self.opts.timestamp.map(|t| t.max(0) as u64);
        if layers.len() - keep > 1 {
            let merged = self.merge_layers(&layers[keep..], layers[..keep].last(), mtime)?;
            layers.truncate(keep);
            layers.push(StoredLayer {
                parent: layers.last().map(|l| l.chain_id.clone()),
                chain_id: merged.chain_id,
                diff_id: merged.diff_id,
                size: merged.size,
            });
            // One history entry per layer still: the squashed ones become empty.
            let mut seen = 0;
            let last_layered = cfg.history.iter().rposition(|h| !h.empty_layer);
            for (n, h) in cfg.history.iter_mut().enumerate() {
                if !h.empty_layer {
                    seen += 1;
                    if seen > keep && Some(n) != last_layered {
                        h.empty_layer = true;
                    }
                }
            }
        } else if mtime.is_some() {
            // --timestamp: the files of the layers this build made get that time too.
            let first = st.base_layers.min(layers.len()).min(keep);
            let mut parent = layers[..first].last().cloned();
            let mut out: Vec<StoredLayer> = layers[..first].to_vec();
            for l in &layers[first..] {
                let r = self.merge_layers(std::slice::from_ref(l), parent.as_ref(), mtime)?;
                let nl = StoredLayer {
                    parent: parent.as_ref().map(|p| p.chain_id.clone()),
                    chain_id: r.chain_id,
                    diff_id: r.diff_id,
                    size: r.size,
                };
                parent = Some(nl.clone());
                out.push(nl);
            }
            layers = out;
        }
        cfg.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
        if !self.opts.annotations.is_empty() {
            // The image ID is the config's digest: a new manifest needs a new config.
            cfg.created = Some(Utc::now());
        }
        if let Some(ts) = self.opts.timestamp {
            let t = chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default();
            cfg.created = Some(t);
            for h in &mut cfg.history {
                h.created = Some(t);
                // "FROM <intermediate image>" would differ from build to build.
                if h.comment.as_deref().is_some_and(|c| c.starts_with("FROM ")) {
                    h.comment = None;
                }
            }
        }
        let chain: Vec<String> = layers.iter().map(|l| l.chain_id.clone()).collect();
        let names = self.opts.tags.clone();
        let final_id = if self.opts.format == "docker" {
            let bytes =
                crate::commit::docker_image_config(&cfg, "", "", "", st.onbuild.clone(), None)?;
            let manifest = crate::commit::docker_manifest(&bytes, &layers);
            self.engine
                .commit_image(&bytes, Some(manifest), &chain, &layers, &names)?
        } else {
            let bytes = cfg.to_json_bytes()?;
            let manifest = (!self.opts.annotations.is_empty()).then(|| {
                serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
                        "size": bytes.len(),
                    },
                    "layers": layers.iter().map(|l| serde_json::json!({
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": l.diff_id, "size": l.size,
                    })).collect::<Vec<_>>(),
                    "annotations": self.opts.annotations.iter().cloned().collect::<BTreeMap<_, _>>(),
                }))
                .unwrap_or_default()
            });
            self.engine
                .commit_image(&bytes, manifest, &chain, &layers, &names)?
        };
        st.image = Some(final_id.clone());
        st.config = cfg;
        Ok(final_id)
    }

    /// One layer with the changes of `layers` (bottom to top), on top of `parent`.
    /// With `mtime`, every entry gets that modification time (`--timestamp`).
    fn merge_layers(
        &self,
        layers: &[StoredLayer],
        parent: Option<&StoredLayer>,
        mtime: Option<u64>,
    ) -> Result<berth_storage::LayerInfo> {
        use std::io::Read;
        struct Entry {
            header: tar::Header,
            link: Option<PathBuf>,
            data: Vec<u8>,
        }
        let mut tree: BTreeMap<PathBuf, Entry> = BTreeMap::new();
        let under = |tree: &mut BTreeMap<PathBuf, Entry>, dir: &Path| {
            tree.retain(|k, _| !(k.starts_with(dir) && k != dir));
        };
        for l in layers {
            let stream = self.engine.store.layer_tar(&l.chain_id)?;
            let mut a = tar::Archive::new(stream);
            for e in a
                .entries()
                .ctx(|| format!("reading layer {}", l.chain_id))?
            {
                let mut e = e.ctx(|| format!("reading layer {}", l.chain_id))?;
                let raw = e.path().ctx(|| "reading a layer".into())?.into_owned();
                let Some(path) = inside(&raw.to_string_lossy()) else {
                    continue;
                };
                if path.as_os_str().is_empty() {
                    continue;
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                if name == ".wh..wh..opq" {
                    under(&mut tree, &dir);
                } else if let Some(gone) = name.strip_prefix(".wh.") {
                    let target = dir.join(gone);
                    tree.remove(&target);
                    under(&mut tree, &target);
                } else {
                    tree.remove(&dir.join(format!(".wh.{name}")));
                    if e.header().entry_type() != tar::EntryType::Directory {
                        under(&mut tree, &path);
                    }
                }
                let link = e
                    .link_name()
                    .ctx(|| "reading a layer".into())?
                    .map(|p| p.into_owned());
                let mut data = Vec::new();
                e.read_to_end(&mut data).ctx(|| "reading a layer".into())?;
                tree.insert(
                    path,
                    Entry {
                        header: {
                            let mut h = e.header().clone();
                            if let Some(t) = mtime {
                                h.set_mtime(t);
                                if let Some(g) = h.as_gnu_mut() {
                                    g.set_atime(t);
                                    g.set_ctime(t);
                                }
                            }
                            h
                        },
                        link,
                        data,
                    },
                );
            }
        }
        let tmp = self.temp_path("squash")?;
        let file = std::fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let r = (|| -> Result<berth_storage::LayerInfo> {
            let mut b = tar::Builder::new(std::io::BufWriter::new(file));
            for (path, mut e) in tree {
                match (e.header.entry_type(), &e.link) {
                    (tar::EntryType::Symlink | tar::EntryType::Link, Some(t)) => {
                        b.append_link(&mut e.header, &path, t)
                    }
                    _ => b.append_data(&mut e.header, &path, e.data.as_slice()),
                }
                .ctx(|| format!("squashing {}", path.display()))?;
            }
            b.into_inner()
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .ctx(|| "writing the squashed layer".into())?;
            let f = std::fs::File::open(&tmp).ctx(|| format!("opening {}", tmp.display()))?;
            let _storage = self.engine.storage_lock_shared()?;
            Ok(self.engine.store.apply_layer(
                parent.map(|p| p.chain_id.as_str()),
                std::io::BufReader::new(f),
                None,
            )?)
        })();
        let _ = std::fs::remove_file(&tmp);
        r
    }

    /// A layer holding `dir` (and its missing parents), or None when the image has it.
    fn workdir_step(
        &mut self,
        st: &StageState,
        dir: &str,
    ) -> Result<Option<berth_storage::LayerInfo>> {
        if st.image.is_none() {
            return Ok(None);
        }
        let cid = self.step_container(
            st,
            StepSpec {
                command: vec!["/".into()],
                user: Some("0:0".into()),
                ..StepSpec::default()
            },
        )?;
        let exists = self.engine.container_copy_stat(&cid, dir);
        let _ = self.engine.container_remove(&cid, true, 0, true);
        if exists?.is_some() {
            return Ok(None);
        }
        let empty = tar::Builder::new(Vec::new())
            .into_inner()
            .ctx(|| "building the copy archive".into())?;
        let p = PreparedCopy {
            data: empty,
            checksum: String::new(),
            is_dir: true,
            single_name: String::new(),
            into_dir: true,
            dest: format!("{}/", dir.trim_end_matches('/')),
            dest_display: dir.to_string(),
            chown: None,
        };
        self.copy_step(st, p).map(Some)
    }

    fn copy_step(&mut self, st: &StageState, p: PreparedCopy) -> Result<berth_storage::LayerInfo> {
        let user = Some(p.chown.clone().unwrap_or_else(|| "0:0".into()));
        let cid = self.step_container(
            st,
            StepSpec {
                command: vec!["/".into()],
                user,
                ..StepSpec::default()
            },
        )?;
        let r = (|| -> Result<()> {
            // The directory the entries go to, and the file name for a single file.
            let (dir, name) = if p.into_dir {
                (p.dest.trim_end_matches('/').to_string(), None)
            } else {
                match self.engine.container_copy_stat(&cid, &p.dest)? {
                    Some(s) if s.is_dir => (p.dest.clone(), None),
                    _ => {
                        let path = Path::new(&p.dest);
                        let parent = path
                            .parent()
                            .map(|x| x.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "/".into());
                        let name = path
                            .file_name()
                            .map(|x| x.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        (parent, Some(name))
                    }
                }
            };
            let dir = if dir.is_empty() { "/".to_string() } else { dir };
            // Create missing directories: extract from the deepest existing ancestor.
            let mut base = PathBuf::from(&dir);
            let mut missing: Vec<String> = Vec::new();
            while self
                .engine
                .container_copy_stat(&cid, &base.to_string_lossy())?
                .is_none()
            {
                missing.push(
                    base.file_name()
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
                if !base.pop() {
                    break;
                }
            }
            missing.reverse();
            let prefix: PathBuf = missing.iter().collect();
            let mut out = tar::Builder::new(Vec::new());
            let mut acc = PathBuf::new();
            for m in &missing {
                acc.push(m);
                let mut h = tar::Header::new_gnu();
                h.set_uid(0);
                h.set_gid(0);
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                out.append_data(&mut h, &acc, std::io::empty())
                    .ctx(|| "building the copy archive".into())?;
            }
            let mut input = tar::Archive::new(p.data.as_slice());
            for e in input.entries().ctx(|| "reading the copy archive".into())? {
                let mut e = e.ctx(|| "reading the copy archive".into())?;
                let mut h = e.header().clone();
                let rel = e
                    .path()
                    .ctx(|| "reading the copy archive".into())?
                    .into_owned();
                let mut path = prefix.clone();
                match &name {
                    _ if rel != Path::new(SINGLE) => path.push(rel),
                    Some(n) => path.push(n),
                    None => path.push(&p.single_name),
                }
                if path.as_os_str().is_empty() {
                    continue;
                }
                if h.entry_type() == tar::EntryType::Symlink {
                    let target = e
                        .link_name()
                        .ctx(|| "reading the copy archive".into())?
                        .map(|t| t.into_owned())
                        .unwrap_or_default();
                    out.append_link(&mut h, &path, &target)
                        .ctx(|| "building the copy archive".into())?;
                } else {
                    out.append_data(&mut h, &path, &mut e)
                        .ctx(|| "building the copy archive".into())?;
                }
            }
            let data = out
                .into_inner()
                .ctx(|| "building the copy archive".into())?;
            let opts = crate::copy::CopyInOptions {
                archive: true,
                overwrite: true,
            };
            self.engine.container_copy_in(
                &cid,
                &base.to_string_lossy(),
                &mut data.as_slice(),
                &opts,
            )
        })();
        if let Err(e) = r {
            let _ = self.engine.container_remove(&cid, true, 0, true);
            return Err(e);
        }
        self.commit_and_remove(&cid)
    }
}

impl Builder<'_> {
    /// What `from=NAME` names: a `--build-context`, a stage built before, or an image.
    fn resolve_from(&self, name: &str, line: usize, what: &str) -> Result<FromSource> {
        if let Some(dir) = self.opts.build_contexts.get(name) {
            return Ok(FromSource::Dir(dir.clone()));
        }
        if let Some(i) = self.cf.resolve_stage(name, usize::MAX) {
            return self
                .stage_images
                .get(&i)
                .cloned()
                .map(FromSource::Image)
                .ok_or_else(|| {
                    line_err(
                        self.file(),
                        line,
                        format!("stage {name:?} is not built before this one"),
                    )
                });
        }
        if !self.engine.image_exists(name)? {
            return Err(line_err(
                self.file(),
                line,
                format!("{what}: no stage or image with that name"),
            ));
        }
        Ok(FromSource::Image(self.engine.lookup_image(name)?.id))
    }

    /// The host side of a RUN step's `--mount`s.
    fn run_mounts(
        &self,
        st: &StageState,
        ins: &Instruction,
        r: &berth_build::Run,
    ) -> Result<RunMounts> {
        use berth_build::{CacheSharing, Mount, MountType};
        let file = self.file().to_string();
        let line = ins.line;
        let mut out = RunMounts::default();
        let res = (|| -> Result<()> {
            for m in &r.mounts {
                let m = if m.needs_expansion() {
                    let spec =
                        berth_build::expand(&m.spec, self.cf.escape, &|k: &str| st.lookup(k))
                            .map_err(|e| line_err(&file, line, e))?;
                    Mount::parse(&spec).map_err(|e| line_err(&file, line, e))?
                } else {
                    m.clone()
                };
                let ro = if m.readonly { ",ro" } else { "" };
                match m.kind {
                    MountType::Tmpfs => {
                        let size = m
                            .size
                            .map(|s| format!(",tmpfs-size={s}"))
                            .unwrap_or_default();
                        out.mounts
                            .push(format!("type=tmpfs,dst={}{size}", m.target));
                    }
                    MountType::Ssh => {}
                    MountType::Cache => {
                        let id = m.id.clone().unwrap_or_else(|| m.target.clone());
                        let caches = self.engine.cfg.root.join("build-cache");
                        let key = hex::encode(Sha256::digest(id.as_bytes()));
                        let mut dir = caches.join(&key);
                        let lock_name = format!("{key}.locked");
                        match m.sharing {
                            CacheSharing::Locked => {
                                std::fs::create_dir_all(&caches)
                                    .ctx(|| format!("creating {}", caches.display()))?;
                                out.locks
                                    .push(crate::lock::Lock::acquire(&caches, &lock_name)?);
                            }
                            CacheSharing::Private => {
                                // In use by another build: this one gets a fresh cache.
                                std::fs::create_dir_all(&caches)
                                    .ctx(|| format!("creating {}", caches.display()))?;
                                let path = caches.join(format!("{lock_name}.lock"));
                                let f = std::fs::File::options()
                                    .create(true)
                                    .truncate(false)
                                    .write(true)
                                    .open(&path)
                                    .ctx(|| format!("opening lock {}", path.display()))?;
                                if f.try_lock().is_ok() {
                                    out.files.push(f);
                                } else {
                                    dir = self.temp_path("cache")?;
                                    out.temp.push(dir.clone());
                                }
                            }
                            CacheSharing::Shared => {}
                        }
                        if !dir.exists() {
                            std::fs::create_dir_all(&dir)
                                .ctx(|| format!("creating cache {}", dir.display()))?;
                            // `from=`: a new cache starts as a copy of that directory.
                            if let Some(f) = &m.from {
                                let root = match self.resolve_from(
                                    f,
                                    line,
                                    &format!("--mount from={f}"),
                                )? {
                                    FromSource::Dir(d) => d,
                                    FromSource::Image(id) => {
                                        let (mid, path) = self.engine.image_mount(&id)?;
                                        out.images.push(mid);
                                        path
                                    }
                                };
                                let seed = root.join(
                                    inside(m.source.as_deref().unwrap_or(".")).unwrap_or_default(),
                                );
                                let status = std::process::Command::new("cp")
                                    .arg("-a")
                                    .arg(format!("{}/.", seed.display()))
                                    .arg(&dir)
                                    .status()
                                    .ctx(|| format!("copying {}", seed.display()))?;
                                if !status.success() {
                                    return Err(line_err(
                                        &file,
                                        line,
                                        format!(
                                            "--mount from={f}: copying {} failed",
                                            seed.display()
                                        ),
                                    ));
                                }
                            }
                            use std::os::unix::fs::PermissionsExt;
                            let mode = m.mode.unwrap_or(0o755);
                            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                                .ctx(|| format!("creating cache {}", dir.display()))?;
                            if m.uid.is_some() || m.gid.is_some() {
                                std::os::unix::fs::chown(&dir, m.uid, m.gid)
                                    .ctx(|| format!("creating cache {}", dir.display()))?;
                            }
                        }
                        // `source=` is a path in the cache, unless it names one in `from`.
                        let src = match (&m.source, &m.from) {
                            (Some(s), None) => dir.join(inside(s).unwrap_or_default()),
                            _ => dir,
                        };
                        std::fs::create_dir_all(&src)
                            .ctx(|| format!("creating cache {}", src.display()))?;
                        out.mounts.push(format!(
                            "type=bind,src={},dst={}{ro}",
                            src.display(),
                            m.target
                        ));
                    }
                    MountType::Bind => {
                        let root = match &m.from {
                            Some(f) => {
                                match self.resolve_from(f, line, &format!("--mount from={f}"))? {
                                    FromSource::Dir(d) => d,
                                    FromSource::Image(id) => {
                                        let (mid, path) = self.engine.image_mount(&id)?;
                                        out.images.push(mid);
                                        path
                                    }
                                }
                            }
                            None => self.opts.context.clone(),
                        };
                        let rel = inside(m.source.as_deref().unwrap_or(".")).ok_or_else(|| {
                            line_err(&file, line, "forbidden path outside the build context")
                        })?;
                        let src = root.join(rel);
                        if std::fs::symlink_metadata(&src).is_err() {
                            return Err(line_err(
                                &file,
                                line,
                                format!(
                                    "--mount source {:?}: no such file or directory",
                                    m.source.as_deref().unwrap_or(".")
                                ),
                            ));
                        }
                        // Writes to an rw bind are discarded: the step sees a copy.
                        let src = if m.readonly {
                            src
                        } else {
                            let tmp = self.temp_path("bind")?;
                            let status = std::process::Command::new("cp")
                                .arg("-a")
                                .arg(&src)
                                .arg(&tmp)
                                .status()
                                .ctx(|| format!("copying {}", src.display()))?;
                            out.temp.push(tmp.clone());
                            if !status.success() {
                                return Err(Error::Other(format!(
                                    "copying {} failed",
                                    src.display()
                                )));
                            }
                            tmp
                        };
                        out.mounts.push(format!(
                            "type=bind,src={},dst={}{ro}",
                            src.display(),
                            m.target
                        ));
                    }
                    MountType::Secret => {
                        let id = m.id.clone().unwrap_or_default();
                        let Some(data) = self.opts.secrets.get(&id) else {
                            if m.required {
                                return Err(line_err(&file, line, format!("secret {id:?} is required but was not given (--secret id={id},src=PATH)")));
                            }
                            continue;
                        };
                        if let Some(var) = &m.env {
                            out.env
                                .push(format!("{var}={}", String::from_utf8_lossy(data)));
                            if !m.spec.contains("target=")
                                && !m.spec.contains("dst=")
                                && !m.spec.contains("destination=")
                            {
                                continue;
                            }
                        }
                        let tmp = self.temp_path("secret")?;
                        std::fs::write(&tmp, data).ctx(|| format!("writing {}", tmp.display()))?;
                        out.temp.push(tmp.clone());
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(
                            &tmp,
                            std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
                        )
                        .ctx(|| format!("writing {}", tmp.display()))?;
                        std::os::unix::fs::chown(
                            &tmp,
                            Some(m.uid.unwrap_or(0)),
                            Some(m.gid.unwrap_or(0)),
                        )
                        .ctx(|| format!("writing {}", tmp.display()))?;
                        out.mounts.push(format!(
                            "type=bind,src={},dst={},ro",
                            tmp.display(),
                            m.target
                        ));
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            self.release_mounts(out);
            return Err(e);
        }
        out.targets = out
            .mounts
            .iter()
            .filter_map(|m| m.split(',').find_map(|f| f.strip_prefix("dst=")))
            .map(str::to_string)
            .collect();
        Ok(out)
    }

    fn release_mounts(&self, m: RunMounts) {
        for id in &m.images {
            let _ = self.engine.image_unmount(id, false);
        }
        for t in &m.temp {
            let _ = std::fs::remove_dir_all(t).or_else(|_| std::fs::remove_file(t));
        }
        drop(m.locks);
        drop(m.files);
    }

    /// A fresh path under the storage's tmp directory (not created).
    fn temp_path(&self, what: &str) -> Result<PathBuf> {
        let mut rnd = [0u8; 8];
        getrandom_fill(&mut rnd);
        Ok(self
            .engine
            .cfg
            .root
            .join("tmp")
            .join(format!("build-{what}-{}", hex::encode(rnd))))
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> (i * 8)) as u8;
        }
    }
}

/// A directory removed (with its contents) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir> {
        let mut rnd = [0u8; 8];
        getrandom_fill(&mut rnd);
        let p = std::env::temp_dir().join(format!("{prefix}-{}", hex::encode(rnd)));
        std::fs::create_dir_all(&p).ctx(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Extracts a (plain or gzip) tar build context into `dir`; `false` when `data` is not
/// a tar archive.
pub fn unpack_context(data: &[u8], dir: &Path) -> Result<bool> {
    let is_gzip = data.starts_with(&[0x1f, 0x8b]);
    if !(is_gzip || data.len() >= 262 && &data[257..262] == b"ustar") {
        return Ok(false);
    }
    let raw: Box<dyn std::io::Read> = if is_gzip {
        Box::new(flate2::read::GzDecoder::new(data))
    } else {
        Box::new(data)
    };
    tar::Archive::new(raw)
        .unpack(dir)
        .ctx(|| "extracting the build context from standard input".into())?;
    Ok(true)
}

/// The ONBUILD triggers in an image's (docker-format) config.
fn onbuild_of_image(engine: &LocalEngine, id: &str) -> Result<Vec<String>> {
    let img = engine
        .db()
        .image(id)?
        .ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&img.config).unwrap_or_default();
    Ok(v["config"]["OnBuild"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// The tar name of a single file source until its destination name is known.
const SINGLE: &str = ".berth-single-source";

struct PreparedCopy {
    data: Vec<u8>,
    checksum: String,
    is_dir: bool,
    /// The name a single file source keeps when the destination is a directory.
    single_name: String,
    into_dir: bool,
    dest: String,
    dest_display: String,
    chown: Option<String>,
}

fn env_has(cfg: &ImageConfig, key: &str) -> bool {
    cfg.config
        .env
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|e| e.split_once('=').map(|(k, _)| k) == Some(key))
}

/// A local tar archive (plain or gzip) that ADD extracts.
fn is_archive(path: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut buf).unwrap_or(0);
    (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) || (n >= 262 && &buf[257..262] == b"ustar")
}

fn add_archive(tar: &mut CopyTar, path: &Path) -> Result<()> {
    use std::io::Read;
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .ctx(|| format!("reading {}", path.display()))?;
    let data = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut d = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut d)
            .ctx(|| format!("decompressing {}", path.display()))?;
        d
    } else {
        raw
    };
    let mut a = tar::Archive::new(data.as_slice());
    for e in a.entries().ctx(|| format!("reading {}", path.display()))? {
        let mut e = e.ctx(|| format!("reading {}", path.display()))?;
        let rel = e
            .path()
            .ctx(|| format!("reading {}", path.display()))?
            .into_owned();
        let Some(rel) = inside(&rel.to_string_lossy()) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let mut h = e.header().clone();
        tar.hash.update(format!("a {}\n", rel.display()));
        match h.entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = e
                    .link_name()
                    .ctx(|| format!("reading {}", path.display()))?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                tar.builder
                    .append_link(&mut h, &rel, &target)
                    .ctx(|| format!("adding {}", rel.display()))?;
            }
            _ => {
                let mut body = Vec::new();
                e.read_to_end(&mut body)
                    .ctx(|| format!("reading {}", path.display()))?;
                tar.hash.update(&body);
                tar.builder
                    .append_data(&mut h, &rel, body.as_slice())
                    .ctx(|| format!("adding {}", rel.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.txt", b"a.txt"));
        assert!(!wildcard(b"*.txt", b"a.txb"));
        assert!(wildcard(b"f?le[0-9]", b"file7"));
        assert!(!wildcard(b"[!a]x", b"ax"));
    }

    #[test]
    fn paths_outside_the_root_are_refused() {
        assert_eq!(inside("a/../b"), Some(PathBuf::from("b")));
        assert_eq!(inside("../x"), None);
        assert_eq!(inside("/etc/../.."), None);
    }
}
