//! The default seccomp profile (containers-common's `seccomp.json`, the one Podman uses),
//! converted from its Docker format into the OCI `linux.seccomp` section.

use serde::Deserialize;
use serde_json::{json, Value};

const DEFAULT_PROFILE: &str = include_str!("../assets/seccomp.json");

/// `null` in the profile means an empty list.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "null_as_empty")]
    syscalls: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    args: Vec<Value>,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Deserialize, Default)]
struct Filter {
    #[serde(default, deserialize_with = "null_as_empty")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    arches: Vec<String>,
}

/// Go's name for this machine's architecture, as the profile's `arches` use it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn scmp_arch(go: &str) -> &'static str {
    match go {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "386" => "SCMP_ARCH_X86",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// The default profile for a container holding capabilities `caps` (`CAP_...`).
pub fn default_profile(caps: &[String]) -> Value {
    convert(DEFAULT_PROFILE, caps).expect("the built-in seccomp profile is valid")
}

/// Converts a profile in containers-common format into the OCI form, keeping the rules that
/// apply to this architecture and capability set (as containers/common does).
pub fn convert(profile: &str, caps: &[String]) -> Result<Value, serde_json::Error> {
    let p: Profile = serde_json::from_str(profile)?;
    let arch = go_arch();
    let native = scmp_arch(arch);
    let mut architectures = Vec::new();
    for m in &p.arch_map {
        if m.architecture == native {
            architectures.push(m.architecture.clone());
            architectures.extend(m.sub_architectures.iter().cloned());
        }
    }
    let has = |c: &String| caps.iter().any(|x| x == c);
    let mut syscalls = Vec::new();
    for r in p.syscalls {
        if !r.includes.arches.is_empty() && !r.includes.arches.iter().any(|a| a == arch) {
            continue;
        }
        if !r.includes.caps.iter().all(has) {
            continue;
        }
        if r.excludes.arches.iter().any(|a| a == arch) || r.excludes.caps.iter().any(has) {
            continue;
        }
        let mut rule = json!({"names": r.names, "action": r.action});
        if !r.args.is_empty() {
            rule["args"] = Value::Array(r.args);
        }
        if let Some(e) = r.errno_ret {
            rule["errnoRet"] = json!(e);
        }
        syscalls.push(rule);
    }
    let mut out = json!({
        "defaultAction": p.default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The actions of the rules that name `syscall`.
    fn actions(v: &Value, syscall: &str) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == syscall))
            .map(|r| r["action"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn sys_admin_rules_follow_the_capability() {
        let plain = default_profile(&[]);
        let admin = default_profile(&["CAP_SYS_ADMIN".to_string()]);
        assert!(!actions(&plain, "bpf").contains(&"SCMP_ACT_ALLOW".to_string()));
        assert!(actions(&admin, "bpf").contains(&"SCMP_ACT_ALLOW".to_string()));
        assert_eq!(plain["defaultAction"], "SCMP_ACT_ERRNO");
        if go_arch() == "amd64" {
            assert!(plain["architectures"]
                .as_array()
                .unwrap()
                .contains(&json!("SCMP_ARCH_X86_64")));
        }
    }
}
