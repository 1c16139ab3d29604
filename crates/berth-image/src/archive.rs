//! Reading image archives: what `podman save` (docker-archive, oci-archive),
//! `docker save` and `skopeo copy` write, optionally gzip-compressed as a whole.
//!
//! The archive is unpacked into a caller-given directory, keeping only regular files
//! and directories; symbolic and hard links are recorded and resolved when a manifest
//! names a path, never created on disk, so nothing can point outside that directory.
//! Every blob is checked against its digest before it is handed out.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::de::DeserializeOwned;

use crate::digest::{digest_bytes, digest_file, parse_digest, sha256_digest};
use crate::error::{ImageError, Result};
use crate::reference::{normalize_name, normalize_repo_tag, Reference};
use crate::types::{
    annotations, media_types, Descriptor, DockerArchiveManifest, ImageConfig, OciIndex,
    OciManifest, Platform,
};

/// One image found in an archive.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    /// The config exactly as stored; the image ID is the sha256 of these bytes.
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    /// Bottom to top, in manifest order.
    pub layers: Vec<ArchiveLayer>,
    /// Normalized names ([`normalize_name`]); empty when the archive names none.
    pub names: Vec<String>,
    /// The OCI image manifest as stored, for OCI archives.
    pub manifest_bytes: Option<Vec<u8>>,
}

impl ArchiveImage {
    /// `sha256:<hex>` of the config bytes: the image ID.
    pub fn id(&self) -> String {
        sha256_digest(&self.config_bytes)
    }
}

/// One layer blob of an [`ArchiveImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLayer {
    /// The blob file inside the work directory (links already resolved).
    pub path: PathBuf,
    /// `config.rootfs.diff_ids[i]`: digest of the uncompressed content, checked by the
    /// layer store while applying.
    pub diff_id: String,
    /// The descriptor's media type (OCI); for docker archives a Docker layer type chosen
    /// from the file's magic (plain tar or gzip; zstd gets the OCI zstd type).
    pub media_type: String,
    /// The digest of the blob as stored (verified), for OCI archives; `None` for docker
    /// archives, whose layer files are not content-addressed.
    pub compressed_digest: Option<String>,
}

/// Unpacks the archive at `path` into `workdir` (a fresh, empty directory the caller
/// removes afterwards), detects its format and returns its images with every blob
/// verified.
///
/// Names follow Podman 4.3: OCI archives take `io.containerd.image.name`, else
/// `org.opencontainers.image.ref.name`, normalized with [`normalize_name`] (so a bare
/// `latest` becomes `localhost/latest:latest`, as `podman load` does); docker archives
/// take each `RepoTags` entry, which must be tagged and digest-free, normalized the
/// same way (`busybox:latest` -> `localhost/busybox:latest`). An index entry that is
/// itself an index resolves to its host-platform manifest. Entries naming the same
/// manifest (OCI) or config (docker) are merged into one image with all the names.
pub fn open_archive(path: &Path, workdir: &Path) -> Result<Vec<ArchiveImage>> {
    let links = extract(path, workdir)?;
    let tree = Tree {
        root: workdir,
        links,
    };
    if tree.is_file("oci-layout") && tree.is_file("index.json") {
        read_oci(&tree)
    } else if tree.is_file("manifest.json") {
        read_docker(&tree)
    } else {
        Err(ImageError::UnknownFormat {
            archive: path.to_path_buf(),
        })
    }
}

/// A link recorded instead of being created on disk.
#[derive(Debug, Clone)]
enum Link {
    /// Symlink target as written (relative to the link's directory, or to the archive
    /// root when absolute).
    Symbolic(PathBuf),
    /// Hard link target, relative to the archive root.
    Hard(PathBuf),
}

fn extract(archive: &Path, dest: &Path) -> Result<HashMap<PathBuf, Link>> {
    let mut file = File::open(archive).map_err(|e| ImageError::io("opening", archive, e))?;
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| ImageError::io("reading", archive, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ImageError::io("reading", archive, e))?;
    let reader: Box<dyn Read> = match compression(&magic[..n]) {
        Some("gzip") => Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file))),
        Some(kind) => {
            return Err(ImageError::UnsupportedCompression {
                archive: archive.to_path_buf(),
                kind,
            })
        }
        None => Box::new(BufReader::with_capacity(1 << 16, file)),
    };

    let mut links = HashMap::new();
    let mut at = "at its start".to_string();
    let damaged = |at: &str, err| ImageError::ArchiveDamaged {
        archive: archive.to_path_buf(),
        at: at.to_string(),
        err,
    };
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(|e| damaged(&at, e))? {
        let mut entry = entry.map_err(|e| damaged(&at, e))?;
        let raw = entry.path_bytes().into_owned();
        let member = String::from_utf8_lossy(&raw).into_owned();
        let rel = safe_relative(&raw).ok_or_else(|| ImageError::UnsafeMember {
            member: member.clone(),
        })?;
        at = format!("after member {member}");
        let kind = entry.header().entry_type();
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                fs::create_dir_all(&target).map_err(|e| ImageError::io("creating", &target, e))?;
                links.remove(&rel);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|e| ImageError::io("creating", parent, e))?;
                }
                let expected = entry.size();
                let mut out =
                    File::create(&target).map_err(|e| ImageError::io("creating", &target, e))?;
                let got = io::copy(&mut entry, &mut out)
                    .map_err(|e| damaged(&format!("in member {member}"), e))?;
                if got != expected {
                    return Err(ImageError::Truncated {
                        archive: archive.to_path_buf(),
                        member,
                        expected,
                        got,
                    });
                }
                links.remove(&rel);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let Some(name) = entry.link_name_bytes() else {
                    continue;
                };
                let link = if kind == tar::EntryType::Symlink {
                    Link::Symbolic(PathBuf::from(OsStr::from_bytes(&name)))
                } else {
                    let to = safe_relative(&name).ok_or_else(|| ImageError::UnsafeMember {
                        member: format!(
                            "{member} (hard link to {})",
                            String::from_utf8_lossy(&name)
                        ),
                    })?;
                    Link::Hard(to)
                };
                links.insert(rel, link);
            }
            // Devices, fifos and the like have no place in an image archive: skip them.
            _ => {}
        }
    }
    // Read to the end so that a compressed archive's checksum is verified too.
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(|e| damaged("at its end", e))?;
    Ok(links)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn compression(magic: &[u8]) -> Option<&'static str> {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some("xz")
    } else if magic.starts_with(b"BZh") {
        Some("bzip2")
    } else {
        None
    }
}

/// The path as relative components only; `None` when it is absolute or has `..`.
fn safe_relative(raw: &[u8]) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The unpacked archive: files on disk plus the links recorded while unpacking.
struct Tree<'a> {
    root: &'a Path,
    links: HashMap<PathBuf, Link>,
}

impl Tree<'_> {
    /// Resolves `member` (a path a manifest names) through recorded links, lexically
    /// and inside the archive only, to a regular file.
    fn resolve(&self, member: &str) -> Result<PathBuf> {
        let unsafe_member = || ImageError::UnsafeMember {
            member: member.to_string(),
        };
        let missing = || ImageError::MissingMember {
            member: member.to_string(),
        };
        if Path::new(member).is_absolute() {
            return Err(unsafe_member());
        }
        let mut pending: Vec<PathBuf> = Vec::new();
        push_components(&mut pending, Path::new(member));
        let mut resolved = PathBuf::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part.as_os_str() == ".." {
                if !resolved.pop() {
                    return Err(unsafe_member());
                }
                continue;
            }
            if part.as_os_str() == "/" {
                if !resolved.as_os_str().is_empty() {
                    return Err(unsafe_member());
                }
                continue;
            }
            resolved.push(&part);
            let Some(link) = self.links.get(&resolved) else {
                continue;
            };
            hops += 1;
            if hops > 40 {
                return Err(missing());
            }
            resolved.pop();
            match link {
                Link::Symbolic(target) => {
                    if target.is_absolute() {
                        resolved = PathBuf::new();
                    }
                    push_components(&mut pending, target);
                }
                Link::Hard(target) => {
                    resolved = PathBuf::new();
                    push_components(&mut pending, target);
                }
            }
        }
        if resolved.as_os_str().is_empty() {
            return Err(missing());
        }
        let full = self.root.join(&resolved);
        match fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_file() => Ok(full),
            _ => Err(missing()),
        }
    }

    fn is_file(&self, member: &str) -> bool {
        self.resolve(member).is_ok()
    }

    fn read(&self, member: &str) -> Result<Vec<u8>> {
        let path = self.resolve(member)?;
        fs::read(&path).map_err(|e| ImageError::io("reading", path, e))
    }

    fn read_json<T: DeserializeOwned>(&self, member: &str) -> Result<T> {
        let bytes = self.read(member)?;
        parse_json(member, &bytes)
    }
}

/// Pushes the components of `p` onto `stack` so that the first component pops first.
/// `..` stays `..`; a root becomes `/`.
fn push_components(stack: &mut Vec<PathBuf>, p: &Path) {
    let parts: Vec<PathBuf> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            Component::RootDir => Some(PathBuf::from("/")),
            Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

fn parse_json<T: DeserializeOwned>(member: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| ImageError::InvalidJson {
        member: member.to_string(),
        err,
    })
}

// ---------------------------------------------------------------------------------
// OCI archives

struct OciReader<'a> {
    tree: &'a Tree<'a>,
    host: Platform,
    /// Blobs already verified (digest -> path), so shared layers are hashed once.
    verified: std::cell::RefCell<HashMap<String, PathBuf>>,
}

impl OciReader<'_> {
    fn blob_member(&self, desc: &Descriptor, referrer: &str) -> Result<String> {
        let parsed = parse_digest(&desc.digest).ok_or_else(|| ImageError::InvalidDigest {
            digest: desc.digest.clone(),
            member: referrer.to_string(),
        })?;
        Ok(format!("blobs/{}/{}", parsed.algorithm, parsed.hex))
    }

    /// The path of the blob `desc` names, after checking its size and digest.
    fn verified_blob(&self, desc: &Descriptor, referrer: &str) -> Result<PathBuf> {
        if let Some(path) = self.verified.borrow().get(&desc.digest) {
            return Ok(path.clone());
        }
        let member = self.blob_member(desc, referrer)?;
        let path = self.tree.resolve(&member).map_err(|e| match e {
            ImageError::MissingMember { .. } => ImageError::MissingMember {
                member: format!("{member} ({})", desc.digest),
            },
            other => other,
        })?;
        let size = fs::metadata(&path)
            .map_err(|e| ImageError::io("reading", &path, e))?
            .len();
        if size != desc.size {
            return Err(ImageError::SizeMismatch {
                blob: desc.digest.clone(),
                expected: desc.size,
                got: size,
            });
        }
        let algorithm = desc.digest.split(':').next().unwrap_or("sha256");
        let (got, _) =
            digest_file(algorithm, &path).map_err(|e| ImageError::io("reading", &path, e))?;
        if got != desc.digest {
            return Err(ImageError::DigestMismatch {
                blob: desc.digest.clone(),
                got,
            });
        }
        self.verified
            .borrow_mut()
            .insert(desc.digest.clone(), path.clone());
        Ok(path)
    }

    /// The verified bytes of a small blob (manifest, index, config).
    fn blob_bytes(&self, desc: &Descriptor, referrer: &str) -> Result<Vec<u8>> {
        let member = self.blob_member(desc, referrer)?;
        let path = self.tree.resolve(&member).map_err(|e| match e {
            ImageError::MissingMember { .. } => ImageError::MissingMember {
                member: format!("{member} ({})", desc.digest),
            },
            other => other,
        })?;
        let bytes = fs::read(&path).map_err(|e| ImageError::io("reading", &path, e))?;
        if bytes.len() as u64 != desc.size {
            return Err(ImageError::SizeMismatch {
                blob: desc.digest.clone(),
                expected: desc.size,
                got: bytes.len() as u64,
            });
        }
        let algorithm = desc.digest.split(':').next().unwrap_or("sha256");
        let got = digest_bytes(algorithm, &bytes);
        if got != desc.digest {
            return Err(ImageError::DigestMismatch {
                blob: desc.digest.clone(),
                got,
            });
        }
        Ok(bytes)
    }

    /// Follows `desc` through nested indexes (picking the host platform) to an image
    /// manifest; returns its descriptor and bytes.
    fn resolve_manifest(
        &self,
        desc: &Descriptor,
        referrer: &str,
        depth: usize,
    ) -> Result<(Descriptor, Vec<u8>)> {
        let bytes = self.blob_bytes(desc, referrer)?;
        let value: serde_json::Value = parse_json(&desc.digest, &bytes)?;
        let is_index = desc.media_type == media_types::OCI_INDEX
            || desc.media_type == media_types::DOCKER_MANIFEST_LIST
            || value.get("manifests").is_some();
        if !is_index {
            if value.get("config").is_none() {
                return Err(ImageError::NotAManifest {
                    blob: desc.digest.clone(),
                });
            }
            return Ok((desc.clone(), bytes));
        }
        if depth >= 4 {
            return Err(ImageError::NotAManifest {
                blob: desc.digest.clone(),
            });
        }
        let index: OciIndex = parse_json(&desc.digest, &bytes)?;
        let chosen = index
            .manifests
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| p.matches(&self.host)))
            .or_else(|| match index.manifests.as_slice() {
                // A single entry without a platform is the image whatever it is for.
                [only] if only.platform.is_none() => Some(only),
                _ => None,
            })
            .ok_or_else(|| ImageError::NoMatchingPlatform {
                member: desc.digest.clone(),
                platform: self.host.to_string(),
            })?;
        self.resolve_manifest(chosen, &desc.digest, depth + 1)
    }
}

fn read_oci(tree: &Tree<'_>) -> Result<Vec<ArchiveImage>> {
    let _: serde_json::Value = tree.read_json("oci-layout")?;
    let index: OciIndex = tree.read_json("index.json")?;
    let reader = OciReader {
        tree,
        host: Platform::host(),
        verified: Default::default(),
    };

    // Top-level entries are images; when some carry a platform and one of them is the
    // host's, entries for other platforms are skipped (a multi-platform layout written
    // without a nested index).
    let host_match = index
        .manifests
        .iter()
        .any(|m| m.platform.as_ref().is_some_and(|p| p.matches(&reader.host)));
    let entries = index
        .manifests
        .iter()
        .filter(|m| !host_match || m.platform.as_ref().is_none_or(|p| p.matches(&reader.host)));

    let mut images: Vec<ArchiveImage> = Vec::new();
    let mut by_manifest: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        let (manifest_desc, manifest_bytes) = reader.resolve_manifest(entry, "index.json", 0)?;
        let name = image_name_from_annotations(entry, &manifest_desc)?;
        if let Some(&i) = by_manifest.get(&manifest_desc.digest) {
            push_unique(&mut images[i].names, name);
            continue;
        }
        let manifest: OciManifest = parse_json(&manifest_desc.digest, &manifest_bytes)?;
        let config_bytes = reader.blob_bytes(&manifest.config, &manifest_desc.digest)?;
        let config: ImageConfig = parse_json(&manifest.config.digest, &config_bytes)?;
        if manifest.layers.len() != config.rootfs.diff_ids.len() {
            return Err(ImageError::LayerCountMismatch {
                member: manifest_desc.digest.clone(),
                layers: manifest.layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            });
        }
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for (desc, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
            let path = reader.verified_blob(desc, &manifest_desc.digest)?;
            layers.push(ArchiveLayer {
                path,
                diff_id: diff_id.clone(),
                media_type: desc.media_type.clone(),
                compressed_digest: Some(desc.digest.clone()),
            });
        }
        by_manifest.insert(manifest_desc.digest.clone(), images.len());
        let mut names = Vec::new();
        push_unique(&mut names, name);
        images.push(ArchiveImage {
            config_bytes,
            config,
            layers,
            names,
            manifest_bytes: Some(manifest_bytes),
        });
    }
    Ok(images)
}

/// Podman's `nameFromAnnotations` + `NormalizeName`. A digest reference must name the
/// manifest itself.
fn image_name_from_annotations(
    entry: &Descriptor,
    manifest: &Descriptor,
) -> Result<Option<String>> {
    let raw = entry
        .annotation(annotations::CONTAINERD_IMAGE_NAME)
        .filter(|s| !s.is_empty())
        .or_else(|| entry.annotation(annotations::REF_NAME))
        .filter(|s| !s.is_empty());
    let Some(raw) = raw else {
        return Ok(None);
    };
    let invalid = |reason: String| ImageError::InvalidArchiveName {
        member: "index.json".to_string(),
        name: raw.to_string(),
        reason,
    };
    let name = normalize_name(raw).map_err(|e| match e {
        ImageError::InvalidReference { reason, .. } => invalid(reason),
        other => other,
    })?;
    let parsed = Reference::parse(&name)?;
    if let Some(digest) = &parsed.digest {
        if *digest != manifest.digest {
            return Err(invalid(format!(
                "its digest does not match the manifest {}",
                manifest.digest
            )));
        }
    }
    Ok(Some(name))
}

fn push_unique(names: &mut Vec<String>, name: Option<String>) {
    if let Some(name) = name {
        if !names.contains(&name) {
            names.push(name);
        }
    }
}

// ---------------------------------------------------------------------------------
// Docker archives

fn read_docker(tree: &Tree<'_>) -> Result<Vec<ArchiveImage>> {
    let entries: Vec<DockerArchiveManifest> = tree.read_json("manifest.json")?;
    let mut images: Vec<ArchiveImage> = Vec::new();
    let mut by_config: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &entries {
        let mut names = Vec::new();
        for tag in &entry.repo_tags {
            let name =
                normalize_repo_tag(tag).map_err(|reason| ImageError::InvalidArchiveName {
                    member: "manifest.json".to_string(),
                    name: tag.clone(),
                    reason,
                })?;
            push_unique(&mut names, Some(name));
        }

        let config_bytes = tree.read(&entry.config)?;
        if let Some(expected) = digest_named(&entry.config) {
            let algorithm = expected.split(':').next().unwrap_or("sha256");
            let got = digest_bytes(algorithm, &config_bytes);
            if got != expected {
                return Err(ImageError::DigestMismatch {
                    blob: entry.config.clone(),
                    got,
                });
            }
        }
        let id = sha256_digest(&config_bytes);
        if let Some(&i) = by_config.get(&id) {
            for name in names {
                push_unique(&mut images[i].names, Some(name));
            }
            continue;
        }
        let config: ImageConfig = parse_json(&entry.config, &config_bytes)?;
        if entry.layers.len() != config.rootfs.diff_ids.len() {
            return Err(ImageError::LayerCountMismatch {
                member: entry.config.clone(),
                layers: entry.layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            });
        }
        let mut layers = Vec::with_capacity(entry.layers.len());
        for (member, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let path = tree.resolve(member)?;
            let media_type = sniff_layer_type(&path)?;
            layers.push(ArchiveLayer {
                path,
                diff_id: diff_id.clone(),
                media_type: media_type.to_string(),
                compressed_digest: None,
            });
        }
        by_config.insert(id, images.len());
        images.push(ArchiveImage {
            config_bytes,
            config,
            layers,
            names,
            manifest_bytes: None,
        });
    }
    Ok(images)
}

/// `sha256:<hex>` when a config path is content-addressed: `<hex>.json` or
/// `blobs/sha256/<hex>`.
fn digest_named(member: &str) -> Option<String> {
    let path = Path::new(member);
    let file = path.file_name()?.to_str()?;
    let hex = file.strip_suffix(".json").unwrap_or(file);
    let algorithm = match path
        .parent()
        .and_then(Path::file_name)
        .and_then(OsStr::to_str)
    {
        Some(alg @ ("sha256" | "sha384" | "sha512")) if !file.ends_with(".json") => alg,
        _ => "sha256",
    };
    let digest = format!("{algorithm}:{hex}");
    parse_digest(&digest).is_some().then_some(digest)
}

fn sniff_layer_type(path: &Path) -> Result<&'static str> {
    let mut magic = [0u8; 6];
    let mut file = File::open(path).map_err(|e| ImageError::io("opening", path, e))?;
    let n = read_up_to(&mut file, &mut magic).map_err(|e| ImageError::io("reading", path, e))?;
    Ok(match compression(&magic[..n]) {
        Some("gzip") => media_types::DOCKER_LAYER_GZIP,
        Some("zstd") => media_types::OCI_LAYER_ZSTD,
        _ => media_types::DOCKER_LAYER,
    })
}

#[cfg(test)]
mod tests;
