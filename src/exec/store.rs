//! The output directory of a run.
//!
//! ```text
//! <out>/study.json          which study wrote here (name, fingerprint)
//! <out>/plan.json           the plan and the folder data paths start from (what `run-cell` reads)
//! <out>/cells/<id>/         outputs of a finished cell, ending with `done.json`
//! <out>/work/<id>/          checkpoints of a cell still running
//! <out>/cache/              prepared images, shared by all cells
//! <out>/run.log             one line per cell started, finished, skipped or failed, each after its UTC time
//! ```
//!
//! A cell writes into `cells/.<id>.partial-<pid>/` and renames it to `cells/<id>/` once every file is
//! on disk, so a killed or failed cell never leaves a folder a rerun would take as finished.

use super::error::CellError;
use crate::plan::{Cell, Plan};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The largest plan.json read (a study of 5,000 lines plans to a few megabytes).
pub const MAX_PLAN_BYTES: u64 = 256 << 20;
/// The largest done.json or other JSON record of a cell read back.
pub const MAX_RECORD_BYTES: u64 = 256 << 20;

/// What `<out>/plan.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanFile {
    /// The folder of the root study file: relative data paths start here.
    pub root: PathBuf,
    pub plan: Plan,
}

impl PlanFile {
    /// Reads the plan file `run` wrote into its output folder (what `run-cell` reads).
    pub fn read(path: &Path) -> Result<PlanFile, CellError> {
        let corrupt = |e: &dyn std::fmt::Display| {
            CellError::fault(
                crate::diagnostics::Code::CorruptOutput,
                format!("{}: {e}", path.display()),
            )
        };
        let bytes = crate::files::read_regular(path, MAX_PLAN_BYTES).map_err(|e| match e {
            crate::files::ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => corrupt(
                &e,
            )
            .help(
                "a cluster node must see the output folder where `study run` wrote it: put it on a \
                     filesystem every node shares",
            ),
            e => corrupt(&e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            corrupt(&e).help("pass the plan.json that `study run` wrote into its output folder")
        })
    }
}

/// Which study an output folder belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    pub study: String,
    pub fingerprint: String,
}

/// The record a finished cell leaves last.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Done {
    pub cell: String,
    pub id: String,
    pub seconds: f64,
    pub backend: String,
    /// Every other file of the cell as it was written: a cell whose files differ is not finished.
    #[serde(default)]
    pub files: BTreeMap<String, Digest>,
    /// The cell's key number in a few words (`validation auc 0.979 at epoch 4 of 6`), for progress lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// An output file as its cell wrote it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub size: u64,
    /// Modification time (ns since the epoch): while it is unchanged the bytes are not hashed again.
    pub modified: u128,
    pub blake3: String,
}

impl Digest {
    fn of(path: &Path) -> Option<Digest> {
        let (size, modified) = crate::hash::file_stamp(path)?;
        let blake3 = crate::hash::file_hash(path)?;
        Some(Digest {
            size,
            modified,
            blake3,
        })
    }
}

/// Why a cell's folder does not hold a finished cell.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Damage {
    #[error("it has not finished")]
    NotFinished,
    #[error("its done.json is missing or unreadable")]
    NoRecord,
    #[error("its done.json lists no output files (written by an earlier version)")]
    Unlisted,
    #[error("`{0}` is missing")]
    Missing(String),
    #[error("`{0}` changed since the cell wrote it")]
    Changed(String),
    #[error("it holds the outputs of cell {0}, not of the cell its name says")]
    OtherCell(String),
}

#[derive(Clone, Debug)]
pub struct Store {
    pub root: PathBuf,
}

/// A finished cell's output that cannot be read as it was written (E0067).
fn corrupt(path: &Path, e: &dyn std::fmt::Display) -> CellError {
    CellError::fault(
        crate::diagnostics::Code::CorruptOutput,
        format!("{}: {e}", path.display()),
    )
    .help("run the study again: a cell whose outputs changed is recomputed")
}

fn io_error(path: &Path, e: std::io::Error) -> CellError {
    CellError::io(path, &e)
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn cells(&self) -> PathBuf {
        self.root.join("cells")
    }

    pub fn cell_dir(&self, cell: &Cell) -> PathBuf {
        self.cells().join(&cell.id)
    }

    pub fn work_dir(&self, cell: &Cell) -> PathBuf {
        self.root.join("work").join(&cell.id)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Whether a cell finished and its files are as it wrote them.
    pub fn is_done(&self, cell: &Cell) -> bool {
        self.verify(cell).is_ok()
    }

    /// The done record of a finished cell whose files are as it wrote them.
    pub fn done(&self, cell: &Cell) -> Option<Done> {
        self.verify(cell).ok()
    }

    /// Checks a cell's folder against its done record: every listed file present with its size, and its
    /// hash where the modification time changed. A stat per file when nothing changed.
    pub fn verify(&self, cell: &Cell) -> Result<Done, Damage> {
        verify_dir(&self.cell_dir(cell))
    }

    /// Reads one output file of a finished cell, checked against the hash its done record gives.
    pub fn read_json<T: DeserializeOwned>(&self, cell: &Cell, name: &str) -> Result<T, CellError> {
        let done = self
            .verify(cell)
            .map_err(|d| corrupt(&self.cell_dir(cell), &d))?;
        self.read_verified(cell, &done, name)
    }

    /// Reads one output file of a cell already verified against `done`, checking the bytes' hash.
    pub fn read_verified<T: DeserializeOwned>(
        &self,
        cell: &Cell,
        done: &Done,
        name: &str,
    ) -> Result<T, CellError> {
        let bytes = self.read_checked(cell, done, name, MAX_RECORD_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| corrupt(&self.cell_dir(cell).join(name), &e))
    }

    /// The bytes of one output file of a cell already verified against `done` (at most `limit`), checked
    /// against their hash.
    pub fn read_checked(
        &self,
        cell: &Cell,
        done: &Done,
        name: &str,
        limit: u64,
    ) -> Result<Vec<u8>, CellError> {
        let path = self.cell_dir(cell).join(name);
        let bytes = crate::files::read_regular(&path, limit).map_err(|e| corrupt(&path, &e))?;
        if done
            .files
            .get(name)
            .is_none_or(|d| d.blake3 != blake3::hash(&bytes).to_hex().as_str())
        {
            return Err(corrupt(&path, &Damage::Changed(name.to_string())));
        }
        Ok(bytes)
    }

    /// Starts writing a cell's outputs.
    pub fn begin(&self, cell: &Cell) -> Result<CellWriter, CellError> {
        let tmp = self
            .cells()
            .join(format!(".{}.partial-{}", cell.id, std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io_error(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io_error(&tmp, e))?;
        Ok(CellWriter {
            tmp,
            target: self.cell_dir(cell),
            key: Default::default(),
        })
    }

    /// Removes partial folders a killed run left behind; those of a process still alive are its own to
    /// finish (a second run that got past a deleted `.lock` must not pull them from under it).
    pub fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(self.cells()) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((_, pid)) = name.split_once(".partial-")
                && !pid.parse::<u32>().is_ok_and(is_alive)
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Appends a line to the run log.
    pub fn log(&self, line: &str) {
        let path = self.root.join("run.log");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{} {line}", timestamp());
        }
    }
}

impl Store {
    /// Prepares the output folder: refuses one written by another study, writes the plan, clears partial
    /// cells of a killed run.
    pub fn open(plan: &Plan, root: &Path, out: &Path) -> Result<Store, CellError> {
        let store = Store::new(out);
        std::fs::create_dir_all(store.cells()).map_err(|e| CellError::io(out, &e))?;
        let owner_path = out.join("study.json");
        let owner = Owner {
            study: plan.study.name.clone(),
            fingerprint: plan.fingerprint.clone(),
        };
        if let Ok(bytes) = crate::files::read_regular(&owner_path, MAX_RECORD_BYTES) {
            let previous: Option<Owner> = serde_json::from_slice(&bytes).ok();
            match previous {
                Some(p) if p.study == owner.study => {
                    if p.fingerprint != owner.fingerprint {
                        store.log(&format!(
                            "study changed: fingerprint {} -> {}; cells are reused by content id",
                            &p.fingerprint[..16.min(p.fingerprint.len())],
                            &owner.fingerprint[..16]
                        ));
                    }
                }
                other => {
                    let whose = other.map_or("an unreadable study.json".to_string(), |p| {
                        format!(
                            "study \"{}\" (fingerprint {})",
                            p.study,
                            &p.fingerprint[..16.min(p.fingerprint.len())]
                        )
                    });
                    return Err(CellError::fault(
                        crate::diagnostics::Code::OtherStudy,
                        format!(
                            "{} holds the results of {whose}, not of study \"{}\"",
                            out.display(),
                            plan.study.name
                        ),
                    )
                    .help("choose another folder with --out, or delete this one"));
                }
            }
        }
        let plan_file = PlanFile {
            root: root.to_path_buf(),
            plan: plan.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&plan_file)
            .map_err(|e| CellError::fault(crate::diagnostics::Code::OutputWrite, e.to_string()))?;
        write_atomic(&out.join("plan.json"), &bytes)?;
        let owner_bytes = serde_json::to_vec_pretty(&owner)
            .map_err(|e| CellError::fault(crate::diagnostics::Code::OutputWrite, e.to_string()))?;
        write_atomic(&owner_path, &owner_bytes)?;
        store.sweep();
        Ok(store)
    }
}

/// Whether a process other than this one is running with this id (Linux's /proc; elsewhere, never).
fn is_alive(pid: u32) -> bool {
    pid != std::process::id() && Path::new("/proc").join(pid.to_string()).exists()
}

/// The done record of a cell folder whose files are as the cell wrote them.
fn verify_dir(dir: &Path) -> Result<Done, Damage> {
    if !dir.is_dir() {
        return Err(Damage::NotFinished);
    }
    let done: Done = crate::files::read_regular(&dir.join("done.json"), MAX_RECORD_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Damage::NoRecord)?;
    if done.files.is_empty() {
        return Err(Damage::Unlisted);
    }
    // A folder moved or linked under another cell's id is not that cell.
    if dir.file_name().and_then(|n| n.to_str()) != Some(done.id.as_str())
        || std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(Damage::OtherCell(done.id));
    }
    for (name, digest) in &done.files {
        let path = dir.join(name);
        let Some((size, modified)) = crate::hash::file_stamp(&path) else {
            return Err(Damage::Missing(name.clone()));
        };
        let unchanged = size == digest.size
            && (modified == digest.modified
                || crate::hash::file_hash(&path).as_ref() == Some(&digest.blake3));
        if !unchanged {
            return Err(Damage::Changed(name.clone()));
        }
    }
    Ok(done)
}

/// The time now in UTC, RFC 3339 to the millisecond (`2026-12-01T03:10:05.123Z`), for logs.
pub fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Writes a file so that it is either absent or complete: a temporary file beside it, flushed to disk,
/// then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CellError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    crate::files::replace(path, bytes).map_err(|e| io_error(path, e))
}

/// A cell's outputs being written.
pub struct CellWriter {
    tmp: PathBuf,
    target: PathBuf,
    key: std::sync::Mutex<Option<String>>,
}

impl CellWriter {
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), CellError> {
        let path = self.path(name);
        let result = std::fs::File::create(&path).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        result.map_err(|e| io_error(&path, e))
    }

    /// Records the cell's key number in a few words, shown when it finishes.
    pub fn key(&self, text: impl Into<String>) {
        if let Ok(mut k) = self.key.lock() {
            *k = Some(text.into());
        }
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), CellError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| {
            CellError::fault(
                crate::diagnostics::Code::OutputWrite,
                format!("cannot serialise {name}: {e}"),
            )
        })?;
        self.write(name, &bytes)
    }

    /// Writes the done record, with a digest of every file written, and publishes the folder under the
    /// cell's id.
    pub fn commit(self, done: Done) -> Result<(), CellError> {
        let tmp = self.tmp.clone();
        // A commit that fails (a full disk while writing done.json) leaves no partial folder behind.
        self.publish(done).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&tmp);
        })
    }

    fn publish(self, mut done: Done) -> Result<(), CellError> {
        done.key = self.key.lock().map_or(None, |mut k| k.take());
        let entries = std::fs::read_dir(&self.tmp).map_err(|e| io_error(&self.tmp, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name == "done.json" || !path.is_file() {
                continue;
            }
            let digest = Digest::of(&path)
                .ok_or_else(|| io_error(&path, std::io::Error::other("cannot be read back")))?;
            done.files.insert(name, digest);
        }
        self.write_json("done.json", &done)?;
        if verify_dir(&self.target).is_ok() {
            // Another worker finished the same cell first; its outputs are identical.
            let _ = std::fs::remove_dir_all(&self.tmp);
            return Ok(());
        }
        if self.target.exists() {
            // A damaged folder of an earlier run: replaced, never read.
            std::fs::remove_dir_all(&self.target).map_err(|e| io_error(&self.target, e))?;
        }
        std::fs::rename(&self.tmp, &self.target).map_err(|e| io_error(&self.target, e))
    }

    /// Drops the partial outputs of a failed cell.
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}
