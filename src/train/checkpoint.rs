//! End-of-epoch checkpoints: the network, the optimiser's state, the best network so far, the snapshots
//! of an ensemble, and the history. Each checkpoint is one generation, `gen-<epoch>/`, written whole into a
//! partial folder (every file flushed, `state.json` naming each file's BLAKE3) and made current by one
//! rename. A resume reads the newest generation whose files match their hashes; a damaged one is discarded
//! with a note and the one before it is used, so a kill at any moment resumes from one consistent epoch.

use super::{EpochLog, TrainError};
use crate::backend::{ModelBackend, TrainBackend};
use crate::model::{Net, NetConfig};
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest `state.json` read (its history is a few lines an epoch).
const MAX_STATE_BYTES: u64 = 64 << 20;
/// The largest network or optimiser state read back (a ResNet-50's Adam state is about 300 MB).
pub const MAX_NET_BYTES: u64 = 4 << 30;

#[derive(Serialize, Deserialize)]
pub struct State {
    /// The last finished epoch.
    pub epoch: u32,
    pub history: Vec<EpochLog>,
    pub since_best: u32,
    /// Score and epoch of the best network so far.
    pub best: Option<(f64, u32)>,
}

pub struct Resumed<AB: AutodiffBackend, O: Optimizer<Net<AB>, AB>> {
    pub state: State,
    pub net: Net<AB>,
    pub optimizer: O::Record,
    pub best: Option<Net<AB::InnerBackend>>,
    pub snapshots: Vec<Net<AB::InnerBackend>>,
}

fn recorder() -> BinBytesRecorder<FullPrecisionSettings> {
    BinBytesRecorder::default()
}

fn fail(path: &Path, reason: impl ToString) -> TrainError {
    TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), TrainError> {
    let path = dir.join(name);
    crate::files::replace(&path, bytes).map_err(|e| TrainError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
        disk_full: crate::files::is_disk_full(&e),
    })
}

pub(crate) fn net_bytes<B: Backend>(net: &Net<B>, dir: &Path) -> Result<Vec<u8>, TrainError> {
    Recorder::<B>::record(&recorder(), net.clone().into_record(), ()).map_err(|e| fail(dir, e))
}

pub(crate) fn net_from_bytes<B: ModelBackend>(
    config: &NetConfig,
    bytes: &[u8],
    device: &B::Device,
) -> Result<Net<B>, TrainError> {
    net_from(Path::new("initial weights"), bytes.to_vec(), config, device)
}

/// A network of `config` from the bytes of its record, read from `path`.
fn net_from<B: ModelBackend>(
    path: &Path,
    bytes: Vec<u8>,
    config: &NetConfig,
    device: &B::Device,
) -> Result<Net<B>, TrainError> {
    let record = decode::<B, _>(path, bytes, device, "a network of this architecture")?;
    Ok(Net::new(config, device).load_record(record))
}

/// Decodes a record (`what` it should be: a network, an optimiser's state). burn panics on some
/// malformed files (a truncated one ends in `UnexpectedEnd`): that panic becomes an error naming the file.
fn decode<B: Backend, R: burn::record::Record<B>>(
    path: &Path,
    bytes: Vec<u8>,
    device: &B::Device,
    what: &str,
) -> Result<R, TrainError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Recorder::<B>::load(&recorder(), bytes, device)
    }))
    .map_err(|_| fail(path, format!("the file is truncated or not {what}")))?
    .map_err(|e| fail(path, e))
}

pub(crate) fn load_net<B: ModelBackend>(
    dir: &Path,
    name: &str,
    config: &NetConfig,
    device: &B::Device,
) -> Result<Net<B>, TrainError> {
    let path = dir.join(name);
    let bytes = crate::files::read_regular(&path, MAX_NET_BYTES).map_err(|e| fail(&path, e))?;
    net_from(&path, bytes, config, device)
}

/// The generations kept: the current one and the one before it (the fallback should the current be
/// damaged after it was made current).
const KEPT: usize = 2;

fn generation_name(epoch: u32) -> String {
    format!("gen-{epoch:06}")
}

/// The generations in `dir`, newest first.
fn generations(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let epoch = name.to_str()?.strip_prefix("gen-")?.parse().ok()?;
            Some((epoch, e.path()))
        })
        .collect();
    found.sort_by_key(|g| std::cmp::Reverse(g.0));
    found
}

pub fn save<AB: AutodiffBackend, O: Optimizer<Net<AB>, AB>>(
    dir: &Path,
    state: &State,
    net: &Net<AB>,
    optim: &O,
    best: Option<&Net<AB::InnerBackend>>,
    snapshots: &[Net<AB::InnerBackend>],
) -> Result<(), TrainError> {
    let target = dir.join(generation_name(state.epoch));
    let partial = dir.join(format!(
        ".{}.partial-{}",
        generation_name(state.epoch),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| fail(&partial, e))?;
    let result = (|| {
        let mut files = BTreeMap::new();
        let mut put = |name: &str, bytes: &[u8]| -> Result<(), TrainError> {
            write(&partial, name, bytes)?;
            files.insert(name.to_string(), blake3::hash(bytes).to_hex().to_string());
            crate::files::crash_point(&format!("checkpoint {} {name}", state.epoch));
            Ok(())
        };
        put("model.bin", &net_bytes(net, dir)?)?;
        let optim_bytes =
            Recorder::<AB>::record(&recorder(), optim.to_record(), ()).map_err(|e| fail(dir, e))?;
        put("optimizer.bin", &optim_bytes)?;
        if let Some(b) = best {
            put("best.bin", &net_bytes(b, dir)?)?;
        }
        for (k, s) in snapshots.iter().enumerate() {
            put(&format!("snapshot-{k}.bin"), &net_bytes(s, dir)?)?;
        }
        let record = Record {
            state,
            snapshots: snapshots.len(),
            files,
        };
        let json = serde_json::to_vec(&record).map_err(|e| fail(dir, e))?;
        write(&partial, "state.json", &json)?;
        crate::files::crash_point(&format!("checkpoint {} state.json", state.epoch));
        if target.exists() {
            // A generation of this epoch from a run that was stopped before it went on: replaced whole.
            std::fs::remove_dir_all(&target).map_err(|e| fail(&target, e))?;
        }
        std::fs::rename(&partial, &target).map_err(|e| fail(&target, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result?;
    crate::files::crash_point(&format!("checkpoint {} current", state.epoch));
    // Older generations, the partial folders of killed runs, and files of the single-folder layout go.
    for (_, old) in generations(dir).into_iter().skip(KEPT) {
        let _ = std::fs::remove_dir_all(old);
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".partial-") {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if !name.starts_with("gen-") && entry.path().is_file() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// What `state.json` holds: the state, the number of snapshots, and the hash of every other file.
#[derive(Serialize)]
struct Record<'a> {
    #[serde(flatten)]
    state: &'a State,
    snapshots: usize,
    files: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ReadRecord {
    #[serde(flatten)]
    state: State,
    snapshots: usize,
    files: BTreeMap<String, String>,
}

/// A resumed training, or none; and a line for each damaged generation discarded on the way.
pub type Loaded<AB, O> = (Option<Resumed<AB, O>>, Vec<String>);

/// The newest generation in `dir` whose files are whole; damaged generations are removed, each with a note.
pub fn load<AB: TrainBackend, O: Optimizer<Net<AB>, AB>>(
    dir: &Path,
    config: &NetConfig,
    device: &AB::Device,
) -> Result<Loaded<AB, O>, TrainError> {
    let mut notes = Vec::new();
    for (epoch, generation) in generations(dir) {
        match load_generation::<AB, O>(&generation, config, device) {
            Ok(resumed) if resumed.state.epoch == epoch => return Ok((Some(resumed), notes)),
            Ok(_) => notes.push(format!(
                "checkpoint {} names another epoch; discarded",
                generation.display()
            )),
            Err(e) => notes.push(format!("{e}; discarded")),
        }
        let _ = std::fs::remove_dir_all(&generation);
    }
    Ok((None, notes))
}

/// Reads one generation, every file checked against the hash `state.json` gives before it is decoded.
fn load_generation<AB: TrainBackend, O: Optimizer<Net<AB>, AB>>(
    dir: &Path,
    config: &NetConfig,
    device: &AB::Device,
) -> Result<Resumed<AB, O>, TrainError> {
    let state_path = dir.join("state.json");
    let text = crate::files::read_regular(&state_path, MAX_STATE_BYTES)
        .map_err(|e| fail(&state_path, e))?;
    let record: ReadRecord = serde_json::from_slice(&text).map_err(|e| fail(&state_path, e))?;
    let read = |name: &str| -> Result<Vec<u8>, TrainError> {
        let path = dir.join(name);
        let expected = record
            .files
            .get(name)
            .ok_or_else(|| fail(&path, "state.json does not list it"))?;
        let bytes = crate::files::read_regular(&path, MAX_NET_BYTES).map_err(|e| fail(&path, e))?;
        if blake3::hash(&bytes).to_hex().as_str() != expected {
            return Err(fail(&path, "its bytes differ from those written"));
        }
        Ok(bytes)
    };
    let inner_named = |name: &str| -> Result<Net<AB::InnerBackend>, TrainError> {
        net_from(&dir.join(name), read(name)?, config, device)
    };
    let net = net_from::<AB>(&dir.join("model.bin"), read("model.bin")?, config, device)?;
    let optimizer = decode::<AB, _>(
        &dir.join("optimizer.bin"),
        read("optimizer.bin")?,
        device,
        "an optimiser state of this network",
    )?;
    let best = match record.state.best {
        Some(_) => Some(inner_named("best.bin")?),
        None => None,
    };
    let snapshots = (0..record.snapshots)
        .map(|k| inner_named(&format!("snapshot-{k}.bin")))
        .collect::<Result<_, _>>()?;
    Ok(Resumed {
        state: record.state,
        net,
        optimizer,
        best,
        snapshots,
    })
}
