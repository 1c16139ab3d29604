//! Per-object file locks, so that many berth processes can act at once without a daemon.

use crate::error::{IoContext, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// An exclusive lock on one container, held until dropped.
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Blocks until the lock for `id` under `dir` is ours alone.
    pub fn acquire(dir: &Path, id: &str) -> Result<Lock> {
        Self::take(dir, id, false)
    }

    /// Blocks until we share the lock for `id` (with other shared holders only).
    pub fn acquire_shared(dir: &Path, id: &str) -> Result<Lock> {
        Self::take(dir, id, true)
    }

    fn take(dir: &Path, id: &str, shared: bool) -> Result<Lock> {
        let path = dir.join(format!("{id}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("opening lock {}", path.display()))?;
        if shared {
            file.lock_shared()
        } else {
            file.lock()
        }
        .ctx(|| format!("locking {}", path.display()))?;
        Ok(Lock { _file: file, path })
    }

    /// Removes the lock file (the object is gone); the lock is released on drop.
    pub fn remove_file(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
