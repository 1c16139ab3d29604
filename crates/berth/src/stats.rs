//! `berth stats`: resource usage of containers, once or every interval, as Podman 4.3 prints it.

use crate::cli::StatsArgs;
use crate::format::{json_indent, print_rows};
use anyhow::{anyhow, bail, Result};
use libberth::query::go_duration;
use libberth::stats::ContainerStats;
use libberth::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDS}}\t{{.UpTime}}\t{{.AVGCPU}}";

fn header(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "ID",
        "Pod" => "POD",
        "CID" => "CID",
        "UpTime" => "CPU TIME",
        "AVGCPU" => "AVG CPU %",
        "CPUPerc" => "CPU %",
        "MemUsage" | "MemUsageBytes" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET IO",
        "BlockIO" => "BLOCK IO",
        "PIDS" => "PIDS",
        _ => return None,
    })
}

/// Go's `%.4g` followed by a unit, as go-units prints sizes ("368.6kB", "64MiB", "0B").
fn units(bytes: u64, base: f64, names: &[&str]) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i < names.len() - 1 {
        v /= base;
        i += 1;
    }
    let digits = if v < 1.0 {
        3
    } else {
        3usize.saturating_sub(v.log10().floor() as usize)
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", names[i])
}

fn human(bytes: u64) -> String {
    units(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"])
}

fn binary(bytes: u64) -> String {
    units(
        bytes,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
    )
}

fn percent(f: f64) -> String {
    format!("{f:.2}%")
}

fn duration(ns: u64) -> String {
    go_duration(ns as f64 / 1e9)
}

/// The fields a `--format` template sees: Podman's ContainerStats and its report methods.
fn template_value(s: &ContainerStats, no_trunc: bool) -> Value {
    let id = if no_trunc {
        s.container_id.clone()
    } else {
        s.container_id.chars().take(12).collect()
    };
    json!({
        "ID": id,
        "ContainerID": s.container_id,
        "Name": s.name,
        "CPU": s.cpu,
        "CPUPerc": percent(s.cpu),
        "AVGCPU": percent(s.avg_cpu),
        "AvgCPU": percent(s.avg_cpu),
        "CPUNano": s.cpu_nano,
        "CPUSystemNano": s.cpu_system_nano,
        "SystemNano": s.system_nano,
        "PerCPU": s.per_cpu,
        "MemUsage": format!("{} / {}", human(s.mem_usage), human(s.mem_limit)),
        "MemUsageBytes": format!("{} / {}", binary(s.mem_usage), binary(s.mem_limit)),
        "MemLimit": s.mem_limit,
        "MemPerc": percent(s.mem_perc),
        "NetInput": s.net_input,
        "NetOutput": s.net_output,
        "NetIO": format!("{} / {}", human(s.net_input), human(s.net_output)),
        "BlockInput": s.block_input,
        "BlockOutput": s.block_output,
        "BlockIO": format!("{} / {}", human(s.block_input), human(s.block_output)),
        "PIDs": s.pids,
        "PIDS": s.pids.to_string(),
        "UpTime": duration(s.up_time),
        "Up": duration(s.up_time),
        "Duration": s.duration,
    })
}

/// `--format json`: Podman's statsOutputParams, indented by one space.
fn json_value(s: &ContainerStats, no_trunc: bool) -> Value {
    let t = template_value(s, no_trunc);
    json!({
        "id": t["ID"],
        "name": s.name,
        "cpu_time": t["UpTime"],
        "cpu_percent": t["CPUPerc"],
        "avg_cpu": t["AVGCPU"],
        "mem_usage": t["MemUsage"],
        "mem_percent": t["MemPerc"],
        "net_io": t["NetIO"],
        "block_io": t["BlockIO"],
        "pids": t["PIDS"],
    })
}

fn is_json(format: &str) -> bool {
    let f = format.trim();
    f == "json"
        || f.strip_prefix("{{")
            .and_then(|r| r.strip_suffix("}}"))
            .is_some_and(|inner| {
                inner
                    .trim()
                    .strip_prefix("json")
                    .is_some_and(|r| r.trim() == ".")
            })
}

/// `stats`.
pub fn run(e: &dyn Engine, a: &StatsArgs) -> Result<i32> {
    check_args(a, "containers")?;
    report(e, a, DEFAULT_FORMAT, &|| {
        Ok(container_ids(e, a)?
            .into_iter()
            .map(|id| (String::new(), id))
            .collect())
    })
}

/// `pod stats`: the pods' containers, with a POD column.
pub fn run_pods(e: &dyn Engine, a: &StatsArgs) -> Result<i32> {
    check_args(a, "pods")?;
    report(e, a, POD_FORMAT, &|| {
        let pods: Vec<String> = if a.names.is_empty() {
            e.pod_list()?
                .iter()
                .filter_map(|p| p["Id"].as_str().map(str::to_string))
                .collect()
        } else {
            a.names.clone()
        };
        let mut out = Vec::new();
        for p in pods {
            let pod_id = e.pod_inspect(&p)?["Id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            for id in e.pod_container_ids(&p)? {
                out.push((pod_id.clone(), id));
            }
        }
        Ok(out)
    })
}

const POD_FORMAT: &str = "table {{.Pod}}\t{{.CID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDS}}";

fn check_args(a: &StatsArgs, what: &str) -> Result<()> {
    let given = [a.all, a.latest, !a.names.is_empty()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        bail!("--all, --latest and {what} cannot be used together");
    }
    if a.interval < 1 {
        bail!("invalid interval, must be a positive number greater zero");
    }
    Ok(())
}

/// The containers `stats` reports on: Podman 4.3 looks them up again for every report
/// and, without names, shows every container (stopped ones with zeros), ordered by ID.
fn container_ids(e: &dyn Engine, a: &StatsArgs) -> Result<Vec<String>> {
    Ok(if !a.names.is_empty() {
        a.names
            .iter()
            .map(|n| {
                e.container_lookup(n).map_err(|err| {
                    anyhow!(
                        "unable to get list of containers: unable to look up container {n}: {err}"
                    )
                })
            })
            .collect::<Result<_>>()?
    } else if a.latest {
        vec![e.container_latest()?]
    } else {
        let mut ids = e.container_ids()?;
        ids.sort();
        ids
    })
}

/// Samples the targets (pod, container) once or every interval and prints them.
fn report(
    e: &dyn Engine,
    a: &StatsArgs,
    default_format: &str,
    targets: &dyn Fn() -> Result<Vec<(String, String)>>,
) -> Result<i32> {
    let format = a.format.clone().unwrap_or_default();
    let clear = format.is_empty() && !a.no_reset && std::io::stdout().is_terminal();
    let mut prev: HashMap<String, ContainerStats> = HashMap::new();
    loop {
        let ids = targets()?;
        let mut samples = Vec::new();
        let mut pods = HashMap::new();
        for (pod, id) in &ids {
            match e.container_stats(id, prev.get(id)) {
                Ok(s) => {
                    pods.insert(s.container_id.clone(), pod.clone());
                    samples.push(s)
                }
                // Removed while we looked: not an error when listing them all.
                Err(_) if a.names.is_empty() => continue,
                Err(err) => return Err(err.into()),
            }
        }
        prev = samples
            .iter()
            .map(|s| (s.container_id.clone(), s.clone()))
            .collect();
        if clear {
            print!("\x1b[2J\x1b[1;1H");
        }
        if is_json(&format) {
            let rows: Vec<Value> = samples.iter().map(|s| json_value(s, a.no_trunc)).collect();
            println!("{}", json_indent(&rows, 1));
        } else {
            let rows: Vec<Value> = samples
                .iter()
                .map(|s| {
                    let mut v = template_value(s, a.no_trunc);
                    let pod = pods.get(&s.container_id).cloned().unwrap_or_default();
                    v["Pod"] = json!(if a.no_trunc {
                        pod
                    } else {
                        pod.chars().take(12).collect()
                    });
                    v["CID"] = v["ID"].clone();
                    v
                })
                .collect();
            let f = if format.is_empty() {
                default_format
            } else {
                &format
            };
            print_rows(f, &rows, &header, false)?;
        }
        std::io::stdout().flush()?;
        if a.no_stream {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_secs(a.interval as u64));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_as_go_units_prints_them() {
        assert_eq!(super::human(368_640), "368.6kB");
        assert_eq!(super::human(67_108_864), "67.11MB");
        assert_eq!(super::human(25_276_502_016), "25.28GB");
        assert_eq!(super::human(0), "0B");
        assert_eq!(super::binary(368_640), "360KiB");
        assert_eq!(super::binary(67_108_864), "64MiB");
        assert_eq!(super::binary(25_276_502_016), "23.54GiB");
    }

    #[test]
    fn json_formats() {
        assert!(super::is_json("json"));
        assert!(super::is_json("{{json .}}"));
        assert!(super::is_json("{{ json . }}"));
        assert!(!super::is_json("{{json .Name}}"));
    }
}
