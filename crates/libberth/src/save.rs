//! `save` and `history` of the LocalEngine.
//!
//! `save` writes each layer back as the very tar it was applied from (rebuilt by the
//! layer store from its tar-split index and checked against the diff id), and each
//! config byte for byte, so `save` then `load` gives the same image ID, here or in
//! Podman or Docker.

use crate::error::{Error, IoContext, Result};
use crate::local::LocalEngine;
use crate::types::ImageRecord;
use berth_image::{SaveEvent, SaveFormat, SaveImage};
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// How to save.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    pub format: SaveFormat,
    /// `-m`: every name is an image (docker-archive only when there are several);
    /// without it, names after the first are extra tags of the first (docker-archive).
    pub multi_image: bool,
    /// `--compress`: gzip the layers of a docker-dir.
    pub compress: bool,
    /// `--uncompressed`: keep OCI layers uncompressed (they are gzipped by default).
    pub uncompressed: bool,
}

/// Where the archive goes.
pub enum SaveDest<'a> {
    /// A file (archive formats) or a directory (oci-dir, docker-dir).
    Path(PathBuf),
    /// A stream (standard output); archive formats only.
    Writer(&'a mut dyn Write),
}

/// One row of `history`, newest first, as Podman's `ImageHistoryLayer`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// The ID of the image whose top layer this is, else `<missing>`.
    #[serde(rename = "id")]
    pub id: String,
    /// RFC 3339 in UTC, as Go writes a time (its zero time when absent).
    #[serde(rename = "created")]
    pub created: String,
    #[serde(rename = "CreatedBy", skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(rename = "size")]
    pub size: u64,
    #[serde(rename = "comment", skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// Removes a half-written output unless disarmed.
struct Cleanup {
    path: Option<PathBuf>,
    dir: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = if self.dir {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

impl LocalEngine {
    /// `save`: writes the images `names` in `opts.format` to `dest`.
    pub fn save(
        &self,
        names: &[String],
        opts: &SaveOptions,
        dest: SaveDest<'_>,
        events: &mut dyn FnMut(SaveEvent<'_>),
    ) -> Result<()> {
        if names.is_empty() {
            return Err(Error::InvalidArg(
                "no image specified for saving images".into(),
            ));
        }
        if opts.multi_image && names.len() > 1 && opts.format != SaveFormat::DockerArchive {
            return Err(Error::InvalidArg(format!(
                "unsupported format {:?} for saving multiple images (only docker-archive)",
                opts.format.as_str()
            )));
        }
        if opts.format.is_dir() && matches!(dest, SaveDest::Writer(_)) {
            return Err(Error::InvalidArg(format!(
                "{} needs a directory: use -o",
                opts.format.as_str()
            )));
        }
        // Layers cannot go away while they are read (rmi takes this lock alone).
        let _lock = self.storage_lock_shared()?;
        let (images, chains) = self.save_images(names, opts)?;
        let compress = match opts.format {
            SaveFormat::DockerDir => opts.compress,
            SaveFormat::OciDir | SaveFormat::OciArchive => !opts.uncompressed,
            SaveFormat::DockerArchive => false,
        };
        let store = &self.store;
        let mut layers = |i: usize, j: usize| -> io::Result<Box<dyn Read>> {
            let tar = store
                .layer_tar(&chains[i][j])
                .map_err(|e| io::Error::other(e.to_string()))?;
            Ok(Box::new(tar))
        };

        match dest {
            SaveDest::Writer(w) => {
                let mut bw = BufWriter::with_capacity(256 * 1024, w);
                self.write_archive(&mut bw, opts.format, &images, compress, &mut layers, events)?;
                bw.flush().ctx(|| "writing the archive".into())?;
                Ok(())
            }
            SaveDest::Path(path) if opts.format.is_dir() => {
                let existed = fs::symlink_metadata(&path).is_ok();
                let mut cleanup = Cleanup {
                    path: (!existed).then(|| path.clone()),
                    dir: true,
                };
                match opts.format {
                    SaveFormat::OciDir => {
                        berth_image::write_oci_dir(&path, &images, compress, &mut layers, events)?
                    }
                    _ => berth_image::write_docker_dir(
                        &path,
                        &images[0],
                        compress,
                        &mut layers,
                        events,
                    )?,
                }
                cleanup.path = None;
                Ok(())
            }
            SaveDest::Path(path) => {
                self.save_to_file(&path, opts.format, &images, compress, &mut layers, events)
            }
        }
    }

    /// Writes an archive into `path`: a regular file (new or replaced) is written under a
    /// temporary name and renamed into place, so that a failure leaves nothing behind
    /// (and an existing file as it was); anything else (`/dev/null`, a pipe) is written
    /// directly. As in Podman, a docker-archive is never written over a non-empty file.
    fn save_to_file(
        &self,
        path: &Path,
        format: SaveFormat,
        images: &[SaveImage],
        compress: bool,
        layers: &mut berth_image::LayerSource<'_>,
        events: &mut dyn FnMut(SaveEvent<'_>),
    ) -> Result<()> {
        let opening = || format!("opening file {:?}", path.display().to_string());
        let special = fs::metadata(path).is_ok_and(|m| {
            let t = m.file_type();
            t.is_char_device() || t.is_fifo() || t.is_socket() || t.is_block_device()
        });
        if special {
            let f = fs::OpenOptions::new().write(true).open(path).ctx(opening)?;
            let mut bw = BufWriter::with_capacity(256 * 1024, f);
            self.write_archive(&mut bw, format, images, compress, layers, events)?;
            return bw.flush().ctx(|| format!("writing {}", path.display()));
        }
        // containers/image refuses to write into a docker-archive that has content.
        if format == SaveFormat::DockerArchive
            && fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
        {
            return Err(Error::InvalidArg(
                "docker-archive doesn't support modifying existing images".into(),
            ));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| Error::InvalidArg(format!("{}: not a file name", path.display())))?
            .to_string_lossy()
            .into_owned();
        let mut n = 0u32;
        let (tmp, f) = loop {
            let tmp = dir.join(format!(
                ".{file_name}.berth-save-{}-{n}",
                std::process::id()
            ));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(Error::Io(opening(), e)),
            }
        };
        let mut cleanup = Cleanup {
            path: Some(tmp.clone()),
            dir: false,
        };
        let mut bw = BufWriter::with_capacity(256 * 1024, f);
        self.write_archive(&mut bw, format, images, compress, layers, events)?;
        bw.flush().ctx(|| format!("writing {}", path.display()))?;
        drop(bw);
        fs::rename(&tmp, path).ctx(|| format!("writing {}", path.display()))?;
        cleanup.path = None;
        Ok(())
    }

    fn write_archive(
        &self,
        out: &mut dyn Write,
        format: SaveFormat,
        images: &[SaveImage],
        compress: bool,
        layers: &mut berth_image::LayerSource<'_>,
        events: &mut dyn FnMut(SaveEvent<'_>),
    ) -> Result<()> {
        match format {
            SaveFormat::DockerArchive => {
                berth_image::write_docker_archive(out, images, layers, events)?;
            }
            SaveFormat::OciArchive => {
                let work = self.tmpdir("save")?;
                let r =
                    berth_image::write_oci_archive(out, &work, images, compress, layers, events);
                let _ = fs::remove_dir_all(&work);
                r?;
            }
            other => {
                return Err(Error::InvalidArg(format!(
                    "{} is a directory format",
                    other.as_str()
                )))
            }
        }
        Ok(())
    }

    /// The images to write and, per image, its layers' chain IDs.
    fn save_images(
        &self,
        names: &[String],
        opts: &SaveOptions,
    ) -> Result<(Vec<SaveImage>, Vec<Vec<String>>)> {
        // Podman: one image plus extra tags, unless -m makes every name an image.
        let (keys, extra_tags): (&[String], &[String]) = if opts.multi_image {
            (names, &[])
        } else {
            (&names[..1], &names[1..])
        };
        let mut extra = Vec::new();
        if opts.format == SaveFormat::DockerArchive {
            for t in extra_tags {
                let n = berth_image::normalize_name(t)?;
                if n.contains('@') || !tagged(&n) {
                    return Err(Error::InvalidArg(format!(
                        "invalid additional tag {t:?}: normalized to untagged {n:?}"
                    )));
                }
                extra.push(n);
            }
        }
        let mut images = Vec::new();
        let mut chains = Vec::new();
        for key in keys {
            let (img, matched) = self.lookup_image_name(key)?;
            // Unless the image was named by its ID, the name it was found by is its tag.
            let name = matched.filter(|n| !n.contains('@'));
            let mut repo_tags = extra.clone();
            repo_tags.extend(name.clone());
            let save = self.save_image(&img, repo_tags, name, key)?;
            chains.push(img.layers.clone());
            images.push(save);
        }
        Ok((images, chains))
    }

    fn save_image(
        &self,
        img: &ImageRecord,
        repo_tags: Vec<String>,
        ref_name: Option<String>,
        key: &str,
    ) -> Result<SaveImage> {
        let config: Value = serde_json::from_slice(&img.config)
            .map_err(|e| Error::Other(format!("image {key}: config: {e}")))?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != img.layers.len() {
            return Err(Error::Other(format!(
                "image {key}: its config lists {} layers, storage has {}",
                diff_ids.len(),
                img.layers.len()
            )));
        }
        let mut layer_sizes = Vec::with_capacity(img.layers.len());
        for chain in &img.layers {
            if !self.store.has_layer_tar(chain) {
                return Err(Error::Other(format!(
                    "saving image {key}: {}",
                    berth_storage::StorageError::NoLayerTar(chain.clone())
                )));
            }
            layer_sizes.push(self.store.layer_info(chain)?.size);
        }
        Ok(SaveImage {
            config: img.config.clone(),
            diff_ids,
            layer_sizes,
            repo_tags,
            ref_name,
        })
    }

    /// `history`: the image's history entries, newest first, with the layer each one
    /// made and the ID of an image whose top layer that is (Podman's rules).
    pub fn history(&self, key: &str) -> Result<Vec<HistoryEntry>> {
        let img = self.lookup_image(key)?;
        let config: Value = serde_json::from_slice(&img.config).unwrap_or_default();
        let entries = config["history"].as_array().cloned().unwrap_or_default();
        // Top layer -> images ending with it (this image first).
        let mut tops: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(top) = img.layers.last() {
            tops.entry(top.clone()).or_default().push(img.id.clone());
        }
        for other in self.db().images()? {
            if let Some(top) = other.layers.last() {
                let ids = tops.entry(top.clone()).or_default();
                if !ids.contains(&other.id) {
                    ids.push(other.id);
                }
            }
        }
        let mut layer = img.layers.len().checked_sub(1);
        let mut used: HashSet<String> = HashSet::new();
        let mut out = Vec::with_capacity(entries.len());
        for (x, h) in entries.iter().enumerate().rev() {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let mut e = HistoryEntry {
                id: if x + 1 == entries.len() {
                    img.id.clone()
                } else {
                    "<missing>".into()
                },
                created: h["created"]
                    .as_str()
                    .and_then(berth_image::parse_go_time)
                    .map(|t| berth_image::format_go_time(&t))
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                created_by: h["created_by"].as_str().unwrap_or("").to_string(),
                size: 0,
                comment: h["comment"].as_str().unwrap_or("").to_string(),
            };
            if let Some(l) = layer {
                let chain = &img.layers[l];
                if !empty {
                    e.size = self.store.layer_info(chain).map(|i| i.size).unwrap_or(0);
                }
                if let Some(id) = tops.get(chain).and_then(|ids| ids.first()) {
                    if used.insert(id.clone()) {
                        e.id = id.clone();
                    }
                }
                if l > 0 && !empty {
                    layer = Some(l - 1);
                }
            }
            out.push(e);
        }
        Ok(out)
    }
}

/// Whether a normalized name carries a tag.
fn tagged(name: &str) -> bool {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    name[slash..].contains(':')
}
