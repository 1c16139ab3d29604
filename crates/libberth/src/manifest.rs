//! `manifest`: local manifest lists (OCI image indexes) that name images for several
//! platforms, and their push to a registry. A list is a JSON file under
//! `<root>/manifests/<sha256 of its normalized name>.json` holding its name, the index and
//! where each entry came from (`local:<image id>` or `docker://<reference>`).

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::pull::PullOptions;
use crate::push::{registry_client, PushEvent};
use berth_image::Reference;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_TYPES: &[&str] = &[
    OCI_INDEX,
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A local manifest list as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestList {
    pub name: String,
    pub index: Value,
    /// Where each entry (by digest) came from: `local:<image id>` or `docker://<ref>`.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// `manifest add` / `manifest annotate` options.
#[derive(Debug, Clone, Default)]
pub struct ManifestEntryOptions {
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
    /// `key=value` annotations.
    pub annotations: Vec<String>,
    /// `add --all`: when the image is itself a list, add every image of it.
    pub all: bool,
}

fn registry_err(e: berth_registry::RegistryError) -> Error {
    Error::Other(e.to_string())
}

use crate::ids::sha256_hex;

fn index_bytes(index: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(index).map_err(|e| Error::Other(format!("encoding the index: {e}")))
}

/// A registry reference (`docker://` optional), fully qualified.
fn remote_ref(s: &str) -> Result<Reference> {
    let plain = berth_image::strip_docker_transport(s).unwrap_or(s);
    let r = Reference::parse(plain)?;
    if !r.has_registry() {
        return Err(Error::InvalidArg(format!(
            "{s}: not a local image, and not a registry reference: name it as host[:port]/repository[:tag]"
        )));
    }
    Ok(r.with_default_tag())
}

fn parse_annotations(list: &[String]) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::InvalidArg(format!(
                "no value given for annotation {a:?}: use KEY=VALUE"
            ))),
        })
        .collect()
}

/// Applies platform fields and annotations to an index entry.
fn apply_options(entry: &mut Value, o: &ManifestEntryOptions) -> Result<()> {
    let annotations = parse_annotations(&o.annotations)?;
    if o.os.is_some() || o.arch.is_some() || o.variant.is_some() {
        if !entry["platform"].is_object() {
            entry["platform"] = json!({});
        }
        let p = &mut entry["platform"];
        if let Some(v) = &o.arch {
            p["architecture"] = v.clone().into();
        }
        if let Some(v) = &o.os {
            p["os"] = v.clone().into();
        }
        if let Some(v) = &o.variant {
            p["variant"] = v.clone().into();
        }
    }
    if !annotations.is_empty() {
        if !entry["annotations"].is_object() {
            entry["annotations"] = json!({});
        }
        for (k, v) in annotations {
            entry["annotations"][k] = v.into();
        }
    }
    Ok(())
}

/// The platform of an image config.
fn platform_of(config: &Value) -> Value {
    let mut p = json!({
        "architecture": config["architecture"].as_str().unwrap_or("amd64"),
        "os": config["os"].as_str().unwrap_or("linux"),
    });
    if let Some(v) = config["variant"].as_str().filter(|v| !v.is_empty()) {
        p["variant"] = v.into();
    }
    p
}

impl LocalEngine {
    fn manifests_dir(&self) -> PathBuf {
        self.cfg.root.join("manifests")
    }

    fn list_path(&self, normalized: &str) -> PathBuf {
        self.manifests_dir()
            .join(format!("{}.json", sha256_hex(normalized.as_bytes())))
    }

    /// The local list named `name`, if there is one.
    pub fn manifest_list(&self, name: &str) -> Result<Option<ManifestList>> {
        let Ok(normalized) = berth_image::normalize_name(name) else {
            return Ok(None);
        };
        let path = self.list_path(&normalized);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io(format!("reading {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Other(format!("parsing {}: {e}", path.display())))
    }

    fn require_list(&self, name: &str) -> Result<ManifestList> {
        self.manifest_list(name)?.ok_or_else(|| {
            Error::InvalidArg(format!("{name}: image not known: no such manifest list"))
        })
    }

    /// Writes `list` atomically; returns its ID (the sha256 of the index bytes).
    fn write_list(&self, list: &ManifestList) -> Result<String> {
        let dir = self.manifests_dir();
        std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        let path = self.list_path(&list.name);
        let tmp = dir.join(format!(".tmp-{}", &crate::ids::new_id()[..16]));
        let bytes = serde_json::to_vec(list).map_err(|e| Error::Other(e.to_string()))?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Io(format!("writing {}", path.display()), e));
        }
        Ok(sha256_hex(&index_bytes(&list.index)?))
    }

    /// `manifest create LIST [IMAGE...]`: returns the new list's ID.
    pub fn manifest_create(
        &self,
        name: &str,
        images: &[String],
        o: &PullOptions,
    ) -> Result<String> {
        let normalized = berth_image::normalize_name(name)?;
        if self.manifest_list(&normalized)?.is_some() {
            return Err(Error::InvalidArg(format!(
                "creating manifest list {normalized}: a manifest list with that name already exists"
            )));
        }
        let mut list = ManifestList {
            name: normalized,
            index: json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
            sources: BTreeMap::new(),
        };
        for image in images {
            self.add_entry(&mut list, image, &ManifestEntryOptions::default(), o)?;
        }
        self.write_list(&list)
    }

    /// `manifest add LIST IMAGE`: returns the list's ID.
    pub fn manifest_add(
        &self,
        name: &str,
        image: &str,
        opts: &ManifestEntryOptions,
        o: &PullOptions,
    ) -> Result<String> {
        let mut list = self.require_list(name)?;
        // Checked before any registry is contacted.
        parse_annotations(&opts.annotations)?;
        self.add_entry(&mut list, image, opts, o)?;
        self.write_list(&list)
    }

    fn add_entry(
        &self,
        list: &mut ManifestList,
        image: &str,
        opts: &ManifestEntryOptions,
        o: &PullOptions,
    ) -> Result<()> {
        let local = if image.starts_with("docker://") {
            None
        } else {
            match self.lookup_image(image) {
                Ok(img) => Some(img),
                Err(Error::NoSuchImage(_)) => None,
                Err(e) => return Err(e),
            }
        };
        let (mut entry, source) = match local {
            Some(img) => {
                let config: Value = serde_json::from_slice(&img.config).unwrap_or(Value::Null);
                // The digest of the manifest the image was pulled with (or its config's);
                // a push replaces it by the digest of the manifest actually pushed.
                let size = img.manifest.as_ref().map(|m| m.len()).unwrap_or(0);
                (
                    json!({
                        "mediaType": OCI_MANIFEST,
                        "digest": img.digest,
                        "size": size,
                        "platform": platform_of(&config),
                    }),
                    format!("local:{}", img.id),
                )
            }
            None => {
                let r = remote_ref(image)?;
                let client = registry_client(&r, o)?;
                let (m, v) = fetch_manifest(&client, &r)?;
                let media_type = v["mediaType"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| m.media_type.clone());
                if INDEX_TYPES.contains(&media_type.as_str()) || v["manifests"].is_array() {
                    if !opts.all {
                        return Err(Error::InvalidArg(format!(
                            "{image} is itself a manifest list: use --all to add each of its images"
                        )));
                    }
                    // Every image of the list, with the platforms the list gives.
                    let entries = v["manifests"].as_array().cloned().unwrap_or_default();
                    for m in entries {
                        let digest = m["digest"].as_str().unwrap_or_default().to_string();
                        if digest.is_empty() {
                            continue;
                        }
                        let mut pinned = r.clone();
                        pinned.tag = None;
                        pinned.digest = Some(digest.clone());
                        let mut entry = json!({
                            "mediaType": m["mediaType"].as_str().unwrap_or(OCI_MANIFEST),
                            "digest": digest,
                            "size": m["size"],
                            "platform": m["platform"],
                        });
                        apply_options(&mut entry, opts)?;
                        let manifests =
                            list.index["manifests"].as_array_mut().ok_or_else(|| {
                                Error::Other(format!("{}: the index has no manifests", list.name))
                            })?;
                        manifests.retain(|x| x["digest"].as_str() != Some(digest.as_str()));
                        manifests.push(entry);
                        list.sources.insert(digest, format!("docker://{pinned}"));
                    }
                    return Ok(());
                }
                let config_digest = v["config"]["digest"]
                    .as_str()
                    .ok_or_else(|| Error::Other(format!("manifest of {r} has no config")))?;
                let (body, _) = client
                    .get_blob(&r.path, config_digest)
                    .map_err(registry_err)?;
                let mut config_bytes = Vec::new();
                body.take(16 * 1024 * 1024)
                    .read_to_end(&mut config_bytes)
                    .ctx(|| format!("reading the config of {r}"))?;
                if format!("sha256:{}", sha256_hex(&config_bytes)) != config_digest {
                    return Err(Error::Other(format!(
                        "the config of {r} does not match its digest {config_digest}"
                    )));
                }
                let config: Value = serde_json::from_slice(&config_bytes)
                    .map_err(|e| Error::Other(format!("parsing the config of {r}: {e}")))?;
                let mut pinned = r.clone();
                pinned.tag = None;
                pinned.digest = Some(m.digest.clone());
                (
                    json!({
                        "mediaType": media_type,
                        "digest": m.digest,
                        "size": m.bytes.len(),
                        "platform": platform_of(&config),
                    }),
                    format!("docker://{pinned}"),
                )
            }
        };
        apply_options(&mut entry, opts)?;
        let digest = entry["digest"].as_str().unwrap_or_default().to_string();
        let manifests = list.index["manifests"]
            .as_array_mut()
            .ok_or_else(|| Error::Other(format!("{}: the index has no manifests", list.name)))?;
        manifests.retain(|m| m["digest"].as_str() != Some(digest.as_str()));
        manifests.push(entry);
        list.sources.insert(digest, source);
        Ok(())
    }

    /// `manifest inspect`: a local list's index, else the manifest (list) in a registry.
    pub fn manifest_inspect(&self, name: &str, o: &PullOptions) -> Result<Value> {
        if let Some(list) = self.manifest_list(name)? {
            return Ok(list.index);
        }
        let r = remote_ref(name).map_err(|_| {
            Error::InvalidArg(format!("{name}: image not known: no such manifest list"))
        })?;
        let client = registry_client(&r, o)?;
        Ok(fetch_manifest(&client, &r)?.1)
    }

    /// `manifest annotate LIST DIGEST`: returns the list's ID.
    pub fn manifest_annotate(
        &self,
        name: &str,
        digest: &str,
        opts: &ManifestEntryOptions,
    ) -> Result<String> {
        let mut list = self.require_list(name)?;
        let entry = list.index["manifests"]
            .as_array_mut()
            .and_then(|ms| ms.iter_mut().find(|m| m["digest"].as_str() == Some(digest)))
            .ok_or_else(|| {
                Error::InvalidArg(format!(
                    "{digest}: no entry with this digest in manifest list {}",
                    list.name
                ))
            })?;
        apply_options(entry, opts)?;
        self.write_list(&list)
    }

    /// `manifest rm`: removes local lists (all must exist; none is removed otherwise).
    pub fn manifest_remove(&self, names: &[String]) -> Result<()> {
        let mut paths = Vec::new();
        for n in names {
            let list = self.require_list(n)?;
            paths.push(self.list_path(&list.name));
        }
        for p in paths {
            std::fs::remove_file(&p).ctx(|| format!("removing {}", p.display()))?;
        }
        Ok(())
    }

    pub fn manifest_exists(&self, name: &str) -> Result<bool> {
        Ok(self.manifest_list(name)?.is_some())
    }

    /// `manifest push LIST DEST`: every entry must end up in DEST's repository: local
    /// images are pushed there (with `all`), entries from that same repository are kept,
    /// entries the destination already has are kept; others are refused. Then the index
    /// is written under DEST's tag. Returns the index digest.
    pub fn manifest_push(
        &self,
        name: &str,
        destination: &str,
        all: bool,
        o: &PullOptions,
        events: &mut dyn FnMut(PushEvent),
    ) -> Result<String> {
        let list = self.require_list(name)?;
        let dest = berth_image::strip_docker_transport(destination).unwrap_or(destination);
        if let Some((t, _)) = dest.split_once("://") {
            return Err(Error::InvalidArg(format!(
                "manifest push to {t}: transport not supported: use docker://"
            )));
        }
        let r = Reference::parse(dest)?;
        if !r.has_registry() || r.domain == "localhost" {
            return Err(Error::InvalidArg(format!(
                "{destination}: pushing needs a registry: name it as host[:port]/repository[:tag]"
            )));
        }
        if r.digest.is_some() {
            return Err(Error::InvalidArg(format!(
                "{destination}: cannot push to a digest reference: use a tag"
            )));
        }
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let entries = list.index["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if entries.is_empty() {
            return Err(Error::InvalidArg(format!(
                "{}: the manifest list has no entries to push",
                list.name
            )));
        }
        // Decide for every entry before anything is uploaded.
        enum Plan {
            Keep,
            Local(crate::types::ImageRecord),
            Check(String),
        }
        let mut plans = Vec::new();
        for e in &entries {
            let digest = e["digest"].as_str().unwrap_or_default();
            let source = list.sources.get(digest).cloned().unwrap_or_default();
            if let Some(id) = source.strip_prefix("local:") {
                if !all {
                    return Err(Error::InvalidArg(format!(
                        "entry {digest} of {} is the local image {}: push it with --all",
                        list.name,
                        &id[..id.len().min(12)]
                    )));
                }
                plans.push(Plan::Local(self.lookup_image(id)?));
            } else if let Some(src) = source.strip_prefix("docker://") {
                let s = Reference::parse(src)?;
                if s.domain == r.domain && s.path == r.path {
                    plans.push(Plan::Keep);
                } else {
                    plans.push(Plan::Check(src.to_string()));
                }
            } else {
                plans.push(Plan::Check(format!("an unknown source ({digest})")));
            }
        }
        let client = registry_client(&r, o)?;
        let mut index = list.index.clone();
        for (i, plan) in plans.into_iter().enumerate() {
            let digest = entries[i]["digest"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match plan {
                Plan::Keep => {}
                Plan::Check(src) => match client.get_manifest(&r.path, &digest) {
                    Ok(_) => {}
                    Err(berth_registry::RegistryError::ManifestUnknown { .. })
                        if Reference::parse(&src).is_ok() =>
                    {
                        // Not in the destination: copy it through local storage, by digest.
                        let pinned = format!("docker://{src}");
                        let id = self.pull(&pinned, o, &mut |_| {}).map_err(|e| {
                            Error::Other(format!(
                                "copying entry {digest} of {} from {src}: {e}",
                                list.name
                            ))
                        })?;
                        let img = self.lookup_image(&id)?;
                        let (pushed, size) =
                            self.push_by_digest(&client, &r.path, &img, o, events)?;
                        index["manifests"][i]["digest"] = pushed.into();
                        index["manifests"][i]["size"] = size.into();
                        index["manifests"][i]["mediaType"] = OCI_MANIFEST.into();
                        // The copy was only a means: drop it unless something names or uses it.
                        if img.names.is_empty() {
                            let _ = self.rmi(std::slice::from_ref(&id), false, false);
                        }
                    }
                    Err(berth_registry::RegistryError::ManifestUnknown { .. }) => {
                        return Err(Error::InvalidArg(format!(
                            "entry {digest} of {} comes from {src}, not from {}: it cannot be copied",
                            list.name,
                            r.repository()
                        )))
                    }
                    Err(e) => return Err(registry_err(e)),
                },
                Plan::Local(img) => {
                    let (pushed, size) = self.push_by_digest(&client, &r.path, &img, o, events)?;
                    index["manifests"][i]["digest"] = pushed.into();
                    index["manifests"][i]["size"] = size.into();
                    index["manifests"][i]["mediaType"] = OCI_MANIFEST.into();
                }
            }
        }
        let bytes = index_bytes(&index)?;
        let media_type = index["mediaType"].as_str().unwrap_or(OCI_INDEX).to_string();
        events(PushEvent::WritingManifest);
        client
            .put_manifest(&r.path, &tag, &media_type, &bytes)
            .map_err(registry_err)
    }
}

/// The manifest `r` names (by digest, else tag), raw and parsed.
fn fetch_manifest(
    client: &berth_registry::Client,
    r: &berth_image::Reference,
) -> Result<(berth_registry::Manifest, Value)> {
    let wanted = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_default();
    let m = client
        .get_manifest(&r.path, &wanted)
        .map_err(registry_err)?;
    let v: Value = serde_json::from_slice(&m.bytes)
        .map_err(|e| Error::Other(format!("parsing manifest of {r}: {e}")))?;
    Ok((m, v))
}
