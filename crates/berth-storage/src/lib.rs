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
//! containers/<id>/idmap.json       the user namespace's ID mappings, if it has one
//! containers/<id>/idmapped/<n>     overlay: idmapped mounts of the lowers while mounting
//! containers/<id>/idmapped/m<n>    an idmapped view of mount n (`idmap`) until bound
//! containers/<id>/mapped/<n>       copies of the lowers with shifted owners (kernels
//!                                  without idmapped mounts)
//! image-mounts/<chain hex>         `image mount` of the image whose top layer this is
//!                                  (overlay: a read-only mount; vfs: unused)
//! image-mounts/<chain hex>.count   how many `image mount`s are not yet unmounted
//! image-mounts/empty               the second lower of a one-layer image's mount
//! tmp/<pid>-<random>-<n>           extraction and deletion area (same file system, so
//!                                  layers appear and disappear by one rename)
//! ```

mod apply;
mod changes;
pub mod copy;
mod diff;
mod digest;
mod fsutil;
pub mod idmap;
mod mount;
mod tarsplit;

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use changes::{Change, ChangeKind};
pub use digest::chain_id;
pub use idmap::{IdMappings, IdRange};
pub use tarsplit::LayerTar;

/// Extracts a (plain or compressed) tar stream into the existing directory `dir` with the
/// rules layers are applied by: nothing is written outside `dir` (no `..`, no writing
/// through symlinks, hard links only to entries of the same stream), whiteouts are
/// honoured. For volume imports and copies into containers.
pub fn extract_tar(dir: &Path, reader: impl Read) -> Result<()> {
    apply::apply_stream(dir, Driver::Vfs, reader, None).map(|_| ())
}

/// Copies the contents of `src` into the existing empty directory `dst`, keeping owners,
/// modes, times, xattrs, links and device nodes; `dst` takes `src`'s owner and mode.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fsutil::copy_tree(src, dst)
}

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
const IMAGE_MOUNTS: &str = "image-mounts";
const CONTAINER_LAYERS: &str = "layers.json";
const CONTAINER_IDMAP: &str = "idmap.json";
/// Set (to anything): containers in user namespaces get copies of their layers with
/// shifted owners, as on kernels without idmapped mounts (for tests).
pub const NO_IDMAPPED_MOUNTS: &str = "BERTH_NO_IDMAPPED_MOUNTS";

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
        // Never delete a layer under a live `image mount`.
        self.release_image_mount(chain_id)?;
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
        self.create_container_layer_mapped(container_id, chain, None)
    }

    /// As [`Self::create_container_layer`], for a container in a user namespace with
    /// `maps` (when given): its root file system shows the image's files as owned by
    /// the namespace's IDs (overlay: idmapped lowers; vfs: the copy's owners shifted).
    pub fn create_container_layer_mapped(
        &self,
        container_id: &str,
        chain: &[String],
        maps: Option<&IdMappings>,
    ) -> Result<()> {
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
        if let Some(m) = maps.filter(|m| !m.is_empty()) {
            let diff = tmp.path.join("diff");
            match self.driver {
                // The upper directory's root is the root directory's owner.
                Driver::Overlay => {
                    let (uid, gid) = match chain.last() {
                        Some(top) => {
                            let d = self.layer_diff_dir(top);
                            let st = fs::metadata(&d).map_err(io_err("reading", &d))?;
                            use std::os::unix::fs::MetadataExt;
                            m.to_host(st.uid(), st.gid())
                        }
                        None => m.root(),
                    };
                    std::os::unix::fs::chown(&diff, Some(uid), Some(gid))
                        .map_err(io_err("changing the owner of", &diff))?;
                }
                Driver::Vfs => {
                    idmap::shift_tree(&diff, m).map_err(io_err("changing the owners in", &diff))?
                }
            }
            write_json(&tmp.path.join(CONTAINER_IDMAP), m)?;
            // The runtime reaches the root file system as the namespace's root.
            fs::set_permissions(&tmp.path, fs::Permissions::from_mode(0o711))
                .map_err(io_err("changing the mode of", &tmp.path))?;
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
        if let Some(c) = chain.iter().find(|c| !self.has_layer(c)) {
            return Err(StorageError::LayerNotFound(c.clone()));
        }
        let cdir = format!("containers/{container_id}");
        let maps = self.container_idmap(container_id)?;
        let idmap = maps
            .as_ref()
            .map(|m| (m, self.container_dir(container_id).join("idmapped")));
        self.mount_layers(
            &chain,
            &format!("{cdir}/empty"),
            Some((&format!("{cdir}/diff"), &format!("{cdir}/work"))),
            &rootfs,
            container_id,
            idmap,
        )?;
        Ok(rootfs)
    }

    /// The ID mappings of a container made in a user namespace.
    pub fn container_idmap(&self, container_id: &str) -> Result<Option<IdMappings>> {
        self.check_container_id(container_id)?;
        let p = self.container_dir(container_id).join(CONTAINER_IDMAP);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StorageError::Io {
                    op: "reading",
                    path: p.clone(),
                    err: io::Error::new(io::ErrorKind::InvalidData, e),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &p)(e)),
        }
    }

    /// The largest uid or gid an image's files (and its /etc/passwd and /etc/group) use:
    /// what `--userns=auto` sizes a namespace by.
    pub fn max_ids(&self, chain: &[String]) -> Result<u32> {
        let dirs: Vec<PathBuf> = match self.driver {
            Driver::Overlay => chain.iter().rev().map(|c| self.layer_diff_dir(c)).collect(),
            Driver::Vfs => chain
                .last()
                .map(|c| self.layer_diff_dir(c))
                .into_iter()
                .collect(),
        };
        let mut max = 0u32;
        for d in &dirs {
            idmap::max_owner(d, &mut max).map_err(io_err("reading", d))?;
        }
        for (file, id_field) in [("etc/passwd", 2), ("etc/group", 2)] {
            // The top-most layer with the file has the one the image shows.
            if let Some(text) = dirs
                .iter()
                .find_map(|d| fs::read_to_string(d.join(file)).ok())
            {
                for l in text.lines() {
                    let fields: Vec<&str> = l.split(':').collect();
                    let ids = [
                        fields.get(id_field),
                        fields.get(3).filter(|_| file == "etc/passwd"),
                    ];
                    for id in ids
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.parse::<u32>().ok())
                    {
                        if id != idmap::OVERFLOW_ID {
                            max = max.max(id);
                        }
                    }
                }
            }
        }
        Ok(max)
    }

    /// Idmapped mounts of a container's lower layers (top first) in `base`; the error
    /// is the system's, for [`idmap::unsupported`] to tell.
    fn idmapped_lowers(
        &self,
        base: &Path,
        chain: &[String],
        maps: &IdMappings,
    ) -> io::Result<Vec<PathBuf>> {
        if std::env::var_os(NO_IDMAPPED_MOUNTS).is_some() {
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        }
        let ns = idmap::UserNs::new(maps)?;
        let mut made: Vec<PathBuf> = Vec::new();
        let result = (|| {
            for (i, c) in chain.iter().rev().enumerate() {
                let target = base.join(i.to_string());
                fs::create_dir_all(&target)?;
                let _ = mount::unmount(&target);
                idmap::idmapped_bind(&self.layer_diff_dir(c), &target, &ns)?;
                made.push(target);
            }
            Ok(())
        })();
        if let Err(e) = result {
            for p in &made {
                let _ = mount::unmount(p);
            }
            return Err(e);
        }
        Ok(made)
    }

    /// An idmapped view of `src` (a bind mount's or a volume's directory, mount `index`
    /// of the container) for a container in the user namespace `ns`: files owned by
    /// host IDs show as the same IDs inside. The runtime binds it; then
    /// [`Self::release_idmapped_binds`] drops it (the container's bind holds its own).
    pub fn idmapped_bind_for(
        &self,
        container_id: &str,
        index: usize,
        src: &Path,
        ns: &idmap::UserNs,
    ) -> Result<PathBuf> {
        self.check_container_id(container_id)?;
        let target = self
            .container_dir(container_id)
            .join("idmapped")
            .join(format!("m{index}"));
        fs::create_dir_all(&target).map_err(io_err("creating", &target))?;
        let _ = mount::unmount(&target);
        idmap::idmapped_bind(src, &target, ns).map_err(|err| StorageError::Mount {
            container: container_id.to_string(),
            path: src.to_path_buf(),
            err: io::Error::new(err.kind(), format!("an idmapped mount (idmap): {err}")),
        })?;
        Ok(target)
    }

    /// Unmounts what [`Self::idmapped_bind_for`] made for the container (idempotent).
    pub fn release_idmapped_binds(&self, container_id: &str) {
        let base = self.container_dir(container_id).join("idmapped");
        for e in fs::read_dir(&base).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with('m') {
                let _ = mount::unmount(&e.path());
            }
        }
    }

    /// Where idmapped mounts are not there (before Linux 5.19 for overlay's layers):
    /// copies of a container's lower layers (top first) in `base` with their owners
    /// shifted into the namespace, made once and kept with the container (as Podman
    /// does then).
    fn mapped_copies(
        &self,
        base: &Path,
        chain: &[String],
        maps: &IdMappings,
    ) -> Result<Vec<PathBuf>> {
        let mut out = Vec::with_capacity(chain.len());
        for (i, c) in chain.iter().rev().enumerate() {
            let dst = base.join(i.to_string());
            if !dst.is_dir() {
                // Made beside, then renamed into place: a copy that is there is whole.
                let tmp = base.join(format!("{i}.tmp"));
                let _ = fs::remove_dir_all(&tmp);
                fs::create_dir_all(&tmp).map_err(io_err("creating", &tmp))?;
                let src = self.layer_diff_dir(c);
                fsutil::copy_tree(&src, &tmp).map_err(io_err("copying image layer", &src))?;
                idmap::shift_tree(&tmp, maps).map_err(io_err("changing the owners in", &tmp))?;
                fs::rename(&tmp, &dst).map_err(io_err("storing", &dst))?;
            }
            out.push(dst);
        }
        Ok(out)
    }

    /// Unmount if mounted (idempotent; MNT_DETACH fallback if EBUSY), with the
    /// container's image mounts.
    pub fn unmount_container(&self, container_id: &str) -> Result<()> {
        self.check_container_id(container_id)?;
        if self.driver == Driver::Vfs {
            return Ok(());
        }
        self.unmount_container_images(container_id)?;
        let rootfs = self.container_rootfs(container_id);
        mount::unmount(&rootfs).map_err(|err| StorageError::Unmount { path: rootfs, err })
    }

    /// A container's `--mount type=image` number `index`: the layers `chain` (bottom to
    /// top) mounted at a path of the container's own, read-only, or with `rw` over a
    /// writable layer that goes with the container. vfs: the top layer's directory
    /// (read-only; the caller mounts it so), or with `rw` a copy of it.
    pub fn mount_container_image(
        &self,
        container_id: &str,
        index: usize,
        chain: &[String],
        rw: bool,
    ) -> Result<PathBuf> {
        self.check_container_id(container_id)?;
        let top = self.stored_top(chain)?;
        let rel = format!("containers/{container_id}/image-{index}");
        let dir = self.root.join(&rel);
        let mkdir = |p: &Path| match fs::DirBuilder::new().mode(0o755).create(p) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other.map_err(io_err("creating", p)),
        };
        mkdir(&dir)?;
        if self.driver == Driver::Vfs {
            if !rw {
                return Ok(self.layer_diff_dir(top));
            }
            let copy = dir.join("diff");
            if fs::symlink_metadata(&copy).is_err() {
                let tmp = dir.join("diff.tmp");
                let _ = fs::remove_dir_all(&tmp);
                mkdir(&tmp)?;
                let src = self.layer_diff_dir(top);
                fsutil::copy_tree(&src, &tmp).map_err(io_err("copying image layer", &src))?;
                fs::rename(&tmp, &copy).map_err(io_err("storing", &copy))?;
            }
            return Ok(copy);
        }
        let target = dir.join("merged");
        mkdir(&target)?;
        if mount::is_mounted(&target).map_err(io_err("reading mountinfo for", &target))? {
            return Ok(target);
        }
        let (upper, work) = (format!("{rel}/diff"), format!("{rel}/work"));
        for d in if rw {
            ["diff", "work"]
        } else {
            ["empty", "empty"]
        } {
            mkdir(&dir.join(d))?;
        }
        let upper_work = rw.then_some((upper.as_str(), work.as_str()));
        let empty = format!("{rel}/empty");
        // In the container's user namespace, its image mounts show as its own files.
        let maps = self.container_idmap(container_id)?;
        if let (Some(m), true) = (&maps, rw) {
            let (uid, gid) = m.root();
            let upper = dir.join("diff");
            std::os::unix::fs::chown(&upper, Some(uid), Some(gid))
                .map_err(io_err("changing the owner of", &upper))?;
        }
        let idmap = maps.as_ref().map(|m| (m, dir.join("idmapped")));
        self.mount_layers(chain, &empty, upper_work, &target, container_id, idmap)?;
        Ok(target)
    }

    /// Unmounts a container's image mounts (idempotent).
    fn unmount_container_images(&self, container_id: &str) -> Result<()> {
        let dir = self.container_dir(container_id);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("image-") {
                let target = e.path().join("merged");
                mount::unmount(&target)
                    .map_err(|err| StorageError::Unmount { path: target, err })?;
            }
        }
        Ok(())
    }

    /// Unmount + delete the container layer. Idempotent (missing is fine). Nothing is
    /// deleted while the root file system is still mounted.
    pub fn remove_container_layer(&self, container_id: &str) -> Result<()> {
        self.check_container_id(container_id)?;
        let rootfs = self.container_rootfs(container_id);
        // Checked for both drivers: deleting through a live mount would delete its lowers' view.
        self.unmount_container_images(container_id)?;
        mount::unmount(&rootfs).map_err(|err| StorageError::Unmount { path: rootfs, err })?;
        let dir = self.container_dir(container_id);
        // Idmapped layer mounts a crash left between their making and the overlay's: they
        // would keep the directory from being removed (and deleting through them would
        // delete the image's layers).
        let mut idmapped = vec![dir.join("idmapped")];
        if let Ok(entries) = fs::read_dir(&dir) {
            idmapped.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("image-"))
                    .map(|e| e.path().join("idmapped")),
            );
        }
        for base in idmapped {
            for e in fs::read_dir(&base).into_iter().flatten().flatten() {
                let p = e.path();
                mount::unmount(&p).map_err(|err| StorageError::Unmount { path: p, err })?;
            }
        }
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(());
        }
        self.remove_via_tmp(&dir)
    }

    /// `commit`: stores the container's changes as a new layer on top of its image's top
    /// layer, or with `squash` its whole root file system as a base layer, and returns the
    /// layer. The tar is written to a temp file first and applied like a pulled layer (so
    /// it gets a tar-split index and `save`/`push` can rebuild it). See the `diff` module.
    pub fn commit_container_layer(&self, container_id: &str, squash: bool) -> Result<LayerInfo> {
        self.check_container_id(container_id)?;
        let chain = self.container_chain(container_id)?;
        let upper = self.container_upper_dir(container_id);
        let tmp = self.make_temp()?;
        let tar_path = tmp.path.join("layer.tar");
        let file = fs::File::create(&tar_path).map_err(io_err("creating", &tar_path))?;
        let out = io::BufWriter::with_capacity(256 * 1024, file);
        let maps = self.container_idmap(container_id)?;
        let maps = maps.as_ref();
        let written = match (self.driver, squash) {
            (Driver::Overlay, false) => {
                diff::write_tree(&upper, diff::Walk::OverlayUpper, maps, out)
            }
            (Driver::Vfs, false) => {
                let top = chain.last().map(|c| self.layer_diff_dir(c));
                diff::write_changes(&upper, top.as_deref(), maps, out)
            }
            (Driver::Vfs, true) => diff::write_tree(&upper, diff::Walk::Full, maps, out),
            (Driver::Overlay, true) => {
                let rootfs = self.container_rootfs(container_id);
                let was_mounted =
                    mount::is_mounted(&rootfs).map_err(io_err("reading mountinfo for", &rootfs))?;
                let root = self.mount_container(container_id)?;
                let r = diff::write_tree(&root, diff::Walk::Full, maps, out);
                if !was_mounted {
                    self.unmount_container(container_id)?;
                }
                r
            }
        };
        written
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all())
            .map_err(io_err("writing the changes of container", &upper))?;
        let f = fs::File::open(&tar_path).map_err(io_err("opening", &tar_path))?;
        let parent = if squash { None } else { chain.last() };
        self.apply_layer(
            parent.map(String::as_str),
            io::BufReader::with_capacity(256 * 1024, f),
            None,
        )
    }

    /// The chain ids of the image a container was made from, bottom to top.
    pub fn container_layers(&self, container_id: &str) -> Result<Vec<String>> {
        self.check_container_id(container_id)?;
        self.container_chain(container_id)
    }

    /// `image mount`: a read-only view of the image whose layers are `chain` (bottom to
    /// top): overlay mounts the layers without an upper dir (with an empty second lower
    /// for a one-layer image); vfs gives the top layer's directory, a full tree. Counts
    /// mounts like Podman: each needs its own `unmount_image`. The caller holds the
    /// storage lock alone (the count is read, then written).
    pub fn mount_image(&self, chain: &[String]) -> Result<PathBuf> {
        let top = self.stored_top(chain)?;
        let count = self.image_mount_count(top)?;
        let path = match self.driver {
            Driver::Vfs => self.layer_diff_dir(top),
            Driver::Overlay => {
                let target = self.image_mount_dir(top);
                if count == 0 {
                    self.mount_image_overlay(chain, &target)?;
                }
                target
            }
        };
        self.set_image_mount_count(top, count + 1)?;
        Ok(path)
    }

    fn mount_image_overlay(&self, chain: &[String], target: &Path) -> Result<()> {
        let mounts = self.root.join(IMAGE_MOUNTS);
        let empty = mounts.join("empty");
        for d in [&mounts, &empty, &target.to_path_buf()] {
            match fs::DirBuilder::new().mode(0o700).create(d) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                other => other.map_err(io_err("creating", d))?,
            }
        }
        let top = chain.last().map(String::as_str).unwrap_or_default();
        let empty = format!("{IMAGE_MOUNTS}/empty");
        let owner = format!("image with top layer {top}");
        self.mount_layers(chain, &empty, None, target, &owner, None)
    }

    /// The top layer of `chain` (bottom to top), once every layer is known to be stored.
    fn stored_top<'a>(&self, chain: &'a [String]) -> Result<&'a String> {
        let Some(top) = chain.last() else {
            return Err(StorageError::LayerNotFound(
                "(an image without layers)".into(),
            ));
        };
        for c in chain {
            self.check_layer_id(c)?;
            if !self.has_layer(c) {
                return Err(StorageError::LayerNotFound(c.clone()));
            }
        }
        Ok(top)
    }

    /// Overlay-mounts the layers `chain` (bottom to top) at `target`: over `upper_work`,
    /// or read-only (then a one-layer chain gets the empty directory `empty` as its second
    /// lower, as overlay needs two). Paths are relative to the store's root; `owner` names
    /// what the mount is for in errors.
    /// With `idmap` (a user namespace's mappings and a directory for the idmapped
    /// mounts), the layers show as owned by the namespace's IDs.
    fn mount_layers(
        &self,
        chain: &[String],
        empty: &str,
        upper_work: Option<(&str, &str)>,
        target: &Path,
        owner: &str,
        idmap: Option<(&IdMappings, PathBuf)>,
    ) -> Result<()> {
        let mut lowers = Vec::with_capacity(chain.len() + 1);
        for c in chain.iter().rev() {
            self.ensure_link(c)?;
            lowers.push(format!("l/{}", link_name(c)));
        }
        let rel = |dirs: &[PathBuf]| -> Vec<String> {
            dirs.iter()
                .map(|p| {
                    p.strip_prefix(&self.root)
                        .unwrap_or(p)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        };
        // Overlay needs a lower, and two when it has no upper.
        let with_empty = |mut lowers: Vec<String>| {
            if lowers.is_empty() || (upper_work.is_none() && lowers.len() == 1) {
                lowers.push(empty.to_string());
            }
            lowers
        };
        let mounted = match idmap {
            None => mount::mount_overlay(&self.root, &with_empty(lowers), upper_work, target),
            Some((m, base)) => {
                let tried = self.idmapped_lowers(&base, chain, m).map(|idmapped| {
                    let r = mount::mount_overlay(
                        &self.root,
                        &with_empty(rel(&idmapped)),
                        upper_work,
                        target,
                    );
                    // The overlay holds its own references to its layers: the idmapped
                    // mounts can go.
                    for p in &idmapped {
                        let _ = mount::unmount(p);
                    }
                    r
                });
                match tried {
                    Ok(Err(mount::MountFailure::Sys(e))) | Err(e) if idmap::unsupported(&e) => {
                        let copies =
                            self.mapped_copies(&base.with_file_name("mapped"), chain, m)?;
                        mount::mount_overlay(
                            &self.root,
                            &with_empty(rel(&copies)),
                            upper_work,
                            target,
                        )
                    }
                    Ok(r) => r,
                    Err(e) => Err(mount::MountFailure::Sys(e)),
                }
            }
        };
        mounted.map_err(|f| match f {
            mount::MountFailure::TooLong => StorageError::TooManyLayers {
                container: owner.to_string(),
                layers: chain.len(),
            },
            mount::MountFailure::Sys(err) => StorageError::Mount {
                container: owner.to_string(),
                path: target.to_path_buf(),
                err,
            },
        })
    }

    /// `image unmount`: one mount of the image whose top layer is `top` fewer (with
    /// `force`, all of them). Returns whether it was mounted. The caller holds the
    /// storage lock alone.
    pub fn unmount_image(&self, top: &str, force: bool) -> Result<bool> {
        self.check_layer_id(top)?;
        let count = self.image_mount_count(top)?;
        if count == 0 {
            return Ok(false);
        }
        if count == 1 || force {
            self.release_image_mount(top)?;
        } else {
            self.set_image_mount_count(top, count - 1)?;
        }
        Ok(true)
    }

    /// The images mounted with `mount_image`: (top layer chain id, path).
    pub fn mounted_images(&self) -> Result<Vec<(String, PathBuf)>> {
        let dir = self.root.join(IMAGE_MOUNTS);
        let entries = match fs::read_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(io_err("listing", &dir))?,
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("listing", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_suffix(".count") else {
                continue;
            };
            let chain = format!("sha256:{hex}");
            if self.check_layer_id(&chain).is_err() || self.image_mount_count(&chain)? == 0 {
                continue;
            }
            let path = match self.driver {
                Driver::Vfs => self.layer_diff_dir(&chain),
                Driver::Overlay => self.image_mount_dir(&chain),
            };
            out.push((chain, path));
        }
        out.sort();
        Ok(out)
    }

    /// Unmounts every `image mount` of the image whose top layer is `top` and forgets it.
    fn release_image_mount(&self, top: &str) -> Result<()> {
        let target = self.image_mount_dir(top);
        mount::unmount(&target).map_err(|err| StorageError::Unmount {
            path: target.clone(),
            err,
        })?;
        let count = self.image_mount_count_file(top);
        fsutil::remove_path(&count).map_err(io_err("removing", &count))?;
        match fs::remove_dir(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(io_err("removing", &target)),
        }
    }

    fn image_mount_dir(&self, top: &str) -> PathBuf {
        let hex = top.strip_prefix("sha256:").unwrap_or(top);
        self.root.join(IMAGE_MOUNTS).join(hex)
    }

    fn image_mount_count_file(&self, top: &str) -> PathBuf {
        let hex = top.strip_prefix("sha256:").unwrap_or(top);
        self.root.join(IMAGE_MOUNTS).join(format!("{hex}.count"))
    }

    /// The recorded count; an overlay mount that is gone (a reboot) counts as none.
    fn image_mount_count(&self, top: &str) -> Result<u64> {
        let file = self.image_mount_count_file(top);
        let count = match fs::read_to_string(&file) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            other => other.map_err(io_err("reading", &file))?,
        };
        let count = count.trim().parse::<u64>().unwrap_or(0);
        if count > 0 && self.driver == Driver::Overlay {
            let target = self.image_mount_dir(top);
            if !mount::is_mounted(&target).map_err(io_err("reading mountinfo for", &target))? {
                return Ok(0);
            }
        }
        Ok(count)
    }

    fn set_image_mount_count(&self, top: &str, count: u64) -> Result<()> {
        let dir = self.root.join(IMAGE_MOUNTS);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            other => other.map_err(io_err("creating", &dir))?,
        }
        let file = self.image_mount_count_file(top);
        fs::write(&file, count.to_string()).map_err(io_err("writing", &file))
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
                changes::overlay_changes(&upper, &lowers)
            }
            Driver::Vfs => {
                let old = chain.last().map(|c| self.layer_diff_dir(c));
                let maps = self.container_idmap(container_id)?;
                changes::tree_changes(&upper, old.as_deref(), maps.as_ref())
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
            Driver::Overlay => changes::overlay_changes(&dir, &below),
            Driver::Vfs => changes::tree_changes(&dir, below.first().map(PathBuf::as_path), None),
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
