//! `push`: a local image to a registry. Each layer's exact tar is rebuilt from storage,
//! gzip-compressed and uploaded unless the registry already has it (HEAD check); then the
//! config and an OCI manifest.

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::pull::PullOptions;
use berth_registry::{Client, ClientOptions};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone)]
pub enum PushEvent {
    CopyingBlob { digest: String, skipped: bool },
    CopyingConfig(String),
    WritingManifest,
}

/// A writer that hashes and counts what passes through to a file.
struct HashingFile {
    f: std::fs::File,
    hasher: Sha256,
    n: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.f.flush()
    }
}

fn registry_err(e: berth_registry::RegistryError) -> Error {
    Error::Other(e.to_string())
}

/// A client for `r`'s registry, with the credentials and TLS settings a pull or push
/// would use (the options first, then auth.json and registries.conf).
pub(crate) fn registry_client(r: &berth_image::Reference, o: &PullOptions) -> Result<Client> {
    let regs = berth_image::registries::RegistriesConfig::load()?;
    regs.check_blocked(&r.repository())?;
    let credentials = match &o.credentials {
        Some(c) => Some(c.clone()),
        None => berth_image::auth::get_credentials(
            &berth_image::auth::credentials_key(r),
            o.authfile.as_deref(),
            &regs.credential_helpers,
        )?
        .filter(|c| !c.is_empty())
        .map(|c| berth_registry::Credentials {
            username: c.username,
            password: c.password,
        }),
    };
    Client::new(
        &r.domain,
        &ClientOptions {
            tls_verify: o.tls_verify.unwrap_or(!regs.insecure(&r.repository())),
            cert_dirs: berth_registry::default_cert_dirs(),
            cert_dir: o.cert_dir.clone(),
            credentials,
            user_agent: String::new(),
        },
    )
    .map_err(registry_err)
}

impl LocalEngine {
    /// Pushes image `image` to `destination` (`[docker://]host[:port]/repo[:tag]`; by
    /// default the image's own name). Returns the manifest digest.
    pub fn push(
        &self,
        image: &str,
        destination: Option<&str>,
        o: &PullOptions,
        events: &mut dyn FnMut(PushEvent),
    ) -> Result<String> {
        let img = self.lookup_image(image)?;
        let dest = match destination {
            Some(d) => d.to_string(),
            None => berth_image::normalize_name(image)?,
        };
        // Local transports are what `save` writes.
        if let Some((t, path)) = dest.split_once(':') {
            let format = match t {
                "oci" => Some(berth_image::SaveFormat::OciDir),
                "oci-archive" => Some(berth_image::SaveFormat::OciArchive),
                "docker-archive" => Some(berth_image::SaveFormat::DockerArchive),
                "dir" => Some(berth_image::SaveFormat::DockerDir),
                _ => None,
            };
            if let Some(format) = format {
                if path.is_empty() || path.contains(':') {
                    return Err(Error::InvalidArg(format!(
                        "{dest}: name the destination as {t}:PATH (naming a reference inside it is not supported yet)"
                    )));
                }
                let opts = crate::save::SaveOptions {
                    format,
                    multi_image: false,
                    compress: false,
                    uncompressed: false,
                };
                self.save(
                    &[image.to_string()],
                    &opts,
                    crate::save::SaveDest::Path(path.into()),
                    &mut |ev| match ev {
                        berth_image::SaveEvent::Blob(d) => events(PushEvent::CopyingBlob {
                            digest: d.to_string(),
                            skipped: false,
                        }),
                        berth_image::SaveEvent::Config(d) => {
                            events(PushEvent::CopyingConfig(d.to_string()))
                        }
                        berth_image::SaveEvent::Manifest => events(PushEvent::WritingManifest),
                    },
                )?;
                return Ok(format!("sha256:{}", img.id));
            }
        }
        let dest = match dest.split_once(':') {
            Some((t, rest)) if rest.starts_with("//") => {
                if t != "docker" {
                    return Err(Error::InvalidArg(format!(
                        "push to {t}: transport not supported: use docker://, oci:, oci-archive:, docker-archive: or dir:"
                    )));
                }
                rest.trim_start_matches('/').to_string()
            }
            _ => dest,
        };
        let r = berth_image::Reference::parse(&dest)?;
        if r.domain.is_empty() || r.domain == "localhost" {
            return Err(Error::InvalidArg(format!(
                "{dest}: pushing needs a registry: name it as host[:port]/repository[:tag]"
            )));
        }
        if r.digest.is_some() {
            return Err(Error::InvalidArg(format!(
                "{dest}: cannot push to a digest reference: use a tag"
            )));
        }
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let repo = r.path.clone();
        let client = registry_client(&r, o)?;
        let work = self.tmpdir("push")?;
        let result = self.push_into(&client, &repo, Some(&tag), &img, &work, o, events);
        let _ = std::fs::remove_dir_all(&work);
        result.map(|(digest, _)| digest)
    }

    /// Pushes image `img` into `repo` of `client`'s registry by digest (no tag). Returns
    /// the manifest's digest and size.
    pub(crate) fn push_by_digest(
        &self,
        client: &Client,
        repo: &str,
        img: &crate::types::ImageRecord,
        o: &PullOptions,
        events: &mut dyn FnMut(PushEvent),
    ) -> Result<(String, u64)> {
        let work = self.tmpdir("push")?;
        let result = self.push_into(client, repo, None, img, &work, o, events);
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn push_into(
        &self,
        client: &Client,
        repo: &str,
        tag: Option<&str>,
        img: &crate::types::ImageRecord,
        work: &Path,
        o: &PullOptions,
        events: &mut dyn FnMut(PushEvent),
    ) -> Result<(String, u64)> {
        // Compress each layer's rebuilt tar, in parallel, to learn its digest.
        let indexes: Vec<usize> = (0..img.layers.len()).collect();
        let mut done = crate::pull::in_parallel(&indexes, |i| {
            self.compress_layer(&img.layers[i], &work.join(format!("layer-{i}")), o.zstd)
        })?;
        done.sort_by_key(|(i, _)| *i);
        let compressed: Vec<(String, u64)> = done.into_iter().map(|(_, v)| v).collect();
        // Other repositories of this registry the image was pushed to or pulled from:
        // their blobs can be mounted instead of uploaded.
        let host = client.host().to_string();
        let siblings: Vec<String> = img
            .names
            .iter()
            .filter_map(|n| berth_image::Reference::parse(n).ok())
            .filter(|r| r.domain == host && r.path != repo)
            .map(|r| r.path)
            .collect();
        for (i, (digest, _)) in compressed.iter().enumerate() {
            let mut exists = client.has_blob(repo, digest).map_err(registry_err)?;
            for from in &siblings {
                if exists {
                    break;
                }
                exists = client.mount_blob(repo, digest, from).unwrap_or(false);
            }
            events(PushEvent::CopyingBlob {
                digest: digest.clone(),
                skipped: exists,
            });
            if !exists {
                client
                    .put_blob_file(repo, digest, &work.join(format!("layer-{i}")))
                    .map_err(registry_err)?;
            }
        }
        let config_digest = format!("sha256:{}", img.id);
        events(PushEvent::CopyingConfig(config_digest.clone()));
        if !client
            .has_blob(repo, &config_digest)
            .map_err(registry_err)?
        {
            client
                .put_blob(repo, &config_digest, &img.config)
                .map_err(registry_err)?;
        }
        events(PushEvent::WritingManifest);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": img.config.len(),
            },
            "layers": compressed.iter().map(|(d, size)| json!({
                "mediaType": if o.zstd {
                    "application/vnd.oci.image.layer.v1.tar+zstd"
                } else {
                    "application/vnd.oci.image.layer.v1.tar+gzip"
                },
                "digest": d,
                "size": size,
            })).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Other(e.to_string()))?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        client
            .put_manifest(
                repo,
                tag.unwrap_or(&digest),
                "application/vnd.oci.image.manifest.v1+json",
                &bytes,
            )
            .map_err(registry_err)
            .map(|d| (d, bytes.len() as u64))
    }

    /// Writes layer `chain`'s tar, compressed, to `dest`; returns its digest and size.
    fn compress_layer(&self, chain: &str, dest: &Path, zstd: bool) -> Result<(String, u64)> {
        let mut tar = self.store.layer_tar(chain)?;
        let file = std::fs::File::create(dest).ctx(|| format!("creating {}", dest.display()))?;
        let mut out = HashingFile {
            f: file,
            hasher: Sha256::new(),
            n: 0,
        };
        let what = || format!("compressing layer {chain}");
        if zstd {
            ruzstd::encoding::compress(
                &mut tar,
                &mut out,
                ruzstd::encoding::CompressionLevel::Fastest,
            );
            // The layer's own check (its diff id) runs when it is read to the end.
            std::io::copy(&mut tar, &mut std::io::sink()).ctx(what)?;
        } else {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            std::io::copy(&mut tar, &mut gz).ctx(what)?;
            out = gz.finish().ctx(what)?;
        }
        out.flush().ctx(|| format!("writing {}", dest.display()))?;
        Ok((
            format!("sha256:{}", hex::encode(out.hasher.finalize())),
            out.n,
        ))
    }
}
