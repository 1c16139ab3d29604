//! Image operations of the LocalEngine: load, import, list, inspect, tag, remove, prune.

use crate::db::{image_names, set_image_name};
use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::types::{ImageRecord, ImageSummary};
use rusqlite::params;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A layer as the image record keeps it.
#[derive(Debug, Clone)]
pub(crate) struct StoredLayer {
    pub(crate) chain_id: String,
    pub(crate) diff_id: String,
    pub(crate) parent: Option<String>,
    pub(crate) size: u64,
}

/// What `rmi` did.
#[derive(Debug, Default)]
pub struct RmiReport {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
    pub errors: Vec<Error>,
}

use crate::ids::sha256_hex;

/// The chain IDs of a stack of diff IDs, bottom to top.
pub(crate) fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        out.push(berth_storage::chain_id(out.last().map(String::as_str), d));
    }
    out
}

/// Parses an image config's created time into unix seconds (0 if absent).
fn created_unix(config: &Value) -> i64 {
    config["created"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

impl LocalEngine {
    /// The storage-wide lock that orders storing images against deleting them: a layer
    /// found already stored (and so not extracted again) cannot be deleted by a
    /// concurrent `rmi` before the image using it is recorded. A file in the storage
    /// root, kept between runs.
    pub(crate) fn storage_lock(&self) -> Result<crate::lock::Lock> {
        crate::lock::Lock::acquire(self.store.root(), "layers")
    }

    /// The storage lock shared: for adding layers or containers, which may run side by
    /// side; only removing layers needs it alone.
    pub(crate) fn storage_lock_shared(&self) -> Result<crate::lock::Lock> {
        crate::lock::Lock::acquire_shared(self.store.root(), "layers")
    }

    /// Finds an image by ID, ID prefix, or name (short names as Podman resolves them locally).
    pub fn lookup_image(&self, key: &str) -> Result<ImageRecord> {
        self.lookup_image_name(key).map(|(img, _)| img)
    }

    /// [`Self::lookup_image`], also returning the name `key` resolved to (`None` for an ID).
    pub(crate) fn lookup_image_name(&self, key: &str) -> Result<(ImageRecord, Option<String>)> {
        let db = self.db();
        let not_found = || Error::NoSuchImage(key.to_string());
        let hexkey = key.strip_prefix("sha256:").unwrap_or(key);
        if !hexkey.is_empty() && hexkey.chars().all(|c| c.is_ascii_hexdigit()) && hexkey.len() <= 64
        {
            let ids = db.image_ids_with_prefix(hexkey)?;
            if ids.len() == 1 {
                return Ok((db.image(&ids[0])?.ok_or_else(not_found)?, None));
            }
            if ids.len() > 1 {
                return Err(Error::InvalidArg(format!(
                    "{key}: more than one image matches the ID prefix"
                )));
            }
        }
        let Ok(full) = berth_image::normalize_name(key) else {
            return Err(not_found());
        };
        let mut candidates = vec![full.clone()];
        // A short name also matches localhost/NAME and any repository ending in /NAME.
        let short = !key.contains('/');
        if short {
            let tagged =
                if full.rsplit('/').next().unwrap_or("").contains(':') || full.contains('@') {
                    full.rsplit('/').next().unwrap_or("").to_string()
                } else {
                    format!("{key}:latest")
                };
            candidates.push(format!("localhost/{tagged}"));
            for c in &candidates {
                if let Some(id) = db.image_by_name(c)? {
                    return Ok((db.image(&id)?.ok_or_else(not_found)?, Some(c.clone())));
                }
            }
            let suffix = format!("/{tagged}");
            let mut st = db.conn().prepare_cached(
                "SELECT name, image_id FROM image_names WHERE name LIKE ?1 ESCAPE '\\' ORDER BY seq",
            )?;
            let pattern = format!(
                "%{}",
                suffix
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            let hits: Vec<(String, String)> = st
                .query_map([pattern], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<_, _>>()?;
            // LIKE is case-insensitive for ASCII: keep exact suffix matches only.
            if let Some((name, id)) = hits.into_iter().find(|(n, _)| n.ends_with(&suffix)) {
                return Ok((db.image(&id)?.ok_or_else(not_found)?, Some(name)));
            }
            return Err(not_found());
        }
        if let Some(id) = db.image_by_name(&full)? {
            return Ok((db.image(&id)?.ok_or_else(not_found)?, Some(full)));
        }
        if !key.contains('.') && !key.starts_with("localhost/") {
            let local = format!("localhost/{}", full.trim_start_matches("docker.io/"));
            if let Some(id) = db.image_by_name(&local)? {
                return Ok((db.image(&id)?.ok_or_else(not_found)?, Some(local)));
            }
        }
        Err(not_found())
    }

    /// Stores an image whose layers are already applied. Names move from older images.
    pub(crate) fn commit_image(
        &self,
        config_bytes: &[u8],
        manifest: Option<Vec<u8>>,
        chain: &[String],
        layer_infos: &[StoredLayer],
        names: &[String],
    ) -> Result<String> {
        let id = sha256_hex(config_bytes);
        let config: Value = serde_json::from_slice(config_bytes)
            .map_err(|e| Error::Other(format!("image config: {e}")))?;
        let manifest = match manifest {
            Some(m) => m,
            None => serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": format!("sha256:{id}"),
                    "size": config_bytes.len(),
                },
                "layers": layer_infos.iter().map(|l| json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": l.diff_id, "size": l.size,
                })).collect::<Vec<_>>(),
            }))
            .unwrap_or_default(),
        };
        let digest = format!("sha256:{}", sha256_hex(&manifest));
        let size: u64 = layer_infos.iter().map(|l| l.size).sum();
        let created = created_unix(&config);
        let mut db = self.db();
        db.write(|tx| {
            for l in layer_infos {
                tx.execute(
                    "INSERT OR IGNORE INTO layers(chain_id, diff_id, parent, size) VALUES (?1, ?2, ?3, ?4)",
                    params![l.chain_id, l.diff_id, l.parent, l.size as i64],
                )?;
            }
            tx.execute(
                "INSERT OR IGNORE INTO images(id, digest, config, manifest, layers, size, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    digest,
                    config_bytes,
                    manifest,
                    serde_json::to_string(chain).unwrap_or_default(),
                    size as i64,
                    created
                ],
            )?;
            for n in names {
                set_image_name(tx, n, &id)?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    /// Applies layers bottom to top, skipping those already stored. On error, removes the
    /// layers this call created. Returns (chain_id, diff_id, parent, size) per layer.
    pub(crate) fn apply_layers(
        &self,
        layers: &[(std::path::PathBuf, String)],
    ) -> Result<Vec<StoredLayer>> {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.1.clone()).collect();
        let chain = chain_ids(&diff_ids);
        let mut created: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let result = (|| -> Result<()> {
            for (i, (path, diff_id)) in layers.iter().enumerate() {
                let parent = if i == 0 {
                    None
                } else {
                    Some(chain[i - 1].clone())
                };
                let known = self.db().layer_size(&chain[i])?;
                if let (true, Some(size)) = (self.store.has_layer(&chain[i]), known) {
                    out.push(StoredLayer {
                        chain_id: chain[i].clone(),
                        diff_id: diff_id.clone(),
                        parent,
                        size,
                    });
                    continue;
                }
                let f = std::fs::File::open(path)
                    .ctx(|| format!("opening layer {}", path.display()))?;
                let info = self.store.apply_layer(
                    parent.as_deref(),
                    std::io::BufReader::with_capacity(256 * 1024, f),
                    Some(diff_id),
                )?;
                if known.is_none() {
                    created.push(info.chain_id.clone());
                }
                out.push(StoredLayer {
                    chain_id: info.chain_id,
                    diff_id: info.diff_id,
                    parent,
                    size: info.size,
                });
            }
            Ok(())
        })();
        if let Err(e) = result {
            for c in created {
                let _ = self.store.remove_layer(&c);
            }
            return Err(e);
        }
        Ok(out)
    }

    /// `load -i FILE`: docker-archive or oci-archive. Returns the names (or IDs) loaded.
    pub fn load(&self, path: &Path) -> Result<Vec<String>> {
        let work = self.tmpdir("load")?;
        let r = self.load_in(path, &work);
        let _ = std::fs::remove_dir_all(&work);
        r
    }

    fn load_in(&self, path: &Path, work: &Path) -> Result<Vec<String>> {
        let images = berth_image::open_archive(path, work)?;
        let mut loaded = Vec::new();
        for img in images {
            let _lock = self.storage_lock_shared()?;
            let layers: Vec<(std::path::PathBuf, String)> = img
                .layers
                .iter()
                .map(|l| (l.path.clone(), l.diff_id.clone()))
                .collect();
            let infos = self.apply_layers(&layers)?;
            let chain: Vec<String> = infos.iter().map(|l| l.chain_id.clone()).collect();
            let id = self.commit_image(
                &img.config_bytes,
                img.manifest_bytes.clone(),
                &chain,
                &infos,
                &img.names,
            )?;
            if img.names.is_empty() {
                loaded.push(format!("sha256:{id}"));
            } else {
                loaded.extend(img.names.iter().cloned());
            }
        }
        Ok(loaded)
    }

    /// `import TARBALL [REFERENCE]`: one layer from a root file system tarball.
    pub fn import(
        &self,
        path: &Path,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String> {
        let name = reference.map(berth_image::normalize_name).transpose()?;
        let f = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
        let _lock = self.storage_lock_shared()?;
        let info =
            self.store
                .apply_layer(None, std::io::BufReader::with_capacity(256 * 1024, f), None)?;
        let result = (|| -> Result<String> {
            let mut config = berth_image::new_import_config(&info.diff_id, chrono::Utc::now());
            berth_image::apply_changes(&mut config, changes)?;
            if let (Some(m), Some(h)) = (message, config.history.last_mut()) {
                h.comment = Some(m.to_string());
            }
            let bytes = serde_json::to_vec(&config).map_err(|e| Error::Other(e.to_string()))?;
            let names: Vec<String> = name.iter().cloned().collect();
            self.commit_image(
                &bytes,
                None,
                std::slice::from_ref(&info.chain_id),
                &[StoredLayer {
                    chain_id: info.chain_id.clone(),
                    diff_id: info.diff_id.clone(),
                    parent: None,
                    size: info.size,
                }],
                &names,
            )
        })();
        if result.is_err() && self.db().layer_size(&info.chain_id)?.is_none() {
            let _ = self.store.remove_layer(&info.chain_id);
        }
        result
    }

    /// Containers made from the image or mounting it (`--mount type=image`).
    fn containers_using(&self, image_id: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut st = db
            .conn()
            .prepare_cached("SELECT id FROM containers WHERE image_id = ?1")?;
        let mut ids: Vec<String> = st
            .query_map([image_id], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        for c in db.containers()? {
            if !ids.contains(&c.id) && c.config.mounts.iter().any(|m| m.image_id == image_id) {
                ids.push(c.id);
            }
        }
        Ok(ids)
    }

    pub fn images(&self, all: bool) -> Result<Vec<ImageSummary>> {
        let mut imgs = self.db().images()?;
        if !all {
            // Intermediate build images are listed with -a only.
            let hidden: HashSet<String> = {
                let db = self.db();
                let mut st = db.conn().prepare("SELECT id FROM build_intermediate")?;
                let ids = st
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<_>>()?;
                ids
            };
            imgs.retain(|i| !i.names.is_empty() || !hidden.contains(&i.id));
        }
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for c in self.db().containers()? {
            *counts.entry(c.image_id).or_default() += 1;
        }
        Ok(imgs
            .into_iter()
            .map(|i| {
                let config: Value = serde_json::from_slice(&i.config).unwrap_or_default();
                let labels = labels_of(&config);
                let repo_digests = i
                    .names
                    .iter()
                    .map(|n| format!("{}@{}", repo_of(n), i.digest))
                    .collect();
                ImageSummary {
                    id: i.id.clone(),
                    parent_id: String::new(),
                    repo_tags: (!i.names.is_empty()).then(|| i.names.clone()),
                    repo_digests,
                    size: i.size,
                    shared_size: 0,
                    virtual_size: i.size,
                    labels,
                    containers: counts.get(&i.id).copied().unwrap_or(0),
                    names: i.names.clone(),
                    digest: i.digest.clone(),
                    history: i.names.clone(),
                    created: i.created,
                    created_at: chrono::DateTime::from_timestamp(i.created, 0)
                        .unwrap_or_default()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }
            })
            .collect())
    }

    /// `image inspect`, in Podman's shape.
    pub fn image_inspect(&self, key: &str) -> Result<Value> {
        let i = self.lookup_image(key)?;
        let config: Value = serde_json::from_slice(&i.config).unwrap_or_default();
        let mtype = i
            .manifest
            .as_deref()
            .and_then(|m| serde_json::from_slice::<Value>(m).ok())
            .and_then(|m| m["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
        let lower: Vec<String> = i
            .layers
            .iter()
            .rev()
            .map(|c| self.store.layer_diff_dir(c).to_string_lossy().into_owned())
            .collect();
        let mut gdata = serde_json::Map::new();
        // vfs layers are whole copies, not a stack: Podman reports no data for them.
        let stacked = self.store.driver() == berth_storage::Driver::Overlay;
        if let (true, Some((top, rest))) = (stacked, lower.split_first()) {
            if !rest.is_empty() {
                gdata.insert("LowerDir".into(), json!(rest.join(":")));
            }
            gdata.insert("UpperDir".into(), json!(top));
        }
        let repo_digests: Vec<String> = i
            .names
            .iter()
            .map(|n| format!("{}@{}", repo_of(n), i.digest))
            .collect();
        // Podman: the config's comment, else the first history entry's (set by import).
        let comment = config["comment"]
            .as_str()
            .filter(|c| !c.is_empty())
            .or_else(|| config["history"][0]["comment"].as_str())
            .unwrap_or("");
        let mut out = json!({
            "Id": i.id,
            "Digest": i.digest,
            "RepoTags": i.names,
            "RepoDigests": repo_digests,
            "Parent": "",
            "Comment": comment,
            "Created": config["created"],
            "Config": oci_run_config(&config["config"]),
            "Version": config["docker_version"].as_str().unwrap_or(""),
            "Author": config["author"].as_str().unwrap_or(""),
            "Architecture": config["architecture"],
            "Os": config["os"],
            "Size": i.size,
            "VirtualSize": i.size,
            "GraphDriver": {
                "Name": self.cfg.storage_driver,
                "Data": if gdata.is_empty() { Value::Null } else { Value::Object(gdata) },
            },
            "RootFS": {"Type": "layers", "Layers": config["rootfs"]["diff_ids"]},
            "Labels": config["config"]["Labels"],
            "Annotations": i
                .manifest
                .as_deref()
                .and_then(|m| serde_json::from_slice::<Value>(m).ok())
                .and_then(|m| m.get("annotations").cloned())
                .unwrap_or_else(|| json!({})),
            "ManifestType": mtype,
            "User": config["config"]["User"].as_str().unwrap_or(""),
            "History": config["history"],
            "NamesHistory": i.names,
        });
        // Podman shows a docker-format image's health check beside its config.
        if let Some(h) = config["config"].get("Healthcheck").filter(|h| !h.is_null()) {
            out["Healthcheck"] = h.clone();
        }
        Ok(out)
    }

    pub fn tag(&self, image: &str, names: &[String]) -> Result<()> {
        let img = self.lookup_image(image)?;
        let names: Vec<String> = names
            .iter()
            .map(|n| berth_image::normalize_name(n))
            .collect::<std::result::Result<_, _>>()?;
        self.db().write(|tx| {
            for n in &names {
                set_image_name(tx, n, &img.id)?;
            }
            Ok(())
        })
    }

    /// Removes names from an image; with no names, all of them.
    pub fn untag(&self, image: &str, names: &[String]) -> Result<()> {
        let img = self.lookup_image(image)?;
        let mut remove = Vec::new();
        for n in names {
            let full = berth_image::normalize_name(n)?;
            let hit = img
                .names
                .iter()
                .find(|x| **x == full || **x == format!("localhost/{n}"));
            match hit {
                Some(h) => remove.push(h.clone()),
                None => return Err(Error::InvalidArg(format!("{full}: tag not known"))),
            }
        }
        if names.is_empty() {
            remove = img.names.clone();
        }
        self.db().write(|tx| {
            for n in &remove {
                tx.execute(
                    "DELETE FROM image_names WHERE name = ?1 AND image_id = ?2",
                    params![n, img.id],
                )?;
            }
            Ok(())
        })
    }

    pub fn image_exists(&self, key: &str) -> Result<bool> {
        match self.lookup_image(key) {
            Ok(_) => Ok(true),
            Err(Error::NoSuchImage(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes an image by ID (names and unused layers). Containers must be gone already.
    fn delete_image(&self, id: &str) -> Result<()> {
        let _lock = self.storage_lock()?;
        if let Some(c) = self.containers_using(id)?.first() {
            return Err(Error::ImageInUse(id.to_string(), c.clone()));
        }
        let layers = {
            let mut db = self.db();
            let img = db
                .image(id)?
                .ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
            db.write(|tx| {
                tx.execute("DELETE FROM image_names WHERE image_id = ?1", [id])?;
                tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
                Ok(())
            })?;
            let mut used: HashSet<String> = HashSet::new();
            for other in db.images()? {
                used.extend(other.layers);
            }
            let unused: Vec<String> = img
                .layers
                .into_iter()
                .filter(|l| !used.contains(l))
                .collect();
            db.write(|tx| {
                for l in &unused {
                    tx.execute("DELETE FROM layers WHERE chain_id = ?1", [l])?;
                }
                Ok(())
            })?;
            unused
        };
        for l in layers.iter().rev() {
            self.store.remove_layer(l)?;
        }
        Ok(())
    }

    /// `rmi`: removing by name untags; the image goes when no name is left (or by ID, or -f).
    pub fn rmi(&self, keys: &[String], force: bool, all: bool) -> Result<RmiReport> {
        let mut report = RmiReport::default();
        let keys: Vec<String> = if all {
            self.db().images()?.into_iter().map(|i| i.id).collect()
        } else {
            keys.to_vec()
        };
        for key in &keys {
            if let Err(e) = self.rmi_one(key, force, all, &mut report) {
                report.errors.push(e);
            }
        }
        Ok(report)
    }

    fn rmi_one(&self, key: &str, force: bool, by_id: bool, report: &mut RmiReport) -> Result<()> {
        let (img, matched) = self.lookup_image_name(key)?;
        let by_id = by_id || matched.is_none();
        let users = self.containers_using(&img.id)?;
        // A name of an image with other names is only untagged.
        if let (false, Some(name), true) = (by_id, matched, img.names.len() > 1) {
            self.untag(&img.id, std::slice::from_ref(&name))?;
            report.untagged.push(name);
            return Ok(());
        }
        if img.names.len() > 1 && !force && by_id {
            return Err(Error::InvalidArg(format!(
                "unable to delete image {:?} by ID with more than one tag ({}): please force removal",
                img.id,
                img.names.join(", ")
            )));
        }
        if !users.is_empty() {
            if !force {
                return Err(Error::ImageInUse(img.id.clone(), users[0].clone()));
            }
            for c in &users {
                self.container_rm(c, true, 0, false)?;
            }
        }
        report.untagged.extend(img.names.iter().cloned());
        self.delete_image(&img.id)?;
        report.deleted.push(img.id);
        Ok(())
    }

    /// `image prune`: dangling images (no name, no container); with `all`, every unused image.
    pub fn image_prune(&self, all: bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let used: HashSet<String> = self
            .db()
            .containers()?
            .into_iter()
            .map(|c| c.image_id)
            .collect();
        // Bound first: the database guard must not live across delete_image.
        let images = self.db().images()?;
        for img in images {
            if used.contains(&img.id) || (!all && !img.names.is_empty()) {
                continue;
            }
            match self.delete_image(&img.id) {
                // A container made meanwhile uses it: not prunable any more.
                Err(Error::ImageInUse(..)) => continue,
                r => r?,
            }
            removed.push(img.id);
        }
        Ok(removed)
    }

    pub(crate) fn image_names_of(&self, id: &str) -> Result<Vec<String>> {
        image_names(self.db().conn(), id)
    }
}

/// The repository part of a name: `docker.io/library/busybox:latest` -> `docker.io/library/busybox`.
pub fn repo_of(name: &str) -> &str {
    if let Some(i) = name.find('@') {
        return &name[..i];
    }
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[slash..].rfind(':') {
        Some(i) => &name[..slash + i],
        None => name,
    }
}

fn labels_of(config: &Value) -> BTreeMap<String, String> {
    config["config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// An image's run config as Podman shows it: the OCI fields only, empty ones left out
/// (a docker-format config also holds Hostname, OnBuild, Healthcheck, ...).
fn oci_run_config(c: &Value) -> Value {
    const OCI: &[&str] = &[
        "User",
        "ExposedPorts",
        "Env",
        "Entrypoint",
        "Cmd",
        "Volumes",
        "WorkingDir",
        "Labels",
        "StopSignal",
        "ArgsEscaped",
    ];
    let Some(o) = c.as_object() else {
        return c.clone();
    };
    let kept: serde_json::Map<String, Value> = o
        .iter()
        .filter(|(k, v)| {
            OCI.contains(&k.as_str())
                && !v.is_null()
                && v.as_str() != Some("")
                && v.as_bool() != Some(false)
                && !v.as_array().is_some_and(|a| a.is_empty())
                && !v.as_object().is_some_and(|m| m.is_empty())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}
