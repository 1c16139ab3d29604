//! Signature policy (`containers-policy.json(5)`), parsed as strictly as containers/image
//! does and evaluated the way its `PolicyContext.IsRunningImageAllowed` chooses
//! requirements: the transport's scope equal to the image's identity, else the longest
//! matching namespace (`host/ns/repo`, `host/ns`, `host`, `*.domain`; parent directories
//! for path transports), else the transport's `""` scope, else `default`. Every
//! requirement of the chosen list must accept.
//!
//! `insecureAcceptAnything` accepts and `reject` rejects; `signedBy`, `sigstoreSigned`
//! and `signedBaseLayer` need signature verification, which berth does not do yet, so they
//! give [`PolicyDecision::Unsupported`] — never an acceptance.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{ImageError, Result};
use crate::reference::Reference;
use crate::registries::home_dir;

/// The system-wide policy.
pub const SYSTEM_POLICY_PATH: &str = "/etc/containers/policy.json";
const USER_POLICY_FILE: &str = ".config/containers/policy.json";

/// One requirement of a policy. The signature-based ones keep their JSON for later.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    InsecureAcceptAnything,
    Reject,
    SignedBy(Map<String, Value>),
    SigstoreSigned(Map<String, Value>),
    SignedBaseLayer(Map<String, Value>),
}

impl Requirement {
    /// The `type` as written in policy.json.
    pub fn type_name(&self) -> &'static str {
        match self {
            Requirement::InsecureAcceptAnything => "insecureAcceptAnything",
            Requirement::Reject => "reject",
            Requirement::SignedBy(_) => "signedBy",
            Requirement::SigstoreSigned(_) => "sigstoreSigned",
            Requirement::SignedBaseLayer(_) => "signedBaseLayer",
        }
    }
}

/// The verdict on one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyDecision {
    /// Every requirement accepted.
    Accept,
    /// A `reject` requirement: `Running image docker://busybox:latest is rejected by policy.`
    Reject { message: String },
    /// A requirement berth cannot evaluate (signature verification).
    Unsupported {
        requirement: &'static str,
        message: String,
    },
}

impl PolicyDecision {
    pub fn is_accepted(&self) -> bool {
        matches!(self, PolicyDecision::Accept)
    }

    /// `Ok` when accepted, else the error c/image's copy gives (`Source image rejected: ...`).
    pub fn into_result(self) -> Result<()> {
        match self {
            PolicyDecision::Accept => Ok(()),
            PolicyDecision::Reject { message } | PolicyDecision::Unsupported { message, .. } => {
                Err(ImageError::Policy(format!(
                    "Source image rejected: {message}"
                )))
            }
        }
    }
}

/// A parsed policy.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `default`: used when no transport scope matches.
    pub default: Vec<Requirement>,
    /// `transports.<name>.<scope>`.
    pub transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
    /// The file it was read from.
    pub path: Option<PathBuf>,
}

/// c/image's `defaultPolicyPath`: `explicit` (`--signature-policy`) if given, else
/// `$HOME/.config/containers/policy.json` if it exists, else `system` if it exists.
pub fn policy_path(explicit: Option<&Path>, home: &Path, system: &Path) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let user = home.join(USER_POLICY_FILE);
    if user.exists() {
        return Ok(user);
    }
    if system.exists() {
        return Ok(system.to_path_buf());
    }
    Err(ImageError::Policy(format!(
        "no policy.json file found at any of the following: [{:?} {:?}]",
        user.display().to_string(),
        system.display().to_string()
    )))
}

impl Policy {
    /// The policy of this process: `explicit`, else the user's, else the system's; an
    /// error when there is none (the caller may fall back to [`Policy::permissive`]).
    pub fn load(explicit: Option<&Path>) -> Result<Policy> {
        let path = policy_path(explicit, &home_dir(), Path::new(SYSTEM_POLICY_PATH))?;
        Policy::load_from(&path)
    }

    /// Reads and parses one policy.json.
    pub fn load_from(path: &Path) -> Result<Policy> {
        let text = fs::read(path).map_err(|e| ImageError::io("reading policy", path, e))?;
        let mut policy = Policy::parse(&text).map_err(|reason| {
            ImageError::config(
                format!("invalid policy in {:?}", path.display().to_string()),
                reason,
            )
        })?;
        policy.path = Some(path.to_path_buf());
        Ok(policy)
    }

    /// `{"default": [{"type": "insecureAcceptAnything"}]}`.
    pub fn permissive() -> Policy {
        Policy {
            default: vec![Requirement::InsecureAcceptAnything],
            transports: BTreeMap::new(),
            path: None,
        }
    }

    /// Parses a policy document with c/image's strictness (unknown keys, unknown
    /// requirement types, empty requirement lists and invalid scopes are errors).
    pub fn parse(data: &[u8]) -> std::result::Result<Policy, String> {
        let value: Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        let top = as_object(&value, "policy")?;
        let mut default = None;
        let mut transports = BTreeMap::new();
        for (key, v) in top {
            match key.as_str() {
                "default" => default = Some(parse_requirements(v)?),
                "transports" => {
                    for (transport, scopes) in as_object(v, "transports")? {
                        let mut parsed = BTreeMap::new();
                        for (scope, reqs) in as_object(scopes, transport)? {
                            validate_scope(transport, scope)?;
                            parsed.insert(scope.clone(), parse_requirements(reqs)?);
                        }
                        transports.insert(transport.clone(), parsed);
                    }
                }
                other => return Err(format!("Unknown key {other:?}")),
            }
        }
        let default = default.ok_or("Default policy is missing")?;
        Ok(Policy {
            default,
            transports,
            path: None,
        })
    }

    /// The scope whose requirements apply to `identity` in `transport` (`Some("")` for
    /// the transport default, `None` for the global `default`).
    pub fn matching_scope(&self, transport: &str, identity: &str) -> Option<&str> {
        let scopes = self.transports.get(transport)?;
        if let Some((k, _)) = scopes.get_key_value(identity) {
            return Some(k);
        }
        for ns in scope_namespaces(transport, identity) {
            if let Some((k, _)) = scopes.get_key_value(&ns) {
                return Some(k);
            }
        }
        scopes.get_key_value("").map(|(k, _)| k.as_str())
    }

    /// The requirements that apply to `identity` in `transport`.
    pub fn requirements_for(&self, transport: &str, identity: &str) -> &[Requirement] {
        match self.matching_scope(transport, identity) {
            Some(scope) => &self.transports[transport][scope],
            None => &self.default,
        }
    }

    /// Evaluates an image given by its transport (`docker`, `oci`, `dir`, ...) and policy
    /// identity: for `docker`, the normalized reference with tag or digest
    /// (`docker.io/library/busybox:latest`); for path transports, the absolute path.
    pub fn evaluate(&self, transport: &str, scope: &str) -> PolicyDecision {
        let image = image_name(transport, scope);
        let reqs = self.requirements_for(transport, scope);
        if reqs.is_empty() {
            return PolicyDecision::Reject {
                message: "List of verification policy requirements must not be empty".into(),
            };
        }
        for req in reqs {
            match req {
                Requirement::InsecureAcceptAnything => {}
                Requirement::Reject => {
                    return PolicyDecision::Reject {
                        message: format!("Running image {image} is rejected by policy."),
                    }
                }
                other => {
                    let name = other.type_name();
                    return PolicyDecision::Unsupported {
                        requirement: name,
                        message: format!(
                            "signature verification ({name}) is not supported yet, and policy requires it for {image}"
                        ),
                    };
                }
            }
        }
        PolicyDecision::Accept
    }

    /// [`Policy::evaluate`] for a registry image (`docker` transport); the reference is
    /// normalized and gets `:latest` if it has neither tag nor digest.
    pub fn evaluate_docker(&self, reference: &Reference) -> PolicyDecision {
        let identity = Reference::parse_normalized(&reference.to_string())
            .unwrap_or_else(|_| reference.clone())
            .with_default_tag();
        self.evaluate("docker", &identity.to_string())
    }
}

/// c/image's `PolicyConfigurationNamespaces` for an identity: for `docker`-like
/// transports the repository, its parent namespaces, the host and `*.` wildcards of
/// the host's parent domains (port stripped); for path transports the parent directories
/// (without `/`); none for others.
pub fn scope_namespaces(transport: &str, identity: &str) -> Vec<String> {
    match transport {
        "docker" | "docker-daemon" | "atomic" => docker_namespaces(identity),
        "dir" | "oci" | "oci-archive" | "sif" | "tarball" => path_namespaces(identity),
        _ => Vec::new(),
    }
}

fn docker_namespaces(identity: &str) -> Vec<String> {
    // Strip the tag or digest: the repository name comes first.
    let mut name = identity.split('@').next().unwrap_or(identity);
    if let Some(i) = name.rfind(':') {
        if !name[i + 1..].contains('/') {
            name = &name[..i];
        }
    }
    let mut res = Vec::new();
    let mut n = name;
    loop {
        res.push(n.to_string());
        match n.rfind('/') {
            Some(i) => n = &n[..i],
            None => break,
        }
    }
    let mut host = n.split(':').next().unwrap_or(n);
    while let Some(i) = host.find('.') {
        host = &host[i + 1..];
        res.push(format!("*.{host}"));
    }
    res
}

fn path_namespaces(identity: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut p = identity;
    while let Some(i) = p.rfind('/') {
        if i == 0 {
            break;
        }
        p = &p[..i];
        res.push(p.to_string());
    }
    res
}

/// How c/image names the image in messages (`transports.ImageName`).
fn image_name(transport: &str, identity: &str) -> String {
    match transport {
        "docker" => {
            let familiar = Reference::parse_normalized(identity)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| identity.to_string());
            format!("docker://{familiar}")
        }
        _ => format!("{transport}:{identity}"),
    }
}

fn as_object<'a>(v: &'a Value, what: &str) -> std::result::Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what:?} must be a JSON object"))
}

fn parse_requirements(v: &Value) -> std::result::Result<Vec<Requirement>, String> {
    let list = v
        .as_array()
        .ok_or("policy requirements must be a JSON array")?;
    if list.is_empty() {
        return Err("List of verification policy requirements must not be empty".into());
    }
    list.iter().map(parse_requirement).collect()
}

fn parse_requirement(v: &Value) -> std::result::Result<Requirement, String> {
    let obj = as_object(v, "policy requirement")?;
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err("policy requirement \"type\" must be a string".into()),
        None => "",
    };
    let only_type = |req: Requirement| match obj.keys().find(|k| k.as_str() != "type") {
        Some(k) => Err(format!("Unknown key {k:?}")),
        None => Ok(req),
    };
    match ty {
        "insecureAcceptAnything" => only_type(Requirement::InsecureAcceptAnything),
        "reject" => only_type(Requirement::Reject),
        "signedBy" => {
            if !obj.contains_key("keyType") {
                return Err("keyType field missing in signedBy".into());
            }
            let sources = ["keyPath", "keyPaths", "keyData"]
                .iter()
                .filter(|k| obj.contains_key(**k))
                .count();
            if sources != 1 {
                return Err(
                    "exactly one of keyPath, keyPaths and keyData must be specified in signedBy"
                        .into(),
                );
            }
            Ok(Requirement::SignedBy(obj.clone()))
        }
        "sigstoreSigned" => Ok(Requirement::SigstoreSigned(obj.clone())),
        "signedBaseLayer" => Ok(Requirement::SignedBaseLayer(obj.clone())),
        other => Err(format!("Unknown policy requirement type {other:?}")),
    }
}

/// The scope checks of c/image's transports (`ValidatePolicyConfigurationScope`).
fn validate_scope(transport: &str, scope: &str) -> std::result::Result<(), String> {
    if scope.is_empty() {
        return Ok(());
    }
    let bad = |why: String| {
        Err(format!(
            "invalid scope {scope:?} for transport {transport:?}: {why}"
        ))
    };
    match transport {
        "dir" | "oci" | "oci-archive" => {
            let path = match transport {
                "dir" => scope,
                // oci scopes may name an image after the directory: /dir:image
                _ => scope.split(':').next().unwrap_or(scope),
            };
            if !path.starts_with('/') {
                return bad("Must be an absolute path".into());
            }
            if path == "/" {
                return bad("Use the generic default scope \"\"".into());
            }
            if path.ends_with('/')
                || path.contains("//")
                || path.split('/').any(|c| c == "." || c == "..")
            {
                return bad("Uses non-canonical format".into());
            }
            Ok(())
        }
        "docker-archive" => bad("does not support any scopes except the default \"\" one".into()),
        "docker-daemon" if crate::digest::parse_digest(scope).is_some() => {
            bad("can not use algo:digest value as a namespace".into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:06124750196128a67d39e70311406e86e3b80f11a194f221cf449babf49ecf72";

    fn policy(text: &str) -> Policy {
        Policy::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    const SCOPED: &str = r#"{
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                "": [{"type": "insecureAcceptAnything"}],
                "docker.io/library/busybox:1.36": [{"type": "reject"}],
                "quay.io/ns/repo": [{"type": "insecureAcceptAnything"}],
                "quay.io/ns": [{"type": "reject"}],
                "quay.io": [{"type": "insecureAcceptAnything"}],
                "*.example.com": [{"type": "reject"}],
                "localhost:5000": [{"type": "reject"}],
                "signed.io": [
                    {"type": "insecureAcceptAnything"},
                    {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}
                ],
                "sigstore.io": [{"type": "sigstoreSigned", "keyPath": "/k.pub"}],
                "base.io": [{"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}}]
            },
            "dir": {"/srv/images": [{"type": "reject"}]},
            "oci": {"": [{"type": "insecureAcceptAnything"}]},
            "docker-archive": {"": [{"type": "insecureAcceptAnything"}]}
        }
    }"#;

    #[test]
    fn most_specific_docker_scope_wins() {
        let p = policy(SCOPED);
        let scope = |id: &str| p.matching_scope("docker", id).map(str::to_string);
        assert_eq!(
            scope("docker.io/library/busybox:1.36").as_deref(),
            Some("docker.io/library/busybox:1.36")
        );
        assert_eq!(
            scope("docker.io/library/busybox:latest").as_deref(),
            Some("")
        );
        assert_eq!(
            scope("quay.io/ns/repo:1").as_deref(),
            Some("quay.io/ns/repo")
        );
        assert_eq!(
            scope(&format!("quay.io/ns/repo@{D}")).as_deref(),
            Some("quay.io/ns/repo")
        );
        assert_eq!(scope("quay.io/ns/other:1").as_deref(), Some("quay.io/ns"));
        assert_eq!(scope("quay.io/ns/deep/er:1").as_deref(), Some("quay.io/ns"));
        assert_eq!(scope("quay.io/other/x:1").as_deref(), Some("quay.io"));
        assert_eq!(
            scope("a.b.example.com/x:1").as_deref(),
            Some("*.example.com")
        );
        assert_eq!(
            scope("a.example.com:8443/x:1").as_deref(),
            Some("*.example.com")
        );
        assert_eq!(scope("example.com/x:1").as_deref(), Some(""));
        assert_eq!(
            scope("localhost:5000/x:1").as_deref(),
            Some("localhost:5000")
        );

        let ok = |id: &str| p.evaluate("docker", id).is_accepted();
        assert!(!ok("docker.io/library/busybox:1.36"));
        assert!(ok("docker.io/library/busybox:latest"));
        assert!(ok("quay.io/ns/repo:1"));
        assert!(!ok("quay.io/ns/other:1"));
        assert!(ok("quay.io/x/y:1"));
        assert!(!ok("a.example.com/x:1"));
        // No scope in another transport: the global default (reject).
        assert!(!p.evaluate("containers-storage", "x").is_accepted());
        assert!(p.evaluate("oci", "/tmp/layout").is_accepted());
    }

    #[test]
    fn reject_message_matches_containers_image() {
        let p = policy(SCOPED);
        let d = p.evaluate_docker(&Reference::parse("busybox:1.36").unwrap());
        assert_eq!(
            d,
            PolicyDecision::Reject {
                message: "Running image docker://busybox:1.36 is rejected by policy.".into()
            }
        );
        assert_eq!(
            d.into_result().unwrap_err().to_string(),
            "Source image rejected: Running image docker://busybox:1.36 is rejected by policy."
        );
        let d = p.evaluate("dir", "/srv/images/x");
        assert_eq!(
            d,
            PolicyDecision::Reject {
                message: "Running image dir:/srv/images/x is rejected by policy.".into()
            }
        );
        // Not under /srv/images, and dir has no "" scope: the global default.
        assert_eq!(p.matching_scope("dir", "/srv/imagesx"), None);
        assert!(p
            .evaluate_docker(&Reference::parse("quay.io/x/y").unwrap())
            .into_result()
            .is_ok());
    }

    #[test]
    fn signature_requirements_are_never_accepted() {
        let p = policy(SCOPED);
        for (id, name) in [
            ("signed.io/a:1", "signedBy"),
            ("sigstore.io/a:1", "sigstoreSigned"),
            ("base.io/a:1", "signedBaseLayer"),
        ] {
            match p.evaluate("docker", id) {
                PolicyDecision::Unsupported {
                    requirement,
                    message,
                } => {
                    assert_eq!(requirement, name);
                    assert!(
                        message.starts_with(&format!(
                            "signature verification ({name}) is not supported yet"
                        )),
                        "{message}"
                    );
                }
                other => panic!("{id}: {other:?}"),
            }
        }
        // A reject before a signedBy is a rejection; all must accept.
        let p = policy(
            r#"{"default": [{"type": "reject"}, {"type": "signedBy", "keyType": "GPGKeys", "keyData": "x"}]}"#,
        );
        assert!(matches!(
            p.evaluate("docker", "quay.io/a:1"),
            PolicyDecision::Reject { .. }
        ));
    }

    #[test]
    fn path_transport_scopes() {
        let p = policy(
            r#"{"default": [{"type": "insecureAcceptAnything"}],
                "transports": {"dir": {"/a": [{"type": "reject"}], "/a/b/c": [{"type": "insecureAcceptAnything"}]},
                               "oci": {"/o": [{"type": "reject"}]}}}"#,
        );
        assert_eq!(p.matching_scope("dir", "/a/b/c"), Some("/a/b/c"));
        assert_eq!(p.matching_scope("dir", "/a/b/c/d"), Some("/a/b/c"));
        assert_eq!(p.matching_scope("dir", "/a/b"), Some("/a"));
        assert_eq!(p.matching_scope("dir", "/ab"), None);
        assert!(!p.evaluate("oci", "/o/layout").is_accepted());
        assert!(p.evaluate("oci", "/other").is_accepted());
        assert_eq!(path_namespaces("/a/b/c"), vec!["/a/b", "/a"]);
        assert_eq!(
            docker_namespaces("example.com:8443/ns/repo:tag"),
            vec![
                "example.com:8443/ns/repo",
                "example.com:8443/ns",
                "example.com:8443",
                "*.com"
            ]
        );
        assert_eq!(
            docker_namespaces("docker.io/library/busybox:latest"),
            vec![
                "docker.io/library/busybox",
                "docker.io/library",
                "docker.io",
                "*.io"
            ]
        );
    }

    #[test]
    fn malformed_policies_are_refused() {
        for (text, why) in [
            ("", "EOF"),
            ("[]", "JSON object"),
            ("{}", "Default policy is missing"),
            (r#"{"default": []}"#, "must not be empty"),
            (
                r#"{"default": [{"type": "acceptAll"}]}"#,
                "Unknown policy requirement type",
            ),
            (r#"{"default": [{}]}"#, "Unknown policy requirement type"),
            (
                r#"{"default": [{"type": "reject", "x": 1}]}"#,
                "Unknown key \"x\"",
            ),
            (
                r#"{"default": [{"type": "insecureAcceptAnything"}], "other": 1}"#,
                "Unknown key \"other\"",
            ),
            (
                r#"{"default": [{"type": "signedBy", "keyPath": "/k"}]}"#,
                "keyType",
            ),
            (
                r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}"#,
                "exactly one",
            ),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"docker": {"quay.io": []}}}"#,
                "must not be empty",
            ),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"dir": {"rel/path": [{"type": "reject"}]}}}"#,
                "absolute path",
            ),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"dir": {"/": [{"type": "reject"}]}}}"#,
                "default scope",
            ),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"dir": {"/a/../b": [{"type": "reject"}]}}}"#,
                "non-canonical",
            ),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"docker-archive": {"/a": [{"type": "reject"}]}}}"#,
                "does not support any scopes",
            ),
        ] {
            let err = Policy::parse(text.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.json");
        fs::write(&path, r#"{"default": []}"#).unwrap();
        let err = Policy::load_from(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "invalid policy in {:?}",
                path.display().to_string()
            )),
            "{err}"
        );
        let err = Policy::load_from(&dir.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.json"), "{err}");
    }

    #[test]
    fn policy_file_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let system = dir.path().join("etc/policy.json");
        let err = policy_path(None, &home, &system).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "no policy.json file found at any of the following: [{:?} {:?}]",
                home.join(".config/containers/policy.json")
                    .display()
                    .to_string(),
                system.display().to_string()
            )
        );
        fs::create_dir_all(system.parent().unwrap()).unwrap();
        fs::write(
            &system,
            r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        assert_eq!(policy_path(None, &home, &system).unwrap(), system);
        let user = home.join(".config/containers/policy.json");
        fs::create_dir_all(user.parent().unwrap()).unwrap();
        fs::write(&user, r#"{"default": [{"type": "reject"}]}"#).unwrap();
        assert_eq!(policy_path(None, &home, &system).unwrap(), user);
        assert_eq!(
            policy_path(Some(Path::new("/x.json")), &home, &system).unwrap(),
            Path::new("/x.json")
        );
        let p = Policy::load_from(&user).unwrap();
        assert_eq!(p.path.as_deref(), Some(user.as_path()));
        assert_eq!(p.default, vec![Requirement::Reject]);
        assert!(Policy::permissive()
            .evaluate("docker", "quay.io/a:1")
            .is_accepted());
        // The file Podman's package installs parses (when present).
        if Path::new(SYSTEM_POLICY_PATH).exists() {
            Policy::load_from(Path::new(SYSTEM_POLICY_PATH)).unwrap();
        }
    }
}
