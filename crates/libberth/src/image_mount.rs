//! `image mount` and `image unmount`: a read-only view of an image's layers.

use crate::error::Result;
use crate::local::LocalEngine;
use std::path::PathBuf;

/// A mounted image, as `image mount` lists it.
#[derive(Debug, Clone)]
pub struct ImageMount {
    /// Hex ID.
    pub id: String,
    pub names: Vec<String>,
    pub path: PathBuf,
}

impl LocalEngine {
    /// `image mount IMAGE`: mounts the image (once more) and returns its ID and path.
    pub fn image_mount(&self, key: &str) -> Result<(String, PathBuf)> {
        // Alone: mounting reads and writes the mount count, and no `rmi` may run meanwhile.
        let _lock = self.storage_lock()?;
        let img = self.lookup_image(key)?;
        let path = self.store.mount_image(&img.layers)?;
        Ok((img.id, path))
    }

    /// `image mount` without names: every image whose layers are mounted.
    pub fn mounted_images(&self) -> Result<Vec<ImageMount>> {
        let mounts = self.store.mounted_images()?;
        if mounts.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for img in self.db().images()? {
            let Some(top) = img.layers.last() else {
                continue;
            };
            if let Some((_, path)) = mounts.iter().find(|(c, _)| c == top) {
                out.push(ImageMount {
                    id: img.id.clone(),
                    names: img.names.clone(),
                    path: path.clone(),
                });
            }
        }
        Ok(out)
    }

    /// `image unmount IMAGE`: one mount fewer (`force`: all). Returns the image ID if the
    /// image was mounted, None if it was not.
    pub fn image_unmount(&self, key: &str, force: bool) -> Result<Option<String>> {
        let _lock = self.storage_lock()?;
        let img = self.lookup_image(key)?;
        let Some(top) = img.layers.last() else {
            return Ok(None);
        };
        Ok(self.store.unmount_image(top, force)?.then_some(img.id))
    }
}
