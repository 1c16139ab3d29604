//! Reading container logs in k8s-file format (`TIMESTAMP STREAM F|P TEXT`).

use crate::error::{IoContext, Result};
use crate::local::LocalEngine;
use crate::types::{state, LogLine, LogOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// Parses one log line; None for a malformed one.
pub fn parse_line(line: &[u8]) -> Option<LogLine> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut it = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(it.next()?).ok()?;
    let stream = std::str::from_utf8(it.next()?).ok()?.to_string();
    let flag = it.next()?;
    let text = it.next().unwrap_or_default().to_vec();
    Some(LogLine {
        time: chrono::DateTime::parse_from_rfc3339(ts).ok()?,
        stream,
        partial: flag == b"P",
        text,
    })
}

fn wanted(l: &LogLine, o: &LogOptions) -> bool {
    let t = l.time.with_timezone(&chrono::Utc);
    o.since.is_none_or(|s| t >= s) && o.until.is_none_or(|u| t <= u)
}

impl LocalEngine {
    /// Streams a container's log to `out` (called per line). With `follow`, keeps reading
    /// until the container is no longer running.
    pub fn container_logs(
        &self,
        key: &str,
        opts: &LogOptions,
        out: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
    ) -> Result<()> {
        let id = self.lookup_container(key)?;
        let path = self.userdata(&id).join("ctr.log");
        let mut pos = 0u64;
        let mut lines: Vec<LogLine> = Vec::new();
        read_lines_from(&path, &mut pos, &mut |l| {
            if wanted(&l, opts) {
                lines.push(l);
            }
            Ok(true)
        })?;
        let start = match opts.tail {
            Some(n) => {
                // Count full lines (a run of P entries ends with an F entry) from the end.
                let mut full = 0;
                let mut idx = lines.len();
                while idx > 0 {
                    if !lines[idx - 1].partial {
                        if full == n {
                            break;
                        }
                        full += 1;
                    }
                    idx -= 1;
                }
                idx
            }
            None => 0,
        };
        for l in &lines[start..] {
            out(l).ctx(|| "writing log".into())?;
        }
        if !opts.follow {
            return Ok(());
        }
        let mut sleep = Duration::from_millis(5);
        loop {
            let running = match self.db().container(&id)? {
                Some(rec) => {
                    let (st, _, _) = self.live_state(&rec);
                    matches!(st.as_str(), state::RUNNING | state::PAUSED | state::CREATED)
                }
                None => false,
            };
            let before = pos;
            let mut past_until = false;
            read_lines_from(&path, &mut pos, &mut |l| {
                if opts
                    .until
                    .is_some_and(|u| l.time.with_timezone(&chrono::Utc) > u)
                {
                    past_until = true;
                    return Ok(false);
                }
                if wanted(&l, opts) {
                    out(&l)?;
                }
                Ok(true)
            })?;
            if past_until {
                return Ok(());
            }
            if pos != before {
                sleep = Duration::from_millis(5);
            }
            if !running {
                return Ok(());
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(100));
        }
    }
}

/// Reads the complete lines of the log at `path` from byte `*pos` on, advancing `*pos`
/// past each; `each` returns false to stop. A missing log has no lines.
fn read_lines_from(
    path: &Path,
    pos: &mut u64,
    each: &mut dyn FnMut(LogLine) -> std::io::Result<bool>,
) -> Result<()> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(crate::Error::Io(
                format!("reading log {}", path.display()),
                e,
            ))
        }
    };
    f.seek(SeekFrom::Start(*pos)).ctx(|| "reading log".into())?;
    let mut r = BufReader::new(f);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).ctx(|| "reading log".into())?;
        // A line still being written is read again next time.
        if n == 0 || !buf.ends_with(b"\n") {
            return Ok(());
        }
        *pos += n as u64;
        if let Some(l) = parse_line(&buf) {
            if !each(l).ctx(|| "writing log".into())? {
                return Ok(());
            }
        }
    }
}
