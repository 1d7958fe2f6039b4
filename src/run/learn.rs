//! Cells that run burn: training a model, predicting every partition with it, training a lung
//! segmenter and predicting masks.

use super::device::on_device;
use super::inputs::{self, Masks, prepared, target_classes, target_value};
use super::store::CellWriter;
use super::{CellError, Ctx};
use crate::data::cache::Outcome;
use crate::data::images::Gray;
use crate::data::transform::{rescale_min_max, resize};
use crate::data::{Problem, Record};
use crate::diagnostics::Code;
use crate::eval::predictions::{Prediction, Predictions};
use crate::model::NetConfig;
use crate::model::unet::UNet;
use crate::plan::{Cell, Task};
use crate::study::{
    CropOp, Interpolation, MaskSource, OnError, Region, SegmenterSource, Setup, Target,
};
use crate::train::checkpoint::{load_net, net_bytes};
use crate::train::{self, EpochLog, TrainError};
use burn::module::Module;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
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
}

fn train_task(cell: &Cell) -> Result<(&Setup, &Target, &Option<String>), CellError> {
    match &cell.task {
        Task::Train {
            setup,
            target,
            fold,
            ..
        } => Ok((setup, target, fold)),
        _ => Err(CellError::fault(
            Code::CorruptOutput,
            format!("`{}` is not a train cell", cell.name),
        )),
    }
}

pub(super) fn net_config(ctx: &Ctx, setup: &Setup, classes: usize) -> NetConfig {
    let model = &ctx.study().models[&setup.model];
    NetConfig {
        architecture: model.architecture.clone(),
        in_channels: ctx.study().preprocessings[&setup.preprocess].channels as usize,
        classes,
        head: model.head.iter().map(|h| *h as usize).collect(),
        dropout: model.dropout,
    }
}

/// The images of some records for a setup: 8-bit pixels of the usable ones, and why the others are not.
pub(super) struct Images {
    /// (record index, pixels)
    pub usable: Vec<(usize, Vec<u8>)>,
    pub excluded: Vec<(String, String)>,
}

pub(super) fn images_of(
    ctx: &Ctx,
    setup: &Setup,
    records: &[Record],
    wanted: &[usize],
) -> Result<Images, CellError> {
    let study = ctx.study();
    let crop = &study.crops[&setup.crop];
    let pre = &study.preprocessings[&setup.preprocess];
    let chosen: Vec<Record> = wanted.iter().map(|i| records[*i].clone()).collect();
    let masks = crop_masks(ctx, &crop.op, &chosen)?;
    let outcomes = prepared(ctx, &chosen, crop, pre, masks.as_ref());
    let mut out = Images {
        usable: Vec::new(),
        excluded: Vec::new(),
    };
    let mut problems: Vec<Problem> = Vec::new();
    for (k, o) in outcomes.into_iter().enumerate() {
        let r = &chosen[k];
        match o {
            Ok(Outcome::Image(px)) => out.usable.push((wanted[k], px)),
            Ok(Outcome::Rejected) => out.excluded.push((
                r.id.clone(),
                "lung box too small (rejected by the crop)".into(),
            )),
            Ok(Outcome::NoMask) => out
                .excluded
                .push((r.id.clone(), "no lung mask for this image".into())),
            Err(p) => {
                let skip = study
                    .datasets
                    .get(&r.dataset)
                    .is_some_and(|d| d.on_error == OnError::Skip);
                if skip {
                    out.excluded.push((r.id.clone(), p.message.clone()));
                } else {
                    problems.push(p);
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(CellError::Data(problems));
    }
    Ok(out)
}

/// Lung masks from a segmenter when the crop asks for them.
fn crop_masks(ctx: &Ctx, op: &CropOp, records: &[Record]) -> Result<Option<Masks>, CellError> {
    let source = match op {
        CropOp::LungBox { masks, .. } => masks,
        CropOp::Occlude {
            region: Region::Lungs(m),
        }
        | CropOp::KeepOnly {
            region: Region::Lungs(m),
        } => m,
        _ => return Ok(None),
    };
    match source {
        MaskSource::Dataset => Ok(None),
        MaskSource::Segmenter(name) => segmenter_masks(ctx, name, records).map(Some),
    }
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
        other => CellError::fault(Code::CorruptOutput, other.to_string())
            .help("delete the cell's folder under <out>/work and run again"),
    }
}

/// Turns a panic inside burn into a diagnostic: out-of-memory when the message says so.
pub(super) fn guarded<T>(f: impl FnOnce() -> Result<T, CellError>) -> Result<T, CellError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            let lower = why.to_lowercase();
            if lower.contains("out of memory") || lower.contains("oom") || lower.contains("alloc") {
                Err(CellError::fault(Code::OutOfMemory, why)
                    .help("lower the batch size or the input size, or use a smaller model"))
            } else {
                Err(CellError::fault(Code::Internal, why))
            }
        }
    }
}

pub fn train(ctx: &Ctx, cell: &Cell, writer: &CellWriter) -> Result<(), CellError> {
    let (setup, target, fold) = train_task(cell)?;
    let study = ctx.study();
    let split = &study.splits[&setup.split];
    let records = inputs::records(ctx, &split.data)?.records;
    let parts = inputs::partitions(ctx, &setup.split)?;
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
    let initial = match &weights {
        Some(path) => Some(guarded(|| {
            on_device!(ctx.device, |D, device| {
                pretrained::<<D as AutodiffBackend>::InnerBackend>(
                    &config,
                    path,
                    &setup.model,
                    &device,
                )
            })
        })?),
        None => None,
    };
    let run = train::Run {
        net: config,
        training: &study.trainings[&setup.train],
        preprocess: pre,
        size: pre.resize as usize,
        positive: 0,
        seed: cell.seed,
        train: train::Split {
            images: &train_px,
            labels: &train_y,
        },
        validation: (!val_px.is_empty()).then_some(train::Split {
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
            })
        })
    })
    .map_err(|e| e.of("train", &setup.train))?;
    writer.write_json("model.json", &info)
}

/// A model's pretrained weights as an initial record, or a diagnostic listing what does not fit.
fn pretrained<B: Backend>(
    config: &NetConfig,
    path: &std::path::Path,
    model: &str,
    device: &B::Device,
) -> Result<Vec<u8>, CellError> {
    let mut net = crate::model::Net::<B>::new(config, device);
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
    net_bytes(&net, path).map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))
}

/// Predicts every image of the train cell's fold with its model.
pub fn evaluate(ctx: &Ctx, train_cell: &str, writer: &CellWriter) -> Result<(), CellError> {
    let cell = ctx.cell(train_cell)?;
    let (setup, target, fold) = train_task(cell)?;
    let repeat = match &cell.task {
        Task::Train { repeat, .. } => *repeat,
        _ => 1,
    };
    let info: TrainedModel = ctx.read(train_cell, "model.json")?;
    let study = ctx.study();
    let split = &study.splits[&setup.split];
    let records = inputs::records(ctx, &split.data)?.records;
    let parts = inputs::partitions(ctx, &setup.split)?;
    let assignment = &parts.folds[parts.fold_index(fold)].1;
    let wanted: Vec<usize> = (0..records.len())
        .filter(|i| assignment[*i].is_some() && target_value(&records[*i], target).is_some())
        .collect();
    let images = images_of(ctx, setup, &records, &wanted)?;
    let pre = &study.preprocessings[&setup.preprocess];
    let config = net_config(ctx, setup, info.classes.len());
    let dir = ctx.store.cell_dir(cell);
    let pixels: Vec<Vec<u8>> = images.usable.iter().map(|(_, px)| px.clone()).collect();
    let probabilities = guarded(|| {
        on_device!(ctx.device, |D, device| {
            type B = <D as AutodiffBackend>::InnerBackend;
            let nets = (0..info.nets)
                .map(|k| load_net::<B>(&dir, &format!("model-{k}.bin"), &config, &device))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    CellError::fault(Code::CorruptOutput, e.to_string())
                        .help("delete the train cell's folder and run again")
                })?;
            let batcher = train::batch::Batcher::with_stats(
                pre,
                pre.resize as usize,
                config.in_channels,
                info.train_stats,
            );
            Ok(train::predict(&nets, &batcher, &pixels, &device))
        })
    })
    .map_err(|e| e.of("model", &setup.model))?;
    let rows = images
        .usable
        .iter()
        .zip(probabilities)
        .map(|((i, _), p)| {
            let r = &records[*i];
            Prediction {
                image: r.id.clone(),
                source: r.source.clone(),
                truth: target_value(r, target).unwrap_or_default(),
                partition: assignment[*i].clone().unwrap_or_default(),
                probabilities: p,
            }
        })
        .collect();
    let predictions = Predictions {
        cell: train_cell.to_string(),
        fold: fold.clone(),
        repeat,
        classes: info.classes,
        rows,
        excluded: images.excluded,
    };
    writer.write_json("predictions.json", &predictions)?;
    let csv = predictions
        .to_csv()
        .map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))?;
    writer.write("predictions.csv", csv.as_bytes())
}

// -------------------------------------------------------------------------------------------------
// Lung segmenter

/// What a segmenter cell writes beside `unet.bin`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmenterResult {
    /// Dice and IoU on the held-out images (`None` for loaded weights).
    pub dice: Option<f64>,
    pub iou: Option<f64>,
    pub train_images: usize,
    pub holdout_images: usize,
    pub losses: Vec<f64>,
}

fn unet_bytes<B: Backend>(net: &UNet<B>) -> Result<Vec<u8>, CellError> {
    Recorder::<B>::record(
        &BinBytesRecorder::<FullPrecisionSettings>::default(),
        net.clone().into_record(),
        (),
    )
    .map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))
}

fn load_unet<B: Backend>(
    bytes: Vec<u8>,
    seg: &crate::study::Segmenter,
    device: &B::Device,
    path: &str,
) -> Result<UNet<B>, CellError> {
    let record = Recorder::<B>::load(
        &BinBytesRecorder::<FullPrecisionSettings>::default(),
        bytes,
        device,
    )
    .map_err(|e| {
        CellError::fault(Code::WeightsMismatch, format!("{path}: {e}"))
            .help("segmenter weights are the `unet.bin` a segmenter cell of the same depth and width wrote")
    })?;
    let net = UNet::new(1, seg.depth as usize, seg.base_channels as usize, device);
    Ok(net.load_record(record))
}

/// An image as the segmenter sees it: min–max scaled, resized to `size`, values in [0, 1].
fn segmenter_input(image: &Gray, size: usize) -> Vec<f32> {
    let mut g = image.clone();
    rescale_min_max(&mut g);
    resize(&g, size, size, Interpolation::Auto).data
}

pub fn segmenter(ctx: &Ctx, cell: &Cell, name: &str, writer: &CellWriter) -> Result<(), CellError> {
    let study = ctx.study();
    let seg = &study.segmenters[name];
    let size = seg.size as usize;
    match &seg.source {
        SegmenterSource::Weights { path } => {
            let file = ctx.data.resolve(path);
            let bytes = std::fs::read(&file).map_err(|e| {
                CellError::fault(Code::WeightsMismatch, format!("{}: {e}", file.display()))
                    .of("segmenter", name)
            })?;
            guarded(|| {
                on_device!(ctx.device, |D, device| {
                    type B = <D as AutodiffBackend>::InnerBackend;
                    load_unet::<B>(bytes.clone(), seg, &device, path)
                        .map_err(|e| e.of("segmenter", name))
                        .map(|_| ())
                })
            })?;
            writer.write("unet.bin", &bytes)?;
            writer.write_json(
                "segmenter.json",
                &SegmenterResult {
                    dice: None,
                    iou: None,
                    train_images: 0,
                    holdout_images: 0,
                    losses: vec![],
                },
            )
        }
        SegmenterSource::Train {
            data,
            epochs,
            batch,
            lr,
            holdout,
        } => {
            let records = inputs::records(ctx, data)?.records;
            let mut xs: Vec<Vec<f32>> = Vec::new();
            let mut ms: Vec<Vec<f32>> = Vec::new();
            for r in &records {
                let (image, mask) = crate::data::images::load_record(r, study, study.seed)
                    .map_err(|p| CellError::Data(vec![p]))?;
                let Some(mask) = mask else { continue };
                xs.push(segmenter_input(&image, size));
                let m = resize(&mask, size, size, Interpolation::Bilinear);
                ms.push(m.data.iter().map(|v| (*v > 0.5) as u8 as f32).collect());
            }
            if xs.len() < 2 {
                return Err(CellError::fault(
                    Code::NothingToTrain,
                    format!("dataset `{data}` has {} image(s) with a lung mask; a segmenter needs at least 2", xs.len()),
                )
                .of("segmenter", name));
            }
            let config = crate::train::segment::Config {
                size,
                depth: seg.depth as usize,
                base: seg.base_channels as usize,
                epochs: *epochs,
                batch: *batch as usize,
                lr: *lr,
                holdout: *holdout,
                threshold: seg.threshold,
                seed: cell.seed,
            };
            let (bytes, result) = guarded(|| {
                on_device!(ctx.device, |D, device| {
                    let fitted = crate::train::segment::fit::<D>(&config, &xs, &ms, &device)
                        .map_err(|e| match e {
                            TrainError::Diverged { epoch, lr, value } => CellError::fault(
                                Code::Diverged,
                                format!("the segmenter's loss became {value} at epoch {epoch} (learning rate {lr})"),
                            ),
                            other => CellError::fault(Code::Internal, other.to_string()),
                        }
                        .of("segmenter", name))?;
                    Ok((
                        unet_bytes(&fitted.net)?,
                        SegmenterResult {
                            dice: Some(fitted.dice),
                            iou: Some(fitted.iou),
                            train_images: fitted.train_images,
                            holdout_images: fitted.holdout_images,
                            losses: fitted.losses,
                        },
                    ))
                })
            })?;
            writer.write("unet.bin", &bytes)?;
            writer.write_json("segmenter.json", &result)
        }
    }
}

/// Masks of records predicted by a segmenter, at the segmenter's size (the crop resizes them to each
/// image). Predictions are kept in `<out>/cache/masks/<segmenter cell id>/` so each image is segmented
/// once per run folder.
pub(super) fn segmenter_masks(
    ctx: &Ctx,
    name: &str,
    records: &[Record],
) -> Result<Masks, CellError> {
    let study = ctx.study();
    let seg = &study.segmenters[name];
    let cell = ctx.cell(&format!("segmenter/{name}"))?;
    let size = seg.size as usize;
    let dir = ctx.store.cache_dir().join("masks").join(&cell.id);
    let key = |r: &Record| -> String {
        blake3::hash(format!("{}\u{0}{}", r.dataset, r.id).as_bytes()).to_hex()[..24].to_string()
    };
    let mut by_record = std::collections::HashMap::new();
    let mut missing: Vec<&Record> = Vec::new();
    for r in records {
        match std::fs::read(dir.join(key(r))) {
            Ok(bytes) if bytes.len() == size * size => {
                by_record.insert(r.id.clone(), Gray::from_u8(size, size, &bytes));
            }
            _ => missing.push(r),
        }
    }
    if missing.is_empty() {
        return Ok(Masks {
            id: cell.id.clone(),
            by_record,
        });
    }
    let mut inputs_px = Vec::with_capacity(missing.len());
    for r in &missing {
        let (image, _) = crate::data::images::load_record(r, study, study.seed)
            .map_err(|p| CellError::Data(vec![p]))?;
        inputs_px.push(segmenter_input(&image, size));
    }
    let bytes = std::fs::read(ctx.store.cell_dir(cell).join("unet.bin"))
        .map_err(|e| CellError::fault(Code::CorruptOutput, e.to_string()))?;
    let predicted = guarded(|| {
        on_device!(ctx.device, |D, device| {
            type B = <D as AutodiffBackend>::InnerBackend;
            let net = load_unet::<B>(bytes.clone(), seg, &device, "unet.bin")?;
            Ok(crate::train::segment::predict(
                &net,
                &inputs_px,
                size,
                seg.threshold,
                &device,
            ))
        })
    })?;
    let _ = std::fs::create_dir_all(&dir);
    for (r, mask) in missing.iter().zip(predicted) {
        let _ = super::store::write_atomic(&dir.join(key(r)), &mask);
        by_record.insert(r.id.clone(), Gray::from_u8(size, size, &mask));
    }
    Ok(Masks {
        id: cell.id.clone(),
        by_record,
    })
}
