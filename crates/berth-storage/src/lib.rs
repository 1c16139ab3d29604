//! Layer storage: image layers extracted once and shared by chain id, and container
//! writable layers mounted with kernel overlayfs (or plain copies with the vfs driver).
//!
//! On-disk layout under `root` (e.g. `/var/lib/berth/overlay`):
//!
//! ```text
//! layers/<chain hex>/diff          the layer's files (overlay: this layer's diff only;
//!                                  vfs: the full tree up to this layer)
//! layers/<chain hex>/link          the layer's 26-character short name
//! layers/<chain hex>/layer.json    {chain_id, diff_id, size, parent}
//! layers/<chain hex>/tar-split     what rebuilds the layer's exact tar (see `tarsplit`)
//! layers/<chain hex>/tar-split-stash/<n>  contents a later entry of the same tar replaced
//! l/<short>                        -> ../layers/<chain hex>/diff (keeps lowerdir= short)
//! containers/<id>/diff             writable layer (overlay upper / vfs rootfs)
//! containers/<id>/work, merged     overlay workdir and mount point
//! containers/<id>/empty            overlay lower for an image without layers
//! containers/<id>/layers.json      the image's chain ids, bottom to top
//! tmp/<pid>-<random>-<n>           extraction and deletion area (same file system, so
//!                                  layers appear and disappear by one rename)
//! ```

mod apply;
pub mod copy;
mod diff;
mod digest;
mod fsutil;
mod mount;
mod tarsplit;

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use diff::{Change, ChangeKind};
pub use digest::chain_id;
pub use tarsplit::LayerTar;

/// The storage driver: how layers are laid out and container root file systems made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Overlay,
    Vfs,
}

impl FromStr for Driver {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "overlay" => Ok(Driver::Overlay),
            "vfs" => Ok(Driver::Vfs),
            other => Err(StorageError::UnknownDriver(other.to_string())),
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::Overlay => "overlay",
            Driver::Vfs => "vfs",
        })
    }
}

/// An applied layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// `sha256:<hex>`, identifies the layer together with everything below it.
    pub chain_id: String,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub size: u64,
}

/// `layers/<hex>/layer.json`.
#[derive(Debug, Serialize, Deserialize)]
struct LayerRecord {
    chain_id: String,
    diff_id: String,
    size: u64,
    parent: Option<String>,
}

#[derive(thiserror::Error, Debug)]
pub enum StorageError {
    #[error("unknown storage driver {0:?} (expected \"overlay\" or \"vfs\")")]
    UnknownDriver(String),
    #[error("invalid layer id {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidLayerId(String),
    #[error("invalid container id {0:?}")]
    InvalidContainerId(String),
    #[error("layer {0} not found")]
    LayerNotFound(String),
    #[error("container layer {0} not found")]
    ContainerNotFound(String),
    #[error("container layer {0} already exists")]
    ContainerExists(String),
    #[error("layer diff id mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: String, actual: String },
    #[error("unsupported layer compression {0} (only plain tar and gzip are supported)")]
    UnsupportedCompression(&'static str),
    #[error("reading layer stream: {0}")]
    Stream(io::Error),
    /// An entry the applier refuses to write (escapes, unsafe links, bad types).
    #[error("layer entry {entry:?} refused: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    /// A tar entry `cp` refuses to write into a container.
    #[error("refusing to copy tar entry {entry:?}: {reason}")]
    CopyRefused { entry: String, reason: String },
    #[error("layer entry {entry:?}: {op}: {err}")]
    Entry {
        entry: String,
        op: &'static str,
        err: io::Error,
    },
    #[error("{op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("mounting overlay for container {container} at {}: {err}", path.display())]
    Mount {
        container: String,
        path: PathBuf,
        err: io::Error,
    },
    #[error(
        "overlay mount options for container {container} do not fit in one page ({layers} layers)"
    )]
    TooManyLayers { container: String, layers: usize },
    #[error("unmounting {}: {err}", path.display())]
    Unmount { path: PathBuf, err: io::Error },
    /// The layer was stored without the index that rebuilds its tar (by a berth before
    /// the index existed, or from a tar that removed its own files' directories).
    #[error("layer {0} cannot be written back as its original tar: it was stored without the data needed to rebuild it (by an older berth; remove the images using it, then load or pull them again)")]
    NoLayerTar(String),
}

pub type Result<T> = std::result::Result<T, StorageError>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |err| StorageError::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

/// Length of the `l/` short names; Podman uses 26 so lowerdir= fits in one page.
const LINK_LEN: usize = 26;
const LAYER_RECORD: &str = "layer.json";
const CONTAINER_LAYERS: &str = "layers.json";

/// The layer and container-layer store of one driver.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
    driver: Driver,
}

/// A directory under `root/tmp` removed on drop unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fsutil::remove_path(&self.path);
        }
    }
}

impl LayerStore {
    /// `root` is e.g. /var/lib/berth/overlay (the caller appends the driver name). Creates dirs.
    pub fn new(root: &Path, driver: Driver) -> Result<Self> {
        fs::create_dir_all(root).map_err(io_err("creating", root))?;
        let root = root.canonicalize().map_err(io_err("resolving", root))?;
        let store = Self { root, driver };
        for (dir, mode) in [
            (store.layers_dir(), 0o700),
            (store.links_dir(), 0o700),
            (store.containers_dir(), 0o711),
            (store.tmp_dir(), 0o700),
        ] {
            match fs::DirBuilder::new().mode(mode).create(&dir) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                other => other.map_err(io_err("creating", &dir))?,
            }
        }
        store.clean_stale_tmp();
        Ok(store)
    }

    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The (canonical) storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn has_layer(&self, chain_id: &str) -> bool {
        digest::sha256_hex(chain_id).is_some()
            && self.layer_dir(chain_id).join(LAYER_RECORD).is_file()
    }

    /// The stored record of a layer.
    pub fn layer_info(&self, chain_id: &str) -> Result<LayerInfo> {
        let rec = self.layer_record(chain_id)?;
        Ok(LayerInfo {
            chain_id: rec.chain_id,
            diff_id: rec.diff_id,
            size: rec.size,
        })
    }

    /// The chain id of the layer below, if any.
    pub fn layer_parent(&self, chain_id: &str) -> Result<Option<String>> {
        Ok(self.layer_record(chain_id)?.parent)
    }

    /// Every stored layer, in no particular order.
    pub fn list_layers(&self) -> Result<Vec<LayerInfo>> {
        let dir = self.layers_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
            let entry = entry.map_err(io_err("listing", &dir))?;
            let chain = format!("sha256:{}", entry.file_name().to_string_lossy());
            if self.has_layer(&chain) {
                out.push(self.layer_info(&chain)?);
            }
        }
        Ok(out)
    }

    /// Apply one layer tar stream on top of `parent` (chain id of the layer below; None
    /// for the base). The stream may be plain tar or gzip. See the `apply` module for the
    /// path rules. Atomic: on any error nothing of the layer remains.
    pub fn apply_layer(
        &self,
        parent: Option<&str>,
        reader: impl Read,
        expected_diff_id: Option<&str>,
    ) -> Result<LayerInfo> {
        if let Some(p) = parent {
            self.check_layer_id(p)?;
            // An overlay layer holds only its own diff, so its parent need not be stored
            // yet: the layers of a pull are applied side by side as they stream in. A vfs
            // layer starts as a copy of its parent, which must be there.
            if matches!(self.driver, Driver::Vfs) && !self.has_layer(p) {
                return Err(StorageError::LayerNotFound(p.to_string()));
            }
        }
        if let Some(expected) = expected_diff_id {
            if digest::sha256_hex(expected).is_none() {
                return Err(StorageError::InvalidLayerId(expected.to_string()));
            }
            // Already stored: the content is identified by its diff id; skip the stream.
            let chain = chain_id(parent, expected);
            if self.has_layer(&chain) {
                return self.layer_info(&chain);
            }
        }

        let tmp = self.make_temp()?;
        let diff = tmp.path.join("diff");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&diff)
            .map_err(io_err("creating", &diff))?;
        if let (Driver::Vfs, Some(p)) = (self.driver, parent) {
            let src = self.layer_diff_dir(p);
            fsutil::copy_tree(&src, &diff).map_err(io_err("copying parent layer", &src))?;
        }
        let applied = apply::apply_stream(&diff, self.driver, reader, Some(&tmp.path))?;
        if let Some(expected) = expected_diff_id {
            if expected != applied.diff_id {
                return Err(StorageError::DiffIdMismatch {
                    expected: expected.to_string(),
                    actual: applied.diff_id,
                });
            }
        }

        let chain = chain_id(parent, &applied.diff_id);
        if self.has_layer(&chain) {
            return self.layer_info(&chain);
        }
        let record = LayerRecord {
            chain_id: chain.clone(),
            diff_id: applied.diff_id.clone(),
            size: applied.size,
            parent: parent.map(str::to_string),
        };
        write_json(&tmp.path.join(LAYER_RECORD), &record)?;
        let link_file = tmp.path.join("link");
        fs::write(&link_file, link_name(&chain)).map_err(io_err("writing", &link_file))?;

        let dest = self.layer_dir(&chain);
        if let Err(e) = fs::rename(&tmp.path, &dest) {
            // Another process stored the same layer first.
            if self.has_layer(&chain) {
                return self.layer_info(&chain);
            }
            return Err(StorageError::Io {
                op: "storing layer",
                path: dest,
                err: e,
            });
        }
        let mut tmp = tmp;
        tmp.keep = true;
        self.ensure_link(&chain)?;
        Ok(LayerInfo {
            chain_id: chain,
            diff_id: applied.diff_id,
            size: applied.size,
        })
    }

    /// The layer's tar stream exactly as it was applied (uncompressed), rebuilt from its
    /// tar-split index and its files; its sha256 is checked against the diff id at the end.
    pub fn layer_tar(&self, chain_id: &str) -> Result<LayerTar> {
        let rec = self.layer_record(chain_id)?;
        let dir = self.layer_dir(chain_id);
        if !dir.join(tarsplit::TAR_SPLIT).is_file() {
            return Err(StorageError::NoLayerTar(chain_id.to_string()));
        }
        LayerTar::open(&dir, chain_id, &rec.diff_id, rec.size).map_err(|err| StorageError::Io {
            op: "opening the tar-split index of layer",
            path: dir,
            err,
        })
    }

    /// Whether [`Self::layer_tar`] can rebuild the layer's tar.
    pub fn has_layer_tar(&self, chain_id: &str) -> bool {
        self.has_layer(chain_id) && self.layer_dir(chain_id).join(tarsplit::TAR_SPLIT).is_file()
    }

    /// Remove a layer dir (caller guarantees no image/container uses it). Idempotent.
    pub fn remove_layer(&self, chain_id: &str) -> Result<()> {
        self.check_layer_id(chain_id)?;
        let dir = self.layer_dir(chain_id);
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(());
        }
        let link = self.links_dir().join(link_name(chain_id));
        fsutil::remove_path(&link).map_err(io_err("removing", &link))?;
        self.remove_via_tmp(&dir)
    }

    /// Prepare a container's writable layer on top of an image whose layers are `chain`
    /// (bottom -> top chain ids).
    pub fn create_container_layer(&self, container_id: &str, chain: &[String]) -> Result<()> {
        self.check_container_id(container_id)?;
        for c in chain {
            self.check_layer_id(c)?;
            if !self.has_layer(c) {
                return Err(StorageError::LayerNotFound(c.clone()));
            }
        }
        let dest = self.container_dir(container_id);
        if fs::symlink_metadata(&dest).is_ok() {
            return Err(StorageError::ContainerExists(container_id.to_string()));
        }
        let tmp = self.make_temp()?;
        let mkdir = |name: &str, mode: u32| {
            let p = tmp.path.join(name);
            fs::DirBuilder::new()
                .mode(mode)
                .create(&p)
                .map_err(io_err("creating", &p))
        };
        mkdir("diff", 0o755)?;
        match self.driver {
            Driver::Overlay => {
                mkdir("work", 0o700)?;
                mkdir("merged", 0o755)?;
                if chain.is_empty() {
                    mkdir("empty", 0o755)?;
                }
                for c in chain {
                    self.ensure_link(c)?;
                }
            }
            Driver::Vfs => {
                if let Some(top) = chain.last() {
                    let src = self.layer_diff_dir(top);
                    fsutil::copy_tree(&src, &tmp.path.join("diff"))
                        .map_err(io_err("copying image layer", &src))?;
                }
            }
        }
        write_json(&tmp.path.join(CONTAINER_LAYERS), &chain)?;
        if let Err(e) = fs::rename(&tmp.path, &dest) {
            if fs::symlink_metadata(&dest).is_ok() {
                return Err(StorageError::ContainerExists(container_id.to_string()));
            }
            return Err(StorageError::Io {
                op: "storing container layer",
                path: dest,
                err: e,
            });
        }
        let mut tmp = tmp;
        tmp.keep = true;
        Ok(())
    }

    /// Mount (overlay) / no-op (vfs) and return the rootfs path. Idempotent.
    pub fn mount_container(&self, container_id: &str) -> Result<PathBuf> {
        self.check_container_id(container_id)?;
        let chain = self.container_chain(container_id)?;
        let rootfs = self.container_rootfs(container_id);
        if self.driver == Driver::Vfs {
            return Ok(rootfs);
        }
        let mounted =
            mount::is_mounted(&rootfs).map_err(io_err("reading mountinfo for", &rootfs))?;
        if mounted {
            return Ok(rootfs);
        }
        let mut lowers = Vec::with_capacity(chain.len().max(1));
        for c in chain.iter().rev() {
            if !self.has_layer(c) {
                return Err(StorageError::LayerNotFound(c.clone()));
            }
            self.ensure_link(c)?;
            lowers.push(format!("l/{}", link_name(c)));
        }
        let cdir = format!("containers/{container_id}");
        if lowers.is_empty() {
            lowers.push(format!("{cdir}/empty"));
        }
        mount::mount_overlay(
            &self.root,
            &lowers,
            &format!("{cdir}/diff"),
            &format!("{cdir}/work"),
            &rootfs,
        )
        .map_err(|f| match f {
            mount::MountFailure::TooLong => StorageError::TooManyLayers {
                container: container_id.to_string(),
                layers: chain.len(),
            },
            mount::MountFailure::Sys(err) => StorageError::Mount {
                container: container_id.to_string(),
                path: rootfs.clone(),
                err,
            },
        })?;
        Ok(rootfs)
    }

    /// Unmount if mounted (idempotent; MNT_DETACH fallback if EBUSY).
    pub fn unmount_container(&self, container_id: &str) -> Result<()> {
        self.check_container_id(container_id)?;
        if self.driver == Driver::Vfs {
            return Ok(());
        }
        let rootfs = self.container_rootfs(container_id);
        mount::unmount(&rootfs).map_err(|err| StorageError::Unmount { path: rootfs, err })
    }

    /// Unmount + delete the container layer. Idempotent (missing is fine). Nothing is
    /// deleted while the root file system is still mounted.
    pub fn remove_container_layer(&self, container_id: &str) -> Result<()> {
        self.check_container_id(container_id)?;
        let rootfs = self.container_rootfs(container_id);
        // Checked for both drivers: deleting through a live mount would delete its lowers' view.
        mount::unmount(&rootfs).map_err(|err| StorageError::Unmount { path: rootfs, err })?;
        let dir = self.container_dir(container_id);
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(());
        }
        self.remove_via_tmp(&dir)
    }

    /// An unnamed temporary file on the storage file system, gone when closed.
    pub fn temp_file(&self) -> Result<fs::File> {
        let dir = self.tmp_dir();
        copy::temp_file(&dir).map_err(io_err("creating a temporary file in", &dir))
    }

    /// What a container changed in its image's file system, in walk order (see `diff`).
    pub fn container_changes(&self, container_id: &str) -> Result<Vec<Change>> {
        self.check_container_id(container_id)?;
        let chain = self.container_chain(container_id)?;
        let upper = self.container_upper_dir(container_id);
        match self.driver {
            Driver::Overlay => {
                let lowers: Vec<PathBuf> =
                    chain.iter().rev().map(|c| self.layer_diff_dir(c)).collect();
                diff::overlay_changes(&upper, &lowers)
            }
            Driver::Vfs => {
                let old = chain.last().map(|c| self.layer_diff_dir(c));
                diff::tree_changes(&upper, old.as_deref())
            }
        }
        .map_err(io_err("comparing the file system of container", &upper))
    }

    /// What a layer changed in the layers below it.
    pub fn layer_changes(&self, chain_id: &str) -> Result<Vec<Change>> {
        let dir = self.layer_diff_dir(chain_id);
        let mut below = Vec::new();
        let mut cur = self.layer_parent(chain_id)?;
        while let Some(p) = cur {
            below.push(self.layer_diff_dir(&p));
            cur = self.layer_parent(&p)?;
        }
        match self.driver {
            Driver::Overlay => diff::overlay_changes(&dir, &below),
            Driver::Vfs => diff::tree_changes(&dir, below.first().map(PathBuf::as_path)),
        }
        .map_err(io_err("comparing layer", &dir))
    }

    /// The container's root file system path (no mount): overlay `merged`, vfs `diff`.
    pub fn container_rootfs(&self, container_id: &str) -> PathBuf {
        let dir = self.container_dir(container_id);
        match self.driver {
            Driver::Overlay => dir.join("merged"),
            Driver::Vfs => dir.join("diff"),
        }
    }

    /// The overlay "upper" / vfs dir (for inspect GraphDriver.Data).
    pub fn container_upper_dir(&self, container_id: &str) -> PathBuf {
        self.container_dir(container_id).join("diff")
    }

    /// The overlay work dir (for inspect GraphDriver.Data WorkDir).
    pub fn container_work_dir(&self, container_id: &str) -> PathBuf {
        self.container_dir(container_id).join("work")
    }

    /// For inspect GraphDriver.Data LowerDir. A path only: ids are not validated here.
    pub fn layer_diff_dir(&self, chain_id: &str) -> PathBuf {
        self.layer_dir(chain_id).join("diff")
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn links_dir(&self) -> PathBuf {
        self.root.join("l")
    }

    fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn layer_dir(&self, chain_id: &str) -> PathBuf {
        let name = chain_id.strip_prefix("sha256:").unwrap_or(chain_id);
        self.layers_dir().join(name)
    }

    fn container_dir(&self, container_id: &str) -> PathBuf {
        self.containers_dir().join(container_id)
    }

    fn check_layer_id(&self, chain_id: &str) -> Result<()> {
        match digest::sha256_hex(chain_id) {
            Some(_) => Ok(()),
            None => Err(StorageError::InvalidLayerId(chain_id.to_string())),
        }
    }

    fn check_container_id(&self, id: &str) -> Result<()> {
        let ok = !id.is_empty()
            && id.len() <= 128
            && !id.starts_with('.')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(())
        } else {
            Err(StorageError::InvalidContainerId(id.to_string()))
        }
    }

    fn layer_record(&self, chain_id: &str) -> Result<LayerRecord> {
        self.check_layer_id(chain_id)?;
        let path = self.layer_dir(chain_id).join(LAYER_RECORD);
        let data = match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::LayerNotFound(chain_id.to_string()))
            }
            other => other.map_err(io_err("reading", &path))?,
        };
        serde_json::from_slice(&data).map_err(|e| StorageError::Io {
            op: "parsing",
            path,
            err: e.into(),
        })
    }

    fn container_chain(&self, container_id: &str) -> Result<Vec<String>> {
        let path = self.container_dir(container_id).join(CONTAINER_LAYERS);
        let data = match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::ContainerNotFound(container_id.to_string()))
            }
            other => other.map_err(io_err("reading", &path))?,
        };
        serde_json::from_slice(&data).map_err(|e| StorageError::Io {
            op: "parsing",
            path,
            err: e.into(),
        })
    }

    /// `l/<short>` -> `../layers/<hex>/diff`; recreated if it went missing.
    fn ensure_link(&self, chain_id: &str) -> Result<()> {
        let link = self.links_dir().join(link_name(chain_id));
        if fs::symlink_metadata(&link).is_ok() {
            return Ok(());
        }
        let hex = chain_id.strip_prefix("sha256:").unwrap_or(chain_id);
        match std::os::unix::fs::symlink(format!("../layers/{hex}/diff"), &link) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other.map_err(io_err("creating link", &link)),
        }
    }

    fn make_temp(&self) -> Result<TempDir> {
        loop {
            let path = self.tmp_dir().join(fsutil::temp_name());
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(TempDir { path, keep: false }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(StorageError::Io {
                        op: "creating",
                        path,
                        err: e,
                    })
                }
            }
        }
    }

    /// Move `dir` out of sight with one rename, then delete it.
    fn remove_via_tmp(&self, dir: &Path) -> Result<()> {
        let trash = self.tmp_dir().join(fsutil::temp_name());
        match fs::rename(dir, &trash) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other.map_err(io_err("removing", dir))?,
        }
        fsutil::remove_path(&trash).map_err(io_err("removing", dir))
    }

    /// Remove temp dirs left by processes that died mid-extraction.
    fn clean_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let dead = pid > 0
                && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                    == Err(nix::errno::Errno::ESRCH);
            if dead {
                let _ = fsutil::remove_path(&entry.path());
            }
        }
    }
}

/// The short name of a layer in `l/`: base32 of its chain digest, 26 characters.
fn link_name(chain_id: &str) -> String {
    let hex = chain_id.strip_prefix("sha256:").unwrap_or(chain_id);
    let bytes = hex::decode(hex).unwrap_or_else(|_| hex.as_bytes().to_vec());
    fsutil::base32(&bytes, LINK_LEN)
}

fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec(value).map_err(|e| StorageError::Io {
        op: "encoding",
        path: path.to_path_buf(),
        err: e.into(),
    })?;
    fs::write(path, data).map_err(io_err("writing", path))?;
    // Readable by root only, like the directories around it.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err("writing", path))
}

#[cfg(test)]
mod tests;
