//! `commit`: a new image from a container's changes and settings, as Podman 4.3 makes it
//! (libpod's `Container.Commit` through buildah's import builder).

use crate::error::{Error, Result};
use crate::images::StoredLayer;
use crate::local::LocalEngine;
use crate::types::{state, ContainerRecord};
use berth_image::{
    format_go_time, media_types, ContainerConfig, Empty, HealthConfig, History, ImageConfig, RootFs,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// How to commit.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// `-c`: Dockerfile-style instructions applied to the new config.
    pub changes: Vec<String>,
    /// `-m` (docker format only).
    pub message: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-p`: pause a running container while its changes are read.
    pub pause: bool,
    /// `--squash`: one layer with the whole root file system.
    pub squash: bool,
    /// `--format`: "oci" or "docker".
    pub format: String,
    /// `--include-volumes`: the container's mount destinations become image volumes.
    pub include_volumes: bool,
}

impl Default for CommitOptions {
    fn default() -> Self {
        Self {
            changes: Vec::new(),
            message: None,
            author: None,
            pause: true,
            squash: false,
            format: "oci".into(),
            include_volumes: false,
        }
    }
}

/// Progress of a commit, in the order Podman reports it.
#[derive(Debug, Clone, Copy)]
pub enum CommitEvent<'a> {
    CopyingBlob(&'a str),
    CopyingConfig(&'a str),
    WritingManifest,
}

/// Podman's history entry of a committed layer says this, whatever the container ran.
const CREATED_BY: &str = "/bin/sh";

impl LocalEngine {
    /// `commit CONTAINER [IMAGE]`: returns the new image's ID (hex).
    pub fn container_commit(
        &self,
        key: &str,
        reference: Option<&str>,
        opts: &CommitOptions,
        events: &mut dyn FnMut(CommitEvent<'_>),
    ) -> Result<String> {
        let id = self.lookup_container(key)?;
        let docker = match opts.format.as_str() {
            "oci" => false,
            "docker" => true,
            other => {
                return Err(Error::InvalidArg(format!(
                    "unrecognized image format {other:?}"
                )))
            }
        };
        if !docker && opts.message.as_deref().is_some_and(|m| !m.is_empty()) {
            return Err(Error::InvalidArg(
                "messages are only compatible with the docker image format (-f docker)".into(),
            ));
        }
        // Everything that can be refused is checked before a layer is written.
        let names: Vec<String> = reference
            .map(berth_image::normalize_name)
            .transpose()?
            .into_iter()
            .collect();
        let mut probe = ImageConfig::default();
        berth_image::apply_changes(&mut probe, &opts.changes)?;

        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        let (st, _, _) = self.live_state(&rec);
        let paused = opts.pause && st == state::RUNNING;
        if paused {
            self.runtime()?.pause(&id)?;
            self.set_state(&id, state::PAUSED)?;
        }
        let result = self.commit_locked(&rec, &names, opts, docker, events);
        if paused {
            // Unpaused on error too; a failed resume is reported unless the commit failed.
            let resumed = self
                .runtime()
                .and_then(|rt| Ok(rt.resume(&id)?))
                .and_then(|()| self.set_state(&id, state::RUNNING));
            if result.is_ok() {
                resumed?;
            }
        }
        result
    }

    fn commit_locked(
        &self,
        rec: &ContainerRecord,
        names: &[String],
        opts: &CommitOptions,
        docker: bool,
        events: &mut dyn FnMut(CommitEvent<'_>),
    ) -> Result<String> {
        let img = self
            .db()
            .image(&rec.image_id)?
            .ok_or_else(|| Error::NoSuchImage(rec.image_id.clone()))?;
        let base = ImageConfig::from_slice(&img.config)
            .map_err(|e| Error::Other(format!("image config of {}: {e}", img.id)))?;
        let now = Utc::now();
        let mut cc = container_settings(&base.config, rec, opts.include_volumes);
        let mut cfg = ImageConfig {
            config: cc.clone(),
            ..ImageConfig::default()
        };
        berth_image::apply_changes(&mut cfg, &opts.changes)?;
        cc = cfg.config;
        let onbuild = onbuild_of(&opts.changes);

        let _storage = self.storage_lock_shared()?;
        let chain = self.store.container_layers(&rec.id)?;
        let layer = self.store.commit_container_layer(&rec.id, opts.squash)?;
        let result = (|| -> Result<String> {
            let mut layers = Vec::new();
            if !opts.squash {
                for (i, c) in chain.iter().enumerate() {
                    let info = self.store.layer_info(c)?;
                    layers.push(StoredLayer {
                        chain_id: info.chain_id,
                        diff_id: info.diff_id,
                        parent: i.checked_sub(1).map(|p| chain[p].clone()),
                        size: info.size,
                    });
                }
            }
            layers.push(StoredLayer {
                chain_id: layer.chain_id.clone(),
                diff_id: layer.diff_id.clone(),
                parent: layers.last().map(|l| l.chain_id.clone()),
                size: layer.size,
            });
            let mut history = if opts.squash {
                Vec::new()
            } else {
                base.history.clone()
            };
            history.push(History {
                created: Some(Utc::now()),
                created_by: Some(CREATED_BY.into()),
                author: opts.author.clone().filter(|a| !a.is_empty()),
                comment: Some(format!("FROM {}", rec.config.image_name)),
                empty_layer: false,
            });
            let author = opts
                .author
                .clone()
                .filter(|a| !a.is_empty())
                .or(base.author.clone());
            let config = ImageConfig {
                created: Some(now),
                author,
                architecture: base.architecture.clone(),
                variant: base.variant.clone(),
                os: base.os.clone(),
                os_version: base.os_version.clone(),
                os_features: base.os_features.clone(),
                config: cc,
                rootfs: RootFs {
                    fs_type: "layers".into(),
                    diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
                },
                history,
            };
            let (config_bytes, manifest) = if docker {
                let parent = (!opts.squash).then(|| format!("sha256:{}", img.id));
                let bytes = docker_config(&config, rec, opts, onbuild, parent)?;
                let manifest = docker_manifest(&bytes, &layers);
                (bytes, Some(manifest))
            } else {
                (config.to_json_bytes()?, None)
            };
            for l in &layers {
                events(CommitEvent::CopyingBlob(&l.diff_id));
            }
            let id = berth_image::sha256_digest(&config_bytes);
            events(CommitEvent::CopyingConfig(&id));
            events(CommitEvent::WritingManifest);
            let chain: Vec<String> = layers.iter().map(|l| l.chain_id.clone()).collect();
            self.commit_image(&config_bytes, manifest, &chain, &layers, names)
        })();
        if result.is_err() && self.db().layer_size(&layer.chain_id)?.is_none() {
            let _ = self.store.remove_layer(&layer.chain_id);
        }
        result
    }
}

/// The image config as the container has it: its command, environment, working
/// directory, user and labels over the image's (Podman's commit does the same).
fn container_settings(
    image: &ContainerConfig,
    rec: &ContainerRecord,
    include_volumes: bool,
) -> ContainerConfig {
    let c = &rec.config;
    let mut cc = image.clone();
    cc.entrypoint = c.entrypoint.clone().or_else(|| image.entrypoint.clone());
    cc.cmd = if !c.command.is_empty() {
        Some(c.command.clone())
    } else if c.entrypoint.is_some() {
        None
    } else {
        image.cmd.clone()
    };
    cc.env = Some(c.env.clone());
    if !c.labels.is_empty() {
        cc.labels
            .get_or_insert_with(BTreeMap::new)
            .extend(c.labels.clone());
    }
    if !c.user.is_empty() {
        cc.user = Some(c.user.clone());
    }
    if include_volumes {
        for m in &c.mounts {
            cc.volumes
                .get_or_insert_with(BTreeMap::new)
                .insert(m.destination.clone(), Empty {});
        }
    }
    cc.working_dir = Some(c.workdir.clone());
    cc
}

/// The `ONBUILD` values of `--change` (kept in docker configs only).
fn onbuild_of(changes: &[String]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            let t = c.trim_start();
            let sep = t.find(|ch: char| ch.is_whitespace() || ch == '=')?;
            t[..sep]
                .eq_ignore_ascii_case("ONBUILD")
                .then(|| t[sep + 1..].trim().to_string())
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// Docker's container `Config` as buildah writes it in a docker-format image config:
/// every field present, empty lists and maps as `null`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerRunConfig {
    hostname: String,
    domainname: String,
    user: String,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exposed_ports: Option<BTreeMap<String, Empty>>,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<HealthConfig>,
    image: String,
    volumes: Option<BTreeMap<String, Empty>>,
    working_dir: String,
    entrypoint: Option<Vec<String>>,
    on_build: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    stop_signal: String,
}

#[derive(Serialize)]
struct DockerHistory {
    created: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    author: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    created_by: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    comment: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    empty_layer: bool,
}

/// buildah's `V2Image`, in its field order.
#[derive(Serialize)]
struct DockerImage {
    #[serde(skip_serializing_if = "String::is_empty")]
    comment: String,
    created: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    container: String,
    container_config: DockerRunConfig,
    #[serde(skip_serializing_if = "String::is_empty")]
    author: String,
    config: DockerRunConfig,
    #[serde(skip_serializing_if = "String::is_empty")]
    architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    rootfs: RootFs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    history: Vec<DockerHistory>,
}

fn go_time(t: &Option<DateTime<Utc>>) -> String {
    format_go_time(&t.unwrap_or_default())
}

fn non_empty<T: IsEmpty>(v: Option<T>) -> Option<T> {
    v.filter(|v| !v.is_empty())
}

trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl<T> IsEmpty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<K, V> IsEmpty for BTreeMap<K, V> {
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

fn docker_config(
    config: &ImageConfig,
    rec: &ContainerRecord,
    opts: &CommitOptions,
    onbuild: Vec<String>,
    parent: Option<String>,
) -> Result<Vec<u8>> {
    docker_image_config(
        config,
        &rec.config.image_name,
        &rec.id,
        opts.message.as_deref().unwrap_or_default(),
        onbuild,
        parent,
    )
}

/// A docker-format image config (buildah's `V2Image`) of `config`, made from a container
/// of `image` (`container` its ID) with these ONBUILD triggers.
pub(crate) fn docker_image_config(
    config: &ImageConfig,
    image: &str,
    container: &str,
    comment: &str,
    onbuild: Vec<String>,
    parent: Option<String>,
) -> Result<Vec<u8>> {
    let cc = &config.config;
    let run = || DockerRunConfig {
        hostname: String::new(),
        domainname: String::new(),
        user: cc.user.clone().unwrap_or_default(),
        attach_stdin: false,
        attach_stdout: false,
        attach_stderr: false,
        exposed_ports: non_empty(cc.exposed_ports.clone()),
        tty: false,
        open_stdin: false,
        stdin_once: false,
        env: non_empty(cc.env.clone()),
        cmd: non_empty(cc.cmd.clone()),
        healthcheck: cc.healthcheck.clone(),
        image: image.to_string(),
        volumes: non_empty(cc.volumes.clone()),
        working_dir: cc.working_dir.clone().unwrap_or_default(),
        entrypoint: non_empty(cc.entrypoint.clone()),
        on_build: non_empty(Some(onbuild.clone())),
        labels: non_empty(cc.labels.clone()),
        stop_signal: cc.stop_signal.clone().unwrap_or_default(),
    };
    let doc = DockerImage {
        comment: comment.to_string(),
        created: go_time(&config.created),
        container: container.to_string(),
        container_config: run(),
        author: config.author.clone().unwrap_or_default(),
        config: run(),
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        parent,
        rootfs: config.rootfs.clone(),
        history: config
            .history
            .iter()
            .map(|h| DockerHistory {
                created: go_time(&h.created),
                author: h.author.clone().unwrap_or_default(),
                created_by: h.created_by.clone().unwrap_or_default(),
                comment: h.comment.clone().unwrap_or_default(),
                empty_layer: h.empty_layer,
            })
            .collect(),
    };
    berth_image::to_go_json(&doc).map_err(|e| Error::Other(format!("image config: {e}")))
}

/// A docker schema 2 manifest of uncompressed layers (as Podman stores a commit).
pub(crate) fn docker_manifest(config: &[u8], layers: &[StoredLayer]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::DOCKER_MANIFEST,
        "config": {
            "mediaType": media_types::DOCKER_CONFIG,
            "size": config.len(),
            "digest": berth_image::sha256_digest(config),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": media_types::DOCKER_LAYER,
            "size": l.size,
            "digest": l.diff_id,
        })).collect::<Vec<_>>(),
    }))
    .unwrap_or_default()
}
