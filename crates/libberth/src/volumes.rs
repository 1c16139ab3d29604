//! Volumes: named and anonymous, `<root>/volumes/<name>/_data`, recorded in the state
//! database. A volume with `type`/`device` options is mounted on its `_data` directory
//! while a container that uses it runs. The first container to use a volume copies the
//! image's content at the mount point into it (unless `nocopy`), as Podman does.
//!
//! Locks: a volume's lock (`volume-<name>`) is taken after a container's, never before.

use crate::containers::resolve_in_root;
use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::lock::Lock;
use crate::types::state;
use crate::types::{ContainerConfig, ContainerRecord, UserMount};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// A volume's settings as recorded in the database.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// RFC 3339, nanoseconds.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    /// `-o KEY=VALUE` as given.
    pub options: BTreeMap<String, String>,
    pub anonymous: bool,
    /// Not used by a container yet: the first one copies the image's content in.
    pub needs_copy_up: bool,
    /// Not used by a container yet: the first one gives it its owner.
    pub needs_chown: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Volume {
    /// A volume with `type` or `device` is a file system mounted on `_data`.
    fn needs_mount(&self) -> bool {
        self.options.contains_key("type") || self.options.contains_key("device")
    }
}

/// What `volume create` (and `-v NAME:/dst` on first use) asks for.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreateOptions {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `-o KEY=VALUE`, as given.
    pub options: Vec<String>,
    /// `--ignore`: an existing volume is not an error.
    pub ignore: bool,
}

/// Keys the local driver accepts in `-o` (Podman's list).
const LOCAL_OPTIONS: &[&str] = &[
    "type", "device", "o", "uid", "gid", "size", "inodes", "noquota", "copy", "nocopy", "timeout",
];

fn parse_id(key: &str, value: &str) -> Result<u32> {
    value.parse().map_err(|_| {
        Error::InvalidArg(format!(
            "cannot parse {key} {value:?}: a number is required"
        ))
    })
}

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn is_mounted(path: &Path) -> bool {
    let p = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(p.as_ref()))
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// Changes the owner of `path` and everything below it (symlinks themselves, not their
/// targets).
fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let md = std::fs::symlink_metadata(path)?;
    if md.is_dir() {
        for e in std::fs::read_dir(path)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

impl LocalEngine {
    fn volumes_dir(&self) -> PathBuf {
        self.cfg.root.join("volumes")
    }

    /// Where a volume's data lives (and where a mounted volume is mounted).
    pub(crate) fn volume_path(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    fn volume_lock(&self, name: &str) -> Result<Lock> {
        self.lock(&format!("volume-{name}"))
    }

    fn volume_record(&self, name: &str) -> Result<Option<Volume>> {
        let db = self.db();
        let cfg: Option<String> = db
            .conn()
            .prepare_cached("SELECT config FROM volumes WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        cfg.map(|c| {
            serde_json::from_str(&c).map_err(|e| Error::Other(format!("volume {name}: {e}")))
        })
        .transpose()
    }

    fn volume(&self, name: &str) -> Result<Volume> {
        self.volume_record(name)?
            .ok_or_else(|| Error::NoSuchVolume(name.to_string()))
    }

    fn all_volumes(&self) -> Result<Vec<Volume>> {
        let db = self.db();
        let mut st = db
            .conn()
            .prepare_cached("SELECT config FROM volumes ORDER BY name")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            let c = r?;
            out.push(serde_json::from_str(&c).map_err(|e| Error::Other(format!("volume: {e}")))?);
        }
        Ok(out)
    }

    fn save_volume(&self, v: &Volume) -> Result<()> {
        let c = serde_json::to_string(v).map_err(|e| Error::Other(e.to_string()))?;
        self.db().write(|tx| {
            tx.execute(
                "UPDATE volumes SET config = ?2 WHERE name = ?1",
                rusqlite::params![v.name, c],
            )?;
            Ok(())
        })
    }

    /// The containers whose mounts use volume `name`.
    fn volume_users(&self, name: &str) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .db()
            .containers()?
            .into_iter()
            .filter(|c| uses_volume(&c.config, name))
            .collect())
    }

    /// `volume create`: returns the volume's name.
    pub fn volume_create(&self, o: &VolumeCreateOptions) -> Result<String> {
        let driver = o.driver.clone().unwrap_or_else(|| "local".into());
        let name = o.name.clone().unwrap_or_else(crate::ids::new_id);
        if driver != "local" {
            return Err(Error::InvalidArg(format!(
                "volume {name} uses volume plugin {driver} but it could not be retrieved: no volume plugin with name {driver} available: required plugin missing"
            )));
        }
        if !crate::ids::valid_name(&name) {
            return Err(Error::InvalidArg(format!(
                "invalid volume name {name:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
            )));
        }
        let mut v = Volume {
            name: name.clone(),
            driver,
            created_at: now_rfc3339(),
            labels: o.labels.clone(),
            needs_copy_up: true,
            needs_chown: true,
            ..Default::default()
        };
        for opt in &o.options {
            let (key, value) = opt.split_once('=').ok_or_else(|| {
                Error::InvalidArg(format!("invalid volume option {opt:?}: use KEY=VALUE"))
            })?;
            let lower = key.to_ascii_lowercase();
            if !LOCAL_OPTIONS.contains(&lower.as_str()) {
                return Err(Error::InvalidArg(format!(
                    "invalid mount option {key} for driver 'local': invalid argument"
                )));
            }
            match lower.as_str() {
                "size" | "inodes" => {
                    return Err(Error::InvalidArg(
                        "volume options size and inodes not supported: the file system does not support project quota".into(),
                    ))
                }
                "uid" => v.uid = Some(parse_id(key, value)?),
                "gid" => v.gid = Some(parse_id(key, value)?),
                "nocopy" | "copy" => v.needs_copy_up = lower == "copy",
                "o" => {
                    for sub in value.split(',') {
                        match sub.split_once('=') {
                            Some(("uid", n)) => v.uid = Some(parse_id("uid", n)?),
                            Some(("gid", n)) => v.gid = Some(parse_id("gid", n)?),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            v.options.insert(key.to_string(), value.to_string());
        }
        if v.options.contains_key("o") && !v.needs_mount() {
            return Err(Error::InvalidArg(format!(
                "volume {name}: the o option needs a type or a device to mount"
            )));
        }
        if v.options.get("type").map(String::as_str) == Some("bind")
            || v.options
                .get("o")
                .is_some_and(|o| o.split(',').any(|x| x == "bind" || x == "rbind"))
        {
            let dev = v.options.get("device").cloned().unwrap_or_default();
            if std::fs::metadata(&dev).is_err() {
                return Err(Error::InvalidArg(format!(
                    "invalid volume option device={dev:?}: the path to bind does not exist"
                )));
            }
        }
        if v.uid.is_some() || v.gid.is_some() {
            v.needs_chown = false;
        }
        match self.add_volume(&v) {
            Err(Error::VolumeExists(_)) if o.ignore => Ok(name),
            r => r.map(|()| name),
        }
    }

    /// Records `v` and makes its directory; nothing remains if either fails.
    fn add_volume(&self, v: &Volume) -> Result<()> {
        let c = serde_json::to_string(v).map_err(|e| Error::Other(e.to_string()))?;
        let _l = self.volume_lock(&v.name)?;
        self.db().write(|tx| {
            let n = tx.execute(
                "INSERT INTO volumes(name, config) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                rusqlite::params![v.name, c],
            )?;
            if n == 0 {
                return Err(Error::VolumeExists(v.name.clone()));
            }
            Ok(())
        })?;
        let made = (|| -> Result<()> {
            let dir = self.volumes_dir().join(&v.name);
            // Left over by a crash in the middle of `volume rm`: not this volume's data.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .ctx(|| format!("creating volume {}", v.name))?;
            let data = dir.join("_data");
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&data)
                .ctx(|| format!("creating volume {}", v.name))?;
            if v.uid.is_some() || v.gid.is_some() {
                std::os::unix::fs::chown(&data, v.uid, v.gid)
                    .ctx(|| format!("changing the owner of volume {}", v.name))?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(self.volumes_dir().join(&v.name));
            let _ = self.db().write(|tx| {
                tx.execute("DELETE FROM volumes WHERE name = ?1", [&v.name])?;
                Ok(())
            });
            return Err(e);
        }
        Ok(())
    }

    /// `volume inspect` of one volume, as Podman prints it.
    pub fn volume_inspect(&self, name: &str) -> Result<Value> {
        let v = self.volume(name)?;
        self.volume_json(&v)
    }

    fn volume_json(&self, v: &Volume) -> Result<Value> {
        let path = self.volume_path(&v.name);
        let mount_count = if v.needs_mount() && is_mounted(&path) {
            self.volume_users(&v.name)?
                .iter()
                .filter(|c| is_active(c))
                .count()
                .max(1)
        } else {
            0
        };
        let mut o = serde_json::Map::new();
        o.insert("Name".into(), json!(v.name));
        o.insert("Driver".into(), json!(v.driver));
        o.insert("Mountpoint".into(), json!(path));
        o.insert("CreatedAt".into(), json!(v.created_at));
        o.insert("Labels".into(), json!(v.labels));
        o.insert("Scope".into(), json!("local"));
        o.insert("Options".into(), json!(v.options));
        if let Some(uid) = v.uid {
            o.insert("UID".into(), json!(uid));
        }
        if let Some(gid) = v.gid {
            o.insert("GID".into(), json!(gid));
        }
        if v.anonymous {
            o.insert("Anonymous".into(), json!(true));
        }
        o.insert("MountCount".into(), json!(mount_count));
        if v.needs_copy_up {
            o.insert("NeedsCopyUp".into(), json!(true));
        }
        if v.needs_chown {
            o.insert("NeedsChown".into(), json!(true));
        }
        Ok(Value::Object(o))
    }

    /// `volume ls`: the volumes that pass every filter (`KEY=VALUE`; a key given twice
    /// matches either value, as Podman does).
    pub fn volume_list(&self, filters: &[String]) -> Result<Vec<Value>> {
        let pred = self.volume_filter(filters)?;
        let mut out = Vec::new();
        for v in self.all_volumes()? {
            if pred(self, &v)? {
                out.push(self.volume_json(&v)?);
            }
        }
        Ok(out)
    }

    #[allow(clippy::type_complexity)]
    fn volume_filter(
        &self,
        filters: &[String],
    ) -> Result<Box<dyn Fn(&LocalEngine, &Volume) -> Result<bool>>> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in filters {
            let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
            if !matches!(
                k,
                "name"
                    | "label"
                    | "label!"
                    | "driver"
                    | "scope"
                    | "opt"
                    | "dangling"
                    | "until"
                    | "anonymous"
            ) {
                return Err(Error::InvalidArg(format!(
                    "{k:?} is an invalid volume filter"
                )));
            }
            if k == "dangling" && !matches!(v, "true" | "false" | "1" | "0") {
                return Err(Error::InvalidArg(format!(
                    "{v:?} is not a valid value for the \"dangling\" filter - must be true or false"
                )));
            }
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        let until = by_key
            .get("until")
            .map(|vals| {
                vals.iter()
                    .map(|u| {
                        // Unix seconds (the CLI turns durations and dates into them) or
                        // RFC 3339.
                        u.parse::<i64>()
                            .ok()
                            .or_else(|| {
                                chrono::DateTime::parse_from_rfc3339(u)
                                    .ok()
                                    .map(|t| t.timestamp())
                            })
                            .ok_or_else(|| Error::InvalidArg(format!("invalid until filter {u:?}")))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        Ok(Box::new(move |e: &LocalEngine, v: &Volume| {
            let label_matches = |want: &str| {
                let (k, val) = match want.split_once('=') {
                    Some((k, val)) => (k, Some(val)),
                    None => (want, None),
                };
                v.labels
                    .get(k)
                    .is_some_and(|have| val.is_none_or(|val| val == have))
            };
            for (k, vals) in &by_key {
                let ok = match k.as_str() {
                    "name" => vals
                        .iter()
                        .any(|n| v.name == *n || regex_lite_match(n, &v.name)),
                    "label" => vals.iter().all(|l| label_matches(l)),
                    "label!" => vals.iter().all(|l| !label_matches(l)),
                    "driver" => vals.contains(&v.driver),
                    "scope" => vals.iter().any(|s| s == "local"),
                    "opt" => vals.iter().any(|o| {
                        let (k, val) = o.split_once('=').unwrap_or((o.as_str(), ""));
                        v.options
                            .get(k)
                            .is_some_and(|have| val.is_empty() || have == val)
                    }),
                    "anonymous" => vals
                        .iter()
                        .any(|a| (a == "true" || a == "1") == v.anonymous),
                    "dangling" => {
                        let unused = e.volume_users(&v.name)?.is_empty();
                        vals.iter().any(|d| (d == "true" || d == "1") == unused)
                    }
                    "until" => {
                        let created = chrono::DateTime::parse_from_rfc3339(&v.created_at)
                            .map(|t| t.timestamp())
                            .unwrap_or(0);
                        until
                            .as_ref()
                            .is_some_and(|u| u.iter().any(|t| created < *t))
                    }
                    _ => true,
                };
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        }))
    }

    /// `volume exists`.
    pub fn volume_exists(&self, name: &str) -> Result<bool> {
        Ok(self.volume_record(name)?.is_some())
    }

    /// `volume rm`: a volume in use is refused unless `force`, which removes the
    /// containers using it first (as Podman does).
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        self.volume(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            if !force {
                let ids: Vec<&str> = users.iter().map(|c| c.id.as_str()).collect();
                return Err(Error::VolumeInUse(name.to_string(), ids.join(", ")));
            }
            for c in &users {
                match self.container_rm(&c.id, true, 0, false) {
                    Ok(()) | Err(Error::NoSuchContainer(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.delete_volume(name)
    }

    /// Removes a volume no container uses (the caller checked): its record, then its data.
    fn delete_volume(&self, name: &str) -> Result<()> {
        let l = self.volume_lock(name)?;
        // A container may have started to use it since the caller looked.
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            let ids: Vec<&str> = users.iter().map(|c| c.id.as_str()).collect();
            return Err(Error::VolumeInUse(name.to_string(), ids.join(", ")));
        }
        let path = self.volume_path(name);
        if is_mounted(&path) {
            nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| Error::Other(format!("unmounting volume {name}: {e}")))?;
        }
        let n = self
            .db()
            .write(|tx| Ok(tx.execute("DELETE FROM volumes WHERE name = ?1", [name])?))?;
        if n == 0 {
            return Err(Error::NoSuchVolume(name.to_string()));
        }
        let dir = self.volumes_dir().join(name);
        std::fs::remove_dir_all(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .ctx(|| format!("removing the data of volume {name}"))?;
        l.remove_file();
        Ok(())
    }

    /// `volume prune`: removes the volumes no container uses; returns their names.
    pub fn volume_prune(&self, filters: &[String]) -> Result<Vec<String>> {
        let pred = self.volume_filter(filters)?;
        let mut removed = Vec::new();
        for v in self.all_volumes()? {
            if !pred(self, &v)? || !self.volume_users(&v.name)?.is_empty() {
                continue;
            }
            match self.delete_volume(&v.name) {
                Ok(()) => removed.push(v.name),
                // Taken into use or removed by another process meanwhile.
                Err(Error::VolumeInUse(..) | Error::NoSuchVolume(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// `volume export`: the volume's content as a tar stream.
    pub fn volume_export(&self, name: &str, out: &mut dyn Write) -> Result<()> {
        self.volume(name)?;
        let _l = self.volume_lock(name)?;
        let path = self.volume_path(name);
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        for e in std::fs::read_dir(&path).ctx(|| format!("reading volume {name}"))? {
            let e = e.ctx(|| format!("reading volume {name}"))?;
            let p = e.path();
            let rel = e.file_name();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                tar.append_dir_all(&rel, &p)
            } else {
                tar.append_path_with_name(&p, &rel)
            }
            .ctx(|| format!("exporting volume {name}"))?;
        }
        tar.finish().ctx(|| format!("exporting volume {name}"))?;
        Ok(())
    }

    /// `volume import`: extracts a tar stream into the volume. The stream is extracted
    /// into a directory beside the data first and moved in only when all of it was good.
    pub fn volume_import(&self, name: &str, input: &mut dyn Read) -> Result<()> {
        self.volume(name)?;
        let _l = self.volume_lock(name)?;
        let data = self.volume_path(name);
        let staging = self
            .volumes_dir()
            .join(name)
            .join(format!("import-{}", &crate::ids::new_id()[..12]));
        // On the same file system as the data when the volume is not a mount of its own.
        let staging = if is_mounted(&data) {
            data.join(format!(".berth-import-{}", &crate::ids::new_id()[..12]))
        } else {
            staging
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&staging)
            .ctx(|| format!("importing into volume {name}"))?;
        let result = (|| -> Result<()> {
            berth_storage::extract_tar(&staging, input)
                .map_err(|e| Error::InvalidArg(format!("importing into volume {name}: {e}")))?;
            for e in std::fs::read_dir(&staging).ctx(|| format!("importing into volume {name}"))? {
                let e = e.ctx(|| format!("importing into volume {name}"))?;
                let dst = data.join(e.file_name());
                if let Ok(md) = std::fs::symlink_metadata(&dst) {
                    if md.is_dir() {
                        std::fs::remove_dir_all(&dst)
                    } else {
                        std::fs::remove_file(&dst)
                    }
                    .ctx(|| format!("replacing {}", dst.display()))?;
                }
                std::fs::rename(e.path(), &dst).ctx(|| format!("importing into volume {name}"))?;
            }
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&staging);
        result
    }

    // ---- containers and their volumes ----

    /// At create: fills in the names of anonymous volumes, adds `--volumes-from` mounts
    /// and the image's VOLUMEs, and creates the volumes that do not exist yet. Returns the
    /// names created, which the caller removes if the container is not created after all,
    /// and the locks of all the container's volumes, which keep `volume rm` away until the
    /// container is recorded.
    pub(crate) fn create_volumes_for(
        &self,
        mounts: &mut Vec<UserMount>,
        volumes_from: &[String],
        image_volumes: &[String],
    ) -> Result<(Vec<String>, Vec<Lock>)> {
        for spec in volumes_from {
            let (ctr, opts) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
            let opts: Vec<&str> = opts.split(',').filter(|o| !o.is_empty()).collect();
            if let Some(bad) = opts.iter().find(|o| !matches!(**o, "ro" | "rw" | "z")) {
                return Err(Error::InvalidArg(format!(
                    "invalid option {bad:?} in --volumes-from {spec:?}: use ro, rw or z"
                )));
            }
            let id = self.lookup_container(ctr)?;
            let src = self.record(&id)?;
            for m in src
                .config
                .mounts
                .iter()
                .filter(|m| m.kind == "bind" || m.kind == "volume")
            {
                if mounts.iter().any(|x| x.destination == m.destination) {
                    continue;
                }
                let mut m = m.clone();
                if opts.contains(&"ro") || opts.contains(&"rw") {
                    m.options.retain(|o| o != "ro" && o != "rw");
                    if opts.contains(&"ro") {
                        m.options.push("ro".into());
                    }
                }
                mounts.push(m);
            }
        }
        for dst in image_volumes {
            let dst = format!("/{}", dst.trim_matches('/'));
            if !mounts.iter().any(|m| m.destination == dst) {
                mounts.push(UserMount {
                    kind: "volume".into(),
                    source: String::new(),
                    destination: dst,
                    options: Vec::new(),
                    image_id: String::new(),
                });
            }
        }
        crate::mounts::check_duplicates(mounts)?;
        for m in mounts.iter_mut().filter(|m| m.kind == "image") {
            m.image_id = self.lookup_image(&m.source)?.id;
        }
        let mut created = Vec::new();
        let result = (|| -> Result<()> {
            for m in mounts.iter_mut().filter(|m| m.kind == "volume") {
                if m.source.is_empty() {
                    let name = crate::ids::new_id();
                    self.add_volume(&Volume {
                        name: name.clone(),
                        driver: "local".into(),
                        created_at: now_rfc3339(),
                        anonymous: true,
                        needs_copy_up: true,
                        needs_chown: true,
                        ..Default::default()
                    })?;
                    created.push(name.clone());
                    m.source = name;
                } else if self.volume_record(&m.source)?.is_none() {
                    let v = Volume {
                        name: m.source.clone(),
                        driver: "local".into(),
                        created_at: now_rfc3339(),
                        needs_copy_up: true,
                        needs_chown: true,
                        ..Default::default()
                    };
                    match self.add_volume(&v) {
                        Ok(()) => created.push(m.source.clone()),
                        // Another process made it meanwhile: it is theirs.
                        Err(Error::VolumeExists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        })();
        let locked = result.and_then(|()| {
            let mut names: Vec<&str> = mounts
                .iter()
                .filter(|m| m.kind == "volume")
                .map(|m| m.source.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            let mut locks = Vec::new();
            for n in names {
                locks.push(self.volume_lock(n)?);
                if self.volume_record(n)?.is_none() {
                    return Err(Error::NoSuchVolume(n.to_string()));
                }
            }
            Ok(locks)
        });
        match locked {
            Ok(locks) => Ok((created, locks)),
            Err(e) => {
                self.forget_volumes(&created);
                Err(e)
            }
        }
    }

    /// Removes volumes made for a container that was not created after all (no volume
    /// lock may be held by the caller).
    pub(crate) fn forget_volumes(&self, names: &[String]) {
        for n in names {
            let _ = self.delete_volume(n);
        }
    }

    /// At start (root file system mounted, the user resolved): mounts volumes that are
    /// file systems of their own, copies the image's content into new volumes, sets owners
    /// (`U`), and returns the OCI mounts of all the user's mounts.
    pub(crate) fn setup_mounts(
        &self,
        rec: &ContainerRecord,
        rootfs: &Path,
        uid: u32,
        gid: u32,
    ) -> Result<Vec<Value>> {
        let maps = rec.config.id_mappings.as_ref();
        // One namespace with the container's mappings for all its `idmap` mounts.
        let mut idmap_ns: Option<berth_storage::idmap::UserNs> = None;
        let mut out = Vec::new();
        for (i, m) in rec.config.mounts.iter().enumerate() {
            let idmap = maps.filter(|_| m.options.iter().any(|o| o == "idmap"));
            // In a user namespace, the user's host IDs own what is made for it; through
            // an idmapped mount (`idmap`), the container's own IDs do.
            let (uid, gid) = match maps {
                Some(mp) if idmap.is_none() => mp.to_host(uid, gid),
                _ => (uid, gid),
            };
            let source = match m.kind.as_str() {
                "volume" => self.setup_volume(m, rootfs, uid, gid, idmap)?,
                "image" => {
                    let img = self.lookup_image(&m.image_id)?;
                    let rw = m.options.iter().any(|o| o == "rw");
                    self.store
                        .mount_container_image(&rec.id, i, &img.layers, rw)?
                }
                "bind" => {
                    if m.options.iter().any(|o| o == "U") {
                        chown_tree(Path::new(&m.source), uid, gid)
                            .ctx(|| format!("changing the owner of {}", m.source))?;
                    }
                    PathBuf::from(&m.source)
                }
                _ => PathBuf::new(),
            };
            // `idmap`: the runtime binds an idmapped view, made now, dropped once bound.
            let source = match idmap {
                Some(maps) => {
                    let ns = match idmap_ns {
                        Some(ref ns) => ns,
                        None => idmap_ns.insert(berth_storage::idmap::UserNs::new(maps).map_err(
                            |e| {
                                Error::Io(
                                    format!("making a user namespace for {}", m.destination),
                                    e,
                                )
                            },
                        )?),
                    };
                    self.store.idmapped_bind_for(&rec.id, i, &source, ns)?
                }
                None => source,
            };
            out.push(crate::mounts::oci_mount(m, &source.to_string_lossy()));
        }
        Ok(out)
    }

    /// `idmap`: the volume is seen through an idmapped mount in a user namespace with
    /// these mappings (then what is copied in from the image gets the namespace's IDs).
    fn setup_volume(
        &self,
        m: &UserMount,
        rootfs: &Path,
        uid: u32,
        gid: u32,
        idmap: Option<&berth_storage::IdMappings>,
    ) -> Result<PathBuf> {
        let name = &m.source;
        let _l = self.volume_lock(name)?;
        let mut v = self.volume(name)?;
        let path = self.volume_path(name);
        if !path.is_dir() {
            return Err(Error::Other(format!(
                "the data directory of volume {name} is missing: {}",
                path.display()
            )));
        }
        if v.needs_mount() && !is_mounted(&path) {
            mount_volume(&v, &path)?;
        }
        let mut changed = false;
        if v.needs_copy_up {
            if !m.options.iter().any(|o| o == "nocopy") {
                if let Some(src) = resolve_in_root(rootfs, &m.destination) {
                    if src.is_dir() && dir_is_empty(&path) {
                        berth_storage::copy_tree(&src, &path).ctx(|| {
                            format!("copying {} of the image into volume {name}", m.destination)
                        })?;
                        if let Some(maps) = idmap {
                            berth_storage::idmap::unshift_tree(&path, maps)
                                .ctx(|| format!("changing the owners in volume {name}"))?;
                        }
                        v.needs_chown = false;
                    }
                }
            }
            v.needs_copy_up = false;
            changed = true;
        }
        if v.needs_chown {
            // The container's user owns a new volume, unless the image has the directory
            // (then the copy took its owner).
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .ctx(|| format!("changing the owner of volume {name}"))?;
            v.needs_chown = false;
            changed = true;
        }
        if changed {
            self.save_volume(&v)?;
        }
        if m.options.iter().any(|o| o == "U") {
            chown_tree(&path, uid, gid).ctx(|| format!("changing the owner of volume {name}"))?;
        }
        Ok(path)
    }

    /// When a container stops: unmounts its volumes that are file systems of their own
    /// when no other container that uses them is running. Errors are ignored (cleanup).
    pub(crate) fn release_volumes(&self, id: &str, config: &ContainerConfig) {
        for m in config.mounts.iter().filter(|m| m.kind == "volume") {
            let Ok(Some(v)) = self.volume_record(&m.source) else {
                continue;
            };
            if !v.needs_mount() {
                continue;
            }
            let Ok(_l) = self.volume_lock(&v.name) else {
                continue;
            };
            let others = self
                .volume_users(&v.name)
                .map(|u| u.iter().any(|c| c.id != id && is_active(c)))
                .unwrap_or(true);
            let path = self.volume_path(&v.name);
            if !others && is_mounted(&path) {
                let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }

    /// After `rm -v` / `--rm`: removes the container's anonymous volumes that no other
    /// container uses. Named volumes are never removed with a container.
    pub(crate) fn remove_anonymous_volumes(&self, config: &ContainerConfig) -> Result<()> {
        for m in config.mounts.iter().filter(|m| m.kind == "volume") {
            let Some(v) = self.volume_record(&m.source)? else {
                continue;
            };
            if !v.anonymous || !self.volume_users(&v.name)?.is_empty() {
                continue;
            }
            match self.delete_volume(&v.name) {
                Ok(()) | Err(Error::VolumeInUse(..) | Error::NoSuchVolume(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The host path for a mount's source, for `inspect`.
    pub(crate) fn mount_source(&self, m: &UserMount) -> String {
        match m.kind.as_str() {
            "volume" => self.volume_path(&m.source).to_string_lossy().into_owned(),
            _ => m.source.clone(),
        }
    }
}

/// Running, paused or created: it may have its volumes in use.
fn is_active(c: &ContainerRecord) -> bool {
    matches!(
        c.state.as_str(),
        state::RUNNING | state::PAUSED | state::CREATED
    )
}

fn uses_volume(c: &ContainerConfig, name: &str) -> bool {
    c.mounts
        .iter()
        .any(|m| m.kind == "volume" && m.source == name)
}

/// `name=` filters are regular expressions in Podman; plain names are the common case and
/// `^`/`$` anchors and `.*` are what people write: those are understood.
fn regex_lite_match(pattern: &str, name: &str) -> bool {
    let anchored_start = pattern.starts_with('^');
    let anchored_end = pattern.ends_with('$') && !pattern.ends_with("\\$");
    let core = pattern.trim_start_matches('^');
    let core = if anchored_end {
        &core[..core.len() - 1]
    } else {
        core
    };
    let parts: Vec<&str> = core.split(".*").collect();
    let mut pos = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        match name[pos..].find(p) {
            Some(at) => {
                if i == 0 && anchored_start && at != 0 {
                    return false;
                }
                pos += at + p.len();
            }
            None => return false,
        }
    }
    !anchored_end || parts.last().is_some_and(|l| l.is_empty()) || pos == name.len()
}

/// Mounts a volume with `type`/`device` options on its data directory, with mount(8)
/// as Podman does (it knows every file system type and `o=bind`).
fn mount_volume(v: &Volume, path: &Path) -> Result<()> {
    let mut cmd = std::process::Command::new("mount");
    if let Some(t) = v.options.get("type") {
        cmd.arg("-t").arg(t);
    }
    if let Some(o) = v.options.get("o").filter(|o| !o.is_empty()) {
        cmd.arg("-o").arg(o);
    }
    let device = v
        .options
        .get("device")
        .cloned()
        .or_else(|| v.options.get("type").cloned())
        .unwrap_or_default();
    cmd.arg(device).arg(path);
    let out = cmd
        .output()
        .ctx(|| format!("mounting volume {}: running mount", v.name))?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "mounting volume {}: {}",
            v.name,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::regex_lite_match;

    #[test]
    fn name_filters() {
        assert!(regex_lite_match("data", "data"));
        assert!(regex_lite_match("dat", "mydata"));
        assert!(regex_lite_match("^data$", "data"));
        assert!(!regex_lite_match("^data$", "data2"));
        assert!(!regex_lite_match("^ata", "data"));
        assert!(regex_lite_match("^d.*a$", "dxxa"));
    }
}
