//! Image references (`[domain/]path[:tag][@digest]`) parsed with the grammar of
//! `github.com/containers/image/docker/reference` and normalized the two ways Podman does.

use std::fmt;

use crate::digest::parse_digest;
use crate::error::{ImageError, Result};

const NAME_TOTAL_LENGTH_MAX: usize = 255;
const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";

/// A parsed image reference. `domain` is empty when the reference has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `s` without normalizing it (Go's `reference.Parse`): `busybox` has no
    /// domain; `foo/bar` has domain `foo`.
    pub fn parse(s: &str) -> Result<Reference> {
        if s.is_empty() {
            return Err(ImageError::reference(
                s,
                "repository name must have at least one component",
            ));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let grammar_ok = tag.is_none_or(valid_tag)
            && digest.is_none_or(valid_digest_grammar)
            && split_name(name).is_some();
        if !grammar_ok {
            // Go reports uppercase separately when the lowercased string would parse.
            let lower = s.to_ascii_lowercase();
            let reason = if lower != s && Reference::parse(&lower).is_ok() {
                "repository name must be lowercase"
            } else {
                "invalid reference format"
            };
            return Err(ImageError::reference(s, reason));
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ImageError::reference(
                s,
                format!("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"),
            ));
        }
        if let Some(d) = digest {
            if parse_digest(d).is_none() {
                return Err(ImageError::reference(s, "invalid checksum digest format"));
            }
        }
        let (domain, path) = split_name(name).unwrap_or_default();
        Ok(Reference {
            domain: domain.to_string(),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// Parses `s` the Docker way (Go's `reference.ParseNormalizedNamed`): `busybox` ->
    /// `docker.io/library/busybox`, `foo/bar:1` -> `docker.io/foo/bar:1`; names with a
    /// registry host keep it. No `:latest` is added (see [`Reference::with_default_tag`]).
    pub fn parse_normalized(s: &str) -> Result<Reference> {
        parse_normalized(s)
    }

    /// Parses `s` that must already be in canonical form (Go's `reference.ParseNamed`):
    /// `docker.io/library/busybox:1` is accepted, `busybox` and `docker.io/busybox` are not.
    pub fn parse_canonical(s: &str) -> Result<Reference> {
        let named = parse_normalized(s)?;
        if named.to_string() != s {
            return Err(ImageError::reference(
                s,
                "repository name must be canonical",
            ));
        }
        Ok(named)
    }

    /// True when the first component names a registry host (contains `.` or `:`, or is
    /// `localhost`): such a name is not a short name.
    pub fn has_registry(&self) -> bool {
        has_registry_host(&self.domain)
    }

    /// Go's `reference.TagNameOnly`: adds `:latest` when there is neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".to_string());
        }
        self
    }

    /// The same repository without tag and digest (Go's `reference.TrimNamed`).
    pub fn trimmed(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Go's `reference.FamiliarString`: `docker.io/library/busybox:1` -> `busybox:1`,
    /// `docker.io/foo/bar` -> `foo/bar`; other registries are kept.
    pub fn familiar(&self) -> String {
        let mut r = self.clone();
        if r.domain == DEFAULT_DOMAIN {
            r.domain = String::new();
            if let Some(rest) = r.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                if !rest.contains('/') {
                    r.path = rest.to_string();
                }
            }
        }
        r.to_string()
    }

    /// `domain/path` (or `path` without a domain): the repository, without tag or digest.
    pub fn repository(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Normalizes an image name as Podman does for names it stores (`podman tag`,
/// `load`, `import`, `commit`; libimage's `NormalizeName`): a name without a registry
/// host gets `localhost/` (`busybox` -> `localhost/busybox:latest`, `foo/bar:1` ->
/// `localhost/foo/bar:1`); a name with one keeps it, and `docker.io` names get
/// `library/` (`docker.io/busybox` -> `docker.io/library/busybox:latest`); `:latest` is
/// added when there is neither tag nor digest; with both, the tag is dropped.
pub fn normalize_name(s: &str) -> Result<String> {
    let parsed = Reference::parse(s)?;
    let named = if has_registry_host(&parsed.domain) {
        parse_normalized(s)?
    } else {
        parse_normalized(&format!(
            "localhost/{}",
            parsed.to_string().trim_start_matches('/')
        ))
        .map_err(|e| relabel(e, s))?
    };
    Ok(tag_name_only(named).to_string())
}

/// Normalizes an image name the Docker way (`reference.ParseNormalizedNamed` plus
/// `TagNameOnly`), as a pull or the Docker API resolves it: `busybox` ->
/// `docker.io/library/busybox:latest`, `foo/bar:1` -> `docker.io/foo/bar:1`, names with a
/// registry host (contains `.` or `:`, or is `localhost`) keep it.
pub fn normalize_docker_name(s: &str) -> Result<String> {
    Ok(tag_name_only(parse_normalized(s)?).to_string())
}

/// Checks a docker-archive `RepoTags` entry as containers/image does (a tagged,
/// digest-free reference) and returns it normalized with [`normalize_name`].
pub(crate) fn normalize_repo_tag(s: &str) -> std::result::Result<String, String> {
    let named = parse_normalized(s).map_err(|e| match e {
        ImageError::InvalidReference { reason, .. } => reason,
        other => other.to_string(),
    })?;
    if named.digest.is_some() {
        return Err("docker-archive doesn't support digest references".to_string());
    }
    if named.tag.is_none() {
        return Err(format!("{named} does not contain a tag"));
    }
    normalize_name(s).map_err(|e| e.to_string())
}

/// Strips a `docker://` transport prefix (`docker://quay.io/a/b` -> `quay.io/a/b`), or
/// returns `None` when `s` does not start with it.
pub fn strip_docker_transport(s: &str) -> Option<&str> {
    s.strip_prefix("docker://")
}

/// Go's `reference.ParseNormalizedNamed`.
fn parse_normalized(s: &str) -> Result<Reference> {
    if s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return Err(ImageError::reference(
            s,
            "cannot specify 64-byte hexadecimal strings as repository name",
        ));
    }
    let (mut domain, mut remainder) = match s.split_once('/') {
        Some((first, rest)) if has_registry_host(first) => (first.to_string(), rest.to_string()),
        _ => (DEFAULT_DOMAIN.to_string(), s.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    let remote_name = remainder.split(':').next().unwrap_or_default();
    if remote_name.to_ascii_lowercase() != remote_name {
        return Err(ImageError::reference(
            s,
            "repository name must be lowercase",
        ));
    }
    Reference::parse(&format!("{domain}/{remainder}")).map_err(|e| relabel(e, s))
}

/// `reference.TagNameOnly` after libimage's tag-and-digest rule: no tag and no digest
/// gets `latest`; a tag next to a digest is dropped.
fn tag_name_only(mut r: Reference) -> Reference {
    if r.digest.is_some() {
        r.tag = None;
    } else if r.tag.is_none() {
        r.tag = Some("latest".to_string());
    }
    r
}

fn relabel(e: ImageError, name: &str) -> ImageError {
    match e {
        ImageError::InvalidReference { reason, .. } => ImageError::reference(name, reason),
        other => other,
    }
}

fn has_registry_host(domain: &str) -> bool {
    domain.contains(['.', ':']) || domain == "localhost"
}

/// Splits a name into (domain, path) the way the anchored name regexp does: a first
/// component is a domain when it parses as one and the rest parses as a path.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/') {
        if valid_domain(first) && valid_path(rest) {
            return Some((first, rest));
        }
    }
    valid_path(name).then_some(("", name))
}

/// `domain-component(\.domain-component)*(:[0-9]+)?`
pub(crate) fn valid_domain(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    host.split('.').all(component_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// `path-component(/path-component)*`
fn valid_path(s: &str) -> bool {
    s.split('/').all(valid_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn valid_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
fn valid_digest_grammar(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:06124750196128a67d39e70311406e86e3b80f11a194f221cf449babf49ecf72";

    fn norm(s: &str) -> String {
        normalize_name(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn podman_normalization_adds_localhost() {
        // Observed with podman 4.3.1 `load` and `tag`.
        assert_eq!(norm("busybox"), "localhost/busybox:latest");
        assert_eq!(norm("busybox:latest"), "localhost/busybox:latest");
        assert_eq!(norm("foo/bar:1"), "localhost/foo/bar:1");
        assert_eq!(norm("foo/bar"), "localhost/foo/bar:latest");
        assert_eq!(norm("latest"), "localhost/latest:latest");
        assert_eq!(norm("localhost/x:y"), "localhost/x:y");
        assert_eq!(
            norm("localhost/berth-test/busybox"),
            "localhost/berth-test/busybox:latest"
        );
        assert_eq!(norm("quay.io/a/b:c"), "quay.io/a/b:c");
        assert_eq!(norm("foo:5000/a:b"), "foo:5000/a:b");
        assert_eq!(norm("localhost:5000/a"), "localhost:5000/a:latest");
        assert_eq!(norm("docker.io/busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("docker.io/library/busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm(&format!("quay.io/a:1@{D}")), format!("quay.io/a@{D}"));
        assert_eq!(norm(&format!("a@{D}")), format!("localhost/a@{D}"));
        assert_eq!(
            norm("a__b/c-d---e.f_g"),
            "localhost/a__b/c-d---e.f_g:latest"
        );
        assert_eq!(norm("Quay.io/a"), "Quay.io/a:latest");
    }

    #[test]
    fn docker_normalization_adds_docker_io() {
        let n = |s| normalize_docker_name(s).unwrap();
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:latest"), "docker.io/library/busybox:latest");
        assert_eq!(n("foo/bar:1"), "docker.io/foo/bar:1");
        assert_eq!(n("localhost/x:y"), "localhost/x:y");
        assert_eq!(n("localhost/x"), "localhost/x:latest");
        assert_eq!(
            n("registry.example.com:5000/a/b"),
            "registry.example.com:5000/a/b:latest"
        );
        assert_eq!(n(&format!("x:1@{D}")), format!("docker.io/library/x@{D}"));
    }

    #[test]
    fn invalid_references_are_rejected_with_their_name() {
        for (bad, why) in [
            ("", "at least one component"),
            ("Busybox", "lowercase"),
            ("foo/Bar:1", "lowercase"),
            ("a b", "invalid reference format"),
            ("a//b", "invalid reference format"),
            ("-a", "invalid reference format"),
            ("a:", "invalid reference format"),
            ("a:-x", "invalid reference format"),
            ("a..b", "invalid reference format"),
            ("a___b", "invalid reference format"),
            ("foo:bar/baz", "invalid reference format"),
            ("a@sha256:1234", "invalid reference format"),
            ("a@md5:0123456789abcdef0123456789abcdef", "digest"),
            ("/a", "invalid reference format"),
        ] {
            let err = normalize_name(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
        let long = "a".repeat(256);
        assert!(normalize_name(&long)
            .unwrap_err()
            .to_string()
            .contains("255"));
        let hexname = "0".repeat(64);
        assert!(normalize_docker_name(&hexname).is_err());
    }

    #[test]
    fn repo_tags_must_be_tagged() {
        assert_eq!(
            normalize_repo_tag("busybox:latest").unwrap(),
            "localhost/busybox:latest"
        );
        assert!(normalize_repo_tag("busybox")
            .unwrap_err()
            .contains("does not contain a tag"));
        assert!(normalize_repo_tag(&format!("x:1@{D}"))
            .unwrap_err()
            .contains("digest"));
        assert!(normalize_repo_tag("Busybox:1")
            .unwrap_err()
            .contains("lowercase"));
    }

    #[test]
    fn normalized_canonical_familiar() {
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert_eq!(
            r.clone().with_default_tag().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(r.familiar(), "busybox");
        let d = Reference::parse_normalized(&format!("quay.io/a/b:1@{D}")).unwrap();
        assert_eq!(d.clone().with_default_tag(), d);
        assert_eq!(d.trimmed().to_string(), "quay.io/a/b");
        assert_eq!(
            Reference::parse_normalized("foo/bar:2").unwrap().familiar(),
            "foo/bar:2"
        );
        assert_eq!(
            Reference::parse_normalized("docker.io/library/a/b")
                .unwrap()
                .familiar(),
            "library/a/b"
        );
        assert!(Reference::parse_canonical("docker.io/library/busybox:1").is_ok());
        assert!(Reference::parse_canonical("docker.io/busybox")
            .unwrap_err()
            .to_string()
            .contains("canonical"));
        assert!(Reference::parse_canonical("busybox").is_err());
        assert_eq!(strip_docker_transport("docker://busybox"), Some("busybox"));
        assert_eq!(strip_docker_transport("busybox"), None);
        assert!(Reference::parse("localhost/a").unwrap().has_registry());
        assert!(!Reference::parse("foo/a").unwrap().has_registry());
    }

    #[test]
    fn parse_splits_domain_like_go() {
        let r = Reference::parse("foo/bar:1").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("foo", "bar", Some("1"))
        );
        let r = Reference::parse("busybox").unwrap();
        assert_eq!((r.domain.as_str(), r.path.as_str()), ("", "busybox"));
        let r = Reference::parse("localhost:5000/a/b").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            ("localhost:5000", "a/b")
        );
        assert_eq!(r.repository(), "localhost:5000/a/b");
    }
}
