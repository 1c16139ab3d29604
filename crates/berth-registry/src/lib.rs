//! A blocking client for the Docker Registry HTTP API v2 / OCI distribution spec, as much
//! of it as pulling and pushing images needs: manifests, blobs (streamed, verified by
//! the caller against their digest), basic and bearer-token authentication, TLS with the
//! CA certificates of `certs.d/<host:port>/`, and plain HTTP for insecure registries.

use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The manifest media types berth accepts, in the Accept header order.
pub const ACCEPT_MANIFESTS: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("pinging container registry {host}: {msg}")]
    Unreachable { host: String, msg: String },
    #[error("{what}: authentication required: unauthorized (check your credentials for {host})")]
    Unauthorized { host: String, what: String },
    #[error("{what}: manifest unknown")]
    ManifestUnknown { what: String },
    #[error("{what}: blob unknown")]
    BlobUnknown { what: String },
    #[error("{what}: registry answered {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{what}: {msg}")]
    Io { what: String, msg: String },
    #[error("reading CA certificates from {path}: {msg}")]
    Certs { path: String, msg: String },
}

pub type Result<T> = std::result::Result<T, RegistryError>;

/// Username and password (or an identity token as password with user "<token>").
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Verify TLS certificates and require HTTPS (Podman's --tls-verify, registries.conf
    /// `insecure = false`). When false, HTTPS without verification is tried, then HTTP.
    pub tls_verify: bool,
    /// Directories holding `<host:port>/*.crt` (certs.d).
    pub cert_dirs: Vec<PathBuf>,
    /// `--cert-dir`: the directory of this host's `*.crt` files, instead of `cert_dirs`.
    pub cert_dir: Option<PathBuf>,
    pub credentials: Option<Credentials>,
    pub user_agent: String,
}

/// A registry host and how to talk to it.
pub struct Client {
    host: String,
    agent: ureq::Agent,
    /// "https" or "http", decided on first contact.
    scheme: Mutex<Option<&'static str>>,
    tls_verify: bool,
    insecure_agent: Option<ureq::Agent>,
    creds: Option<Credentials>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<String, String>>,
    user_agent: String,
}

/// A fetched manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// "sha256:..." of `bytes`.
    pub digest: String,
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn agent(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            // A registry that stops answering must not hang berth for ever.
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .max_redirects(10)
            .build(),
    )
}

/// Downloads `url` (http or https, system roots) for `ADD URL`: the body and the
/// `Last-Modified` header, if any.
pub fn fetch_url(url: &str) -> Result<(Vec<u8>, Option<String>)> {
    let io = |msg: String| RegistryError::Io {
        what: format!("getting {url}"),
        msg,
    };
    let a = agent(
        ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&system_certs()))
            .build(),
    );
    let resp = a.get(url).call().map_err(|e| io(e.to_string()))?;
    let status = resp.status().as_u16();
    if status >= 400 {
        return Err(RegistryError::Status {
            what: format!("getting {url}"),
            status,
            body: String::new(),
        });
    }
    let modified = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_body().into_reader(), &mut body)
        .map_err(|e| io(e.to_string()))?;
    Ok((body, modified))
}

/// Reads every `*.crt` of `dir/<host>/` for each of `dirs` (or of `exact` alone) as extra
/// root certificates.
fn load_certs(
    dirs: &[PathBuf],
    exact: Option<&Path>,
    host: &str,
) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let mut out = Vec::new();
    let candidates: Vec<PathBuf> = match exact {
        Some(d) => vec![d.to_path_buf()],
        None => dirs.iter().map(|d| d.join(host)).collect(),
    };
    for dir in candidates {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if f.extension().and_then(|e| e.to_str()) != Some("crt") {
                continue;
            }
            let pem = std::fs::read(&f).map_err(|e| RegistryError::Certs {
                path: f.display().to_string(),
                msg: e.to_string(),
            })?;
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(RegistryError::Certs {
                            path: f.display().to_string(),
                            msg: e.to_string(),
                        })
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The system's CA bundle (Debian's ca-certificates), for registries with public certs.
fn system_certs() -> Vec<ureq::tls::Certificate<'static>> {
    let mut out = Vec::new();
    for p in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ] {
        if let Ok(pem) = std::fs::read(p) {
            out.extend(ureq::tls::parse_pem(&pem).filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            }));
            break;
        }
    }
    out
}

/// Parses `Bearer realm="...",service="...",scope="..."` into its parameters.
fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, v)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, rest) = if let Some(v) = v.strip_prefix('"') {
            match v.find('"') {
                Some(i) => (&v[..i], &v[i + 1..]),
                None => (v, ""),
            }
        } else {
            match v.find(',') {
                Some(i) => (&v[..i], &v[i..]),
                None => (v, ""),
            }
        };
        params.insert(k, val.to_string());
        s = rest.trim_start_matches(',').trim();
    }
    (scheme.to_ascii_lowercase(), params)
}

impl Client {
    /// A client for `host` ("registry.example.com", "127.0.0.1:5000"; Docker Hub's
    /// `docker.io` is served from `registry-1.docker.io`).
    pub fn new(host: &str, opts: &ClientOptions) -> Result<Client> {
        let host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let mut roots = system_certs();
        roots.extend(load_certs(&opts.cert_dirs, opts.cert_dir.as_deref(), host)?);
        let verified = agent(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                .build(),
        );
        let insecure_agent = (!opts.tls_verify).then(|| {
            agent(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(true)
                    .build(),
            )
        });
        Ok(Client {
            host: host.to_string(),
            agent: verified,
            scheme: Mutex::new(None),
            tls_verify: opts.tls_verify,
            insecure_agent,
            creds: opts.credentials.clone(),
            tokens: Mutex::new(HashMap::new()),
            user_agent: if opts.user_agent.is_empty() {
                format!("berth/{}", env!("CARGO_PKG_VERSION"))
            } else {
                opts.user_agent.clone()
            },
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn agent_for(&self, scheme: &str) -> &ureq::Agent {
        match (&self.insecure_agent, scheme) {
            (Some(a), "https") => a,
            _ => &self.agent,
        }
    }

    /// Finds how to reach the registry: HTTPS, or (when not verifying TLS) HTTP.
    fn scheme(&self) -> Result<&'static str> {
        if let Some(s) = *self.scheme.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(s);
        }
        let mut last = String::new();
        let schemes: &[&'static str] = if self.tls_verify {
            &["https"]
        } else {
            &["https", "http"]
        };
        for &s in schemes {
            let url = format!("{s}://{}/v2/", self.host);
            match self
                .agent_for(s)
                .get(&url)
                .header("User-Agent", &self.user_agent)
                .call()
            {
                Ok(_) => {
                    *self.scheme.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                    return Ok(s);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(RegistryError::Unreachable {
            host: self.host.clone(),
            msg: last,
        })
    }

    /// `GET /v2/`: checks that the registry answers and that our credentials work.
    pub fn ping(&self) -> Result<()> {
        let what = format!("logging in to {}", self.host);
        self.request("GET", "/v2/", "", &[], &what).map(|_| ())
    }

    /// Gets a bearer token for `scope` from the realm a 401 named.
    fn fetch_token(
        &self,
        params: &HashMap<String, String>,
        scope: &str,
        what: &str,
    ) -> Result<String> {
        let realm = params.get("realm").cloned().unwrap_or_default();
        let mut url = realm.clone();
        let mut q = Vec::new();
        if let Some(svc) = params.get("service") {
            q.push(format!("service={}", urlencode(svc)));
        }
        let scope = if scope.is_empty() {
            params.get("scope").cloned().unwrap_or_default()
        } else {
            scope.to_string()
        };
        if !scope.is_empty() {
            q.push(format!("scope={}", urlencode(&scope)));
        }
        if !q.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&q.join("&"));
        }
        let scheme = if url.starts_with("https:") {
            "https"
        } else {
            "http"
        };
        let mut req = self
            .agent_for(scheme)
            .get(&url)
            .header("User-Agent", &self.user_agent);
        if let Some(c) = &self.creds {
            req = req.header("Authorization", &basic(c));
        }
        let resp = req.call().map_err(|e| RegistryError::Io {
            what: what.to_string(),
            msg: format!("getting a token from {realm}: {e}"),
        })?;
        if resp.status().as_u16() == 401 || resp.status().as_u16() == 403 {
            return Err(RegistryError::Unauthorized {
                host: self.host.clone(),
                what: what.to_string(),
            });
        }
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let body = resp
            .into_body()
            .read_to_vec()
            .map_err(|e| RegistryError::Io {
                what: what.to_string(),
                msg: e.to_string(),
            })?;
        let t: Token = serde_json::from_slice(&body).map_err(|e| RegistryError::Io {
            what: what.to_string(),
            msg: format!("bad token response from {realm}: {e}"),
        })?;
        Ok(if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        })
    }

    /// Sends a request, answering an authentication challenge once. `scope` is the
    /// token scope ("repository:NAME:pull"). Returns the response whatever its status,
    /// except 401 after authenticating.
    fn request(
        &self,
        method: &str,
        path: &str,
        scope: &str,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        self.request_with_body(method, path, scope, headers, None, what)
    }

    fn request_with_body(
        &self,
        method: &str,
        path_or_url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let body = match body {
            Some(b) => Payload::Bytes(b),
            None => Payload::None,
        };
        self.send_payload(method, path_or_url, scope, headers, body, what)
    }

    fn send_payload(
        &self,
        method: &str,
        path_or_url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        body: Payload<'_>,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let scheme = self.scheme()?;
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{scheme}://{}{path_or_url}", self.host)
        };
        let io = |e: ureq::Error| RegistryError::Io {
            what: what.to_string(),
            msg: e.to_string(),
        };
        let send = |auth: Option<String>| -> Result<ureq::http::Response<ureq::Body>> {
            let mut b = ureq::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("User-Agent", &self.user_agent);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            if let Some(a) = auth {
                b = b.header("Authorization", a);
            }
            let agent = self.agent_for(scheme);
            let bad = |e: ureq::http::Error| RegistryError::Io {
                what: what.to_string(),
                msg: e.to_string(),
            };
            match body {
                Payload::Bytes(data) => agent.run(b.body(data.to_vec()).map_err(bad)?).map_err(io),
                // Opened for each attempt: a retry after a challenge sends it whole again.
                Payload::File(path) => {
                    let f = std::fs::File::open(path).map_err(|e| RegistryError::Io {
                        what: what.to_string(),
                        msg: format!("opening {}: {e}", path.display()),
                    })?;
                    agent.run(b.body(f).map_err(bad)?).map_err(io)
                }
                Payload::None => agent.run(b.body(()).map_err(bad)?).map_err(io),
            }
        };
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(scope)
            .cloned();
        let first_auth = cached.map(|t| format!("Bearer {t}"));
        let had_token = first_auth.is_some();
        let resp = send(first_auth)?;
        if resp.status().as_u16() != 401 {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (kind, params) = parse_challenge(&challenge);
        let auth = match kind.as_str() {
            "bearer" => {
                let t = self.fetch_token(&params, scope, what)?;
                self.tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(scope.to_string(), t.clone());
                format!("Bearer {t}")
            }
            "basic" => match &self.creds {
                Some(c) => basic(c),
                None => {
                    return Err(RegistryError::Unauthorized {
                        host: self.host.clone(),
                        what: what.to_string(),
                    })
                }
            },
            _ if had_token => {
                return Err(RegistryError::Unauthorized {
                    host: self.host.clone(),
                    what: what.to_string(),
                })
            }
            _ => {
                return Err(RegistryError::Unauthorized {
                    host: self.host.clone(),
                    what: what.to_string(),
                })
            }
        };
        let resp = send(Some(auth))?;
        if resp.status().as_u16() == 401 {
            return Err(RegistryError::Unauthorized {
                host: self.host.clone(),
                what: what.to_string(),
            });
        }
        Ok(resp)
    }

    fn status_error(what: &str, resp: ureq::http::Response<ureq::Body>) -> RegistryError {
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .read_to_string()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>()
            .trim()
            .to_string();
        RegistryError::Status {
            what: what.to_string(),
            status,
            body,
        }
    }

    /// Fetches the manifest `reference` (a tag or a digest) of `repo`. When the reference
    /// is a digest, the bytes are checked against it.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest> {
        let what = format!("reading manifest {reference} in {}/{repo}", self.host);
        let accept = ACCEPT_MANIFESTS.join(", ");
        let resp = self.request(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &format!("repository:{repo}:pull"),
            &[("Accept", &accept)],
            &what,
        )?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(RegistryError::ManifestUnknown { what }),
            _ => return Err(Self::status_error(&what, resp)),
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let bytes = resp
            .into_body()
            .with_config()
            .limit(8 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| RegistryError::Io {
                what: what.clone(),
                msg: e.to_string(),
            })?;
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") && digest != reference {
            return Err(RegistryError::Io {
                what,
                msg: format!("manifest digest {digest} does not match the requested {reference}"),
            });
        }
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Streams the blob `digest` of `repo`. The caller verifies the content.
    pub fn get_blob(
        &self,
        repo: &str,
        digest: &str,
    ) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
        let what = format!("fetching blob {digest} from {}/{repo}", self.host);
        let resp = self.request(
            "GET",
            &format!("/v2/{repo}/blobs/{digest}"),
            &format!("repository:{repo}:pull"),
            &[],
            &what,
        )?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(RegistryError::BlobUnknown { what }),
            _ => return Err(Self::status_error(&what, resp)),
        }
        let len = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        Ok((Box::new(reader), len))
    }

    /// GETs `path` and parses its JSON body; 404 is `ManifestUnknown` (a missing repository).
    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        scope: &str,
        what: String,
    ) -> Result<T> {
        let resp = self.request("GET", path, scope, &[], &what)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(RegistryError::ManifestUnknown { what }),
            _ => return Err(Self::status_error(&what, resp)),
        }
        let body = resp
            .into_body()
            .read_to_vec()
            .map_err(|e| RegistryError::Io {
                what: what.clone(),
                msg: e.to_string(),
            })?;
        serde_json::from_slice(&body).map_err(|e| RegistryError::Io {
            what,
            msg: format!("bad answer: {e}"),
        })
    }

    /// The repositories the registry lists (`GET /v2/_catalog`), at most `limit`.
    pub fn catalog(&self, limit: usize) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let c: Catalog = self.get_json(
            &format!("/v2/_catalog?n={limit}"),
            "registry:catalog:*",
            format!("listing the repositories of {}", self.host),
        )?;
        Ok(c.repositories)
    }

    /// The tags of `repo` (`GET /v2/<repo>/tags/list`).
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let t: Tags = self.get_json(
            &format!("/v2/{repo}/tags/list"),
            &format!("repository:{repo}:pull"),
            format!("listing the tags of {}/{repo}", self.host),
        )?;
        Ok(t.tags.unwrap_or_default())
    }

    /// Whether the registry has blob `digest` in `repo` (HEAD).
    pub fn has_blob(&self, repo: &str, digest: &str) -> Result<bool> {
        let what = format!("checking blob {digest} in {}/{repo}", self.host);
        let resp = self.request(
            "HEAD",
            &format!("/v2/{repo}/blobs/{digest}"),
            &format!("repository:{repo}:pull,push"),
            &[],
            &what,
        )?;
        Ok(resp.status().as_u16() == 200)
    }

    /// Asks the registry to link blob `digest` from repository `from` into `repo` without
    /// uploading it (cross-repository mount). True when it did; false when it started an
    /// ordinary upload session instead (which is then left to expire).
    pub fn mount_blob(&self, repo: &str, digest: &str, from: &str) -> Result<bool> {
        let what = format!(
            "mounting blob {digest} from {from} into {}/{repo}",
            self.host
        );
        let resp = self.request_with_body(
            "POST",
            &format!(
                "/v2/{repo}/blobs/uploads/?mount={}&from={}",
                urlencode(digest),
                urlencode(from)
            ),
            &format!("repository:{repo}:pull,push repository:{from}:pull"),
            &[("Content-Length", "0")],
            Some(&[]),
            &what,
        )?;
        Ok(resp.status().as_u16() == 201)
    }

    /// Uploads a blob in one request (POST for a session, then PUT with the digest).
    pub fn put_blob(&self, repo: &str, digest: &str, data: &[u8]) -> Result<()> {
        self.upload(repo, digest, Payload::Bytes(data), data.len() as u64)
    }

    /// Uploads the blob held in the file `path` (streamed, not read into memory).
    pub fn put_blob_file(&self, repo: &str, digest: &str, path: &Path) -> Result<()> {
        let len = std::fs::metadata(path)
            .map_err(|e| RegistryError::Io {
                what: format!("uploading blob {digest}"),
                msg: format!("{}: {e}", path.display()),
            })?
            .len();
        self.upload(repo, digest, Payload::File(path), len)
    }

    fn upload(&self, repo: &str, digest: &str, data: Payload<'_>, size: u64) -> Result<()> {
        let what = format!("uploading blob {digest} to {}/{repo}", self.host);
        let scope = format!("repository:{repo}:pull,push");
        let resp = self.request_with_body(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &scope,
            &[("Content-Length", "0")],
            Some(&[]),
            &what,
        )?;
        if resp.status().as_u16() != 202 {
            return Err(Self::status_error(&what, resp));
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if location.is_empty() {
            return Err(RegistryError::Io {
                what,
                msg: "the registry gave no upload location".into(),
            });
        }
        let scheme = self.scheme()?;
        let mut url = if location.starts_with("http") {
            location
        } else {
            format!("{scheme}://{}{location}", self.host)
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={}", urlencode(digest)));
        let len = size.to_string();
        let resp = self.send_payload(
            "PUT",
            &url,
            &scope,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", &len),
            ],
            data,
            &what,
        )?;
        if resp.status().as_u16() != 201 {
            return Err(Self::status_error(&what, resp));
        }
        Ok(())
    }

    /// Uploads a manifest under `reference` (a tag or its digest).
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let what = format!("writing manifest {reference} to {}/{repo}", self.host);
        let len = bytes.len().to_string();
        let resp = self.request_with_body(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &format!("repository:{repo}:pull,push"),
            &[("Content-Type", media_type), ("Content-Length", &len)],
            Some(bytes),
            &what,
        )?;
        if resp.status().as_u16() != 201 {
            return Err(Self::status_error(&what, resp));
        }
        Ok(sha256(bytes))
    }
}

/// A request body.
#[derive(Clone, Copy)]
enum Payload<'a> {
    None,
    Bytes(&'a [u8]),
    File(&'a Path),
}

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    )
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The default certs.d directories, as containers/image searches them.
pub fn default_cert_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(home) = std::env::var_os("HOME") {
        v.push(Path::new(&home).join(".config/containers/certs.d"));
    }
    v.push(PathBuf::from("/etc/containers/certs.d"));
    v.push(PathBuf::from("/etc/docker/certs.d"));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let (k, p) = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        );
        assert_eq!(k, "bearer");
        assert_eq!(p["realm"], "https://auth.example.com/token");
        assert_eq!(p["service"], "registry.example.com");
        assert_eq!(p["scope"], "repository:a/b:pull");
        let (k, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(k, "basic");
        assert_eq!(p["realm"], "Registry Realm");
    }

    #[test]
    fn url_encoding() {
        assert_eq!(
            urlencode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
