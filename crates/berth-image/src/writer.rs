//! Writing images out as `podman save` does: docker-archive (with the legacy
//! `repositories` file and per-layer directories, as containers/image writes them),
//! oci-archive, an OCI layout directory (oci-dir) and the `dir:` transport layout
//! (docker-dir).
//!
//! Layer tars come from the caller ([`LayerSource`]) uncompressed, exactly the bytes
//! whose sha256 is the layer's diff id; the writer checks their length against the
//! recorded size (a tar header must be right before the content is written) and drains
//! each source to its end, so that a source verifying its digest at the end gets to say
//! so. Configs are written byte for byte: the image ID does not change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::digest::{parse_digest, sha256_digest};
use crate::error::{ImageError, Result};
use crate::types::{
    annotations, media_types, to_go_json, Descriptor, DockerArchiveManifest, OciIndex, OciManifest,
};

/// The formats of `podman save --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
    OciDir,
    DockerDir,
}

impl SaveFormat {
    /// Parses a `--format` value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "docker-archive" => SaveFormat::DockerArchive,
            "oci-archive" => SaveFormat::OciArchive,
            "oci-dir" => SaveFormat::OciDir,
            "docker-dir" => SaveFormat::DockerDir,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SaveFormat::DockerArchive => "docker-archive",
            SaveFormat::OciArchive => "oci-archive",
            SaveFormat::OciDir => "oci-dir",
            SaveFormat::DockerDir => "docker-dir",
        }
    }

    /// Whether the output is a directory rather than one file.
    pub fn is_dir(self) -> bool {
        matches!(self, SaveFormat::OciDir | SaveFormat::DockerDir)
    }
}

/// One image to write.
#[derive(Debug, Clone, Default)]
pub struct SaveImage {
    /// The config exactly as stored (its sha256 is the image ID).
    pub config: Vec<u8>,
    /// `rootfs.diff_ids`, bottom to top.
    pub diff_ids: Vec<String>,
    /// The uncompressed size of each layer tar.
    pub layer_sizes: Vec<u64>,
    /// docker-archive `RepoTags` (`name:tag`).
    pub repo_tags: Vec<String>,
    /// OCI formats: the `org.opencontainers.image.ref.name` annotation.
    pub ref_name: Option<String>,
}

/// What the writer is doing, for the `Copying blob ...` lines Podman prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveEvent<'a> {
    /// A layer, by its diff id.
    Blob(&'a str),
    /// The config, by its digest.
    Config(&'a str),
    /// An image's manifest is written.
    Manifest,
}

/// Opens layer `layer` (index into `diff_ids`) of image `image` (index into the images
/// given) as its uncompressed tar.
pub type LayerSource<'a> = dyn FnMut(usize, usize) -> io::Result<Box<dyn Read>> + 'a;
/// Receives [`SaveEvent`]s.
pub type SaveEvents<'a> = dyn FnMut(SaveEvent<'_>) + 'a;

fn werr(what: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let what = what.into();
    move |err| ImageError::Write { what, err }
}

fn ser_err(what: &'static str) -> impl FnOnce(serde_json::Error) -> ImageError {
    move |err| ImageError::Serialize { what, err }
}

/// The hex of a `sha256:` digest, validated (it becomes a file name).
fn digest_hex(digest: &str) -> Result<&str> {
    match parse_digest(digest) {
        Some(d) if d.algorithm == "sha256" => Ok(d.hex),
        _ => Err(ImageError::InvalidDigest {
            digest: digest.to_string(),
            member: "the image config".to_string(),
        }),
    }
}

fn check_image(img: &SaveImage) -> Result<()> {
    if img.diff_ids.len() != img.layer_sizes.len() {
        return Err(ImageError::LayerCountMismatch {
            member: sha256_digest(&img.config),
            layers: img.layer_sizes.len(),
            diff_ids: img.diff_ids.len(),
        });
    }
    for d in &img.diff_ids {
        digest_hex(d)?;
    }
    Ok(())
}

/// A layer stream checked against its recorded length, read to its very end.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // One more read: the end must come now (and a verifying source checks there).
            let mut b = [0u8; 1];
            loop {
                return match self.inner.read(&mut b) {
                    Ok(0) => Ok(0),
                    Ok(_) => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the layer is longer than its recorded size",
                    )),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
            }
        }
        let want = self.left.min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer is shorter than its recorded size",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------
// docker-archive

/// Zero device numbers and the checksum as Go's archive/tar writes them (six octal
/// digits, NUL, space), so that a docker-archive is byte for byte what Podman writes.
fn go_finish(h: &mut tar::Header) -> io::Result<()> {
    h.set_device_major(0)?;
    h.set_device_minor(0)?;
    h.set_cksum();
    let sum = h.as_bytes()[..148]
        .iter()
        .chain([b' '; 8].iter())
        .chain(h.as_bytes()[156..].iter())
        .map(|b| u32::from(*b))
        .sum::<u32>();
    h.as_old_mut()
        .cksum
        .copy_from_slice(format!("{:06o}\0 ", sum & 0o777777).as_bytes());
    Ok(())
}

fn file_header(path: &str, size: u64) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o444);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    go_finish(&mut h)?;
    Ok(h)
}

fn symlink_header(path: &str, target: &str) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_link_name(target)?;
    h.set_size(0);
    h.set_mode(0);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    go_finish(&mut h)?;
    Ok(h)
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let h = file_header(path, data.len() as u64).map_err(werr(path))?;
    tar.append(&h, data).map_err(werr(path))
}

/// The legacy (Docker 1.9) metadata of an image's layers: `(layer ID, <ID>/json)` per
/// layer, bottom to top, computed as containers/image does it so that the same image
/// gets the same IDs Podman writes.
fn legacy_layers(diff_ids: &[String], config: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let parsed: serde_json::Map<String, Value> =
        serde_json::from_slice(config).map_err(|err| ImageError::InvalidJson {
            member: "the image config".to_string(),
            err,
        })?;
    let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(diff_ids.len());
    let mut chain: Option<String> = None;
    for (i, diff_id) in diff_ids.iter().enumerate() {
        // Go marshals a map with its keys sorted.
        let mut m: BTreeMap<&str, Value> = BTreeMap::new();
        if let Some((parent, _)) = out.last() {
            m.insert("parent", json!(parent));
        }
        if i + 1 == diff_ids.len() {
            for attr in [
                "architecture",
                "config",
                "container",
                "container_config",
                "created",
                "docker_version",
                "os",
            ] {
                m.insert(attr, parsed.get(attr).cloned().unwrap_or(Value::Null));
            }
        }
        let c = match chain {
            None => diff_id.clone(),
            Some(c) => sha256_digest(format!("{c} {diff_id}").as_bytes()),
        };
        m.insert("layer_id", json!(c));
        let id = hex::encode(Sha256::digest(
            to_go_json(&m).map_err(ser_err("layer config"))?,
        ));
        m.remove("layer_id");
        m.insert("id", json!(id));
        out.push((id, to_go_json(&m).map_err(ser_err("layer config"))?));
        chain = Some(c);
    }
    Ok(out)
}

/// `repo:tag` split as a reference's name and tag; `None` for digests and untagged names.
fn split_tag(name: &str) -> Option<(&str, &str)> {
    if name.contains('@') {
        return None;
    }
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let colon = name[slash..].rfind(':')? + slash;
    Some((&name[..colon], &name[colon + 1..]))
}

/// Writes `images` as one docker-archive (`docker save` / `podman save` format) to
/// `out`, which is returned after the archive's end.
pub fn write_docker_archive<W: Write>(
    out: W,
    images: &[SaveImage],
    layers: &mut LayerSource<'_>,
    events: &mut SaveEvents<'_>,
) -> Result<W> {
    for img in images {
        check_image(img)?;
    }
    let mut tar = tar::Builder::new(out);
    let mut sent_layers: HashSet<&str> = HashSet::new();
    let mut sent_configs: HashSet<String> = HashSet::new();
    let mut sent_legacy: HashSet<String> = HashSet::new();
    let mut manifest: Vec<DockerArchiveManifest> = Vec::new();
    let mut by_config: HashMap<String, usize> = HashMap::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();

    for (i, img) in images.iter().enumerate() {
        let config_digest = sha256_digest(&img.config);
        let config_hex = digest_hex(&config_digest)?.to_string();
        let mut layer_paths = Vec::with_capacity(img.diff_ids.len());
        for (j, diff_id) in img.diff_ids.iter().enumerate() {
            events(SaveEvent::Blob(diff_id));
            let path = format!("{}.tar", digest_hex(diff_id)?);
            if sent_layers.insert(diff_id.as_str()) {
                let what = format!("layer {diff_id}");
                let size = img.layer_sizes[j];
                let h = file_header(&path, size).map_err(werr(what.clone()))?;
                let inner = layers(i, j).map_err(werr(what.clone()))?;
                tar.append(&h, Exact { inner, left: size })
                    .map_err(werr(what))?;
            }
            layer_paths.push(path);
        }
        events(SaveEvent::Config(&config_digest));
        let config_path = format!("{config_hex}.json");
        if sent_configs.insert(config_hex.clone()) {
            append_bytes(&mut tar, &config_path, &img.config)?;
        }
        let legacy = legacy_layers(&img.diff_ids, &img.config)?;
        for ((id, json), layer_path) in legacy.iter().zip(&layer_paths) {
            if !sent_legacy.insert(id.clone()) {
                continue;
            }
            let link = format!("{id}/layer.tar");
            let h = symlink_header(&link, &format!("../{layer_path}")).map_err(werr(&link))?;
            tar.append(&h, io::empty()).map_err(werr(&link))?;
            append_bytes(&mut tar, &format!("{id}/VERSION"), b"1.0")?;
            append_bytes(&mut tar, &format!("{id}/json"), json)?;
        }
        let k = *by_config.entry(config_hex.clone()).or_insert_with(|| {
            manifest.push(DockerArchiveManifest {
                config: config_path.clone(),
                repo_tags: Vec::new(),
                layers: layer_paths.clone(),
            });
            manifest.len() - 1
        });
        for tag in &img.repo_tags {
            let Some((name, t)) = split_tag(tag) else {
                continue;
            };
            let full = format!("{name}:{t}");
            if !manifest[k].repo_tags.contains(&full) {
                manifest[k].repo_tags.push(full);
            }
            if let Some((top, _)) = legacy.last() {
                repositories
                    .entry(name.to_string())
                    .or_default()
                    .insert(t.to_string(), top.clone());
            }
        }
        events(SaveEvent::Manifest);
    }
    let m = to_go_json(&manifest).map_err(ser_err("manifest.json"))?;
    append_bytes(&mut tar, "manifest.json", &m)?;
    let r = to_go_json(&repositories).map_err(ser_err("repositories"))?;
    append_bytes(&mut tar, "repositories", &r)?;
    tar.into_inner().map_err(werr("the archive's end"))
}

// ---------------------------------------------------------------------------------
// Blobs in a directory (oci-dir, docker-dir)

/// Counts and hashes what passes to the inner writer.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file that is removed on drop unless kept (renamed into place).
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn temp_in(dir: &Path) -> Result<(TempFile, File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    loop {
        let p = dir.join(format!(
            ".berth-tmp-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((TempFile(Some(p)), f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ImageError::io("creating", p, e)),
        }
    }
}

/// Writes the layer from `src` into `dir` (gzip-compressed when `compress`), named by
/// the hex of its digest. Returns (digest, size) of the blob as written.
fn write_layer_blob(
    dir: &Path,
    diff_id: &str,
    size: u64,
    compress: bool,
    src: Box<dyn Read>,
) -> Result<(String, u64)> {
    let what = format!("layer {diff_id}");
    if !compress {
        let dest = dir.join(digest_hex(diff_id)?);
        if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size) {
            // The same content is there already (content-addressed); still check the source.
            io::copy(
                &mut Exact {
                    inner: src,
                    left: size,
                },
                &mut io::sink(),
            )
            .map_err(werr(what))?;
            return Ok((diff_id.to_string(), size));
        }
    }
    let (mut tmp, file) = temp_in(dir)?;
    let mut hw = HashingWriter {
        inner: BufWriter::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
        count: 0,
    };
    let mut exact = Exact {
        inner: src,
        left: size,
    };
    if compress {
        let mut gz = GzEncoder::new(&mut hw, flate2::Compression::default());
        io::copy(&mut exact, &mut gz).map_err(werr(what.clone()))?;
        gz.finish().map_err(werr(what.clone()))?;
    } else {
        io::copy(&mut exact, &mut hw).map_err(werr(what.clone()))?;
    }
    hw.flush().map_err(werr(what.clone()))?;
    let digest = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
    let count = hw.count;
    let file = hw
        .inner
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(werr(what.clone()))?;
    file.sync_all().map_err(werr(what.clone()))?;
    drop(file);
    let dest = dir.join(digest_hex(&digest)?);
    let from = tmp.0.take().expect("temp file path");
    if let Err(e) = fs::rename(&from, &dest) {
        let _ = fs::remove_file(&from);
        return Err(ImageError::io("writing", dest, e));
    }
    Ok((digest, count))
}

/// Writes small content-addressed bytes into `dir`; returns the digest.
fn write_small_blob(dir: &Path, bytes: &[u8]) -> Result<String> {
    let digest = sha256_digest(bytes);
    let dest = dir.join(digest_hex(&digest)?);
    if fs::read(&dest).is_ok_and(|b| b == bytes) {
        return Ok(digest);
    }
    write_file(&dest, bytes)?;
    Ok(digest)
}

/// Writes a file by a temporary name and a rename.
fn write_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let (mut tmp, mut f) = temp_in(dir)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| ImageError::io("writing", dest, e))?;
    drop(f);
    let from = tmp.0.take().expect("temp file path");
    if let Err(e) = fs::rename(&from, dest) {
        let _ = fs::remove_file(&from);
        return Err(ImageError::io("writing", dest, e));
    }
    Ok(())
}

/// Writes `images` into the OCI image layout at `dir` (created if missing; an existing
/// layout keeps its other images, an entry with the same ref name is replaced). Layers
/// are gzip-compressed unless `compress` is false.
pub fn write_oci_dir(
    dir: &Path,
    images: &[SaveImage],
    compress: bool,
    layers: &mut LayerSource<'_>,
    events: &mut SaveEvents<'_>,
) -> Result<()> {
    for img in images {
        check_image(img)?;
    }
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| ImageError::io("creating", &blobs, e))?;
    let layout = dir.join("oci-layout");
    write_file(&layout, br#"{"imageLayoutVersion": "1.0.0"}"#)?;
    let index_path = dir.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(b) => serde_json::from_slice::<OciIndex>(&b).map_err(|err| ImageError::InvalidJson {
            member: index_path.display().to_string(),
            err,
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => OciIndex {
            schema_version: 2,
            ..OciIndex::default()
        },
        Err(e) => return Err(ImageError::io("reading", index_path, e)),
    };
    // Layers shared between the images are written once.
    let mut written: HashMap<String, Descriptor> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        let mut descs = Vec::with_capacity(img.diff_ids.len());
        for (j, diff_id) in img.diff_ids.iter().enumerate() {
            events(SaveEvent::Blob(diff_id));
            if let Some(d) = written.get(diff_id) {
                descs.push(d.clone());
                continue;
            }
            let src = layers(i, j).map_err(werr(format!("layer {diff_id}")))?;
            let (digest, size) =
                write_layer_blob(&blobs, diff_id, img.layer_sizes[j], compress, src)?;
            let d = Descriptor {
                media_type: if compress {
                    media_types::OCI_LAYER_GZIP
                } else {
                    media_types::OCI_LAYER
                }
                .to_string(),
                digest,
                size,
                ..Descriptor::default()
            };
            written.insert(diff_id.clone(), d.clone());
            descs.push(d);
        }
        let config_digest = sha256_digest(&img.config);
        events(SaveEvent::Config(&config_digest));
        write_small_blob(&blobs, &img.config)?;
        let manifest = OciManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.to_string()),
            config: Descriptor {
                media_type: media_types::OCI_CONFIG.to_string(),
                digest: config_digest,
                size: img.config.len() as u64,
                ..Descriptor::default()
            },
            layers: descs,
            ..OciManifest::default()
        };
        let bytes = to_go_json(&manifest).map_err(ser_err("image manifest"))?;
        let digest = write_small_blob(&blobs, &bytes)?;
        events(SaveEvent::Manifest);
        let entry = Descriptor {
            media_type: media_types::OCI_MANIFEST.to_string(),
            digest,
            size: bytes.len() as u64,
            annotations: img
                .ref_name
                .as_ref()
                .map(|n| BTreeMap::from([(annotations::REF_NAME.to_string(), n.clone())])),
            ..Descriptor::default()
        };
        match &img.ref_name {
            Some(name) => index
                .manifests
                .retain(|m| m.annotation(annotations::REF_NAME) != Some(name.as_str())),
            None => index
                .manifests
                .retain(|m| m.digest != entry.digest || m.annotations.is_some()),
        }
        index.manifests.push(entry);
    }
    let bytes = to_go_json(&index).map_err(ser_err("index.json"))?;
    write_file(&index_path, &bytes)
}

/// Writes `images` as an oci-archive to `out`: laid out in `workdir` (an empty directory
/// the caller removes afterwards), then put into one tar.
pub fn write_oci_archive<W: Write>(
    out: W,
    workdir: &Path,
    images: &[SaveImage],
    compress: bool,
    layers: &mut LayerSource<'_>,
    events: &mut SaveEvents<'_>,
) -> Result<W> {
    write_oci_dir(workdir, images, compress, layers, events)?;
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut tar = tar::Builder::new(out);
    let dir_entry = |tar: &mut tar::Builder<W>, path: &str| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).map_err(werr(path))?;
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_mtime(mtime);
        h.set_cksum();
        tar.append(&h, io::empty()).map_err(werr(path))
    };
    let file_entry = |tar: &mut tar::Builder<W>, path: &str, src: &Path| -> Result<()> {
        let f = File::open(src).map_err(|e| ImageError::io("reading", src, e))?;
        let len = f
            .metadata()
            .map_err(|e| ImageError::io("reading", src, e))?
            .len();
        let mut h = tar::Header::new_ustar();
        h.set_path(path).map_err(werr(path))?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(len);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_cksum();
        tar.append(
            &h,
            Exact {
                inner: f,
                left: len,
            },
        )
        .map_err(werr(path))
    };
    dir_entry(&mut tar, "blobs/")?;
    dir_entry(&mut tar, "blobs/sha256/")?;
    let blobs = workdir.join("blobs").join("sha256");
    let mut names: Vec<String> = fs::read_dir(&blobs)
        .map_err(|e| ImageError::io("reading", &blobs, e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for n in names {
        file_entry(&mut tar, &format!("blobs/sha256/{n}"), &blobs.join(&n))?;
    }
    file_entry(&mut tar, "index.json", &workdir.join("index.json"))?;
    file_entry(&mut tar, "oci-layout", &workdir.join("oci-layout"))?;
    tar.into_inner().map_err(werr("the archive's end"))
}

// ---------------------------------------------------------------------------------
// docker-dir (the `dir:` transport)

const DIR_VERSION: &str = "Directory Transport Version: 1.1\n";

/// Writes one image in the `dir:` transport layout with a Docker schema 2 manifest.
/// An existing directory must be empty or hold such a layout (then it is replaced), as
/// containers/image insists. Layers are gzip-compressed only with `compress`.
pub fn write_docker_dir(
    dir: &Path,
    image: &SaveImage,
    compress: bool,
    layers: &mut LayerSource<'_>,
    events: &mut SaveEvents<'_>,
) -> Result<()> {
    check_image(image)?;
    match fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                let version = fs::read(dir.join("version")).unwrap_or_default();
                if version != DIR_VERSION.as_bytes() {
                    return Err(ImageError::Write {
                        what: dir.display().to_string(),
                        err: io::Error::other(
                            "not a containers image directory, don't want to overwrite important data",
                        ),
                    });
                }
                for e in fs::read_dir(dir).map_err(|e| ImageError::io("reading", dir, e))? {
                    let p = e.map_err(|e| ImageError::io("reading", dir, e))?.path();
                    let r = if p.is_dir() && !p.is_symlink() {
                        fs::remove_dir_all(&p)
                    } else {
                        fs::remove_file(&p)
                    };
                    r.map_err(|e| ImageError::io("erasing", &p, e))?;
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| ImageError::io("creating", dir, e))?;
        }
        Err(e) => return Err(ImageError::io("reading", dir, e)),
    }
    write_file(&dir.join("version"), DIR_VERSION.as_bytes())?;
    let mut descs = Vec::with_capacity(image.diff_ids.len());
    for (j, diff_id) in image.diff_ids.iter().enumerate() {
        events(SaveEvent::Blob(diff_id));
        let src = layers(0, j).map_err(werr(format!("layer {diff_id}")))?;
        let (digest, size) = write_layer_blob(dir, diff_id, image.layer_sizes[j], compress, src)?;
        let media_type = if compress {
            media_types::DOCKER_LAYER_GZIP
        } else {
            media_types::DOCKER_LAYER
        };
        descs.push(json!({"mediaType": media_type, "size": size, "digest": digest}));
    }
    let config_digest = sha256_digest(&image.config);
    events(SaveEvent::Config(&config_digest));
    write_small_blob(dir, &image.config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_types::DOCKER_MANIFEST,
        "config": {
            "mediaType": media_types::DOCKER_CONFIG,
            "size": image.config.len(),
            "digest": config_digest,
        },
        "layers": descs,
    });
    let bytes = to_go_json(&manifest).map_err(ser_err("image manifest"))?;
    write_file(&dir.join("manifest.json"), &bytes)?;
    events(SaveEvent::Manifest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSYBOX_CONFIG: &str = r#"{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:e19c7a45b899facd4a09bf0998613951ca27dd67a212bd358165b85251466d30"]},"history":[{"created":"2024-01-01T00:00:00Z","created_by":"berth mkimages.sh: busybox rootfs"}]}"#;

    /// The IDs and top-layer json `podman save` (containers/image) wrote for this config.
    #[test]
    fn legacy_layer_ids_match_containers_image() {
        let diff = "sha256:e19c7a45b899facd4a09bf0998613951ca27dd67a212bd358165b85251466d30";
        let l = legacy_layers(&[diff.to_string()], BUSYBOX_CONFIG.as_bytes()).unwrap();
        assert_eq!(
            l[0].0,
            "0751d659b5d6e903fe61eb1eaa2a9e9c175b3e4c2f86f478b39f35a8d632d09d"
        );
        assert_eq!(
            String::from_utf8(l[0].1.clone()).unwrap(),
            r#"{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"container":null,"container_config":null,"created":"2024-01-01T00:00:00Z","docker_version":null,"id":"0751d659b5d6e903fe61eb1eaa2a9e9c175b3e4c2f86f478b39f35a8d632d09d","os":"linux"}"#
        );
        // Lower layers: only id and parent.
        let d2 = "sha256:5935428bf0188b1c3fc0476708a590859c64a0e823bff9936040e10425e81602";
        let l = legacy_layers(
            &[diff.to_string(), d2.to_string()],
            BUSYBOX_CONFIG.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            l[0].0,
            "27b240db90a13c5f0275781be0f95de9aa0a9799cc7e930ca5b61bab49b9b3a0"
        );
        assert_eq!(
            String::from_utf8(l[0].1.clone()).unwrap(),
            r#"{"id":"27b240db90a13c5f0275781be0f95de9aa0a9799cc7e930ca5b61bab49b9b3a0"}"#
        );
        assert!(String::from_utf8(l[1].1.clone()).unwrap().ends_with(
            r#","parent":"27b240db90a13c5f0275781be0f95de9aa0a9799cc7e930ca5b61bab49b9b3a0"}"#
        ));
    }

    #[test]
    fn tags_split_at_the_last_colon_after_the_last_slash() {
        assert_eq!(
            split_tag("localhost:5000/a/b:v1"),
            Some(("localhost:5000/a/b", "v1"))
        );
        assert_eq!(split_tag("localhost:5000/a"), None);
        assert_eq!(split_tag("x@sha256:abc"), None);
    }

    fn one_layer() -> (SaveImage, Vec<u8>) {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"hi"[..]).unwrap();
        let layer = b.into_inner().unwrap();
        let diff = sha256_digest(&layer);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
        );
        let img = SaveImage {
            config: config.into_bytes(),
            diff_ids: vec![diff],
            layer_sizes: vec![layer.len() as u64],
            repo_tags: vec!["localhost/a:v1".into()],
            ref_name: Some("localhost/a:v1".into()),
        };
        (img, layer)
    }

    #[test]
    fn archives_written_read_back() {
        let (img, layer) = one_layer();
        let dir = tempfile::tempdir().unwrap();
        let mut src = |_: usize, _: usize| -> io::Result<Box<dyn Read>> {
            Ok(Box::new(io::Cursor::new(layer.clone())))
        };
        let mut events = Vec::new();
        let mut ev = |e: SaveEvent<'_>| events.push(format!("{e:?}"));
        let docker =
            write_docker_archive(Vec::new(), std::slice::from_ref(&img), &mut src, &mut ev)
                .unwrap();
        let p = dir.path().join("d.tar");
        fs::write(&p, docker).unwrap();
        let work = dir.path().join("w1");
        fs::create_dir(&work).unwrap();
        let got = crate::open_archive(&p, &work).unwrap();
        assert_eq!(got[0].config_bytes, img.config);
        assert_eq!(got[0].names, vec!["localhost/a:v1"]);
        assert_eq!(fs::read(&got[0].layers[0].path).unwrap(), layer);
        assert_eq!(events.len(), 3, "{events:?}");

        for compress in [true, false] {
            let ow = dir.path().join(format!("ow-{compress}"));
            fs::create_dir(&ow).unwrap();
            let oci = write_oci_archive(
                Vec::new(),
                &ow,
                std::slice::from_ref(&img),
                compress,
                &mut src,
                &mut |_| {},
            )
            .unwrap();
            let p = dir.path().join(format!("o-{compress}.tar"));
            fs::write(&p, oci).unwrap();
            let work = dir.path().join(format!("w-{compress}"));
            fs::create_dir(&work).unwrap();
            let got = crate::open_archive(&p, &work).unwrap();
            assert_eq!(got[0].config_bytes, img.config);
            assert_eq!(got[0].names, vec!["localhost/a:v1"]);
            let expected_type = if compress {
                media_types::OCI_LAYER_GZIP
            } else {
                media_types::OCI_LAYER
            };
            assert_eq!(got[0].layers[0].media_type, expected_type);
        }
    }

    #[test]
    fn a_wrong_length_layer_is_an_error() {
        let (img, layer) = one_layer();
        let mut short = |_: usize, _: usize| -> io::Result<Box<dyn Read>> {
            Ok(Box::new(io::Cursor::new(layer[..100].to_vec())))
        };
        let err = write_docker_archive(
            Vec::new(),
            std::slice::from_ref(&img),
            &mut short,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("shorter"), "{err}");
        let mut long = |_: usize, _: usize| -> io::Result<Box<dyn Read>> {
            let mut v = layer.clone();
            v.push(0);
            Ok(Box::new(io::Cursor::new(v)))
        };
        let err = write_docker_archive(
            Vec::new(),
            std::slice::from_ref(&img),
            &mut long,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("longer"), "{err}");
    }

    #[test]
    fn docker_dir_refuses_a_foreign_directory() {
        let (img, layer) = one_layer();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("precious"), b"x").unwrap();
        let mut src = |_: usize, _: usize| -> io::Result<Box<dyn Read>> {
            Ok(Box::new(io::Cursor::new(layer.clone())))
        };
        let err = write_docker_dir(dir.path(), &img, false, &mut src, &mut |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("not a containers image directory"),
            "{err}"
        );
        assert!(dir.path().join("precious").exists());
        let d = dir.path().join("new");
        write_docker_dir(&d, &img, false, &mut src, &mut |_| {}).unwrap();
        // Written again over itself.
        write_docker_dir(&d, &img, true, &mut src, &mut |_| {}).unwrap();
        let m: Value = serde_json::from_slice(&fs::read(d.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(m["layers"][0]["mediaType"], media_types::DOCKER_LAYER_GZIP);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 4);
    }
}
