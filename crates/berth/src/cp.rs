//! `cp` and `diff`. For `cp` the CLI holds the host side and Podman's naming rules (what
//! the copy is called at the destination); the engine stats, reads and writes container
//! paths. Tars pass through an unnamed temporary file between the two sides.

use crate::cli::{CpArgs, DiffArgs};
use crate::format::json_indent;
use anyhow::{bail, Context, Result};
use berth_storage::copy::{self as scopy, ExtractOptions, TarOptions};
use libberth::copy::{CopyInOptions, CopyStat, DiffKind};
use libberth::Engine;
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// One side of a copy.
enum Loc {
    Host(String),
    Stdio,
    Ctr { name: String, path: String },
}

/// `CONTAINER:PATH`, `-`, or a host path (one starting with `/` or `.` is always a host path,
/// so that host paths with colons can be named).
fn parse(s: &str) -> Loc {
    if s == "-" {
        return Loc::Stdio;
    }
    if s.starts_with('/') || s.starts_with('.') {
        return Loc::Host(s.into());
    }
    match s.split_once(':') {
        Some((c, p)) if !c.is_empty() => Loc::Ctr {
            name: c.into(),
            // Container paths are relative to the container's root.
            path: if p.starts_with('/') {
                p.into()
            } else {
                format!("/{p}")
            },
        },
        _ => Loc::Host(s.into()),
    }
}

/// `dir/.`: the contents of a directory, not the directory.
fn contents_only(p: &str) -> bool {
    p == "." || p.ends_with("/.")
}

fn base_name(p: &str) -> String {
    let t = p.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some((_, b)) => b.to_string(),
        None => t.to_string(),
    }
}

fn parent_of(p: &str) -> String {
    let t = p.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((d, _)) => d.into(),
        None => ".".into(),
    }
}

fn host_missing(p: &str) -> anyhow::Error {
    anyhow::anyhow!("{p:?} could not be found on the host: no such file or directory")
}

fn ctr_missing(p: &str, c: &str) -> anyhow::Error {
    anyhow::anyhow!("{p:?} could not be found on container {c}: no such file or directory")
}

fn must_exist(e: &dyn Engine, c: &str) -> Result<()> {
    if !e.container_exists(c)? {
        bail!("container {c:?} does not exist");
    }
    Ok(())
}

fn spool() -> Result<File> {
    scopy::temp_file(&std::env::temp_dir()).context("creating a temporary file")
}

pub fn cp(e: &dyn Engine, a: &CpArgs) -> Result<i32> {
    let opts = CopyInOptions {
        archive: a.archive,
        overwrite: a.overwrite,
    };
    match (parse(&a.src), parse(&a.dest)) {
        (Loc::Ctr { name: sc, path: sp }, Loc::Ctr { name: dc, path: dp }) => {
            must_exist(e, &sc)?;
            must_exist(e, &dc)?;
            let src = e
                .container_copy_stat(&sc, &sp)?
                .ok_or_else(|| ctr_missing(&sp, &sc))?;
            let contents = src.is_dir && contents_only(&sp);
            let (dir, top) = container_target(e, &dc, &dp, src.is_dir, contents, &src.name)?;
            let mut tmp = spool()?;
            e.container_copy_out(&sc, &sp, &top, &mut tmp)?;
            tmp.rewind()?;
            e.container_copy_in(&dc, &dir, &mut tmp, &opts)?;
        }
        (Loc::Ctr { name, path }, dest) => {
            must_exist(e, &name)?;
            let src = e
                .container_copy_stat(&name, &path)?
                .ok_or_else(|| ctr_missing(&path, &name))?;
            let contents = src.is_dir && contents_only(&path);
            match dest {
                Loc::Stdio => {
                    let top = if contents { "" } else { &src.name };
                    let stdout = std::io::stdout();
                    let mut out = stdout.lock();
                    e.container_copy_out(&name, &path, top, &mut out)?;
                    out.flush()?;
                }
                Loc::Host(h) => copy_to_host(e, &name, &path, &src, contents, &h, &opts)?,
                Loc::Ctr { .. } => unreachable!("handled above"),
            }
        }
        (Loc::Stdio, Loc::Ctr { name, path }) => {
            must_exist(e, &name)?;
            let dir = match e.container_copy_stat(&name, &path)? {
                Some(s) if s.is_dir => s.path,
                _ => bail!("destination must be a directory when copying from stdin"),
            };
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            e.container_copy_in(&name, &dir, &mut input, &opts)?;
        }
        (Loc::Host(h), Loc::Ctr { name, path }) => {
            must_exist(e, &name)?;
            let md = std::fs::metadata(&h).map_err(|_| host_missing(&h))?;
            let contents = md.is_dir() && contents_only(&h);
            let (dir, top) =
                container_target(e, &name, &path, md.is_dir(), contents, &base_name(&h))?;
            let abs = std::path::absolute(&h).with_context(|| format!("resolving {h}"))?;
            let host_root = scopy::open_root(Path::new("/")).context("opening /")?;
            let src = scopy::resolve(&host_root, &abs.to_string_lossy(), true)
                .map_err(|_| host_missing(&h))?;
            let mut tmp = spool()?;
            scopy::write_tar(&src, &top, &mut tmp, &TarOptions::default())
                .with_context(|| format!("reading {h}"))?;
            tmp.rewind()?;
            e.container_copy_in(&name, &dir, &mut tmp, &opts)?;
        }
        // Podman looks up the destination container first: an empty name.
        _ => bail!("name or ID cannot be empty"),
    }
    Ok(0)
}

/// Where a copy lands in a container, by Podman's rules: (directory to extract into, name
/// of the tar's top entry; empty for a directory's contents).
fn container_target(
    e: &dyn Engine,
    c: &str,
    p: &str,
    src_is_dir: bool,
    contents: bool,
    src_name: &str,
) -> Result<(String, String)> {
    match e.container_copy_stat(c, p)? {
        Some(d) if d.is_dir => {
            let top = if contents { "" } else { src_name };
            Ok((d.path, top.to_string()))
        }
        Some(d) => {
            if src_is_dir {
                bail!("destination must be a directory when copying a directory");
            }
            Ok((parent_of(&d.path), d.name))
        }
        None => {
            if p.ends_with('/') {
                return Err(ctr_missing(p, c));
            }
            match e.container_copy_stat(c, &parent_of(p))? {
                Some(parent) if parent.is_dir => Ok((parent.path, base_name(p))),
                _ => Err(ctr_missing(p, c)),
            }
        }
    }
}

fn copy_to_host(
    e: &dyn Engine,
    c: &str,
    p: &str,
    src: &CopyStat,
    contents: bool,
    h: &str,
    opts: &CopyInOptions,
) -> Result<()> {
    let (dir, top): (PathBuf, String) = match std::fs::metadata(h) {
        Ok(m) if m.is_dir() => (
            h.into(),
            if contents {
                String::new()
            } else {
                src.name.clone()
            },
        ),
        Ok(_) => {
            if src.is_dir {
                bail!("destination must be a directory when copying a directory");
            }
            (parent_of(h).into(), base_name(h))
        }
        Err(_) => {
            let parent = parent_of(h);
            if h.ends_with('/') || !Path::new(&parent).is_dir() {
                return Err(host_missing(h));
            }
            (parent.into(), base_name(h))
        }
    };
    let mut tmp = spool()?;
    e.container_copy_out(c, p, &top, &mut tmp)?;
    tmp.rewind()?;
    let dest = scopy::open_root(&dir).with_context(|| format!("opening {}", dir.display()))?;
    // Files copied to the host belong to the user who copies, as with Podman.
    let eo = ExtractOptions {
        chown: Some((
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )),
        overwrite: opts.overwrite,
        confine_depth: None,
        idmap: None,
    };
    scopy::extract_stream(&dest, &mut tmp, &eo)?;
    Ok(())
}

pub fn diff(e: &dyn Engine, a: &DiffArgs, kind: DiffKind) -> Result<i32> {
    let changes = e.diff(&a.name, kind)?;
    match a.format.as_deref() {
        None | Some("") => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for c in &changes {
                writeln!(out, "{} {}", c.kind.letter(), c.path)?;
            }
        }
        Some("json") => {
            let mut m = Map::new();
            for (key, letter) in [("changed", 'C'), ("added", 'A'), ("deleted", 'D')] {
                let paths: Vec<Value> = changes
                    .iter()
                    .filter(|c| c.kind.letter() == letter)
                    .map(|c| Value::from(c.path.clone()))
                    .collect();
                if !paths.is_empty() {
                    m.insert(key.into(), Value::Array(paths));
                }
            }
            println!("{}", json_indent(&Value::Object(m), 5));
        }
        Some(_) => bail!("only supported value for '--format' is 'json'"),
    }
    Ok(0)
}
