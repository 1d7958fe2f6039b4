//! End-of-epoch checkpoints: the network, the optimiser's state, the best network so far, the snapshots
//! of an ensemble, and the history. Each file is written to a temporary name and renamed; `state.json`
//! is renamed last, so a checkpoint is either whole or absent.

use super::{EpochLog, TrainError};
use crate::backend::{ModelBackend, TrainBackend};
use crate::model::{Net, NetConfig};
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    let record = decode::<B>(Path::new("initial weights"), bytes.to_vec(), device)?;
    Ok(Net::new(config, device).load_record(record))
}

/// Decodes a network's record. burn panics on some malformed files (a truncated one ends in
/// `UnexpectedEnd`): that panic becomes an error naming the file.
fn decode<B: ModelBackend>(
    path: &Path,
    bytes: Vec<u8>,
    device: &B::Device,
) -> Result<<Net<B> as Module<B>>::Record, TrainError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Recorder::<B>::load(&recorder(), bytes, device)
    }))
    .map_err(|_| {
        fail(
            path,
            "the file is truncated or not a network of this architecture",
        )
    })?
    .map_err(|e| fail(path, e))
}

pub(crate) fn load_net<B: ModelBackend>(
    dir: &Path,
    name: &str,
    config: &NetConfig,
    device: &B::Device,
) -> Result<Net<B>, TrainError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| fail(&path, e))?;
    let record = decode::<B>(&path, bytes, device)?;
    Ok(Net::new(config, device).load_record(record))
}

pub fn save<AB: AutodiffBackend, O: Optimizer<Net<AB>, AB>>(
    dir: &Path,
    state: &State,
    net: &Net<AB>,
    optim: &O,
    best: Option<&Net<AB::InnerBackend>>,
    snapshots: &[Net<AB::InnerBackend>],
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    write(dir, "model.bin", &net_bytes(net, dir)?)?;
    let optim_bytes =
        Recorder::<AB>::record(&recorder(), optim.to_record(), ()).map_err(|e| fail(dir, e))?;
    write(dir, "optimizer.bin", &optim_bytes)?;
    if let Some(b) = best {
        write(dir, "best.bin", &net_bytes(b, dir)?)?;
    }
    for (k, s) in snapshots.iter().enumerate() {
        let name = format!("snapshot-{k}.bin");
        if !dir.join(&name).exists() {
            write(dir, &name, &net_bytes(s, dir)?)?;
        }
    }
    let mut json = serde_json::to_value(state).map_err(|e| fail(dir, e))?;
    json["snapshots"] = snapshots.len().into();
    write(dir, "state.json", json.to_string().as_bytes())
}

pub fn load<AB: TrainBackend, O: Optimizer<Net<AB>, AB>>(
    dir: &Path,
    config: &NetConfig,
    device: &AB::Device,
) -> Result<Option<Resumed<AB, O>>, TrainError> {
    let state_path = dir.join("state.json");
    let Ok(text) = std::fs::read_to_string(&state_path) else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(&state_path, e))?;
    let count = json["snapshots"].as_u64().unwrap_or(0) as usize;
    let state: State = serde_json::from_value(json).map_err(|e| fail(&state_path, e))?;
    let net = load_net::<AB>(dir, "model.bin", config, device)?;
    let path = dir.join("optimizer.bin");
    let bytes = std::fs::read(&path).map_err(|e| fail(&path, e))?;
    let optimizer = Recorder::<AB>::load(&recorder(), bytes, device).map_err(|e| fail(&path, e))?;
    let best = match state.best {
        Some(_) => Some(load_net::<AB::InnerBackend>(
            dir, "best.bin", config, device,
        )?),
        None => None,
    };
    let snapshots = (0..count)
        .map(|k| load_net::<AB::InnerBackend>(dir, &format!("snapshot-{k}.bin"), config, device))
        .collect::<Result<_, _>>()?;
    Ok(Some(Resumed {
        state,
        net,
        optimizer,
        best,
        snapshots,
    }))
}
