//! `pull`: an image from a registry into local storage. The manifest (chosen from an
//! index for the requested platform), the config and every layer are verified against
//! their digests; layers already stored are not fetched again; nothing is recorded
//! unless everything arrived whole.

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use berth_registry::{Client, ClientOptions, Credentials, Manifest};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const SCHEMA1_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
];

/// How many layers download at once by default (containers/image's).
pub const PARALLEL_DOWNLOADS: usize = 6;

/// How many layers copy at once: containers.conf's `image_parallel_copies`, else 6.
fn parallel_copies() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        berth_image::containers_conf::image_parallel_copies().unwrap_or(PARALLEL_DOWNLOADS)
    })
}

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// None: as registries.conf says (secure unless the registry is marked insecure).
    pub tls_verify: Option<bool>,
    /// `--authfile`: credentials from this file only (else auth.json's default places).
    pub authfile: Option<PathBuf>,
    pub credentials: Option<Credentials>,
    pub cert_dir: Option<PathBuf>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
    pub retries: u32,
    /// push: compress layers with zstd instead of gzip.
    pub zstd: bool,
    /// `--signature-policy`: this policy.json instead of the default ones.
    pub signature_policy: Option<PathBuf>,
    /// `--pull newer`: nothing to fetch when the stored image has the registry's manifest.
    pub only_if_newer: bool,
}

/// What a pull reports as it goes (the CLI prints these like Podman does).
#[derive(Debug, Clone)]
pub enum PullEvent {
    Trying(String),
    /// A blob is being copied (digest, size) or was already there.
    CopyingBlob {
        digest: String,
        size: u64,
        skipped: bool,
    },
    /// Bytes of a blob received so far (reported a few times a second while streaming).
    Progress {
        digest: String,
        done: u64,
        total: u64,
    },
    CopyingConfig(String),
    WritingManifest,
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io(what.to_string(), e)
}

fn registry_err(e: berth_registry::RegistryError) -> Error {
    Error::Other(e.to_string())
}

/// The platform we run containers for, as Go names it.
fn host_platform(o: &PullOptions) -> (String, String, Option<String>) {
    let arch = o
        .arch
        .clone()
        .unwrap_or_else(|| berth_oci::seccomp::go_arch().to_string());
    let variant = o
        .variant
        .clone()
        .or_else(|| (arch == "arm64").then(|| "v8".to_string()));
    (
        o.os.clone().unwrap_or_else(|| "linux".into()),
        arch,
        variant,
    )
}

/// Picks the manifest for our platform from an index.
fn choose_from_index(index: &Value, o: &PullOptions, name: &str) -> Result<String> {
    let (os, arch, variant) = host_platform(o);
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let mut fallback = None;
    for m in &manifests {
        let p = &m["platform"];
        if p["os"].as_str() != Some(os.as_str())
            || p["architecture"].as_str() != Some(arch.as_str())
        {
            continue;
        }
        let digest = m["digest"].as_str().unwrap_or_default().to_string();
        match (&variant, p["variant"].as_str()) {
            (Some(v), Some(pv)) if v == pv => return Ok(digest),
            (None, None) => return Ok(digest),
            _ => {
                fallback.get_or_insert(digest);
            }
        }
    }
    fallback.ok_or_else(|| {
        Error::Other(format!(
            "choosing an image from manifest list {name}: no image found in manifest list for architecture {arch}, variant {:?}, OS {os}",
            variant.unwrap_or_default()
        ))
    })
}

/// A reader that hashes what passes through and counts it.
struct Verify<R> {
    inner: R,
    hasher: Sha256,
    n: u64,
    /// Bytes read so far, for progress reports.
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl<R: Read> Read for Verify<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        if let Some(p) = &self.progress {
            p.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// A reader that checks, when its stream ends, that what passed through has the expected
/// digest and size, and fails the read otherwise: a consumer applying a layer as it
/// streams then fails too, and keeps nothing.
struct VerifyAtEnd<R> {
    inner: Verify<R>,
    digest: String,
    size: Option<u64>,
}

impl<R: Read> Read for VerifyAtEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let got = format!(
                "sha256:{}",
                hex::encode(self.inner.hasher.clone().finalize())
            );
            if got != self.digest {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "digest mismatch: the registry sent content with digest {got} for blob {}",
                        self.digest
                    ),
                ));
            }
            if let Some(s) = self.size.filter(|s| *s != self.inner.n) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "size mismatch for blob {}: expected {s} bytes, got {}",
                        self.digest, self.inner.n
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Downloads blob `digest` to `dest`, checking its digest (and size when known).
fn fetch_blob(
    client: &Client,
    repo: &str,
    digest: &str,
    size: Option<u64>,
    dest: &Path,
) -> Result<()> {
    let (body, _) = client.get_blob(repo, digest).map_err(registry_err)?;
    let mut v = Verify {
        inner: body,
        hasher: Sha256::new(),
        n: 0,
        progress: None,
    };
    let mut f = std::fs::File::create(dest).map_err(io_err("creating a download file"))?;
    let what = format!("fetching blob {digest}");
    std::io::copy(&mut v, &mut f).map_err(io_err(&what))?;
    f.flush().map_err(io_err(&what))?;
    let got = format!("sha256:{}", hex::encode(v.hasher.finalize()));
    if got != digest {
        return Err(Error::Other(format!(
            "fetching blob {digest}: digest mismatch: the registry sent content with digest {got}"
        )));
    }
    if let Some(s) = size {
        if s != v.n {
            return Err(Error::Other(format!(
                "fetching blob {digest}: size mismatch: expected {s} bytes, got {}",
                v.n
            )));
        }
    }
    Ok(())
}

impl LocalEngine {
    /// When `reference` is a short name that should be chosen on a terminal (several
    /// candidates, a mode that prompts, `tty`): the short name and its candidates.
    pub fn short_name_choice(
        &self,
        reference: &str,
        tty: bool,
    ) -> Result<Option<(String, Vec<String>)>> {
        let regs = berth_image::registries::RegistriesConfig::load()?;
        let r = regs.resolve_short_name(reference, tty)?;
        if !r.needs_prompt {
            return Ok(None);
        }
        Ok(Some((
            r.short_name.unwrap_or_else(|| reference.to_string()),
            r.candidates.iter().map(|c| c.to_string()).collect(),
        )))
    }

    /// Records `short_name` -> `repository` in the machine-written aliases file, as
    /// Podman does after a choice on the terminal was pulled.
    pub fn record_short_name_alias(&self, short_name: &str, repository: &str) -> Result<()> {
        let paths = berth_image::registries::RegistriesPaths::from_env();
        let file = paths
            .short_name_aliases
            .unwrap_or_else(berth_image::registries::default_short_name_aliases_path);
        Ok(berth_image::registries::add_short_name_alias(
            &file, short_name, repository,
        )?)
    }

    /// Pulls `reference` as Podman resolves it: a fully qualified name, `docker://...`, or
    /// a short name tried through registries.conf (aliases, unqualified-search registries,
    /// short-name mode); each candidate's registry may be blocked, rewritten, mirrored or
    /// insecure there, and policy.json must accept it. Returns the image ID.
    pub fn pull(
        &self,
        reference: &str,
        o: &PullOptions,
        events: &mut dyn FnMut(PullEvent),
    ) -> Result<String> {
        let regs = berth_image::registries::RegistriesConfig::load()?;
        let tty = crate::pull::is_tty(0) && crate::pull::is_tty(1);
        let resolution = regs.resolve_short_name(reference, tty)?;
        if resolution.needs_prompt {
            return Err(Error::InvalidArg(format!(
                "{reference}: the short name matches several registries ({}) and berth cannot prompt yet: use a fully qualified name",
                resolution
                    .candidates
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if resolution.candidates.is_empty() {
            return Err(Error::InvalidArg(format!(
                "{reference}: short-name resolution found no registry to try: add unqualified-search-registries to registries.conf or use a fully qualified name"
            )));
        }
        // No policy.json at all (no containers-common installed): accept, as berth's
        // own default; a policy that exists is always honoured.
        let policy = match berth_image::policy::Policy::load(o.signature_policy.as_deref()) {
            Ok(p) => p,
            Err(e) if e.to_string().contains("no policy.json file found") => {
                berth_image::policy::Policy::permissive()
            }
            Err(e) => return Err(e.into()),
        };
        let mut errors = Vec::new();
        for cand in &resolution.candidates {
            let cand = cand.clone().with_default_tag();
            match self.pull_candidate(&regs, &policy, &cand, o, events) {
                Ok(id) => return Ok(id),
                Err(e) => errors.push((cand.to_string(), e)),
            }
        }
        if errors.len() == 1 {
            return Err(errors.remove(0).1);
        }
        let lines: Vec<String> = errors.iter().map(|(c, e)| format!("{c}: {e}")).collect();
        Err(Error::Other(berth_image::registries::format_pull_errors(
            &lines,
        )))
    }

    /// One fully qualified candidate: from its mirrors first, then its registry.
    fn pull_candidate(
        &self,
        regs: &berth_image::registries::RegistriesConfig,
        policy: &berth_image::policy::Policy,
        cand: &berth_image::Reference,
        o: &PullOptions,
        events: &mut dyn FnMut(PullEvent),
    ) -> Result<String> {
        regs.check_blocked(&cand.repository())?;
        policy.evaluate_docker(cand).into_result()?;
        let name = cand.to_string();
        events(PullEvent::Trying(name.clone()));
        let credentials = match &o.credentials {
            Some(c) => Some(c.clone()),
            None => berth_image::auth::get_credentials(
                &berth_image::auth::credentials_key(cand),
                o.authfile.as_deref(),
                &regs.credential_helpers,
            )?
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c.identity_token.is_empty() {
                    Credentials {
                        username: c.username,
                        password: c.password,
                    }
                } else {
                    Credentials {
                        username: "<token>".into(),
                        password: c.identity_token,
                    }
                }
            }),
        };
        let mut last = None;
        for src in regs.pull_sources(cand)? {
            let opts = ClientOptions {
                tls_verify: o.tls_verify.unwrap_or(!src.insecure),
                cert_dirs: berth_registry::default_cert_dirs(),
                cert_dir: o.cert_dir.clone(),
                credentials: credentials.clone(),
                user_agent: String::new(),
            };
            let mut from = src.reference.clone();
            from.domain = src.endpoint_host_port.clone();
            from.path = src.repository_path.clone();
            match self.pull_source(&opts, &from, &name, o, events) {
                Ok(id) => return Ok(id),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Other(format!("{name}: no source to pull from"))))
    }

    /// Pulls `r` (a registry endpoint and repository) and records it as `name`.
    fn pull_source(
        &self,
        opts: &ClientOptions,
        r: &berth_image::Reference,
        name: &str,
        o: &PullOptions,
        events: &mut dyn FnMut(PullEvent),
    ) -> Result<String> {
        let client = Client::new(&r.domain, opts).map_err(registry_err)?;
        let name = name.to_string();
        let repo = r.path.clone();
        let wanted = r
            .digest
            .clone()
            .or_else(|| r.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let mut manifest = client.get_manifest(&repo, &wanted).map_err(registry_err)?;
        if INDEX_TYPES.contains(&manifest.media_type.as_str()) || is_index(&manifest) {
            let index: Value = serde_json::from_slice(&manifest.bytes)
                .map_err(|e| Error::Other(format!("parsing manifest list of {name}: {e}")))?;
            let digest = choose_from_index(&index, o, &name)?;
            manifest = client.get_manifest(&repo, &digest).map_err(registry_err)?;
        }
        // `--pull newer`: the image stored under this name already has this manifest.
        if o.only_if_newer {
            if let Ok(local) = self.lookup_image(&name) {
                if local.digest == manifest.digest {
                    return Ok(local.id);
                }
            }
        }
        if SCHEMA1_TYPES.contains(&manifest.media_type.as_str()) {
            return Err(Error::Other(format!(
                "{name}: Docker schema 1 images are not supported (deprecated since 2017): push the image again with a current client"
            )));
        }
        let m: Value = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| Error::Other(format!("parsing manifest of {name}: {e}")))?;
        if m["schemaVersion"].as_i64() == Some(1) {
            return Err(Error::Other(format!(
                "{name}: Docker schema 1 images are not supported (deprecated since 2017): push the image again with a current client"
            )));
        }
        let config_digest = m["config"]["digest"]
            .as_str()
            .ok_or_else(|| Error::Other(format!("manifest of {name} has no config")))?
            .to_string();
        let layers: Vec<(String, Option<u64>, String)> = m["layers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|l| {
                (
                    l["digest"].as_str().unwrap_or_default().to_string(),
                    l["size"].as_u64(),
                    l["mediaType"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for (d, _, _) in &layers {
            if d.is_empty() {
                return Err(Error::Other(format!(
                    "manifest of {name} has a layer without a digest"
                )));
            }
        }
        let work = self.tmpdir("pull")?;
        let result = self.pull_into(
            &client,
            &repo,
            &name,
            &manifest,
            &config_digest,
            &layers,
            &work,
            events,
        );
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn pull_into(
        &self,
        client: &Client,
        repo: &str,
        name: &str,
        manifest: &Manifest,
        config_digest: &str,
        layers: &[(String, Option<u64>, String)],
        work: &Path,
        events: &mut dyn FnMut(PullEvent),
    ) -> Result<String> {
        let config_path = work.join("config");
        fetch_blob(client, repo, config_digest, None, &config_path)?;
        let config_bytes = std::fs::read(&config_path).ctx(|| "reading the image config".into())?;
        let config: Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::Other(format!("parsing the config of {name}: {e}")))?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        if diff_ids.len() != layers.len() {
            return Err(Error::Other(format!(
                "{name}: the manifest has {} layers but the config {} diff IDs",
                layers.len(),
                diff_ids.len()
            )));
        }
        let chain = crate::images::chain_ids(&diff_ids);
        // Which layers must be fetched: those whose chain ID is not stored yet.
        let missing: Vec<usize> = (0..layers.len())
            .filter(|&i| {
                !(self.store.has_layer(&chain[i])
                    && self.db().layer_size(&chain[i]).ok().flatten().is_some())
            })
            .collect();
        for (i, (d, size, _)) in layers.iter().enumerate() {
            events(PullEvent::CopyingBlob {
                digest: d.clone(),
                size: size.unwrap_or(0),
                skipped: !missing.contains(&i),
            });
        }
        // Held until the image is recorded, so that no `rmi` removes a layer meanwhile.
        let _storage = self.storage_lock_shared()?;
        let infos = if matches!(self.store.driver(), berth_storage::Driver::Overlay) {
            self.stream_layers(client, repo, layers, &diff_ids, &chain, &missing, events)?
        } else {
            self.download_then_apply(client, repo, layers, &diff_ids, &missing, work)?
        };
        events(PullEvent::CopyingConfig(config_digest.to_string()));
        events(PullEvent::WritingManifest);
        let chain: Vec<String> = infos.iter().map(|l| l.chain_id.clone()).collect();
        let names: Vec<String> = if name.contains('@') {
            Vec::new()
        } else {
            vec![name.to_string()]
        };
        self.commit_image(
            &config_bytes,
            Some(manifest.bytes.clone()),
            &chain,
            &infos,
            &names,
        )
    }
}

/// Runs `job` for each of `items`, up to `parallel_copies()` at a time; the first error.
pub(crate) fn in_parallel<T: Send>(
    items: &[usize],
    job: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<(usize, T)>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: std::sync::Mutex<Vec<(usize, T)>> = std::sync::Mutex::new(Vec::new());
    let errors: std::sync::Mutex<Vec<Error>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..items.len().min(parallel_copies()) {
            s.spawn(|| loop {
                if !errors.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                    break;
                }
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = items.get(k) else { break };
                match job(i) {
                    Ok(v) => out.lock().unwrap_or_else(|e| e.into_inner()).push((i, v)),
                    Err(e) => errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
                }
            });
        }
    });
    let first_error = errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .next();
    match first_error {
        Some(e) => Err(e),
        None => Ok(out.into_inner().unwrap_or_else(|e| e.into_inner())),
    }
}

impl LocalEngine {
    /// Overlay: each missing layer streams from the registry straight into the layer
    /// store (gunzipped and applied as it arrives, its digest checked at the end), several
    /// at once. A per-layer lock makes concurrent pulls extract a shared layer once.
    #[allow(clippy::too_many_arguments)]
    fn stream_layers(
        &self,
        client: &Client,
        repo: &str,
        layers: &[(String, Option<u64>, String)],
        diff_ids: &[String],
        chain: &[String],
        missing: &[usize],
        events: &mut dyn FnMut(PullEvent),
    ) -> Result<Vec<crate::images::StoredLayer>> {
        let lock_dir = self.store.root().join("locks");
        std::fs::create_dir_all(&lock_dir).ctx(|| format!("creating {}", lock_dir.display()))?;
        let created: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let counters: Vec<std::sync::Arc<std::sync::atomic::AtomicU64>> =
            (0..layers.len()).map(|_| Default::default()).collect();
        let report = |events: &mut dyn FnMut(PullEvent)| {
            for &i in missing {
                events(PullEvent::Progress {
                    digest: layers[i].0.clone(),
                    done: counters[i].load(std::sync::atomic::Ordering::Relaxed),
                    total: layers[i].1.unwrap_or(0),
                });
            }
        };
        let job = |i: usize| {
            let parent = (i > 0).then(|| chain[i - 1].as_str());
            let _l = crate::lock::Lock::acquire(&lock_dir, chain[i].trim_start_matches("sha256:"))?;
            if self.store.has_layer(&chain[i]) {
                return Ok(self.store.layer_info(&chain[i])?.size);
            }
            let (d, size, _) = &layers[i];
            let (body, _) = client.get_blob(repo, d).map_err(registry_err)?;
            let reader = VerifyAtEnd {
                inner: Verify {
                    inner: body,
                    hasher: Sha256::new(),
                    n: 0,
                    progress: Some(counters[i].clone()),
                },
                digest: d.clone(),
                size: *size,
            };
            let info = self
                .store
                .apply_layer(
                    parent,
                    std::io::BufReader::with_capacity(256 * 1024, reader),
                    Some(&diff_ids[i]),
                )
                .map_err(|e| Error::Other(format!("fetching blob {d}: {e}")))?;
            created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(info.chain_id.clone());
            Ok(info.size)
        };
        // The layers stream on worker threads; this one reports their progress.
        let result = std::thread::scope(|s| {
            let worker = s.spawn(|| in_parallel(missing, job));
            while !worker.is_finished() {
                report(events);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            worker
                .join()
                .unwrap_or_else(|_| Err(Error::Other("a layer download panicked".into())))
        });
        report(events);
        let sizes = match result {
            Ok(v) => v,
            Err(e) => {
                // Layers this pull made that no image uses yet.
                for c in created.into_inner().unwrap_or_else(|e| e.into_inner()) {
                    if self.db().layer_size(&c).ok().flatten().is_none() {
                        let _ = self.store.remove_layer(&c);
                    }
                }
                return Err(e);
            }
        };
        let mut out = Vec::with_capacity(layers.len());
        for i in 0..layers.len() {
            let size = match sizes.iter().find(|(k, _)| *k == i) {
                Some((_, s)) => *s,
                None => match self.db().layer_size(&chain[i])? {
                    Some(s) => s,
                    None => self.store.layer_info(&chain[i])?.size,
                },
            };
            out.push(crate::images::StoredLayer {
                chain_id: chain[i].clone(),
                diff_id: diff_ids[i].clone(),
                parent: (i > 0).then(|| chain[i - 1].clone()),
                size,
            });
        }
        Ok(out)
    }

    /// vfs: a layer is a copy of its parent plus its diff, so layers apply in order; they
    /// download in parallel to files first (each checked against its digest).
    fn download_then_apply(
        &self,
        client: &Client,
        repo: &str,
        layers: &[(String, Option<u64>, String)],
        diff_ids: &[String],
        missing: &[usize],
        work: &Path,
    ) -> Result<Vec<crate::images::StoredLayer>> {
        in_parallel(missing, |i| {
            let (d, size, _) = &layers[i];
            fetch_blob(client, repo, d, *size, &work.join(format!("layer-{i}")))
        })?;
        let files: Vec<(PathBuf, String)> = (0..layers.len())
            .map(|i| (work.join(format!("layer-{i}")), diff_ids[i].clone()))
            .collect();
        self.apply_layers(&files)
    }
}

fn is_index(m: &Manifest) -> bool {
    serde_json::from_slice::<Value>(&m.bytes)
        .map(|v| v["manifests"].is_array() && v["layers"].is_null())
        .unwrap_or(false)
}

pub(crate) fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty has no preconditions.
    unsafe { libc::isatty(fd) == 1 }
}
