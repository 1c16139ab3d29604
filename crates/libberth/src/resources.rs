//! Resource limits (`--memory`, `--cpus`, `--pids-limit`, ...): parsed and checked at
//! create (and `update`), written into the OCI spec's `linux.resources`, which the
//! runtime applies through cgroups v1 or v2.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// On cgroup v2, the controllers the root cgroup offers (`cgroup.controllers`); None
/// on v1 and hybrid hosts, where the v1 controllers hold the limits.
pub(crate) fn v2_controllers() -> Option<Vec<String>> {
    match berth_oci::runtime::CgroupMode::detect() {
        berth_oci::runtime::CgroupMode::V2 => Some(
            std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// Removes the (empty) cgroup `rel` (a cgroupfs path) from every hierarchy: the v1
/// controllers, a hybrid host's v2 one, or the v2 root. Errors are ignored: cleanup.
pub(crate) fn remove_cgroup_dirs(rel: &str) {
    let rel = rel.trim_start_matches('/');
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let _ = std::fs::remove_dir(e.path().join(rel));
        }
    }
    let _ = std::fs::remove_dir(std::path::Path::new("/sys/fs/cgroup").join(rel));
}

/// The kernel refuses smaller memory limits (and Docker checks the same).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// A container's limits. `None` (or empty) is "not set".
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// Memory plus swap; -1 is unlimited.
    pub memory_swap: Option<i64>,
    /// `--cpus` × 10^9.
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// -1 or 0 is unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub oom_kill_disable: bool,
    pub oom_score_adj: Option<i32>,
}

/// The flags as given (strings, so that `update` and `create` share the parsing).
#[derive(Debug, Clone, Default)]
pub struct ResourceFlags {
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub oom_kill_disable: bool,
    pub oom_score_adj: Option<i32>,
}

/// `512m`, `1g`, `100000`, `1.5g` (bytes; b/k/m/g/t, case-insensitive, optional `b`).
pub fn parse_size(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1i64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0 && v.is_finite()).then_some((v * mult as f64) as i64)
}

fn size(what: &str, s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    parse_size(s)
        .ok_or_else(|| Error::InvalidArg(format!("invalid value for {what}: invalid size: '{s}'")))
}

fn cpu_list(what: &str, s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && s.split(',').all(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            matches!((a.parse::<u32>(), b.parse::<u32>()), (Ok(a), Ok(b)) if a <= b)
        });
    if !ok {
        return Err(Error::InvalidArg(format!(
            "invalid value for {what}: {s:?} is not a list of numbers and ranges (0-3,5)"
        )));
    }
    Ok(s.to_string())
}

impl Resources {
    /// `flags` applied over `self` (create starts from the default; `update` from the
    /// container's), then checked.
    pub fn with_flags(&self, f: &ResourceFlags) -> Result<Resources> {
        let mut r = self.clone();
        if let Some(m) = &f.memory {
            r.memory = Some(size("memory", m)?);
        }
        if let Some(m) = &f.memory_reservation {
            r.memory_reservation = Some(size("memory-reservation", m)?);
        }
        if let Some(m) = &f.memory_swap {
            r.memory_swap = Some(size("memory-swap", m)?);
        }
        if let Some(c) = &f.cpus {
            let v: f64 = c.parse().map_err(|_| {
                Error::InvalidArg(format!("invalid value for cpus: {c:?} is not a number"))
            })?;
            r.nano_cpus = Some((v * 1e9).round() as i64);
        }
        if f.cpu_shares.is_some() {
            r.cpu_shares = f.cpu_shares;
        }
        if f.cpu_quota.is_some() {
            r.cpu_quota = f.cpu_quota;
        }
        if f.cpu_period.is_some() {
            r.cpu_period = f.cpu_period;
        }
        if let Some(c) = &f.cpuset_cpus {
            r.cpuset_cpus = cpu_list("cpuset-cpus", c)?;
        }
        if let Some(c) = &f.cpuset_mems {
            r.cpuset_mems = cpu_list("cpuset-mems", c)?;
        }
        if f.pids_limit.is_some() {
            r.pids_limit = f.pids_limit;
        }
        if f.blkio_weight.is_some() {
            r.blkio_weight = f.blkio_weight;
        }
        r.oom_kill_disable |= f.oom_kill_disable;
        if f.oom_score_adj.is_some() {
            r.oom_score_adj = f.oom_score_adj;
        }
        r.check()?;
        if let Some(avail) = v2_controllers() {
            if let Some((flag, ctrl)) = r.missing_controller(&avail) {
                return Err(Error::InvalidArg(format!(
                    "{flag} cannot be enforced: the {ctrl} controller is not available in this cgroup v2 hierarchy (it has: {})",
                    if avail.is_empty() { "none".to_string() } else { avail.join(" ") }
                )));
            }
        }
        Ok(r)
    }

    /// `linux.resources` for the runtime: [`Self::oci`] with Podman's default pids limit
    /// (containers.conf `pids_limit`) when none is set, unless a v2 hierarchy has no
    /// pids controller (explicit limits are checked by [`Self::with_flags`]).
    pub(crate) fn for_runtime(&self) -> Map<String, Value> {
        let mut r = self.clone();
        let pids = v2_controllers().is_none_or(|avail| avail.iter().any(|a| a == "pids"));
        if r.pids_limit.is_none() && pids {
            r.pids_limit = Some(crate::containers::DEFAULT_PIDS_LIMIT);
        }
        r.oci()
    }

    /// The first limit (its flag and the v2 controller it needs) that a v2 hierarchy
    /// with only the controllers `avail` cannot hold.
    pub(crate) fn missing_controller(
        &self,
        avail: &[String],
    ) -> Option<(&'static str, &'static str)> {
        let has = |c: &str| avail.iter().any(|a| a == c);
        let needs: [(bool, &str, &str); 6] = [
            (
                self.memory.is_some()
                    || self.memory_reservation.is_some()
                    || self.memory_swap.is_some()
                    || self.oom_kill_disable,
                "--memory",
                "memory",
            ),
            (
                self.nano_cpus.is_some()
                    || self.cpu_shares.is_some()
                    || self.cpu_quota.is_some()
                    || self.cpu_period.is_some(),
                "--cpus",
                "cpu",
            ),
            (!self.cpuset_cpus.is_empty(), "--cpuset-cpus", "cpuset"),
            (!self.cpuset_mems.is_empty(), "--cpuset-mems", "cpuset"),
            (
                self.pids_limit.is_some_and(|p| p > 0),
                "--pids-limit",
                "pids",
            ),
            (self.blkio_weight.is_some(), "--blkio-weight", "io"),
        ];
        needs
            .into_iter()
            .find(|(set, _, c)| *set && !has(c))
            .map(|(_, flag, c)| (flag, c))
    }

    /// Refuses what the kernel would refuse, with a clear message (Docker's wording).
    pub fn check(&self) -> Result<()> {
        if let Some(m) = self.memory.filter(|m| *m > 0) {
            if m < MIN_MEMORY {
                return Err(Error::InvalidArg(
                    "minimum memory limit allowed is 6MB".into(),
                ));
            }
            if let Some(swap) = self.memory_swap.filter(|s| *s > 0) {
                if swap < m {
                    return Err(Error::InvalidArg(
                        "minimum memoryswap limit should be larger than memory limit, see usage"
                            .into(),
                    ));
                }
            }
            if let Some(res) = self.memory_reservation.filter(|r| *r > 0) {
                if res > m {
                    return Err(Error::InvalidArg(
                        "minimum memory limit can not be less than memory reservation limit, see usage".into(),
                    ));
                }
            }
        } else if self.memory_swap.is_some_and(|s| s > 0) {
            return Err(Error::InvalidArg(
                "you should always set the memory limit when using the memoryswap limit, see usage"
                    .into(),
            ));
        }
        if let Some(res) = self.memory_reservation.filter(|r| *r > 0) {
            if res < MIN_MEMORY {
                return Err(Error::InvalidArg(
                    "minimum memory reservation allowed is 6MB".into(),
                ));
            }
        }
        if let Some(n) = self.nano_cpus {
            let host = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as i64;
            if n < 10_000_000 || n > host * 1_000_000_000 {
                return Err(Error::InvalidArg(format!(
                    "range of CPUs is from 0.01 to {host}.00, as there are only {host} CPUs available"
                )));
            }
            if self.cpu_quota.is_some() || self.cpu_period.is_some() {
                return Err(Error::InvalidArg(
                    "conflicting options: --cpus and --cpu-period/--cpu-quota cannot both be given"
                        .into(),
                ));
            }
        }
        if let Some(p) = self.cpu_period {
            if !(1000..=1_000_000).contains(&p) {
                return Err(Error::InvalidArg(
                    "cpu period must be between 1000 and 1000000 microseconds".into(),
                ));
            }
        }
        if let Some(q) = self.cpu_quota.filter(|q| *q > 0) {
            if q < 1000 {
                return Err(Error::InvalidArg(
                    "cpu quota must be at least 1000 microseconds".into(),
                ));
            }
        }
        if let Some(w) = self.blkio_weight.filter(|w| *w != 0) {
            if !(10..=1000).contains(&w) {
                return Err(Error::InvalidArg(
                    "range of blkio weight is from 10 to 1000".into(),
                ));
            }
        }
        if let Some(a) = self.oom_score_adj {
            if !(-1000..=1000).contains(&a) {
                return Err(Error::InvalidArg(format!(
                    "oom_score_adj {a} is out of range: it must be between -1000 and 1000"
                )));
            }
        }
        Ok(())
    }

    /// The OCI `linux.resources` fields these limits set (devices are the caller's).
    pub fn oci(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let mut mem = Map::new();
        if let Some(m) = self.memory.filter(|m| *m > 0) {
            mem.insert("limit".into(), json!(m));
        }
        if let Some(r) = self.memory_reservation.filter(|r| *r > 0) {
            mem.insert("reservation".into(), json!(r));
        }
        if let Some(s) = self.memory_swap.filter(|s| *s != 0) {
            mem.insert("swap".into(), json!(s));
        }
        if self.oom_kill_disable {
            mem.insert("disableOOMKiller".into(), json!(true));
        }
        if !mem.is_empty() {
            out.insert("memory".into(), Value::Object(mem));
        }
        let mut cpu = Map::new();
        if let Some(s) = self.cpu_shares.filter(|s| *s > 0) {
            cpu.insert("shares".into(), json!(s));
        }
        let (quota, period) = match self.nano_cpus {
            Some(n) => (Some(n / 10_000), Some(100_000)),
            None => (self.cpu_quota, self.cpu_period),
        };
        if let Some(q) = quota.filter(|q| *q != 0) {
            cpu.insert("quota".into(), json!(q));
        }
        if let Some(p) = period.filter(|p| *p > 0) {
            cpu.insert("period".into(), json!(p));
        }
        if !self.cpuset_cpus.is_empty() {
            cpu.insert("cpus".into(), json!(self.cpuset_cpus));
        }
        if !self.cpuset_mems.is_empty() {
            cpu.insert("mems".into(), json!(self.cpuset_mems));
        }
        if !cpu.is_empty() {
            out.insert("cpu".into(), Value::Object(cpu));
        }
        if let Some(p) = self.pids_limit.filter(|p| *p != 0) {
            out.insert("pids".into(), json!({"limit": p}));
        }
        if let Some(w) = self.blkio_weight.filter(|w| *w > 0) {
            out.insert("blockIO".into(), json!({"weight": w}));
        }
        out
    }

    /// `inspect`'s HostConfig fields for these limits, as Podman shows them.
    pub fn host_config(&self) -> Map<String, Value> {
        let (quota, period) = match self.nano_cpus {
            Some(n) => (n / 10_000, 100_000),
            None => (self.cpu_quota.unwrap_or(0), self.cpu_period.unwrap_or(0)),
        };
        let v = json!({
            "Memory": self.memory.unwrap_or(0),
            "MemoryReservation": self.memory_reservation.unwrap_or(0),
            "MemorySwap": self.memory_swap.unwrap_or(0),
            "NanoCpus": self.nano_cpus.unwrap_or(0),
            "CpuShares": self.cpu_shares.unwrap_or(0),
            "CpuQuota": quota,
            "CpuPeriod": period,
            "CpusetCpus": self.cpuset_cpus,
            "CpusetMems": self.cpuset_mems,
            "PidsLimit": self.pids_limit.unwrap_or(0),
            "BlkioWeight": self.blkio_weight.unwrap_or(0),
            "OomKillDisable": self.oom_kill_disable,
            "OomScoreAdj": self.oom_score_adj.unwrap_or(0),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

impl crate::local::LocalEngine {
    /// `update`: new limits for a container, applied at once when it runs.
    pub fn container_update(&self, key: &str, flags: &ResourceFlags) -> Result<String> {
        let id = self.lookup_container(key)?;
        let _l = self.lock(&id)?;
        let rec = self.record(&id)?;
        crate::containers::require_cgroup(&rec, "update its limits")?;
        let new = rec.config.resources.with_flags(flags)?;
        let live = matches!(
            self.live_state(&rec).0.as_str(),
            crate::types::state::RUNNING | crate::types::state::PAUSED
        );
        if live {
            self.runtime()?
                .update(&id, &Value::Object(new.for_runtime()))?;
        }
        let mut cfg = rec.config.clone();
        cfg.resources = new;
        self.save_config(&id, &cfg)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_v2_controller_they_need() {
        let r = |f: ResourceFlags| Resources {
            memory: f.memory.map(|_| 64 << 20),
            pids_limit: f.pids_limit,
            cpuset_cpus: f.cpuset_cpus.unwrap_or_default(),
            ..Default::default()
        };
        let all: Vec<String> = ["cpuset", "cpu", "io", "memory", "pids"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let none: Vec<String> = vec!["hugetlb".into()];
        let mem = r(ResourceFlags {
            memory: Some("64m".into()),
            ..Default::default()
        });
        assert_eq!(mem.missing_controller(&all), None);
        assert_eq!(mem.missing_controller(&none), Some(("--memory", "memory")));
        let cpus = r(ResourceFlags {
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        });
        assert_eq!(
            cpus.missing_controller(&none),
            Some(("--cpuset-cpus", "cpuset"))
        );
        // Unlimited pids need no controller; nothing set needs none.
        let unlimited = r(ResourceFlags {
            pids_limit: Some(-1),
            ..Default::default()
        });
        assert_eq!(unlimited.missing_controller(&none), None);
        assert_eq!(Resources::default().missing_controller(&[]), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("1gb"), Some(1 << 30));
        assert_eq!(parse_size("100000"), Some(100000));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("bogus"), None);
        assert_eq!(parse_size("-5m"), None);
    }

    #[test]
    fn flags_and_checks() {
        let f = ResourceFlags {
            memory: Some("64m".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some(50),
            ..Default::default()
        };
        let r = Resources::default().with_flags(&f).unwrap();
        assert_eq!(r.memory, Some(64 << 20));
        assert_eq!(r.nano_cpus, Some(500_000_000));
        let oci = r.oci();
        assert_eq!(oci["memory"]["limit"], 64 << 20);
        assert_eq!(oci["cpu"]["quota"], 50_000);
        assert_eq!(oci["cpu"]["period"], 100_000);
        assert_eq!(oci["pids"]["limit"], 50);
        let hc = r.host_config();
        assert_eq!(hc["CpuQuota"], 50_000);
        let e = |f: ResourceFlags| Resources::default().with_flags(&f).unwrap_err().to_string();
        assert!(e(ResourceFlags {
            memory: Some("1m".into()),
            ..Default::default()
        })
        .contains("6MB"));
        assert!(e(ResourceFlags {
            memory: Some("bogus".into()),
            ..Default::default()
        })
        .contains("invalid size: 'bogus'"));
        assert!(e(ResourceFlags {
            cpus: Some("9999".into()),
            ..Default::default()
        })
        .contains("range of CPUs"));
        assert!(e(ResourceFlags {
            cpuset_cpus: Some("a-b".into()),
            ..Default::default()
        })
        .contains("cpuset-cpus"));
        assert!(e(ResourceFlags {
            memory: Some("64m".into()),
            memory_swap: Some("32m".into()),
            ..Default::default()
        })
        .contains("memoryswap"));
    }
}
