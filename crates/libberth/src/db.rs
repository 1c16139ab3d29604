//! The state database: one SQLite file (WAL) under the storage root, shared by every
//! berth process. Writers use `BEGIN IMMEDIATE`; readers never block writers.

use crate::error::Result;
use crate::types::{ContainerRecord, ImageRecord};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

pub struct Db {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    config BLOB NOT NULL,
    manifest BLOB,
    layers TEXT NOT NULL,
    size INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_names (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS image_names_by_image ON image_names(image_id);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0,
    monitor_pid INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL DEFAULT '',
    finished_at TEXT NOT NULL DEFAULT '',
    restarts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS containers_by_image ON containers(image_id);
";

/// Version 3: the addresses containers hold on networks.
const SCHEMA_V3: &str = "
CREATE TABLE IF NOT EXISTS network_ips (
    network TEXT NOT NULL,
    ip TEXT NOT NULL,
    container TEXT NOT NULL,
    PRIMARY KEY (network, ip)
);
CREATE INDEX IF NOT EXISTS network_ips_by_container ON network_ips(container);
";

/// Version 4: pods (their settings as JSON, see `pod::PodConfig`).
const SCHEMA_V5: &str = "
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,
    image_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS build_intermediate (
    id TEXT PRIMARY KEY
);
";

const SCHEMA_V4: &str = "
CREATE TABLE IF NOT EXISTS pods (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    config TEXT NOT NULL
);
";

/// Version 2: volumes (their settings as JSON, see `volumes::Volume`).
const SCHEMA_V2: &str = "
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
";

impl Db {
    pub fn open(root: &Path) -> Result<Db> {
        let conn = Connection::open(root.join("berth.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // Switching to WAL and creating the schema take locks that SQLite's busy handler
        // does not always wait for when many processes open a new database at once.
        let mut tries = 0;
        loop {
            match Self::init(&conn) {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 600 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10 + tries % 20));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Db { conn })
    }

    fn init(conn: &Connection) -> rusqlite::Result<()> {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 1 {
            let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", 1)?;
            tx.commit()?;
        }
        // Versions 2 (volumes), 3 (addresses) and 4 (pods): idempotent statements, so
        // another process migrating at the same time does no harm.
        if version < 4 {
            let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA_V2)?;
            tx.execute_batch(SCHEMA_V3)?;
            tx.execute_batch(SCHEMA_V4)?;
            tx.pragma_update(None, "user_version", 4)?;
            tx.commit()?;
        }
        // Version 5: the build cache (step key -> image) and the intermediate images it
        // keeps, which `images` hides unless `-a`.
        if version < 5 {
            let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA_V5)?;
            tx.pragma_update(None, "user_version", 5)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Runs `f` in an immediate (write) transaction.
    pub fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v = f(&tx)?;
        tx.commit()?;
        Ok(v)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    // ---- images ----

    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, digest, config, manifest, layers, size, created FROM images ORDER BY created DESC, id",
        )?;
        let rows = st.query_map([], image_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        let names = self.all_image_names()?;
        for img in &mut out {
            img.names = names
                .iter()
                .filter(|(_, id)| id == &img.id)
                .map(|(n, _)| n.clone())
                .collect();
        }
        Ok(out)
    }

    fn all_image_names(&self) -> Result<Vec<(String, String)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, image_id FROM image_names ORDER BY seq")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn image(&self, id: &str) -> Result<Option<ImageRecord>> {
        let img = self
            .conn
            .prepare_cached(
                "SELECT id, digest, config, manifest, layers, size, created FROM images WHERE id = ?1",
            )?
            .query_row([id], image_row)
            .optional()?;
        let Some(mut img) = img else { return Ok(None) };
        img.names = image_names(&self.conn, id)?;
        Ok(Some(img))
    }

    pub fn image_by_name(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT image_id FROM image_names WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    pub fn image_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM images WHERE id >= ?1 AND id < ?2")?;
        let rows = st.query_map(params![prefix, format!("{prefix}\u{10ffff}")], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- layers ----

    pub fn layer_size(&self, chain_id: &str) -> Result<Option<u64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT size FROM layers WHERE chain_id = ?1")?
            .query_row([chain_id], |r| r.get::<_, i64>(0).map(|v| v as u64))
            .optional()?)
    }

    // ---- containers ----

    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {CTR_COLS} FROM containers ORDER BY created DESC, id"
        ))?;
        let rows = st.query_map([], container_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The containers whose recorded config (JSON) contains `text`: a pre-filter that
    /// spares decoding every config; the caller checks the fields it means.
    pub fn containers_with(&self, text: &str) -> Result<Vec<ContainerRecord>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {CTR_COLS} FROM containers WHERE instr(config, ?1) > 0"
        ))?;
        let rows = st.query_map([text], container_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {CTR_COLS} FROM containers WHERE id = ?1"))?
            .query_row([id], container_row)
            .optional()?)
    }

    /// Finds a container by full ID, name, or unique ID prefix. Err on ambiguous prefix.
    pub fn lookup_container(&self, key: &str) -> Result<Option<String>> {
        let by_name: Option<String> = self
            .conn
            .prepare_cached("SELECT id FROM containers WHERE id = ?1 OR name = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        if by_name.is_some() || key.is_empty() || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(by_name);
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM containers WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
        let ids: Vec<String> = st
            .query_map(params![key, format!("{key}g")], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        match ids.len() {
            0 => Ok(None),
            1 => Ok(ids.into_iter().next()),
            _ => Err(crate::Error::InvalidArg(format!(
                "more than one result for container name or ID {key:?}"
            ))),
        }
    }

    pub fn container_id_by_name(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM containers WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }
}

pub const CTR_COLS: &str = "id, name, image_id, created, config, state, pid, monitor_pid, exit_code, started_at, finished_at, restarts";

fn container_row(r: &rusqlite::Row) -> rusqlite::Result<ContainerRecord> {
    let config: String = r.get(4)?;
    Ok(ContainerRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        image_id: r.get(2)?,
        created: r.get(3)?,
        config: serde_json::from_str(&config).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
        })?,
        state: r.get(5)?,
        pid: r.get(6)?,
        monitor_pid: r.get(7)?,
        exit_code: r.get(8)?,
        started_at: r.get(9)?,
        finished_at: r.get(10)?,
        restarts: r.get(11)?,
    })
}

fn image_row(r: &rusqlite::Row) -> rusqlite::Result<ImageRecord> {
    let layers: String = r.get(4)?;
    Ok(ImageRecord {
        id: r.get(0)?,
        digest: r.get(1)?,
        config: r.get(2)?,
        manifest: r.get(3)?,
        layers: serde_json::from_str(&layers).unwrap_or_default(),
        size: r.get::<_, i64>(5)? as u64,
        created: r.get(6)?,
        names: Vec::new(),
    })
}

pub fn image_names(conn: &Connection, id: &str) -> Result<Vec<String>> {
    let mut st =
        conn.prepare_cached("SELECT name FROM image_names WHERE image_id = ?1 ORDER BY seq")?;
    let rows = st.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// Points `name` at image `id` (moving it from another image if needed).
pub fn set_image_name(tx: &rusqlite::Transaction, name: &str, id: &str) -> Result<()> {
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM image_names",
        [],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO image_names(name, image_id, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, seq = excluded.seq",
        params![name, id, seq],
    )?;
    Ok(())
}
