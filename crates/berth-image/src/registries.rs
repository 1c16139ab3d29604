//! registries.conf (v2, and v1 converted as containers/image does): which registries
//! short names are searched in, short-name aliases and mode, and per-prefix
//! `[[registry]]` entries with `location` rewrites, `insecure`, `blocked` and mirrors.
//!
//! Files, as `containers-registries.conf(5)` and c/image's `sysregistriesv2` read them:
//! - the main file: `$CONTAINERS_REGISTRIES_CONF` if set (then a missing file is an
//!   error), else `$HOME/.config/containers/registries.conf` if it exists, else
//!   `/etc/containers/registries.conf` (missing is fine);
//! - drop-ins `*.conf` (v2 only) from `/etc/containers/registries.conf.d` and then
//!   `$HOME/.config/containers/registries.conf.d`, each directory in name order; when the
//!   user's own registries.conf is used, only the user's directory is read;
//! - the machine-written `short-name-aliases.conf` (`/var/cache/containers/` for root,
//!   `$XDG_CACHE_HOME/containers/` or `$HOME/.cache/containers/` otherwise), whose aliases
//!   win over those of registries.conf.
//!
//! Later files override earlier ones: `[[registry]]` entries by `prefix` (whole entry),
//! `unqualified-search-registries`, `credential-helpers` and `short-name-mode` when set,
//! `[aliases]` key by key (an empty value removes an alias).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::reference::{strip_docker_transport, valid_domain, Reference};

/// The system-wide registries.conf.
pub const SYSTEM_REGISTRIES_CONF: &str = "/etc/containers/registries.conf";
/// The system-wide drop-in directory.
pub const SYSTEM_REGISTRIES_CONF_DIR: &str = "/etc/containers/registries.conf.d";
/// The reserved credential-helper name meaning "the auth.json files".
pub const AUTH_FILE_HELPER: &str = "containers-auth.json";

const USER_REGISTRIES_FILE: &str = ".config/containers/registries.conf";
const USER_REGISTRIES_DIR: &str = ".config/containers/registries.conf.d";
const SHORT_NAMES_FILE: &str = "containers/short-name-aliases.conf";

/// How short names with several candidates are handled (`short-name-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShortNameMode {
    /// Prompt on a TTY, fail without one.
    Enforcing,
    /// Prompt on a TTY, try all candidates without one (the default).
    #[default]
    Permissive,
    /// Never prompt, try all candidates.
    Disabled,
}

impl ShortNameMode {
    fn parse(s: &str) -> std::result::Result<ShortNameMode, String> {
        match s {
            "enforcing" => Ok(ShortNameMode::Enforcing),
            "permissive" => Ok(ShortNameMode::Permissive),
            "disabled" => Ok(ShortNameMode::Disabled),
            other => Err(format!("invalid short-name mode: {other:?}")),
        }
    }
}

/// Restriction of a mirror to digest or tag pulls (`pull-from-mirror`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullFromMirror {
    /// Used for both (`all`, or unset).
    #[default]
    All,
    /// Only for pulls by digest (`digest-only`).
    DigestOnly,
    /// Only for pulls by tag (`tag-only`).
    TagOnly,
}

/// A mirror of a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port][/namespace...]`.
    pub location: String,
    /// Skip TLS verification and allow plain HTTP.
    pub insecure: bool,
    pub pull_from_mirror: PullFromMirror,
}

/// One `[[registry]]` entry after c/image's post-processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// What references it applies to: `host[:port][/namespace...]` or `*.domain`.
    pub prefix: String,
    /// Where the images are really pulled from; empty only with a `*.domain` prefix
    /// (then the reference is used as is).
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirrors: Vec<Mirror>,
    /// Mirrors only for pulls by digest.
    pub mirror_by_digest_only: bool,
}

/// One place to pull an image from, in the order they are to be tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    /// The reference rewritten for this endpoint (`mirror.example.com/ns/busybox:1`).
    pub reference: Reference,
    /// `host[:port]` to connect to (`docker.io` is left as is; the registry client maps
    /// it to `registry-1.docker.io`).
    pub endpoint_host_port: String,
    /// The repository path on that host (`ns/busybox`).
    pub repository_path: String,
    /// The endpoint is `insecure`, or the `[[registry]]` entry matching the rewritten
    /// reference is (c/image checks both).
    pub insecure: bool,
    /// A mirror rather than the registry itself.
    pub is_mirror: bool,
}

/// An alias value with the file it comes from. `value` is `None` when the alias was
/// reset with an empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub value: Option<Reference>,
    pub origin: PathBuf,
}

/// Why the candidates of a [`ShortNameResolution`] are what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortNameRationale {
    /// The name was fully qualified (or had a `docker://` prefix): one candidate.
    NotShortName,
    /// A short-name alias matched: one candidate.
    Alias,
    /// Completed with each unqualified-search registry.
    SearchRegistries,
}

/// The result of [`RegistriesConfig::resolve_short_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortNameResolution {
    /// Fully qualified references with a tag or digest, in the order to try them.
    pub candidates: Vec<Reference>,
    pub rationale: ShortNameRationale,
    /// The file the alias or search registries come from.
    pub origin: Option<PathBuf>,
    /// The short name without tag or digest (the alias key), when it was one.
    pub short_name: Option<String>,
    /// There are several candidates, a TTY and a mode that prompts: the caller asks the
    /// user to pick one ("Please select an image"), pulls it and, on success, records
    /// `short_name` -> the picked repository with [`add_short_name_alias`].
    pub needs_prompt: bool,
}

impl ShortNameResolution {
    /// c/image's `Resolved.Description`: printed before pulling, e.g. `Resolved short
    /// name "busybox" to a recorded short-name alias (origin: /etc/...)`.
    pub fn description(&self) -> Option<String> {
        let name = self.short_name.as_deref()?;
        let origin = self
            .origin
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match self.rationale {
            ShortNameRationale::Alias => Some(format!(
                "Resolved short name {name:?} to a recorded short-name alias (origin: {origin})"
            )),
            ShortNameRationale::SearchRegistries if !self.needs_prompt => Some(format!(
                "Completed short name {name:?} with unqualified-search registries (origin: {origin})"
            )),
            _ => None,
        }
    }
}

/// c/image's `Resolved.FormatPullErrors`: one error as is, several as
/// `N errors occurred while pulling:\n * ...`.
pub fn format_pull_errors(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => one.clone(),
        many => {
            let mut s = format!("{} errors occurred while pulling:", many.len());
            for e in many {
                s.push_str("\n * ");
                s.push_str(e);
            }
            s
        }
    }
}

/// Which files make up the configuration (c/image's `configWrapper`), plus the
/// short-name-aliases.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistriesPaths {
    /// The main registries.conf.
    pub config: PathBuf,
    /// The main file was chosen explicitly (`CONTAINERS_REGISTRIES_CONF`): missing is an error.
    pub config_explicit: bool,
    /// Drop-in directories, read in this order.
    pub dirs: Vec<PathBuf>,
    /// The machine-written short-name-aliases.conf, if any.
    pub short_name_aliases: Option<PathBuf>,
}

impl RegistriesPaths {
    /// The paths for this process: `CONTAINERS_REGISTRIES_CONF`, `$HOME`, the EUID and
    /// `$XDG_CACHE_HOME`.
    pub fn from_env() -> RegistriesPaths {
        let explicit = std::env::var_os("CONTAINERS_REGISTRIES_CONF")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let home = home_dir();
        let mut paths = RegistriesPaths::resolve(explicit.as_deref(), &home);
        // BERTH_SHORT_NAME_ALIASES (berth's own) moves the machine-written aliases file,
        // as --root moves storage: tests keep to throw-away files with it.
        paths.short_name_aliases = Some(
            std::env::var_os("BERTH_SHORT_NAME_ALIASES")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(default_short_name_aliases_path),
        );
        paths
    }

    /// c/image's `newConfigWrapperWithHomeDir`, without the aliases file.
    pub fn resolve(explicit: Option<&Path>, home: &Path) -> RegistriesPaths {
        let user_file = home.join(USER_REGISTRIES_FILE);
        let user_dir = home.join(USER_REGISTRIES_DIR);
        if let Some(path) = explicit {
            return RegistriesPaths {
                config: path.to_path_buf(),
                config_explicit: true,
                dirs: vec![SYSTEM_REGISTRIES_CONF_DIR.into(), user_dir],
                short_name_aliases: None,
            };
        }
        if user_file.exists() {
            return RegistriesPaths {
                config: user_file,
                config_explicit: false,
                dirs: vec![user_dir],
                short_name_aliases: None,
            };
        }
        RegistriesPaths {
            config: SYSTEM_REGISTRIES_CONF.into(),
            config_explicit: false,
            dirs: vec![SYSTEM_REGISTRIES_CONF_DIR.into(), user_dir],
            short_name_aliases: None,
        }
    }

    /// c/image's `ConfigurationSourceDescription`: the file and directories, comma-separated.
    pub fn description(&self) -> String {
        let mut parts = vec![self.config.display().to_string()];
        parts.extend(self.dirs.iter().map(|d| d.display().to_string()));
        parts.join(", ")
    }
}

/// The path of the machine-written short-name-aliases.conf for this process.
pub fn default_short_name_aliases_path() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        return Path::new("/var/cache").join(SHORT_NAMES_FILE);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".cache"));
    cache.join(SHORT_NAMES_FILE)
}

pub(crate) fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The merged registries configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistriesConfig {
    /// `[[registry]]` entries, one per prefix, sorted by prefix.
    pub registries: Vec<Registry>,
    /// `host[:port]` entries tried for short names, in order.
    pub unqualified_search_registries: Vec<String>,
    /// The file that set `unqualified_search_registries`.
    pub unqualified_search_origin: Option<PathBuf>,
    pub short_name_mode: ShortNameMode,
    /// `credential-helpers`; defaults to `["containers-auth.json"]`.
    pub credential_helpers: Vec<String>,
    /// Aliases from registries.conf and its drop-ins.
    pub aliases: BTreeMap<String, Alias>,
    /// Aliases from short-name-aliases.conf (they take precedence).
    pub recorded_aliases: BTreeMap<String, Alias>,
    /// Where the configuration comes from, for messages (`registry X is blocked in ...`).
    pub sources: String,
}

impl Default for RegistriesConfig {
    fn default() -> Self {
        RegistriesConfig {
            registries: Vec::new(),
            unqualified_search_registries: Vec::new(),
            unqualified_search_origin: None,
            short_name_mode: ShortNameMode::default(),
            credential_helpers: vec![AUTH_FILE_HELPER.to_string()],
            aliases: BTreeMap::new(),
            recorded_aliases: BTreeMap::new(),
            sources: String::new(),
        }
    }
}

/// One file as parsed (before merging).
#[derive(Debug, Default)]
struct ParsedFile {
    registries: Vec<Registry>,
    search: Option<Vec<String>>,
    helpers: Option<Vec<String>>,
    mode: Option<ShortNameMode>,
    aliases: BTreeMap<String, Alias>,
}

impl RegistriesConfig {
    /// Loads the configuration of this process ([`RegistriesPaths::from_env`]).
    pub fn load() -> Result<RegistriesConfig> {
        RegistriesConfig::load_from(&RegistriesPaths::from_env())
    }

    /// Loads the configuration from explicit paths (c/image's `tryUpdatingCache`).
    pub fn load_from(paths: &RegistriesPaths) -> Result<RegistriesConfig> {
        let mut config = RegistriesConfig {
            sources: paths.description(),
            ..RegistriesConfig::default()
        };
        let mut merged = ParsedFile::default();
        match load_file(&paths.config, false) {
            Ok(main) => merged = main,
            Err(FileError::Missing) if !paths.config_explicit => {}
            Err(e) => {
                return Err(e.into_error(format!(
                    "loading registries configuration {:?}",
                    paths.config.display().to_string()
                )))
            }
        }
        if merged.search.is_some() {
            config.unqualified_search_origin = Some(paths.config.clone());
        }
        for path in drop_in_files(&paths.dirs)? {
            let drop_in = match load_file(&path, true) {
                Ok(d) => d,
                Err(FileError::Missing) => continue,
                Err(e) => {
                    return Err(e.into_error(format!(
                        "loading drop-in registries configuration {:?}",
                        path.display().to_string()
                    )))
                }
            };
            if drop_in.search.is_some() {
                config.unqualified_search_origin = Some(path.clone());
            }
            merge(&mut merged, drop_in);
        }
        // Messages about an empty search list name the main file when no file set one.
        if config.unqualified_search_origin.is_none() {
            config.unqualified_search_origin = Some(paths.config.clone());
        }
        config.registries = merged.registries;
        config.unqualified_search_registries = merged.search.unwrap_or_default();
        config.short_name_mode = merged.mode.unwrap_or_default();
        if let Some(helpers) = merged.helpers.filter(|h| !h.is_empty()) {
            config.credential_helpers = helpers;
        }
        config.aliases = merged.aliases;
        if let Some(path) = &paths.short_name_aliases {
            config.recorded_aliases = load_short_name_aliases(path)?;
        }
        Ok(config)
    }

    /// The `[[registry]]` entry with the longest prefix matching `name` (a registry,
    /// namespace, repository or full reference starting with a registry host), as
    /// c/image's `FindRegistry`.
    pub fn registry_for(&self, name: &str) -> Option<&Registry> {
        let mut best: Option<&Registry> = None;
        for r in &self.registries {
            if ref_matching_prefix(name, &r.prefix).is_some()
                && best.is_none_or(|b| r.prefix.len() > b.prefix.len())
            {
                best = Some(r);
            }
        }
        best
    }

    /// Whether the registry entry for `name` is `blocked`.
    pub fn blocked(&self, name: &str) -> bool {
        self.registry_for(name).is_some_and(|r| r.blocked)
    }

    /// Errors with c/image's message when the registry entry for `name` is `blocked`.
    pub fn check_blocked(&self, name: &str) -> Result<()> {
        match self.registry_for(name) {
            Some(r) if r.blocked => Err(ImageError::Blocked {
                prefix: r.prefix.clone(),
                sources: self.sources.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the registry entry for `name` is `insecure` (push, login, search use this).
    pub fn insecure(&self, name: &str) -> bool {
        self.registry_for(name).is_some_and(|r| r.insecure)
    }

    /// Where to pull a fully qualified `reference` from: its mirrors first (those that
    /// apply to a tag or digest pull), then the registry with its `location` rewrite; or
    /// the reference itself when no entry matches. Errors when the registry is blocked.
    pub fn pull_sources(&self, reference: &Reference) -> Result<Vec<PullSource>> {
        let name = reference.repository();
        let Some(registry) = self.registry_for(&name) else {
            return Ok(vec![self.source(reference.clone(), false, false)]);
        };
        if registry.blocked {
            return Err(ImageError::Blocked {
                prefix: registry.prefix.clone(),
                sources: self.sources.clone(),
            });
        }
        let digested = reference.digest.is_some();
        let mut endpoints: Vec<(&str, bool, bool)> = Vec::new();
        for m in &registry.mirrors {
            let used = if registry.mirror_by_digest_only {
                digested
            } else {
                match m.pull_from_mirror {
                    PullFromMirror::All => true,
                    PullFromMirror::DigestOnly => digested,
                    PullFromMirror::TagOnly => !digested,
                }
            };
            if used {
                endpoints.push((&m.location, m.insecure, true));
            }
        }
        endpoints.push((&registry.location, registry.insecure, false));
        endpoints
            .into_iter()
            .map(|(location, insecure, is_mirror)| {
                let rewritten = rewrite_reference(reference, &registry.prefix, location)?;
                Ok(self.source(rewritten, insecure, is_mirror))
            })
            .collect()
    }

    fn source(&self, reference: Reference, insecure: bool, is_mirror: bool) -> PullSource {
        let insecure = insecure || self.insecure(&reference.repository());
        PullSource {
            endpoint_host_port: reference.domain.clone(),
            repository_path: reference.path.clone(),
            reference,
            insecure,
            is_mirror,
        }
    }

    /// The alias for a short name (without tag or digest): short-name-aliases.conf first,
    /// then registries.conf. `Some` with a `None` value means the alias was reset.
    pub fn alias(&self, short_name: &str) -> Option<&Alias> {
        self.recorded_aliases
            .get(short_name)
            .or_else(|| self.aliases.get(short_name))
    }

    /// c/image's `shortnames.Resolve`: the references to pull `name` from. A fully
    /// qualified name (registry host, `localhost/`, or a `docker://` prefix) gives itself
    /// (normalized, `:latest` added); a short name gives its alias if there is one, else one
    /// candidate per unqualified-search registry. With several candidates the mode
    /// decides: `disabled` tries them all; with a TTY (`tty`: stdin and stdout are
    /// terminals) `needs_prompt` is set; without one `permissive` tries them all and
    /// `enforcing` fails.
    pub fn resolve_short_name(&self, name: &str, tty: bool) -> Result<ShortNameResolution> {
        if let Some(rest) = strip_docker_transport(name) {
            return Ok(not_short(Reference::parse_normalized(rest)?));
        }
        let parsed = Reference::parse(name)?;
        if parsed.has_registry() {
            return Ok(not_short(Reference::parse_normalized(name)?));
        }
        let short = parsed.trimmed().to_string();
        if let Some(Alias {
            value: Some(value),
            origin,
        }) = self.alias(&short)
        {
            let mut candidate = value.clone();
            candidate.tag = parsed.tag.clone();
            candidate.digest = parsed.digest.clone();
            return Ok(ShortNameResolution {
                candidates: vec![candidate.with_default_tag()],
                rationale: ShortNameRationale::Alias,
                origin: Some(origin.clone()),
                short_name: Some(short),
                needs_prompt: false,
            });
        }
        if self.unqualified_search_registries.is_empty() {
            let origin = self
                .unqualified_search_origin
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return Err(ImageError::ShortName(format!(
                "short-name {name:?} did not resolve to an alias and no unqualified-search registries are defined in {origin:?}"
            )));
        }
        let candidates = self
            .unqualified_search_registries
            .iter()
            .map(
                |reg| Ok(Reference::parse_normalized(&format!("{reg}/{name}"))?.with_default_tag()),
            )
            .collect::<Result<Vec<_>>>()?;
        let mut needs_prompt = false;
        if self.short_name_mode != ShortNameMode::Disabled && candidates.len() > 1 {
            if tty {
                needs_prompt = true;
            } else if self.short_name_mode == ShortNameMode::Enforcing {
                return Err(ImageError::ShortName(
                    "short-name resolution enforced but cannot prompt without a TTY".to_string(),
                ));
            }
        }
        Ok(ShortNameResolution {
            candidates,
            rationale: ShortNameRationale::SearchRegistries,
            origin: self.unqualified_search_origin.clone(),
            short_name: Some(short),
            needs_prompt,
        })
    }

    /// c/image's `shortnames.ResolveLocally`: the names a short name may have in local
    /// storage — its alias, then `localhost/<name>`, then each search registry.
    pub fn resolve_locally(&self, name: &str) -> Result<Vec<Reference>> {
        let parsed = Reference::parse(name)?;
        if parsed.has_registry() {
            return Ok(vec![Reference::parse_normalized(name)?.with_default_tag()]);
        }
        let mut out = Vec::new();
        if let Some(Alias {
            value: Some(value), ..
        }) = self.alias(&parsed.trimmed().to_string())
        {
            let mut candidate = value.clone();
            candidate.tag = parsed.tag.clone();
            candidate.digest = parsed.digest.clone();
            out.push(candidate.with_default_tag());
        }
        for reg in std::iter::once("localhost").chain(
            self.unqualified_search_registries
                .iter()
                .map(String::as_str),
        ) {
            out.push(Reference::parse_normalized(&format!("{reg}/{name}"))?.with_default_tag());
        }
        Ok(out)
    }
}

fn not_short(r: Reference) -> ShortNameResolution {
    ShortNameResolution {
        candidates: vec![r.with_default_tag()],
        rationale: ShortNameRationale::NotShortName,
        origin: None,
        short_name: None,
        needs_prompt: false,
    }
}

/// c/image's `refMatchingPrefix`: the length of the matched part of `name`, if `prefix`
/// matches it (on a `/`, `:` or `@` boundary; `*.domain` matches subdomains).
fn ref_matching_prefix(name: &str, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix('*') {
        let index = name.find(domain)?;
        if name[..index].contains('/') {
            return None;
        }
        let end = index + domain.len();
        return match name.as_bytes().get(end) {
            None | Some(b':' | b'/' | b'@') => Some(end),
            _ => None,
        };
    }
    let rest = name.strip_prefix(prefix)?;
    match rest.as_bytes().first() {
        // Like c/image, this lets "example.com:5000" match "example.com".
        None | Some(b':' | b'/' | b'@') => Some(prefix.len()),
        _ => None,
    }
}

/// c/image's `Endpoint.rewriteReference`.
fn rewrite_reference(reference: &Reference, prefix: &str, location: &str) -> Result<Reference> {
    let full = reference.to_string();
    let Some(len) = ref_matching_prefix(&full, prefix) else {
        return Err(ImageError::reference(
            &full,
            format!("invalid prefix '{prefix}' for reference '{full}'"),
        ));
    };
    if location.is_empty() {
        return Ok(reference.clone());
    }
    let new = format!("{location}{}", &full[len..]);
    Reference::parse_canonical(&new).map_err(|e| match e {
        ImageError::InvalidReference { name, reason } => ImageError::InvalidReference {
            name,
            reason: format!("rewriting reference: {reason}"),
        },
        other => other,
    })
}

/// Why one file could not be used.
enum FileError {
    Missing,
    Other(String),
}

impl FileError {
    fn into_error(self, context: String) -> ImageError {
        match self {
            FileError::Missing => ImageError::config(context, "no such file or directory"),
            FileError::Other(reason) => ImageError::config(context, reason),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlFile {
    registry: Option<Vec<TomlRegistry>>,
    #[serde(rename = "unqualified-search-registries")]
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(rename = "credential-helpers")]
    credential_helpers: Option<Vec<String>>,
    #[serde(rename = "short-name-mode")]
    short_name_mode: Option<String>,
    aliases: Option<BTreeMap<String, String>>,
    /// The v1 format: `[registries.search] registries = [...]` etc.
    registries: Option<TomlV1>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlV1 {
    search: Option<TomlV1List>,
    insecure: Option<TomlV1List>,
    block: Option<TomlV1List>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlV1List {
    registries: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlRegistry {
    prefix: String,
    location: String,
    insecure: bool,
    blocked: bool,
    #[serde(rename = "mirror-by-digest-only")]
    mirror_by_digest_only: bool,
    mirror: Vec<TomlMirror>,
    #[serde(rename = "pull-from-mirror")]
    pull_from_mirror: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlMirror {
    location: String,
    insecure: bool,
    #[serde(rename = "pull-from-mirror")]
    pull_from_mirror: String,
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> std::result::Result<T, FileError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(FileError::Missing),
        Err(e) => return Err(FileError::Other(e.to_string())),
    };
    toml::from_str(&text).map_err(|e| FileError::Other(one_line(&e.to_string())))
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// c/image's `loadConfigFile`.
fn load_file(path: &Path, force_v2: bool) -> std::result::Result<ParsedFile, FileError> {
    let raw: TomlFile = read_toml(path)?;
    let v1 = raw.registries.as_ref().is_some_and(|v1| {
        [&v1.search, &v1.insecure, &v1.block]
            .iter()
            .any(|l| l.as_ref().is_some_and(|l| l.registries.is_some()))
    });
    let v2_set = raw.registry.is_some()
        || raw.unqualified_search_registries.is_some()
        || raw.credential_helpers.is_some()
        || raw
            .short_name_mode
            .as_deref()
            .is_some_and(|m| !m.is_empty())
        || raw.aliases.is_some();
    let other = FileError::Other;
    let (entries, search) = if v1 {
        if force_v2 {
            return Err(other("registry must be in v2 format but is in v1".into()));
        }
        if v2_set {
            return Err(other("mixing sysregistry v1/v2 is not supported".into()));
        }
        convert_v1(raw.registries.unwrap_or_default()).map_err(other)?
    } else {
        (
            raw.registry.unwrap_or_default(),
            raw.unqualified_search_registries,
        )
    };
    let (registries, search) = post_process(entries, search).map_err(other)?;
    let mode = match raw.short_name_mode.as_deref() {
        None | Some("") => None,
        Some(m) => Some(ShortNameMode::parse(m).map_err(other)?),
    };
    for r in &registries {
        if r.prefix.starts_with("*.") && r.prefix.contains(['/', '@', ':']) {
            return Err(other(format!(
                "Wildcarded prefix should be in the format: *.example.com. Current prefix {:?} is incorrectly formatted",
                r.prefix
            )));
        }
    }
    let aliases = parse_aliases(path, raw.aliases.unwrap_or_default())
        .map_err(|e| other(format!("validating short-name aliases: {e}")))?;
    Ok(ParsedFile {
        registries,
        search,
        helpers: raw.credential_helpers,
        mode,
        aliases,
    })
}

/// c/image's `V1RegistriesConf.ConvertToV2`.
fn convert_v1(v1: TomlV1) -> std::result::Result<(Vec<TomlRegistry>, Option<Vec<String>>), String> {
    let mut order: Vec<TomlRegistry> = Vec::new();
    let list = |l: &Option<TomlV1List>| {
        l.as_ref()
            .and_then(|l| l.registries.clone())
            .unwrap_or_default()
    };
    let mut get = |location: &str| -> std::result::Result<usize, String> {
        let location = parse_location(location)?;
        if let Some(i) = order.iter().position(|r| r.location == location) {
            return Ok(i);
        }
        order.push(TomlRegistry {
            prefix: location.clone(),
            location,
            ..TomlRegistry::default()
        });
        Ok(order.len() - 1)
    };
    let mut blocked = Vec::new();
    for b in list(&v1.block) {
        blocked.push(get(&b)?);
    }
    let mut insecure = Vec::new();
    for i in list(&v1.insecure) {
        insecure.push(get(&i)?);
    }
    for i in blocked {
        order[i].blocked = true;
    }
    for i in insecure {
        order[i].insecure = true;
    }
    let search = v1.search.and_then(|s| s.registries);
    Ok((order, search))
}

/// c/image's `parseLocation`.
fn parse_location(input: &str) -> std::result::Result<String, String> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(format!(
            "invalid location '{input}': URI schemes are not supported"
        ));
    }
    Ok(trimmed.to_string())
}

type Processed = (Vec<Registry>, Option<Vec<String>>);

/// c/image's `postProcessRegistries`: validates and normalizes one file's entries,
/// keeps the first entry of each prefix, sorts them by prefix.
fn post_process(
    mut entries: Vec<TomlRegistry>,
    search: Option<Vec<String>>,
) -> std::result::Result<Processed, String> {
    for reg in entries.iter_mut() {
        reg.location = parse_location(&reg.location)?;
        if reg.prefix.is_empty() {
            if reg.location.is_empty() {
                return Err("invalid condition: both location and prefix are unset".into());
            }
            reg.prefix = reg.location.clone();
        } else {
            reg.prefix = parse_location(&reg.prefix)?;
            if !reg.prefix.starts_with("*.") && reg.location.is_empty() {
                return Err("invalid condition: location is unset and prefix is not in the format: *.example.com".into());
            }
        }
        if !reg.pull_from_mirror.is_empty() {
            return Err(format!(
                "pull-from-mirror must not be set for a non-mirror registry {:?}",
                reg.prefix
            ));
        }
        for m in reg.mirror.iter_mut() {
            m.location = parse_location(&m.location)?;
            if m.location.is_empty() {
                return Err("invalid condition: mirror location is unset".into());
            }
            if reg.mirror_by_digest_only && !m.pull_from_mirror.is_empty() {
                return Err(format!(
                    "cannot set mirror usage mirror-by-digest-only for the registry ({:?}) and pull-from-mirror for per-mirror ({:?}) at the same time",
                    reg.prefix, m.location
                ));
            }
            if !matches!(
                m.pull_from_mirror.as_str(),
                "" | "all" | "digest-only" | "tag-only"
            ) {
                return Err(format!(
                    "unsupported pull-from-mirror value {:?} for mirror {:?}",
                    m.pull_from_mirror, m.location
                ));
            }
        }
    }
    // One registry may appear under several prefixes, but not with conflicting settings.
    let key = |r: &TomlRegistry| {
        if r.location.is_empty() {
            r.prefix.clone()
        } else {
            r.location.clone()
        }
    };
    for reg in &entries {
        for other in entries.iter().filter(|o| key(o) == key(reg)) {
            if reg.insecure != other.insecure {
                return Err(format!(
                    "registry '{}' is defined multiple times with conflicting 'insecure' setting",
                    reg.location
                ));
            }
            if reg.blocked != other.blocked {
                return Err(format!(
                    "registry '{}' is defined multiple times with conflicting 'blocked' setting",
                    reg.location
                ));
            }
        }
    }
    let search = match search {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|s| {
                    let reg = parse_location(s)?;
                    if !valid_domain(&reg) {
                        return Err(format!(
                            "Invalid unqualified-search-registries entry {reg:?}"
                        ));
                    }
                    Ok(reg)
                })
                .collect::<std::result::Result<Vec<_>, String>>()?,
        ),
    };
    let mut unique: BTreeMap<String, Registry> = BTreeMap::new();
    for r in entries {
        unique.entry(r.prefix.clone()).or_insert_with(|| Registry {
            prefix: r.prefix,
            location: r.location,
            insecure: r.insecure,
            blocked: r.blocked,
            mirror_by_digest_only: r.mirror_by_digest_only,
            mirrors: r
                .mirror
                .into_iter()
                .map(|m| Mirror {
                    location: m.location,
                    insecure: m.insecure,
                    pull_from_mirror: match m.pull_from_mirror.as_str() {
                        "digest-only" => PullFromMirror::DigestOnly,
                        "tag-only" => PullFromMirror::TagOnly,
                        _ => PullFromMirror::All,
                    },
                })
                .collect(),
        });
    }
    Ok((unique.into_values().collect(), search))
}

/// c/image's `newShortNameAliasCache`: validates every alias and reports all bad ones.
fn parse_aliases(
    path: &Path,
    raw: BTreeMap<String, String>,
) -> std::result::Result<BTreeMap<String, Alias>, String> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, value) in raw {
        if let Err(e) = validate_short_name(&name) {
            errors.push(e);
        }
        if value.is_empty() {
            out.insert(
                name,
                Alias {
                    value: None,
                    origin: path.to_path_buf(),
                },
            );
            continue;
        }
        match parse_short_name_value(&value) {
            Ok(v) => {
                out.insert(
                    name,
                    Alias {
                        value: Some(v),
                        origin: path.to_path_buf(),
                    },
                );
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("; "))
    }
}

/// c/image's `validateShortName`: the left-hand side of an alias.
fn validate_short_name(name: &str) -> std::result::Result<(), String> {
    let r =
        Reference::parse(name).map_err(|e| format!("cannot parse short name: {name:?}: {e}"))?;
    if r.digest.is_some() {
        return Err(format!(
            "invalid short name {name:?}: must not contain digest"
        ));
    }
    if r.tag.is_some() {
        return Err(format!("invalid short name {name:?}: must not contain tag"));
    }
    if r.has_registry() {
        return Err(format!(
            "invalid short name {name:?}: must not contain registry"
        ));
    }
    Ok(())
}

/// c/image's `parseShortNameValue`: the right-hand side of an alias, normalized.
fn parse_short_name_value(alias: &str) -> std::result::Result<Reference, String> {
    let r = Reference::parse(alias).map_err(|e| format!("parsing alias {alias:?}: {e}"))?;
    if r.digest.is_some() {
        return Err(format!("invalid alias {alias:?}: must not contain digest"));
    }
    if r.tag.is_some() {
        return Err(format!("invalid alias {alias:?}: must not contain tag"));
    }
    if !r.has_registry() {
        return Err(format!(
            "invalid alias {alias:?}: must contain registry and repository"
        ));
    }
    Reference::parse_normalized(alias).map_err(|e| e.to_string())
}

/// The drop-in files of `dirs`: regular `*.conf` files (no recursion), each directory in
/// name order; missing directories are skipped.
fn drop_in_files(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in dirs {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ImageError::config("reading registries.conf.d", e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ImageError::config("reading registries.conf.d", e))?;
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir && path.to_string_lossy().ends_with(".conf") {
                files.push(path);
            }
        }
        files.sort();
        out.extend(files);
    }
    Ok(out)
}

/// c/image's `parsedConfig.updateWithConfigurationFrom`.
fn merge(into: &mut ParsedFile, from: ParsedFile) {
    let mut map: BTreeMap<String, Registry> = into
        .registries
        .drain(..)
        .map(|r| (r.prefix.clone(), r))
        .collect();
    for r in from.registries {
        map.insert(r.prefix.clone(), r);
    }
    into.registries = map.into_values().collect();
    if from.search.is_some() {
        into.search = from.search;
    }
    if from.helpers.is_some() {
        into.helpers = from.helpers;
    }
    if from.mode.is_some() {
        into.mode = from.mode;
    }
    into.aliases.extend(from.aliases);
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AliasesFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aliases: Option<BTreeMap<String, String>>,
}

/// Reads a short-name-aliases.conf; a missing file has no aliases.
pub fn load_short_name_aliases(path: &Path) -> Result<BTreeMap<String, Alias>> {
    let context = || {
        format!(
            "loading short-name aliases config file {:?}",
            path.display().to_string()
        )
    };
    let raw: AliasesFile = match read_toml(path) {
        Ok(r) => r,
        Err(FileError::Missing) => return Ok(BTreeMap::new()),
        Err(FileError::Other(e)) => return Err(ImageError::config(context(), e)),
    };
    parse_aliases(path, raw.aliases.unwrap_or_default())
        .map_err(|e| ImageError::config(context(), e))
}

/// Records `name` = `value` in a short-name-aliases.conf (c/image's
/// `AddShortNameAlias`), keeping its other aliases; the file is written atomically, mode
/// 0600, its directory created.
pub fn add_short_name_alias(path: &Path, name: &str, value: &str) -> Result<()> {
    validate_short_name(name).map_err(ImageError::ShortName)?;
    parse_short_name_value(value).map_err(ImageError::ShortName)?;
    edit_aliases(path, |aliases| {
        aliases.insert(name.to_string(), value.to_string());
        Ok(())
    })
}

/// Removes `name` from a short-name-aliases.conf (c/image's `RemoveShortNameAlias`);
/// an error if it is not there (it may be in a registries.conf the user must edit).
pub fn remove_short_name_alias(path: &Path, name: &str) -> Result<()> {
    validate_short_name(name).map_err(ImageError::ShortName)?;
    edit_aliases(path, |aliases| {
        if aliases.remove(name).is_none() {
            return Err(ImageError::ShortName(format!(
                "short-name alias {name:?} not found in {:?}: please check registries.conf files",
                path.display().to_string()
            )));
        }
        Ok(())
    })
}

fn edit_aliases(
    path: &Path,
    edit: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()>,
) -> Result<()> {
    let context = || {
        format!(
            "loading short-name aliases config file {:?}",
            path.display().to_string()
        )
    };
    let mut raw: AliasesFile = match read_toml(path) {
        Ok(r) => r,
        Err(FileError::Missing) => AliasesFile::default(),
        Err(FileError::Other(e)) => return Err(ImageError::config(context(), e)),
    };
    let mut aliases = raw.aliases.take().unwrap_or_default();
    edit(&mut aliases)?;
    raw.aliases = Some(aliases);
    let text = toml::to_string(&raw).map_err(|e| ImageError::config(context(), e))?;
    write_file_atomic(path, text.as_bytes(), 0o600)
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename,
/// creating the directory (0700) first.
pub(crate) fn write_file_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ImageError::io("creating directory", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(ImageError::io("writing", path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const D: &str = "sha256:06124750196128a67d39e70311406e86e3b80f11a194f221cf449babf49ecf72";

    struct Env {
        dir: tempfile::TempDir,
    }

    impl Env {
        fn new() -> Env {
            Env {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.path(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
            p
        }
        fn paths(&self) -> RegistriesPaths {
            RegistriesPaths {
                config: self.path("registries.conf"),
                config_explicit: false,
                dirs: vec![self.path("sys.d"), self.path("user.d")],
                short_name_aliases: Some(self.path("cache/short-name-aliases.conf")),
            }
        }
        fn load(&self) -> Result<RegistriesConfig> {
            RegistriesConfig::load_from(&self.paths())
        }
    }

    fn conf(text: &str) -> RegistriesConfig {
        let env = Env::new();
        env.write("registries.conf", text);
        env.load().unwrap_or_else(|e| panic!("{e}"))
    }

    fn load_err(text: &str) -> String {
        let env = Env::new();
        let p = env.write("registries.conf", text);
        let err = env.load().unwrap_err().to_string();
        assert!(
            err.contains(&p.display().to_string()),
            "error does not name the file: {err}"
        );
        err
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    fn sources(c: &RegistriesConfig, s: &str) -> Vec<(String, bool, bool)> {
        c.pull_sources(&r(s))
            .unwrap()
            .into_iter()
            .map(|p| (p.reference.to_string(), p.insecure, p.is_mirror))
            .collect()
    }

    #[test]
    fn paths_follow_containers_image() {
        let home = tempfile::tempdir().unwrap();
        let p = RegistriesPaths::resolve(None, home.path());
        assert_eq!(p.config, Path::new(SYSTEM_REGISTRIES_CONF));
        assert!(!p.config_explicit);
        assert_eq!(
            p.dirs,
            vec![
                PathBuf::from(SYSTEM_REGISTRIES_CONF_DIR),
                home.path().join(".config/containers/registries.conf.d")
            ]
        );
        let user = home.path().join(".config/containers/registries.conf");
        fs::create_dir_all(user.parent().unwrap()).unwrap();
        fs::write(&user, "").unwrap();
        let p = RegistriesPaths::resolve(None, home.path());
        assert_eq!(p.config, user);
        assert_eq!(
            p.dirs,
            vec![home.path().join(".config/containers/registries.conf.d")]
        );
        let p = RegistriesPaths::resolve(Some(Path::new("/x/r.conf")), home.path());
        assert_eq!(p.config, Path::new("/x/r.conf"));
        assert!(p.config_explicit);
        assert_eq!(p.dirs.len(), 2);
        assert!(p
            .description()
            .starts_with("/x/r.conf, /etc/containers/registries.conf.d, "));
    }

    #[test]
    fn missing_files_give_defaults_unless_explicit() {
        let env = Env::new();
        let c = env.load().unwrap();
        assert!(c.registries.is_empty());
        assert!(c.unqualified_search_registries.is_empty());
        assert_eq!(c.short_name_mode, ShortNameMode::Permissive);
        assert_eq!(c.credential_helpers, vec![AUTH_FILE_HELPER]);
        let mut paths = env.paths();
        paths.config_explicit = true;
        let err = RegistriesConfig::load_from(&paths).unwrap_err().to_string();
        assert!(err.contains("loading registries configuration"), "{err}");
        assert!(err.contains("registries.conf"), "{err}");
    }

    #[test]
    fn drop_ins_merge_in_order() {
        let env = Env::new();
        env.write(
            "registries.conf",
            r#"
unqualified-search-registries = ["a.io", "b.io"]
short-name-mode = "enforcing"
[[registry]]
location = "x.io"
insecure = true
[[registry]]
location = "keep.io"
[aliases]
"foo" = "quay.io/foo"
"bar" = "quay.io/bar"
"#,
        );
        env.write(
            "sys.d/10-a.conf",
            r#"
unqualified-search-registries = ["c.io"]
[[registry]]
location = "x.io"
blocked = true
[aliases]
"bar" = ""
"#,
        );
        env.write("sys.d/20-b.conf", "short-name-mode = \"disabled\"\n");
        env.write("sys.d/30-c.ignore", "this is = not read [\n");
        env.write("sys.d/sub/40.conf", "not = [ toml\n");
        env.write(
            "user.d/05-user.conf",
            "credential-helpers = [\"pass\", \"containers-auth.json\"]\n[aliases]\n\"baz\" = \"docker.io/baz\"\n",
        );
        let c = env.load().unwrap();
        assert_eq!(c.unqualified_search_registries, vec!["c.io"]);
        assert_eq!(
            c.unqualified_search_origin,
            Some(env.path("sys.d/10-a.conf"))
        );
        assert_eq!(c.short_name_mode, ShortNameMode::Disabled);
        assert_eq!(c.credential_helpers, vec!["pass", "containers-auth.json"]);
        let prefixes: Vec<_> = c.registries.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(prefixes, vec!["keep.io", "x.io"]);
        let x = c.registry_for("x.io/a").unwrap();
        assert!(x.blocked && !x.insecure, "whole entry replaced: {x:?}");
        assert_eq!(
            c.alias("foo").unwrap().value.as_ref().unwrap().to_string(),
            "quay.io/foo"
        );
        assert_eq!(c.alias("bar").unwrap().value, None);
        assert_eq!(
            c.alias("baz").unwrap().value.as_ref().unwrap().to_string(),
            "docker.io/library/baz"
        );
        assert_eq!(
            c.alias("baz").unwrap().origin,
            env.path("user.d/05-user.conf")
        );
        assert!(c.sources.contains("sys.d"));
    }

    #[test]
    fn malformed_files_are_errors_naming_the_file() {
        for (text, why) in [
            ("unqualified-search-registries = [\n", ""),
            ("unqualified-search-registries = \"a.io\"\n", ""),
            ("short-name-mode = \"prompt\"\n", "invalid short-name mode"),
            ("[[registry]]\nlocation = \"https://x.io\"\n", "URI schemes are not supported"),
            ("[[registry]]\ninsecure = true\n", "both location and prefix are unset"),
            ("[[registry]]\nprefix = \"x.io\"\n", "location is unset"),
            ("[[registry]]\nprefix = \"*.x.io:5000\"\n", "Wildcarded prefix"),
            ("[[registry]]\nprefix = \"*.x.io/ns\"\n", "Wildcarded prefix"),
            ("[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\ninsecure = true\n", "mirror location is unset"),
            ("[[registry]]\nlocation = \"x.io\"\npull-from-mirror = \"all\"\n", "non-mirror registry"),
            ("[[registry]]\nlocation = \"x.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"tag-only\"\n", "at the same time"),
            ("[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"sometimes\"\n", "unsupported pull-from-mirror"),
            ("[[registry]]\nprefix = \"a.io/x\"\nlocation = \"x.io\"\n[[registry]]\nprefix = \"a.io/y\"\nlocation = \"x.io\"\ninsecure = true\n", "conflicting 'insecure'"),
            ("[[registry]]\nprefix = \"a.io/x\"\nlocation = \"x.io\"\nblocked = true\n[[registry]]\nlocation = \"x.io\"\n", "conflicting 'blocked'"),
            ("unqualified-search-registries = [\"a.io/ns\"]\n", "Invalid unqualified-search-registries"),
            ("[aliases]\n\"foo\" = \"foo\"\n", "must contain registry"),
            ("[aliases]\n\"foo\" = \"quay.io/foo:1\"\n", "must not contain tag"),
            ("[aliases]\n\"quay.io/foo\" = \"quay.io/foo\"\n", "must not contain registry"),
            ("[aliases]\n\"foo:1\" = \"quay.io/foo\"\n", "must not contain tag"),
            ("[registries.search]\nregistries = [\"a.io\"]\n[[registry]]\nlocation = \"x.io\"\n", "mixing sysregistry v1/v2"),
        ] {
            let err = load_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
            assert!(err.contains("loading registries configuration"), "{err}");
        }
        // A drop-in must be v2, and its errors name the drop-in.
        let env = Env::new();
        let p = env.write(
            "sys.d/a.conf",
            "[registries.search]\nregistries = [\"a.io\"]\n",
        );
        let err = env.load().unwrap_err().to_string();
        assert!(
            err.contains("loading drop-in registries configuration"),
            "{err}"
        );
        assert!(err.contains(&p.display().to_string()), "{err}");
        assert!(err.contains("must be in v2 format"), "{err}");
    }

    #[test]
    fn v1_files_are_converted() {
        let c = conf(
            r#"
[registries.search]
registries = ["a.io", "b.io/"]
[registries.insecure]
registries = ["ins.io:5000"]
[registries.block]
registries = ["bad.io"]
"#,
        );
        assert_eq!(c.unqualified_search_registries, vec!["a.io", "b.io"]);
        assert!(c.registry_for("ins.io:5000/x").unwrap().insecure);
        assert!(c.blocked("bad.io/x/y"));
        assert!(!c.blocked("a.io/x"));
    }

    #[test]
    fn longest_prefix_wins_on_boundaries() {
        let c = conf(
            r#"
[[registry]]
location = "example.com"
[[registry]]
prefix = "example.com/foo"
location = "mirror.local/foo"
[[registry]]
prefix = "example.com/foo/bar"
location = "other.local/x"
[[registry]]
prefix = "*.wild.io"
insecure = true
[[registry]]
location = "exact.wild.io/ns"
"#,
        );
        let loc = |s: &str| c.registry_for(s).map(|r| r.prefix.clone());
        assert_eq!(
            loc("example.com/foo/bar/baz:1"),
            Some("example.com/foo/bar".into())
        );
        assert_eq!(loc("example.com/foo/barn"), Some("example.com/foo".into()));
        assert_eq!(
            loc("example.com/foo@".to_string().as_str()),
            Some("example.com/foo".into())
        );
        assert_eq!(loc("example.com/x"), Some("example.com".into()));
        assert_eq!(loc("example.com"), Some("example.com".into()));
        assert_eq!(loc("example.company/x"), None);
        // c/image's documented quirk: a port does not stop the host match.
        assert_eq!(loc("example.com:5000/x"), Some("example.com".into()));
        assert_eq!(loc("a.wild.io/x"), Some("*.wild.io".into()));
        assert_eq!(loc("a.b.wild.io:5000/x"), Some("*.wild.io".into()));
        assert_eq!(loc("wild.io/x"), None);
        assert_eq!(loc("a.wild.iox/x"), None);
        assert_eq!(loc("other.io/a.wild.io"), None);
        assert_eq!(loc("exact.wild.io/ns/x"), Some("exact.wild.io/ns".into()));
        assert_eq!(loc("exact.wild.io/other"), Some("*.wild.io".into()));
        assert!(c.insecure("a.wild.io/x"));
        assert!(!c.insecure("example.com/x"));
    }

    #[test]
    fn pull_sources_mirrors_then_rewritten_location() {
        let c = conf(
            r#"
[[registry]]
prefix = "example.com/foo"
location = "primary.local/bar"
[[registry.mirror]]
location = "m1.local/mirror"
[[registry.mirror]]
location = "m2.local:5000"
insecure = true

[[registry]]
location = "digest.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "dm.local"

[[registry]]
location = "mixed.io"
[[registry.mirror]]
location = "tags.local"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "digests.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "all.local"
pull-from-mirror = "all"

[[registry]]
location = "m2.local:5000"
insecure = true

[[registry]]
location = "plain.local"
insecure = true

[[registry]]
prefix = "*.wild.io"
[[registry.mirror]]
location = "wm.local"

[[registry]]
location = "blocked.io"
blocked = true
"#,
        );
        assert_eq!(
            sources(&c, "example.com/foo/img:1"),
            vec![
                ("m1.local/mirror/img:1".into(), false, true),
                ("m2.local:5000/img:1".into(), true, true),
                ("primary.local/bar/img:1".into(), false, false),
            ]
        );
        let s = c.pull_sources(&r("example.com/foo/img:1")).unwrap();
        assert_eq!(s[0].endpoint_host_port, "m1.local");
        assert_eq!(s[0].repository_path, "mirror/img");
        assert_eq!(s[1].endpoint_host_port, "m2.local:5000");
        assert_eq!(s[1].repository_path, "img");
        assert_eq!(
            sources(&c, &format!("example.com/foo/x/y@{D}"))[2].0,
            format!("primary.local/bar/x/y@{D}")
        );
        // A rewrite that yields no repository is an error, as in c/image.
        assert!(c.pull_sources(&r(&format!("example.com/foo@{D}"))).is_err());
        // mirror-by-digest-only
        assert_eq!(
            sources(&c, "digest.io/a:1"),
            vec![("digest.io/a:1".into(), false, false)]
        );
        assert_eq!(
            sources(&c, &format!("digest.io/a@{D}")),
            vec![
                (format!("dm.local/a@{D}"), false, true),
                (format!("digest.io/a@{D}"), false, false)
            ]
        );
        // per-mirror pull-from-mirror
        let names = |s: &str| -> Vec<String> { sources(&c, s).into_iter().map(|x| x.0).collect() };
        assert_eq!(
            names("mixed.io/a:1"),
            vec!["tags.local/a:1", "all.local/a:1", "mixed.io/a:1"]
        );
        assert_eq!(
            names(&format!("mixed.io/a@{D}")),
            vec![
                format!("digests.local/a@{D}"),
                format!("all.local/a@{D}"),
                format!("mixed.io/a@{D}")
            ]
        );
        // No entry: the reference itself.
        assert_eq!(
            sources(&c, "quay.io/a/b:2"),
            vec![("quay.io/a/b:2".into(), false, false)]
        );
        assert_eq!(
            sources(&c, "plain.local/a:2"),
            vec![("plain.local/a:2".into(), true, false)]
        );
        // Wildcard without location: the reference unchanged; mirrors get the rest.
        assert_eq!(
            names("x.wild.io/ns/a:1"),
            vec!["wm.local/ns/a:1", "x.wild.io/ns/a:1"]
        );
        // Blocked.
        let err = c
            .pull_sources(&r("blocked.io/a:1"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("registry blocked.io is blocked in "),
            "{err}"
        );
        assert!(c.check_blocked("blocked.io/a").is_err());
        assert!(c.check_blocked("quay.io/a").is_ok());
    }

    #[test]
    fn docker_hub_location_rewrite_must_stay_canonical() {
        let c = conf("[[registry]]\nprefix = \"docker.io\"\nlocation = \"mirror.local/hub\"\n");
        assert_eq!(
            sources(&c, "docker.io/library/busybox:latest")[0].0,
            "mirror.local/hub/library/busybox:latest"
        );
        // A rewrite into docker.io without library/ is not canonical: error, as c/image.
        let c = conf("[[registry]]\nprefix = \"quay.io/x\"\nlocation = \"docker.io\"\n");
        let err = c
            .pull_sources(&r("quay.io/x/busybox:1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("rewriting reference"), "{err}");
    }

    fn resolve(c: &RegistriesConfig, name: &str, tty: bool) -> Vec<String> {
        c.resolve_short_name(name, tty)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .candidates
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn qualified_names_are_not_short_names() {
        let c = conf("unqualified-search-registries = [\"quay.io\", \"docker.io\"]\nshort-name-mode = \"enforcing\"\n");
        assert_eq!(
            resolve(&c, "quay.io/a/b", false),
            vec!["quay.io/a/b:latest"]
        );
        assert_eq!(
            resolve(&c, "localhost/a", false),
            vec!["localhost/a:latest"]
        );
        assert_eq!(
            resolve(&c, "localhost:5000/a:1", false),
            vec!["localhost:5000/a:1"]
        );
        assert_eq!(
            resolve(&c, "docker.io/busybox", false),
            vec!["docker.io/library/busybox:latest"]
        );
        assert_eq!(
            resolve(&c, &format!("quay.io/a@{D}"), false),
            vec![format!("quay.io/a@{D}")]
        );
        // docker:// means Docker Hub normalization, never search registries.
        let res = c.resolve_short_name("docker://busybox", false).unwrap();
        assert_eq!(res.rationale, ShortNameRationale::NotShortName);
        assert_eq!(
            res.candidates[0].to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(res.description(), None);
        assert!(c.resolve_short_name("Busybox", false).is_err());
    }

    #[test]
    fn short_names_use_aliases_first() {
        let env = Env::new();
        env.write(
            "registries.conf",
            "unqualified-search-registries = [\"quay.io\", \"docker.io\"]\nshort-name-mode = \"enforcing\"\n[aliases]\n\"busybox\" = \"docker.io/library/busybox\"\n\"ns/img\" = \"quay.io/ns/img\"\n\"gone\" = \"quay.io/gone\"\n",
        );
        env.write("sys.d/50.conf", "[aliases]\n\"gone\" = \"\"\n");
        env.write(
            "cache/short-name-aliases.conf",
            "[aliases]\n\"ns/img\" = \"registry.local/picked/img\"\n",
        );
        let c = env.load().unwrap();
        let res = c.resolve_short_name("busybox:1.36", false).unwrap();
        assert_eq!(res.rationale, ShortNameRationale::Alias);
        assert_eq!(
            res.candidates[0].to_string(),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(res.short_name.as_deref(), Some("busybox"));
        assert_eq!(
            res.description().unwrap(),
            format!(
                "Resolved short name \"busybox\" to a recorded short-name alias (origin: {})",
                env.path("registries.conf").display()
            )
        );
        assert_eq!(
            resolve(&c, "busybox", false),
            vec!["docker.io/library/busybox:latest"]
        );
        assert_eq!(
            resolve(&c, &format!("busybox@{D}"), false),
            vec![format!("docker.io/library/busybox@{D}")]
        );
        // short-name-aliases.conf wins over registries.conf.
        assert_eq!(
            resolve(&c, "ns/img", false),
            vec!["registry.local/picked/img:latest"]
        );
        // A reset alias falls through to the search registries (enforcing, no TTY: error).
        let err = c.resolve_short_name("gone", false).unwrap_err().to_string();
        assert_eq!(
            err,
            "short-name resolution enforced but cannot prompt without a TTY"
        );
        let res = c.resolve_short_name("gone", true).unwrap();
        assert!(res.needs_prompt);
        assert_eq!(
            res.candidates
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["quay.io/gone:latest", "docker.io/library/gone:latest"]
        );
    }

    #[test]
    fn short_name_modes() {
        let base = "unqualified-search-registries = [\"quay.io\", \"docker.io\"]\n";
        let all = vec![
            "quay.io/foo/bar:2".to_string(),
            "docker.io/foo/bar:2".to_string(),
        ];
        // permissive (default): all candidates without a TTY, a prompt with one.
        let c = conf(base);
        assert_eq!(c.short_name_mode, ShortNameMode::Permissive);
        let res = c.resolve_short_name("foo/bar:2", false).unwrap();
        assert_eq!(res.rationale, ShortNameRationale::SearchRegistries);
        assert!(!res.needs_prompt);
        assert_eq!(resolve(&c, "foo/bar:2", false), all);
        assert!(res.description().unwrap().starts_with(
            "Completed short name \"foo/bar\" with unqualified-search registries (origin: "
        ));
        assert!(
            c.resolve_short_name("foo/bar:2", true)
                .unwrap()
                .needs_prompt
        );
        // enforcing
        let c = conf(&format!("{base}short-name-mode = \"enforcing\"\n"));
        assert!(c.resolve_short_name("foo/bar:2", false).is_err());
        assert!(
            c.resolve_short_name("foo/bar:2", true)
                .unwrap()
                .needs_prompt
        );
        // disabled: never prompts.
        let c = conf(&format!("{base}short-name-mode = \"disabled\"\n"));
        let res = c.resolve_short_name("foo/bar:2", true).unwrap();
        assert!(!res.needs_prompt);
        assert_eq!(resolve(&c, "foo/bar:2", false), all);
        // One search registry: no ambiguity in any mode.
        let c = conf(
            "unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"enforcing\"\n",
        );
        let res = c.resolve_short_name("alpine", false).unwrap();
        assert!(!res.needs_prompt);
        assert_eq!(
            resolve(&c, "alpine", false),
            vec!["docker.io/library/alpine:latest"]
        );
        // No alias and no search registries.
        let env = Env::new();
        let p = env.write("registries.conf", "unqualified-search-registries = []\n");
        let err = env
            .load()
            .unwrap()
            .resolve_short_name("alpine", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("short-name \"alpine\" did not resolve to an alias and no unqualified-search registries are defined in {:?}", p.display().to_string())
        );
    }

    #[test]
    fn resolve_locally_adds_localhost() {
        let c = conf(
            "unqualified-search-registries = [\"quay.io\"]\n[aliases]\n\"a\" = \"reg.io/x/a\"\n",
        );
        let names: Vec<_> = c
            .resolve_locally("a:1")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, vec!["reg.io/x/a:1", "localhost/a:1", "quay.io/a:1"]);
        let names: Vec<_> = c
            .resolve_locally("quay.io/b")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, vec!["quay.io/b:latest"]);
    }

    #[test]
    fn recorded_aliases_are_written_and_removed() {
        let env = Env::new();
        let path = env.path("cache/deep/short-name-aliases.conf");
        add_short_name_alias(&path, "foo", "quay.io/foo").unwrap();
        add_short_name_alias(&path, "ns/bar", "docker.io/ns/bar").unwrap();
        add_short_name_alias(&path, "foo", "quay.io/other/foo").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let aliases = load_short_name_aliases(&path).unwrap();
        assert_eq!(aliases.len(), 2);
        assert_eq!(
            aliases["foo"].value.as_ref().unwrap().to_string(),
            "quay.io/other/foo"
        );
        remove_short_name_alias(&path, "foo").unwrap();
        let err = remove_short_name_alias(&path, "foo")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not found"), "{err}");
        assert_eq!(load_short_name_aliases(&path).unwrap().len(), 1);
        assert!(add_short_name_alias(&path, "quay.io/x", "quay.io/x").is_err());
        assert!(add_short_name_alias(&path, "x", "x").is_err());
        assert!(load_short_name_aliases(&env.path("none.conf"))
            .unwrap()
            .is_empty());
        let bad = env.write("bad.conf", "[aliases\n");
        let err = load_short_name_aliases(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.conf"), "{err}");
    }

    #[test]
    fn this_machines_files_load() {
        // The files Podman's package installs (if any) must parse.
        let home = tempfile::tempdir().unwrap();
        let paths = RegistriesPaths::resolve(None, home.path());
        let c = RegistriesConfig::load_from(&paths).unwrap();
        if Path::new("/etc/containers/registries.conf.d/shortnames.conf").exists() {
            assert!(c.alias("fedora").is_some());
        }
    }

    #[test]
    fn pull_errors_format() {
        assert_eq!(format_pull_errors(&["x".into()]), "x");
        assert_eq!(
            format_pull_errors(&["a".into(), "b".into()]),
            "2 errors occurred while pulling:\n * a\n * b"
        );
    }
}
