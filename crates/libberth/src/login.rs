//! `login` / `logout`: credentials checked against the registry, then kept in auth.json
//! where Podman keeps them (`--authfile`, `REGISTRY_AUTH_FILE`, else
//! `${XDG_RUNTIME_DIR}/containers/auth.json`).

use crate::error::{Error, Result};
use crate::local::LocalEngine;
use crate::pull::PullOptions;
use berth_image::auth;
use berth_registry::{Client, ClientOptions, Credentials};
use std::path::PathBuf;

fn auth_file(authfile: Option<&std::path::Path>) -> Result<PathBuf> {
    Ok(auth::auth_file_for_write(
        authfile,
        &auth::AuthEnv::from_process(),
    )?)
}

impl LocalEngine {
    /// Checks `user`/`password` against `registry` (GET /v2/) and stores them.
    pub fn login(&self, registry: &str, user: &str, password: &str, o: &PullOptions) -> Result<()> {
        let (key, host) = auth::parse_credentials_key(registry, true)?;
        let regs = berth_image::registries::RegistriesConfig::load()?;
        let client = Client::new(
            &host,
            &ClientOptions {
                tls_verify: o.tls_verify.unwrap_or(!regs.insecure(&host)),
                cert_dirs: berth_registry::default_cert_dirs(),
                cert_dir: o.cert_dir.clone(),
                credentials: Some(Credentials {
                    username: user.to_string(),
                    password: password.to_string(),
                }),
                user_agent: String::new(),
            },
        )
        .map_err(|e| Error::Other(e.to_string()))?;
        client.ping().map_err(|e| match e {
            berth_registry::RegistryError::Unauthorized { .. } => Error::Other(format!(
                "logging into {registry:?}: invalid username/password"
            )),
            other => Error::Other(other.to_string()),
        })?;
        auth::set_credentials(&auth_file(o.authfile.as_deref())?, &key, user, password)?;
        Ok(())
    }

    /// The user name stored for `registry` (`login --get-login`).
    pub fn login_user(&self, registry: &str, o: &PullOptions) -> Result<String> {
        let (key, _) = auth::parse_credentials_key(registry, true)?;
        let path = auth_file(o.authfile.as_deref())?;
        let found = auth::get_credentials(&key, Some(&path), &[])?;
        match found {
            Some(c) if !c.username.is_empty() => Ok(c.username),
            _ => Err(Error::Other(format!("not logged into {registry}"))),
        }
    }

    /// Removes the credentials for `registry`, or all of them.
    pub fn logout(&self, registry: Option<&str>, o: &PullOptions) -> Result<()> {
        let path = auth_file(o.authfile.as_deref())?;
        match registry {
            None => auth::remove_all_credentials(&path)?,
            Some(r) => {
                let (key, _) = auth::parse_credentials_key(r, true)?;
                auth::remove_credentials(&path, &key)?;
            }
        }
        Ok(())
    }
}
