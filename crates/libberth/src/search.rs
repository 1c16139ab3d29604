//! `search`: repositories in a registry's catalog whose name contains the term, or the
//! tags of one repository (`--list-tags`).

use crate::error::{Error, Result};
use crate::local::LocalEngine;
use crate::pull::PullOptions;
use berth_registry::{Client, ClientOptions};
use serde::Serialize;

/// One row of `search`, with Podman's JSON field names.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    #[serde(rename = "Index")]
    pub index: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Stars")]
    pub stars: u32,
    #[serde(rename = "Official")]
    pub official: String,
    #[serde(rename = "Automated")]
    pub automated: String,
    #[serde(rename = "Tag")]
    pub tag: String,
}

fn is_host(s: &str) -> bool {
    s.contains('.') || s.contains(':') || s == "localhost"
}

impl LocalEngine {
    pub fn search(
        &self,
        term: &str,
        limit: usize,
        list_tags: bool,
        o: &PullOptions,
    ) -> Result<Vec<SearchResult>> {
        let regs = berth_image::registries::RegistriesConfig::load()?;
        let term = term.strip_prefix("docker://").unwrap_or(term);
        let (registries, term) = match term.split_once('/') {
            Some((host, rest)) if is_host(host) => (vec![host.to_string()], rest.to_string()),
            _ => (regs.unqualified_search_registries.clone(), term.to_string()),
        };
        if registries.is_empty() {
            return Err(Error::InvalidArg(format!(
                "{term}: no registry to search: name one (host[:port]/term) or set unqualified-search-registries in registries.conf"
            )));
        }
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for host in &registries {
            regs.check_blocked(host)?;
            let client = Client::new(
                host,
                &ClientOptions {
                    tls_verify: o.tls_verify.unwrap_or(!regs.insecure(host)),
                    cert_dirs: berth_registry::default_cert_dirs(),
                    cert_dir: o.cert_dir.clone(),
                    credentials: o.credentials.clone(),
                    user_agent: String::new(),
                },
            )
            .map_err(|e| Error::Other(e.to_string()))?;
            let row = |name: String, tag: String| SearchResult {
                index: host.clone(),
                name,
                description: String::new(),
                stars: 0,
                official: String::new(),
                automated: String::new(),
                tag,
            };
            if list_tags {
                let repo = term.split([':', '@']).next().unwrap_or(&term).to_string();
                match client.tags(&repo) {
                    Ok(tags) => out.extend(
                        tags.into_iter()
                            .take(limit)
                            .map(|t| row(format!("{host}/{repo}"), t)),
                    ),
                    Err(e) => errors.push(e.to_string()),
                }
                continue;
            }
            match client.catalog(1000) {
                Ok(repos) => {
                    let want = term.to_lowercase();
                    out.extend(
                        repos
                            .into_iter()
                            .filter(|r| r.to_lowercase().contains(&want))
                            .take(limit)
                            .map(|r| row(format!("{host}/{r}"), String::new())),
                    );
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if out.is_empty() && !errors.is_empty() {
            return Err(Error::Other(errors.join("; ")));
        }
        Ok(out)
    }
}
