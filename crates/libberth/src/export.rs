//! `mount`, `unmount` and `export` of a container's root file system.

use crate::containers::display_state;
use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::types::state;
use std::io::Write;
use std::path::PathBuf;

pub(crate) fn is_mounted(path: &std::path::Path) -> bool {
    let p = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(p.as_ref()))
}

impl LocalEngine {
    /// `mount`: mounts the container's root file system (if needed) and returns its path.
    pub fn container_mount(&self, key: &str) -> Result<PathBuf> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        Ok(self.store.mount_container(&id)?)
    }

    /// `mount` without names: the containers whose root file system is mounted.
    pub fn mounted_containers(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        for rec in self.db().containers()? {
            let p = self.store.container_rootfs(&rec.id);
            if is_mounted(&p) {
                out.push((rec.id, p));
            }
        }
        Ok(out)
    }

    /// `unmount`: releases the root file system of a container that is not running.
    pub fn container_unmount(&self, key: &str) -> Result<String> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        let (st, _, _) = self.live_state(&rec);
        if matches!(st.as_str(), state::RUNNING | state::PAUSED | state::CREATED) {
            return Err(Error::InvalidState(
                id,
                display_state(&st).into(),
                "cannot unmount the root file system of a container in use: container state improper",
            ));
        }
        self.store.unmount_container(&id)?;
        Ok(id)
    }

    /// `export`: the container's root file system as a tar stream.
    pub fn container_export(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let root = self.store.container_rootfs(&id);
        let was_mounted =
            matches!(self.store.driver(), berth_storage::Driver::Vfs) || is_mounted(&root);
        let root = self.store.mount_container(&id)?;
        let maps = self.record(&id)?.config.id_mappings;
        let result = (|| -> Result<()> {
            if let Some(m) = maps {
                // Owners on disk are the user namespace's host IDs: written as its own.
                let dir = berth_storage::copy::open_root(&root)
                    .ctx(|| format!("opening {}", root.display()))?;
                let r = berth_storage::copy::resolve(&dir, "/", true)
                    .ctx(|| format!("opening {}", root.display()))?;
                let opts = berth_storage::copy::TarOptions {
                    idmap: Some(m),
                    ..Default::default()
                };
                return berth_storage::copy::write_tar(&r, "", out, &opts)
                    .ctx(|| format!("exporting container {id}"));
            }
            let mut tar = tar::Builder::new(out);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Complete);
            tar.append_dir_all(".", &root)
                .ctx(|| format!("exporting container {id}"))?;
            tar.finish().ctx(|| format!("exporting container {id}"))?;
            Ok(())
        })();
        if !was_mounted {
            let _ = self.store.unmount_container(&id);
        }
        result
    }
}
