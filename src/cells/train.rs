//! The train cell: trains one model (or an ensemble of snapshots) for one target, fold and repeat, and
//! writes its weights and history.

use super::images::images_of;
use super::readers::{partitions, records, target_classes, target_value};
use super::{guarded, net_config, train_task};
use crate::backend::ModelBackend;
use crate::data::Record;
use crate::diagnostics::Code;
use crate::exec::device::on_device;
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};
use crate::model::NetConfig;
use crate::plan::Cell;
use crate::study::Setup;
use crate::train::checkpoint::net_bytes;
use crate::train::{self, EpochLog, TrainError};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

/// What a train cell writes beside its weights (`model-<k>.bin`, one per snapshot of an ensemble).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainedModel {
    pub classes: Vec<String>,
    pub nets: usize,
    pub selected_epoch: u32,
    pub history: Vec<EpochLog>,
    pub train_stats: (f64, f64),
    pub train_images: usize,
    pub validation_images: usize,
    /// Images of the training and validation partitions left out, with the reason.
    pub excluded: Vec<(String, String)>,
    /// What a reader of the results should know about this training (a pretrained classifier replaced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn map_train_error(e: TrainError, setup: &Setup) -> CellError {
    match e {
        TrainError::Diverged { epoch, lr, value } => CellError::fault(
            Code::Diverged,
            format!("the loss became {value} at epoch {epoch} (learning rate {lr})"),
        )
        .help("lower the learning rate, add a warm-up, or check the input normalisation")
        .of("train", &setup.train),
        TrainError::NoData => {
            CellError::fault(Code::NothingToTrain, "the training partition is empty")
                .of("split", &setup.split)
        }
        TrainError::Write {
            disk_full: true, ..
        } => CellError::fault(Code::OutputWrite, e.to_string())
            .help("the disk is full: free space, then run again; finished cells are kept"),
        TrainError::Write { .. } => CellError::fault(Code::OutputWrite, e.to_string())
            .help("fix the permissions of the output folder, then run again"),
        other => CellError::fault(Code::CorruptOutput, other.to_string())
            .help("delete the cell's folder under <out>/work and run again"),
    }
}

pub fn train(ctx: &Ctx, cell: &Cell, writer: &CellWriter) -> Result<(), CellError> {
    let (setup, target, fold) = train_task(cell)?;
    let study = ctx.study();
    let split = &study.splits[&setup.split];
    let records = records(ctx, &split.data)?.records;
    let parts = partitions(ctx, &setup.split)?;
    let assignment = &parts.folds[parts.fold_index(fold)].1;
    let members = |name: &str| -> Vec<usize> {
        (0..records.len())
            .filter(|i| assignment[*i].as_deref() == Some(name))
            .filter(|i| target_value(&records[*i], target).is_some())
            .collect()
    };
    let (train_idx, validation_idx) = (members("train"), members("validation"));
    let train_records: Vec<&Record> = train_idx.iter().map(|i| &records[*i]).collect();
    let classes = target_classes(ctx, &split.data, target, &train_records);
    let present: std::collections::BTreeSet<String> = train_records
        .iter()
        .filter_map(|r| target_value(r, target))
        .collect();
    if present.len() < 2 {
        return Err(CellError::fault(
            Code::NothingToTrain,
            format!(
                "the training partition of split `{}` has {} value(s) of the target ({})",
                setup.split,
                present.len(),
                present.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
        .of("split", &setup.split));
    }
    let wanted: Vec<usize> = train_idx.iter().chain(&validation_idx).copied().collect();
    let images = images_of(ctx, setup, &records, &wanted)?;
    let class_of = |i: usize| -> Option<usize> {
        let v = target_value(&records[i], target)?;
        classes.iter().position(|c| *c == v)
    };
    let mut excluded = images.excluded;
    let (mut train_px, mut train_y, mut val_px, mut val_y) = (vec![], vec![], vec![], vec![]);
    for (i, px) in images.usable {
        let Some(y) = class_of(i) else {
            excluded.push((
                records[i].id.clone(),
                "class not among the declared classes".into(),
            ));
            continue;
        };
        if assignment[i].as_deref() == Some("train") {
            train_px.push(px);
            train_y.push(y);
        } else {
            val_px.push(px);
            val_y.push(y);
        }
    }
    if train_px.is_empty() {
        return Err(CellError::fault(
            Code::NothingToTrain,
            format!(
                "no image of the training partition is usable after crop `{}` ({} left out)",
                setup.crop,
                excluded.len()
            ),
        )
        .of("crop", &setup.crop));
    }
    let config = net_config(ctx, setup, classes.len());
    let pre = &study.preprocessings[&setup.preprocess];
    let checkpoint = ctx.store.work_dir(cell);
    std::fs::create_dir_all(&checkpoint).map_err(|e| CellError::io(&checkpoint, &e))?;
    let model = &study.models[&setup.model];
    let weights = model.weights.as_ref().map(|w| ctx.data.resolve(w));
    let mut notes = Vec::new();
    let initial = match &weights {
        Some(path) => {
            let (bytes, replaced) = guarded(|| {
                on_device!(ctx.device, |D, device| {
                    pretrained::<<D as AutodiffBackend>::InnerBackend>(
                        &config,
                        path,
                        &setup.model,
                        cell.seed,
                        &device,
                    )
                })
            })?;
            if !replaced.is_empty() {
                let note = format!(
                    "{}: the file's classifier does not fit the study's {} classes and was replaced by a new head ({})",
                    model.weights.as_deref().unwrap_or_default(),
                    classes.len(),
                    replaced.join("; ")
                );
                ctx.store.log(&format!("note {}: {note}", cell.name));
                eprintln!("note: {note}");
                notes.push(note);
            }
            Some(bytes)
        }
        None => None,
    };
    let run = train::Run {
        net: config,
        training: &study.trainings[&setup.train],
        preprocess: pre,
        size: pre.resize as usize,
        positive: 0,
        seed: cell.seed,
        train: train::Samples {
            images: &train_px,
            labels: &train_y,
        },
        validation: (!val_px.is_empty()).then_some(train::Samples {
            images: &val_px,
            labels: &val_y,
        }),
        progress: ctx.bars,
        checkpoint: Some(&checkpoint),
        epoch_budget: None,
        init: initial.as_deref(),
        freeze: model.freeze,
    };
    let info = guarded(|| {
        on_device!(ctx.device, |D, device| {
            let trained =
                train::train::<D>(&run, &device).map_err(|e| map_train_error(e, setup))?;
            // A damaged checkpoint costs only time: said, never recorded among the outputs.
            for note in &trained.notes {
                ctx.store.log(&format!("note {}: {note}", cell.name));
                eprintln!("note: {note}");
            }
            for (k, net) in trained.nets.iter().enumerate() {
                let bytes = net_bytes(net, &checkpoint).map_err(|e| map_train_error(e, setup))?;
                writer.write(&format!("model-{k}.bin"), &bytes)?;
            }
            Ok(TrainedModel {
                classes: classes.clone(),
                nets: trained.nets.len(),
                selected_epoch: trained.selected_epoch,
                history: trained.history,
                train_stats: trained.train_stats,
                train_images: train_px.len(),
                validation_images: val_px.len(),
                excluded,
                notes: notes.clone(),
            })
        })
    })
    .map_err(|e| e.of("train", &setup.train))?;
    let kept = info.history.iter().find(|e| e.epoch == info.selected_epoch);
    writer.key(match kept.and_then(|e| e.validation_auc) {
        Some(auc) => format!(
            "validation auc {auc:.3} at epoch {} of {}",
            info.selected_epoch,
            info.history.len()
        ),
        None => format!(
            "loss {:.3} after {} epochs",
            info.history.last().map_or(f64::NAN, |e| e.loss),
            info.history.len()
        ),
    });
    writer.write_json("model.json", &info)
}

/// A model's pretrained weights as an initial record, with the file's classifier keys left out because
/// they do not fit the study's head (in words), or a diagnostic listing what does not fit. What the file
/// does not hold (a new classifier head) starts from weights drawn from the cell's seed.
fn pretrained<B: ModelBackend>(
    config: &NetConfig,
    path: &std::path::Path,
    model: &str,
    seed: u64,
    device: &B::Device,
) -> Result<(Vec<u8>, Vec<String>), CellError> {
    let mut net = {
        let _rng = crate::model::hold_backend_rng();
        B::seed(device, seed);
        crate::model::Net::<B>::new(config, device)
    };
    let loaded = crate::model::weights::load(&mut net, path, config).map_err(|e| {
        CellError::fault(Code::WeightsMismatch, format!("{}: {e}", path.display()))
            .of("model", model)
    })?;
    if let Some(problems) = loaded.problems() {
        return Err(CellError::fault(
            Code::WeightsMismatch,
            format!("{} does not fit the architecture: {problems}", path.display()),
        )
        .help("use weights of the same architecture with torchvision key names; 3-channel weights need `channels 3` in the preprocessing")
        .of("model", model));
    }
    let bytes =
        net_bytes(&net, path).map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))?;
    Ok((bytes, loaded.replaced_head))
}
