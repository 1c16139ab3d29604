//! LocalEngine: the Engine implemented in-process on top of the state DB, the layer
//! store and the OCI runtime.

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, IoContext, Result};
use crate::lock::Lock;
use berth_oci::Runtime;
use berth_storage::{Driver, LayerStore};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

pub struct LocalEngine {
    pub(crate) cfg: Config,
    db: Mutex<Db>,
    pub(crate) store: LayerStore,
    runtime: OnceLock<std::result::Result<Runtime, String>>,
}

impl LocalEngine {
    /// Opens (creating if needed) the storage under `cfg.root` and `cfg.runroot`.
    pub fn open(cfg: Config) -> Result<LocalEngine> {
        for d in [
            cfg.root.clone(),
            cfg.root.join("containers"),
            cfg.root.join("tmp"),
            cfg.runroot.join("locks"),
            cfg.runroot.join("containers"),
        ] {
            std::fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        }
        let driver: Driver = cfg
            .storage_driver
            .parse()
            .map_err(|e: berth_storage::StorageError| Error::InvalidArg(e.to_string()))?;
        let store = LayerStore::new(&cfg.root.join(&cfg.storage_driver), driver)?;
        let db = Db::open(&cfg.root)?;
        Ok(LocalEngine {
            cfg,
            db: Mutex::new(db),
            store,
            runtime: OnceLock::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The OCI runtime, chosen on first use.
    pub fn runtime(&self) -> Result<&Runtime> {
        let r = self.runtime.get_or_init(|| {
            Runtime::select(self.cfg.runtime.as_deref(), &self.cfg.runroot)
                .map_err(|e| e.to_string())
        });
        r.as_ref().map_err(|e| Error::Other(e.clone()))
    }

    pub(crate) fn lock(&self, id: &str) -> Result<Lock> {
        Lock::acquire(&self.cfg.runroot.join("locks"), id)
    }

    /// Persistent per-container directory (bundle, config.json, log, hosts files).
    pub(crate) fn userdata(&self, id: &str) -> PathBuf {
        self.cfg.root.join("containers").join(id)
    }

    /// Run-time per-container directory (attach socket, pid file, runtime log).
    pub(crate) fn rundir(&self, id: &str) -> PathBuf {
        self.cfg.runroot.join("containers").join(id)
    }

    /// Written by the monitor when the container exits. It lives in the run directory, so
    /// a monitor that outlives `rm` cannot leave one behind.
    pub(crate) fn exit_file(&self, id: &str) -> PathBuf {
        self.rundir(id).join("exit")
    }

    pub(crate) fn tmpdir(&self, what: &str) -> Result<PathBuf> {
        let d = self
            .cfg
            .root
            .join("tmp")
            .join(format!("{what}-{}", &crate::ids::new_id()[..16]));
        std::fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        Ok(d)
    }

    /// The global flags a re-executed berth needs to find this storage.
    pub(crate) fn self_args(&self) -> Vec<String> {
        let mut v = vec![
            self.cfg.exe.to_string_lossy().into_owned(),
            "--root".into(),
            self.cfg.root.to_string_lossy().into_owned(),
            "--runroot".into(),
            self.cfg.runroot.to_string_lossy().into_owned(),
            "--storage-driver".into(),
            self.cfg.storage_driver.clone(),
            "--network-config-dir".into(),
            self.cfg.network_config_dir.to_string_lossy().into_owned(),
        ];
        if let Some(r) = &self.cfg.runtime {
            v.push("--runtime".into());
            v.push(r.clone());
        }
        v
    }
}
