//! Registry credentials in `containers-auth.json(5)` files, read and written as
//! containers/image's `pkg/docker/config` does (and as Podman 4's login/logout use it).
//!
//! Reading (`podman pull`, `push`, `login --get-login`): with `--authfile` (whose default
//! is `$REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, see
//! [`authfile_from_env`]) only that file; otherwise, in order,
//! `$XDG_RUNTIME_DIR/containers/auth.json` (`/run/containers/<uid>/auth.json` when
//! `XDG_RUNTIME_DIR` is unset), `$XDG_CONFIG_HOME/containers/auth.json`
//! (`~/.config/...`), `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, and the
//! legacy `~/.dockercfg`. In each file the most specific key wins
//! (`quay.io/ns/repo`, then `quay.io/ns`, then `quay.io`), then keys normalized from URLs
//! (`https://index.docker.io/v1/` matches `docker.io`). A `credHelpers` entry for the
//! registry, or a `credential-helpers` entry of registries.conf other than
//! `containers-auth.json`, runs `docker-credential-<name> get`.
//!
//! Writing (`login`, `logout`) goes to one file ([`auth_file_for_write`]), keeping every
//! other entry and field, mode 0600, replaced atomically. Credential helpers are not
//! written to (the file is).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{ImageError, Result};
use crate::reference::Reference;
use crate::registries::{home_dir, write_file_atomic, AUTH_FILE_HELPER};

/// The environment the default paths are computed from (so tests need not touch the
/// process environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEnv {
    pub home: PathBuf,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub uid: u32,
}

impl AuthEnv {
    /// `$HOME`, `$XDG_RUNTIME_DIR`, `$XDG_CONFIG_HOME`, `$DOCKER_CONFIG` and the real UID
    /// of this process (empty variables count as unset).
    pub fn from_process() -> AuthEnv {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        AuthEnv {
            home: home_dir(),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            docker_config: var("DOCKER_CONFIG"),
            // SAFETY: getuid has no preconditions and cannot fail.
            uid: unsafe { libc::getuid() },
        }
    }
}

/// Podman 4's `GetDefaultAuthFile`: the default of `--authfile`, i.e.
/// `$REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else none.
pub fn authfile_from_env() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(f));
    }
    std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(|d| PathBuf::from(d).join("config.json"))
}

/// One file to look for credentials in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    pub path: PathBuf,
    /// `~/.dockercfg`: a bare map of registry to entry, keys may be URLs.
    pub legacy: bool,
}

impl AuthFile {
    fn new(path: PathBuf) -> AuthFile {
        AuthFile {
            path,
            legacy: false,
        }
    }
}

/// The files credentials are read from, in order, and a warning to print when the
/// first default one is unusable (`XDG_RUNTIME_DIR` set to a missing directory: c/image
/// warns and goes on, in case the image is public).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFiles {
    pub files: Vec<AuthFile>,
    pub warning: Option<String>,
}

/// c/image's `getPathToAuth`: the file `login` writes and the first one read;
/// `authfile` is `--authfile` (or [`authfile_from_env`]).
pub fn auth_file_for_write(authfile: Option<&Path>, env: &AuthEnv) -> Result<PathBuf> {
    if let Some(p) = authfile {
        return Ok(p.to_path_buf());
    }
    if let Some(dir) = &env.xdg_runtime_dir {
        if !dir.exists() {
            return Err(ImageError::Credentials(format!(
                "{:?} directory set by $XDG_RUNTIME_DIR does not exist. Either create the directory or unset $XDG_RUNTIME_DIR.",
                dir.display().to_string()
            )));
        }
        return Ok(dir.join("containers/auth.json"));
    }
    Ok(PathBuf::from(format!(
        "/run/containers/{}/auth.json",
        env.uid
    )))
}

/// The auth file `podman login` writes for this process (no `--authfile`).
pub fn default_auth_file_for_write() -> Result<PathBuf> {
    auth_file_for_write(authfile_from_env().as_deref(), &AuthEnv::from_process())
}

/// c/image's `getAuthFilePaths`: the files read, in order.
pub fn auth_files_for_read(authfile: Option<&Path>, env: &AuthEnv) -> AuthFiles {
    if let Some(p) = authfile {
        return AuthFiles {
            files: vec![AuthFile::new(p.to_path_buf())],
            warning: None,
        };
    }
    let mut files = Vec::new();
    let mut warning = None;
    match auth_file_for_write(None, env) {
        Ok(p) => files.push(AuthFile::new(p)),
        Err(e) => {
            warning = Some(format!(
                "{e}: Trying to pull image in the event that it is a public image."
            ))
        }
    }
    let config_home = env
        .xdg_config_home
        .clone()
        .unwrap_or_else(|| env.home.join(".config"));
    files.push(AuthFile::new(config_home.join("containers/auth.json")));
    files.push(AuthFile::new(match &env.docker_config {
        Some(d) => d.join("config.json"),
        None => env.home.join(".docker/config.json"),
    }));
    files.push(AuthFile {
        path: env.home.join(".dockercfg"),
        legacy: true,
    });
    AuthFiles { files, warning }
}

/// Credentials for one registry: a user name and password, or an identity token (an
/// OAuth2 refresh token, `identitytoken` in the file).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub identity_token: String,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_empty()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &hide(&self.password))
            .field("identity_token", &hide(&self.identity_token))
            .finish()
    }
}

/// Credentials and where they were found (`file /run/user/1000/containers/auth.json`,
/// `credential helper pass`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCredentials {
    pub credentials: Credentials,
    pub source: String,
}

/// The key credentials of a reference are looked up with: its repository
/// (`docker.io/library/busybox`); the lookup then falls back to its namespaces and host.
pub fn credentials_key(reference: &Reference) -> String {
    reference.repository()
}

/// c/image's `getCredentialsWithHomeDir`: the credentials for `key` (`host[:port]`, or a
/// repository or namespace under it), trying each of `helpers` (registries.conf's
/// `credential-helpers`; [`AUTH_FILE_HELPER`] stands for `files`). `None` when nothing
/// matched; helper failures are returned only when no helper found credentials.
pub fn lookup_credentials(
    key: &str,
    files: &[AuthFile],
    helpers: &[String],
) -> Result<Option<FoundCredentials>> {
    validate_key(key)?;
    let registry = key.split('/').next().unwrap_or(key);
    let default_helpers = [AUTH_FILE_HELPER.to_string()];
    let helpers = if helpers.is_empty() {
        &default_helpers[..]
    } else {
        helpers
    };
    let mut errors = Vec::new();
    for helper in helpers {
        let found = if helper == AUTH_FILE_HELPER {
            find_in_files(key, registry, files)
        } else {
            run_credential_helper(helper, registry).map(|c| {
                c.map(|credentials| FoundCredentials {
                    credentials,
                    source: format!("credential helper {helper}"),
                })
            })
        };
        match found {
            Ok(Some(f)) => return Ok(Some(f)),
            Ok(None) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(None)
    } else {
        Err(ImageError::Credentials(errors.join("; ")))
    }
}

/// [`lookup_credentials`] with this process's default files (or `authfile` alone).
pub fn get_credentials(
    key: &str,
    authfile: Option<&Path>,
    helpers: &[String],
) -> Result<Option<Credentials>> {
    let files = auth_files_for_read(authfile, &AuthEnv::from_process());
    Ok(lookup_credentials(key, &files.files, helpers)?.map(|f| f.credentials))
}

fn find_in_files(
    key: &str,
    registry: &str,
    files: &[AuthFile],
) -> Result<Option<FoundCredentials>> {
    for file in files {
        if let Some(credentials) = find_in_file(key, registry, file)? {
            let source = match credentials.1 {
                Some(helper) => format!("credential helper {helper}"),
                None => format!("file {}", file.path.display()),
            };
            return Ok(Some(FoundCredentials {
                credentials: credentials.0,
                source,
            }));
        }
    }
    Ok(None)
}

/// The parsed content of one auth file.
#[derive(Default)]
struct AuthFileContent {
    auths: Map<String, Value>,
    cred_helpers: Map<String, Value>,
}

fn read_context(path: &Path) -> String {
    format!("reading JSON file {:?}", path.display().to_string())
}

fn parse_file(file: &AuthFile) -> Result<AuthFileContent> {
    let raw = match fs::read(&file.path) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(AuthFileContent::default()),
        Err(e) => return Err(ImageError::config(read_context(&file.path), e)),
    };
    let bad = |what: &str| ImageError::config(read_context(&file.path), what.to_string());
    let value: Value = serde_json::from_slice(&raw).map_err(|e| {
        ImageError::config(read_context(&file.path), format!("unmarshaling JSON: {e}"))
    })?;
    let Value::Object(mut top) = value else {
        return Err(bad("unmarshaling JSON: not a JSON object"));
    };
    if file.legacy {
        return Ok(AuthFileContent {
            auths: top,
            cred_helpers: Map::new(),
        });
    }
    let take = |top: &mut Map<String, Value>, field: &str| -> Result<Map<String, Value>> {
        match top.remove(field) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m),
            Some(_) => Err(bad(&format!(
                "unmarshaling JSON: {field:?} is not an object"
            ))),
        }
    };
    Ok(AuthFileContent {
        auths: take(&mut top, "auths")?,
        cred_helpers: take(&mut top, "credHelpers")?,
    })
}

/// c/image's `findCredentialsInFile`. The second value names the credential helper
/// the credentials came from, if any.
fn find_in_file(
    key: &str,
    registry: &str,
    file: &AuthFile,
) -> Result<Option<(Credentials, Option<String>)>> {
    let content = parse_file(file)?;
    if let Some(helper) = content.cred_helpers.get(registry) {
        let Some(helper) = helper.as_str() else {
            return Err(ImageError::config(
                read_context(&file.path),
                format!("credHelpers entry for {registry:?} is not a string"),
            ));
        };
        return Ok(run_credential_helper(helper, registry)?.map(|c| (c, Some(helper.to_string()))));
    }
    let keys: Vec<&str> = if file.legacy {
        vec![registry]
    } else {
        let mut keys = vec![key];
        let mut k = key;
        while let Some(i) = k.rfind('/') {
            k = &k[..i];
            keys.push(k);
        }
        keys
    };
    for k in keys {
        if let Some(entry) = content.auths.get(k) {
            return decode_entry(&file.path, k, entry).map(|c| c.map(|c| (c, None)));
        }
    }
    let normalized = normalize_registry(registry);
    for (k, entry) in &content.auths {
        if normalize_auth_file_key(k, file.legacy) == normalized {
            return decode_entry(&file.path, k, entry).map(|c| c.map(|c| (c, None)));
        }
    }
    Ok(None)
}

/// c/image's `decodeDockerAuth`: `auth` is base64 `user:password`; an entry without a
/// colon (Docker writes `{}` entries next to credential helpers) has no credentials.
fn decode_entry(path: &Path, key: &str, entry: &Value) -> Result<Option<Credentials>> {
    let field = |name: &str| -> Result<String> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(ImageError::config(
                read_context(path),
                format!("entry {key:?}: {name:?} is not a string"),
            )),
        }
    };
    let auth = field("auth")?;
    let identity_token = field("identitytoken")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| {
            ImageError::config(
                read_context(path),
                format!("entry {key:?}: \"auth\" is not base64: {e}"),
            )
        })?;
    let decoded = String::from_utf8_lossy(&decoded);
    let Some((user, pass)) = decoded.split_once(':') else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        username: user.to_string(),
        password: pass.trim_matches('\0').to_string(),
        identity_token,
    }))
}

fn normalize_registry(registry: &str) -> &str {
    match registry {
        "registry-1.docker.io" | "docker.io" => "index.docker.io",
        other => other,
    }
}

/// c/image's `normalizeAuthFileKey`: `https://host/v1/` -> `host`, Docker Hub names unified.
fn normalize_auth_file_key(key: &str, legacy: bool) -> String {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"));
    let host = match stripped {
        Some(s) => s.split('/').next().unwrap_or(s),
        None if legacy => key.split('/').next().unwrap_or(key),
        None => key,
    };
    normalize_registry(host).to_string()
}

/// Runs `docker-credential-<helper> get` for `registry` (the Docker credential-helper
/// protocol). "credentials not found" is `None`; a missing helper is an error naming it.
fn run_credential_helper(helper: &str, registry: &str) -> Result<Option<Credentials>> {
    run_helper_program(&format!("docker-credential-{helper}"), registry)
}

fn run_helper_program(program: &str, registry: &str) -> Result<Option<Credentials>> {
    let fail = |why: String| {
        ImageError::Credentials(format!(
            "getting credentials for {registry} from credential helper {program}: {why}"
        ))
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                fail("executable file not found in $PATH".to_string())
            } else {
                fail(e.to_string())
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is reported by its status.
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let msg = stdout.trim();
        if msg.contains("credentials not found") {
            return Ok(None);
        }
        let msg = if msg.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            msg.to_string()
        };
        return Err(fail(msg));
    }
    let v: Value = serde_json::from_str(&stdout).map_err(|e| fail(format!("bad output: {e}")))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (username, secret) = (s("Username"), s("Secret"));
    Ok(Some(if username == "<token>" {
        Credentials {
            identity_token: secret,
            ..Credentials::default()
        }
    } else {
        Credentials {
            username,
            password: secret,
            identity_token: String::new(),
        }
    }))
}

/// c/image's `validateKey`: a `host[:port]` or `host[:port]/namespace[/repo]`, without
/// scheme, tag or digest. Returns whether the key is namespaced.
pub fn validate_key(key: &str) -> Result<bool> {
    if key.starts_with("http://") || key.starts_with("https://") {
        return Err(ImageError::Credentials(format!(
            "key {key} contains http[s]:// prefix"
        )));
    }
    if key.contains('@') {
        return Err(ImageError::Credentials(format!(
            "key {key} contains a '@' character"
        )));
    }
    match key.split_once('/') {
        Some((_, rest)) if rest.contains(':') => Err(ImageError::Credentials(format!(
            "key {key} contains a ':' character after host[:port]"
        ))),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// Podman's `parseCredentialsKey` for `login`/`logout` arguments: a URL becomes its
/// `host[:port]`; with `accept_repositories` a `host/ns/repo` key is kept (it must be a
/// name without tag or digest), otherwise only the host is. Returns (key, registry).
pub fn parse_credentials_key(arg: &str, accept_repositories: bool) -> Result<(String, String)> {
    let key = match arg
        .strip_prefix("https://")
        .or_else(|| arg.strip_prefix("http://"))
    {
        Some(rest) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            authority
                .rsplit('@')
                .next()
                .unwrap_or(authority)
                .to_string()
        }
        None => arg.to_string(),
    };
    let registry = key.split('/').next().unwrap_or(&key).to_string();
    if !accept_repositories || registry == key {
        return Ok((registry.clone(), registry));
    }
    let named = Reference::parse_normalized(&key)
        .map_err(|e| ImageError::Credentials(format!("parse reference from {key:?}: {e}")))?;
    if named.tag.is_some() || named.digest.is_some() {
        return Err(ImageError::Credentials(format!(
            "reference {:?} contains tag or digest",
            named.to_string()
        )));
    }
    if named.domain != registry {
        return Err(ImageError::Credentials(format!(
            "internal error: key {key:?} registry mismatch, {:?} vs. {:?}",
            named.to_string(),
            named.domain
        )));
    }
    Ok((key, registry))
}

/// Podman's `--creds user[:password]`: `(username, password)`, `None` for a part the
/// user is to be prompted for (`user` -> password prompt, `:pass` -> user prompt).
pub fn parse_creds(creds: &str) -> (Option<String>, Option<String>) {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match creds.split_once(':') {
        None => (some(creds), None),
        Some((user, pass)) => (some(user), some(pass)),
    }
}

/// The whole JSON document of an auth file, for editing.
fn read_for_edit(path: &Path) -> Result<Map<String, Value>> {
    let raw = match fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(ImageError::config(read_context(path), e)),
    };
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ImageError::config(
            read_context(path),
            "unmarshaling JSON: not a JSON object",
        )),
        Err(e) => Err(ImageError::config(
            read_context(path),
            format!("unmarshaling JSON: {e}"),
        )),
    }
}

fn write_for_edit(path: &Path, doc: &Map<String, Value>) -> Result<()> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(doc, &mut ser).map_err(|e| {
        ImageError::config(
            format!("marshaling JSON {:?}", path.display().to_string()),
            e,
        )
    })?;
    out.push(b'\n');
    write_file_atomic(path, &out, 0o600)
}

fn auths_mut<'a>(
    path: &Path,
    doc: &'a mut Map<String, Value>,
) -> Result<&'a mut Map<String, Value>> {
    let entry = doc
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().ok_or_else(|| {
        ImageError::config(
            read_context(path),
            "unmarshaling JSON: \"auths\" is not an object",
        )
    })
}

/// c/image's `SetCredentials` into the auth file `path`: `auths[key] = {"auth":
/// base64(user:password)}`, every other entry and field kept; the file is created (its
/// directory too, 0700) or replaced atomically, mode 0600.
pub fn set_credentials(path: &Path, key: &str, username: &str, password: &str) -> Result<()> {
    validate_key(key)?;
    let mut doc = read_for_edit(path)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut entry = Map::new();
    entry.insert("auth".to_string(), Value::String(auth));
    auths_mut(path, &mut doc)?.insert(key.to_string(), Value::Object(entry));
    write_for_edit(path, &doc)
}

/// c/image's `RemoveAuthentication` from the auth file `path`: removes `auths[key]`;
/// [`ImageError::NotLoggedIn`] when there is no such entry (the file is then untouched).
pub fn remove_credentials(path: &Path, key: &str) -> Result<()> {
    validate_key(key)?;
    let mut doc = read_for_edit(path)?;
    let removed = match doc.get_mut("auths").and_then(Value::as_object_mut) {
        Some(auths) => auths.shift_remove(key).is_some(),
        None => false,
    };
    if !removed {
        return Err(ImageError::NotLoggedIn);
    }
    write_for_edit(path, &doc)
}

/// c/image's `RemoveAllAuthentication` from the auth file `path`: empties `auths` and
/// `credHelpers`, keeps other fields. A missing file stays missing.
pub fn remove_all_credentials(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let mut doc = read_for_edit(path)?;
    doc.insert("auths".to_string(), Value::Object(Map::new()));
    if doc.contains_key("credHelpers") {
        doc.insert("credHelpers".to_string(), Value::Object(Map::new()));
    }
    write_for_edit(path, &doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn env_in(dir: &Path) -> AuthEnv {
        let run = dir.join("run");
        fs::create_dir_all(&run).unwrap();
        AuthEnv {
            home: dir.join("home"),
            xdg_runtime_dir: Some(run),
            xdg_config_home: None,
            docker_config: None,
            uid: 1000,
        }
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn lookup(key: &str, files: &[AuthFile]) -> Option<(String, String, String)> {
        lookup_credentials(key, files, &[])
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .map(|f| (f.credentials.username, f.credentials.password, f.source))
    }

    #[test]
    fn read_paths_follow_containers_image() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = env_in(dir.path());
        let files = auth_files_for_read(None, &env);
        assert_eq!(files.warning, None);
        let paths: Vec<_> = files.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                dir.path().join("run/containers/auth.json"),
                dir.path().join("home/.config/containers/auth.json"),
                dir.path().join("home/.docker/config.json"),
                dir.path().join("home/.dockercfg"),
            ]
        );
        assert!(files.files[3].legacy && !files.files[2].legacy);
        env.xdg_config_home = Some(dir.path().join("cfg"));
        env.docker_config = Some(dir.path().join("dockercfg"));
        env.xdg_runtime_dir = None;
        let paths: Vec<_> = auth_files_for_read(None, &env)
            .files
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(paths[0], Path::new("/run/containers/1000/auth.json"));
        assert_eq!(paths[1], dir.path().join("cfg/containers/auth.json"));
        assert_eq!(paths[2], dir.path().join("dockercfg/config.json"));
        // --authfile: only that file.
        let only = auth_files_for_read(Some(Path::new("/x/auth.json")), &env);
        assert_eq!(only.files, vec![AuthFile::new("/x/auth.json".into())]);
        // XDG_RUNTIME_DIR pointing nowhere: a warning for reads, an error for writes.
        env.xdg_runtime_dir = Some(dir.path().join("missing"));
        let files = auth_files_for_read(None, &env);
        assert_eq!(files.files.len(), 3);
        assert!(files
            .warning
            .unwrap()
            .contains("$XDG_RUNTIME_DIR does not exist"));
        assert!(auth_file_for_write(None, &env).is_err());
        assert_eq!(
            auth_file_for_write(Some(Path::new("/a.json")), &env).unwrap(),
            Path::new("/a.json")
        );
        env.xdg_runtime_dir = None;
        env.uid = 0;
        assert_eq!(
            auth_file_for_write(None, &env).unwrap(),
            Path::new("/run/containers/0/auth.json")
        );
    }

    #[test]
    fn most_specific_key_and_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let files = auth_files_for_read(None, &env).files;
        write(
            &files[0].path,
            &format!(
                r#"{{"auths": {{
                    "quay.io": {{"auth": "{}"}},
                    "quay.io/ns": {{"auth": "{}"}},
                    "quay.io/ns/repo": {{"auth": "{}"}},
                    "localhost:5000": {{"auth": "{}"}}
                }}}}"#,
                b64("host:h"),
                b64("ns:n"),
                b64("repo:r"),
                b64("local:l:with:colons\0")
            ),
        );
        write(
            &files[1].path,
            &format!(
                r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "ghcr.io": {{"auth": "{}"}}}}}}"#,
                b64("second:s"),
                b64("gh:g")
            ),
        );
        let first = files[0].path.display().to_string();
        let second = files[1].path.display().to_string();
        let got = |k: &str| lookup(k, &files).map(|(u, p, src)| (u, p, src.replace("file ", "")));
        assert_eq!(
            got("quay.io/ns/repo"),
            Some(("repo".into(), "r".into(), first.clone()))
        );
        assert_eq!(
            got("quay.io/ns/other"),
            Some(("ns".into(), "n".into(), first.clone()))
        );
        assert_eq!(
            got("quay.io/ns"),
            Some(("ns".into(), "n".into(), first.clone()))
        );
        assert_eq!(
            got("quay.io/nsx/repo"),
            Some(("host".into(), "h".into(), first.clone()))
        );
        assert_eq!(
            got("quay.io"),
            Some(("host".into(), "h".into(), first.clone()))
        );
        assert_eq!(
            got("localhost:5000/a"),
            Some(("local".into(), "l:with:colons".into(), first))
        );
        assert_eq!(got("ghcr.io/x/y"), Some(("gh".into(), "g".into(), second)));
        assert_eq!(got("docker.io/library/busybox"), None);
        assert!(lookup_credentials("quay.io/a:1", &files, &[]).is_err());
        assert!(lookup_credentials("https://quay.io", &files, &[]).is_err());
        assert!(lookup_credentials("quay.io/a@sha256:x", &files, &[]).is_err());
    }

    #[test]
    fn docker_config_json_and_legacy_dockercfg() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let files = auth_files_for_read(None, &env).files;
        write(
            &files[2].path,
            &format!(
                r#"{{"auths": {{
                    "https://index.docker.io/v1/": {{"auth": "{}", "email": "x@y"}},
                    "http://old.example.com/v1/": {{"auth": "{}"}},
                    "helper-only.io": {{}},
                    "token.io": {{"auth": "{}", "identitytoken": "tok"}}
                }}, "credsStore": "desktop", "HttpHeaders": {{"X": "y"}}}}"#,
                b64("hub:pw"),
                b64("old:o"),
                b64("<token>:"),
            ),
        );
        write(
            &files[3].path,
            &format!(
                r#"{{"https://legacy.io/v1/": {{"auth": "{}", "email": ""}}}}"#,
                b64("leg:l")
            ),
        );
        let got = |k: &str| lookup(k, &files).map(|(u, p, _)| (u, p));
        assert_eq!(
            got("docker.io/library/busybox"),
            Some(("hub".into(), "pw".into()))
        );
        assert_eq!(got("docker.io"), Some(("hub".into(), "pw".into())));
        assert_eq!(got("old.example.com/a"), Some(("old".into(), "o".into())));
        assert_eq!(got("helper-only.io/a"), None);
        assert_eq!(got("legacy.io/a/b"), Some(("leg".into(), "l".into())));
        let token = lookup_credentials("token.io/a", &files, &[])
            .unwrap()
            .unwrap();
        assert_eq!(token.credentials.identity_token, "tok");
        assert_eq!(token.credentials.username, "<token>");
        assert!(!format!("{:?}", token.credentials).contains("\"tok\""));
    }

    #[test]
    fn malformed_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let files = auth_files_for_read(None, &env).files;
        for bad in [
            "",
            "{",
            "[]",
            r#"{"auths": []}"#,
            r#"{"auths": {"quay.io": {"auth": "%%%"}}}"#,
            r#"{"auths": {"quay.io": {"auth": 5}}}"#,
        ] {
            write(&files[0].path, bad);
            let err = lookup_credentials("quay.io/a", &files, &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&files[0].path.display().to_string()),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn credential_helpers_run_the_docker_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-fake");
        write(
            &helper,
            "#!/bin/sh\nread reg\ncase \"$reg\" in\n  good.io) echo '{\"ServerURL\":\"good.io\",\"Username\":\"u\",\"Secret\":\"s\"}';;\n  token.io) echo '{\"Username\":\"<token>\",\"Secret\":\"t\"}';;\n  *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        );
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
        let prog = helper.display().to_string();
        let c = run_helper_program(&prog, "good.io").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "s"));
        let c = run_helper_program(&prog, "token.io").unwrap().unwrap();
        assert_eq!(c.identity_token, "t");
        assert!(c.username.is_empty());
        assert_eq!(run_helper_program(&prog, "other.io").unwrap(), None);
        let err = run_credential_helper("berth-test-no-such-helper", "x.io")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker-credential-berth-test-no-such-helper"),
            "{err}"
        );
        // A credHelpers entry whose helper is missing is an error (as in c/image),
        // unless another configured helper finds credentials.
        let env = env_in(dir.path());
        let files = auth_files_for_read(None, &env).files;
        write(
            &files[0].path,
            r#"{"credHelpers": {"x.io": "berth-test-no-such-helper"}}"#,
        );
        assert!(lookup_credentials("x.io/a", &files, &[]).is_err());
        assert_eq!(lookup_credentials("y.io/a", &files, &[]).unwrap(), None);
        let helpers = vec![
            "berth-test-no-such-helper".to_string(),
            AUTH_FILE_HELPER.to_string(),
        ];
        write(
            &files[0].path,
            &format!(r#"{{"auths": {{"x.io": {{"auth": "{}"}}}}}}"#, b64("a:b")),
        );
        let found = lookup_credentials("x.io/a", &files, &helpers)
            .unwrap()
            .unwrap();
        assert_eq!(found.credentials.username, "a");
    }

    #[test]
    fn writes_keep_other_entries_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/dir/auth.json");
        set_credentials(&path, "quay.io", "u1", "p1").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n\t\"auths\""), "{text}");
        // An existing docker-style file keeps its other fields and entries.
        let path = dir.path().join("config.json");
        write(
            &path,
            &format!(
                r#"{{"auths": {{"ghcr.io": {{"auth": "{}", "email": "e"}}, "quay.io": {{"auth": "x", "identitytoken": "old"}}}}, "credsStore": "desktop", "credHelpers": {{"gcr.io": "gcloud"}}}}"#,
                b64("g:h")
            ),
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        set_credentials(&path, "quay.io/ns", "u2", "p:2").unwrap();
        set_credentials(&path, "quay.io", "u3", "p3").unwrap();
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["credsStore"], "desktop");
        assert_eq!(doc["credHelpers"]["gcr.io"], "gcloud");
        assert_eq!(doc["auths"]["ghcr.io"]["email"], "e");
        assert_eq!(
            doc["auths"]["quay.io"],
            serde_json::json!({"auth": b64("u3:p3")})
        );
        assert_eq!(doc["auths"]["quay.io/ns"]["auth"], b64("u2:p:2"));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let files = [AuthFile::new(path.clone())];
        let got = lookup_credentials("quay.io/ns/repo", &files, &[])
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                got.credentials.username.as_str(),
                got.credentials.password.as_str()
            ),
            ("u2", "p:2")
        );
        // logout
        remove_credentials(&path, "quay.io/ns").unwrap();
        assert!(matches!(
            remove_credentials(&path, "quay.io/ns"),
            Err(ImageError::NotLoggedIn)
        ));
        assert!(matches!(
            remove_credentials(&dir.path().join("none.json"), "quay.io"),
            Err(ImageError::NotLoggedIn)
        ));
        assert!(!dir.path().join("none.json").exists());
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert!(doc["auths"].get("quay.io/ns").is_none());
        assert!(doc["auths"].get("ghcr.io").is_some());
        remove_all_credentials(&path).unwrap();
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["auths"], serde_json::json!({}));
        assert_eq!(doc["credHelpers"], serde_json::json!({}));
        assert_eq!(doc["credsStore"], "desktop");
        remove_all_credentials(&dir.path().join("none.json")).unwrap();
        assert!(!dir.path().join("none.json").exists());
        // Bad keys and bad files are refused without touching anything.
        assert!(set_credentials(&path, "https://quay.io", "u", "p").is_err());
        assert!(set_credentials(&path, "quay.io/a:1", "u", "p").is_err());
        let broken = dir.path().join("broken.json");
        write(&broken, "{not json");
        let err = set_credentials(&broken, "quay.io", "u", "p")
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken.json"), "{err}");
        assert_eq!(fs::read_to_string(&broken).unwrap(), "{not json");
    }

    #[test]
    fn login_arguments_and_creds() {
        let k = |a: &str, repos: bool| parse_credentials_key(a, repos).unwrap();
        assert_eq!(k("quay.io", true), ("quay.io".into(), "quay.io".into()));
        assert_eq!(
            k("https://quay.io/v2/", true),
            ("quay.io".into(), "quay.io".into())
        );
        assert_eq!(
            k("http://user@localhost:5000/x", true),
            ("localhost:5000".into(), "localhost:5000".into())
        );
        assert_eq!(
            k("quay.io/ns/repo", true),
            ("quay.io/ns/repo".into(), "quay.io".into())
        );
        assert_eq!(
            k("quay.io/ns/repo", false),
            ("quay.io".into(), "quay.io".into())
        );
        assert!(parse_credentials_key("quay.io/ns/repo:1", true).is_err());
        assert!(parse_credentials_key("quay.io/Ns", true).is_err());
        assert_eq!(parse_creds("u:p:q"), (Some("u".into()), Some("p:q".into())));
        assert_eq!(parse_creds("u"), (Some("u".into()), None));
        assert_eq!(parse_creds("u:"), (Some("u".into()), None));
        assert_eq!(parse_creds(":p"), (None, Some("p".into())));
        assert_eq!(parse_creds(""), (None, None));
        assert!(!validate_key("quay.io").unwrap());
        assert!(validate_key("localhost:5000/ns").unwrap());
        assert_eq!(
            credentials_key(&Reference::parse("docker.io/library/busybox:1").unwrap()),
            "docker.io/library/busybox"
        );
    }
}
