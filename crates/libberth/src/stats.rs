//! `stats`: a container's resource usage read from its cgroup (v1 or v2) and its network
//! namespace, computed as Podman 4.3 computes it (libpod/stats.go).

use crate::error::Result;
use crate::local::LocalEngine;
use crate::types::state;
use berth_oci::runtime::CgroupMode;
use serde::{Deserialize, Serialize};

/// One sample, with Podman's `define.ContainerStats` field names (the libpod API's JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerStats {
    #[serde(rename = "AvgCPU")]
    pub avg_cpu: f64,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "PerCPU")]
    pub per_cpu: Vec<u64>,
    /// CPU % over the interval since the previous sample (or since the start).
    #[serde(rename = "CPU")]
    pub cpu: f64,
    #[serde(rename = "CPUNano")]
    pub cpu_nano: u64,
    #[serde(rename = "CPUSystemNano")]
    pub cpu_system_nano: u64,
    /// Wall clock of the sample, Unix nanoseconds.
    #[serde(rename = "SystemNano")]
    pub system_nano: u64,
    #[serde(rename = "MemUsage")]
    pub mem_usage: u64,
    #[serde(rename = "MemLimit")]
    pub mem_limit: u64,
    #[serde(rename = "MemPerc")]
    pub mem_perc: f64,
    #[serde(rename = "NetInput")]
    pub net_input: u64,
    #[serde(rename = "NetOutput")]
    pub net_output: u64,
    #[serde(rename = "BlockInput")]
    pub block_input: u64,
    #[serde(rename = "BlockOutput")]
    pub block_output: u64,
    #[serde(rename = "PIDs")]
    pub pids: u64,
    /// CPU time used, nanoseconds (Podman's UpTime, a Go Duration).
    #[serde(rename = "UpTime")]
    pub up_time: u64,
    #[serde(rename = "Duration")]
    pub duration: u64,
    /// Samples averaged into `avg_cpu` so far.
    #[serde(skip)]
    pub data_points: u64,
}

/// What the cgroup says.
#[derive(Debug, Default)]
struct CgroupSample {
    cpu_total: u64,
    cpu_kernel: u64,
    per_cpu: Vec<u64>,
    mem_usage: u64,
    pids: u64,
    block_read: u64,
    block_write: u64,
}

fn read(p: &str) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn read_u64(p: &str) -> Option<u64> {
    read(p)?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file ("key value" lines: memory.stat, cpu.stat).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn sample_v1(rel: &str) -> CgroupSample {
    let mut s = CgroupSample::default();
    let cpuacct = ["cpuacct", "cpu,cpuacct", "cpu"]
        .iter()
        .map(|c| format!("/sys/fs/cgroup/{c}/{rel}"))
        .find(|d| std::path::Path::new(&format!("{d}/cpuacct.usage")).exists())
        .unwrap_or_default();
    s.cpu_total = read_u64(&format!("{cpuacct}/cpuacct.usage")).unwrap_or(0);
    s.per_cpu = read(&format!("{cpuacct}/cpuacct.usage_percpu"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    s.cpu_kernel = read_u64(&format!("{cpuacct}/cpuacct.usage_sys")).unwrap_or(0);
    let mem = format!("/sys/fs/cgroup/memory/{rel}");
    let usage = read_u64(&format!("{mem}/memory.usage_in_bytes")).unwrap_or(0);
    let inactive = read(&format!("{mem}/memory.stat"))
        .and_then(|t| keyed(&t, "total_inactive_file"))
        .unwrap_or(0);
    s.mem_usage = usage.saturating_sub(inactive);
    s.pids = read_u64(&format!("/sys/fs/cgroup/pids/{rel}/pids.current")).unwrap_or(0);
    let blkio = format!("/sys/fs/cgroup/blkio/{rel}");
    // "MAJ:MIN Op bytes" lines; the non-throttle file is empty without CFQ/BFQ.
    for f in [
        "blkio.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes",
    ] {
        let Some(text) = read(&format!("{blkio}/{f}")) else {
            continue;
        };
        let mut any = false;
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                continue;
            }
            any = true;
            let v: u64 = f[2].parse().unwrap_or(0);
            match f[1].to_ascii_lowercase().as_str() {
                "read" => s.block_read += v,
                "write" => s.block_write += v,
                _ => {}
            }
        }
        if any {
            break;
        }
    }
    s
}

fn sample_v2(rel: &str) -> CgroupSample {
    sample_v2_at(&format!("/sys/fs/cgroup/{rel}"))
}

/// A v2 cgroup's readings from its directory `dir`.
fn sample_v2_at(dir: &str) -> CgroupSample {
    let mut s = CgroupSample::default();
    let cpu = read(&format!("{dir}/cpu.stat")).unwrap_or_default();
    s.cpu_total = keyed(&cpu, "usage_usec").unwrap_or(0) * 1000;
    s.cpu_kernel = keyed(&cpu, "system_usec").unwrap_or(0) * 1000;
    let current = read_u64(&format!("{dir}/memory.current")).unwrap_or(0);
    let inactive = read(&format!("{dir}/memory.stat"))
        .and_then(|t| keyed(&t, "inactive_file"))
        .unwrap_or(0);
    s.mem_usage = current.saturating_sub(inactive);
    s.pids = read_u64(&format!("{dir}/pids.current")).unwrap_or(0);
    // "MAJ:MIN rbytes=N wbytes=N rios=N ..." per device.
    for l in read(&format!("{dir}/io.stat")).unwrap_or_default().lines() {
        for kv in l.split_whitespace().skip(1) {
            match kv.split_once('=') {
                Some(("rbytes", v)) => s.block_read += v.parse::<u64>().unwrap_or(0),
                Some(("wbytes", v)) => s.block_write += v.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    s
}

/// Bytes (received, transmitted) on every interface but lo in `pid`'s network namespace.
fn net_io(pid: i32) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for l in read(&format!("/proc/{pid}/net/dev"))
        .unwrap_or_default()
        .lines()
        .skip(2)
    {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

/// The host's RAM in bytes (Podman's limit for a container without --memory).
fn host_memory() -> u64 {
    // SAFETY: sysinfo only writes into the zeroed struct we pass.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `si` is a valid, writable sysinfo struct.
    if unsafe { libc::sysinfo(&mut si) } != 0 {
        return u64::MAX;
    }
    (si.totalram as u64).saturating_mul(si.mem_unit.max(1) as u64)
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl LocalEngine {
    /// One stats sample of a container; `prev` is its previous sample in this stream
    /// (None: the first, whose CPU % is the average since the container started).
    /// A container that is not running yields zeros, as Podman 4.3 reports it.
    pub fn container_stats(
        &self,
        key: &str,
        prev: Option<&ContainerStats>,
    ) -> Result<ContainerStats> {
        let id = self.lookup_container(key)?;
        let rec = self.record(&id)?;
        let mut out = ContainerStats {
            container_id: id.clone(),
            name: rec.name.clone(),
            ..Default::default()
        };
        let (st, _, _) = self.live_state(&rec);
        // Without a cgroup (--cgroups=disabled) there is nothing to read: zeros.
        if (st != state::RUNNING && st != state::PAUSED) || rec.config.no_cgroups {
            return Ok(out);
        }
        let rel = self.cgroups_path(&rec);
        let rel = rel.trim_start_matches('/');
        let cg = match CgroupMode::detect() {
            CgroupMode::V2 => sample_v2(rel),
            CgroupMode::V1 { .. } => sample_v1(rel),
        };
        let started = chrono::DateTime::parse_from_rfc3339(&rec.started_at)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0) as u64;
        let (prev_cpu, prev_time, prev_avg, prev_points) = match prev {
            Some(p) if p.cpu_nano > 0 => (p.cpu_nano, p.system_nano, p.avg_cpu, p.data_points),
            Some(p) => (0, started, p.avg_cpu, p.data_points),
            None => (0, started, 0.0, 0),
        };
        let now = now_nanos();
        let cpu_delta = cg.cpu_total.saturating_sub(prev_cpu) as f64;
        let time_delta = now.saturating_sub(prev_time) as f64;
        out.cpu = if cpu_delta > 0.0 && time_delta > 0.0 {
            cpu_delta / time_delta * 100.0
        } else {
            0.0
        };
        out.avg_cpu = (prev_avg * prev_points as f64 + out.cpu) / (prev_points as f64 + 1.0);
        out.data_points = prev_points + 1;
        out.cpu_nano = cg.cpu_total;
        out.cpu_system_nano = cg.cpu_kernel;
        out.system_nano = now;
        out.per_cpu = cg.per_cpu;
        out.duration = cg.cpu_total;
        out.up_time = cg.cpu_total;
        out.mem_usage = cg.mem_usage;
        let physical = host_memory();
        out.mem_limit = match rec.config.resources.memory {
            Some(m) if m > 0 && (m as u64) < physical => m as u64,
            _ => physical,
        };
        out.mem_perc = out.mem_usage as f64 / out.mem_limit as f64 * 100.0;
        out.pids = cg.pids;
        out.block_input = cg.block_read;
        out.block_output = cg.block_write;
        if rec.pid > 0 {
            // Podman 4.3 reports the interface's transmitted bytes as input and the
            // received ones as output; we print what it prints.
            let (rx, tx) = net_io(rec.pid);
            out.net_input = tx;
            out.net_output = rx;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    /// The v2 files as the kernel writes them (Documentation/admin-guide/cgroup-v2.rst).
    #[test]
    fn v2_readings() {
        let d = tempfile::tempdir().unwrap();
        let w = |f: &str, t: &str| std::fs::write(d.path().join(f), t).unwrap();
        w(
            "cpu.stat",
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\n",
        );
        w("memory.current", "10485760\n");
        w(
            "memory.stat",
            "anon 4096\nfile 8192\nactive_file 4096\ninactive_file 2097152\n",
        );
        w("pids.current", "3\n");
        w(
            "io.stat",
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n",
        );
        let s = super::sample_v2_at(d.path().to_str().unwrap());
        assert_eq!(s.cpu_total, 2_500_000);
        assert_eq!(s.cpu_kernel, 500_000);
        // Memory usage leaves out the inactive file cache, as Podman and Docker do.
        assert_eq!(s.mem_usage, 10485760 - 2097152);
        assert_eq!(s.pids, 3);
        assert_eq!((s.block_read, s.block_write), (4097, 8194));
    }

    #[test]
    fn keyed_files() {
        let t = "cache 10\ntotal_inactive_file 4096\ninactive_file 7\n";
        assert_eq!(super::keyed(t, "total_inactive_file"), Some(4096));
        assert_eq!(super::keyed(t, "inactive_file"), Some(7));
        assert_eq!(super::keyed(t, "nope"), None);
    }
}
