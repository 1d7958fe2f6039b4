//! The segmenter cell (train a U-Net on images with lung masks, or load its weights) and the masks it
//! predicts for crops that use it.

use super::guarded;
use super::readers::{Masks, records};
use crate::backend::ModelBackend;
use crate::data::Record;
use crate::data::gray::Gray;
use crate::data::transform::{rescale_min_max, resize};
use crate::diagnostics::Code;
use crate::exec::device::on_device;
use crate::exec::store::{CellWriter, write_atomic};
use crate::exec::{CellError, Ctx};
use crate::model::unet::UNet;
use crate::plan::Cell;
use crate::probe::SegmenterResult;
use crate::study::{Interpolation, SegmenterSource};
use crate::train::TrainError;
use crate::train::checkpoint::MAX_NET_BYTES;
use burn::module::Module;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};

fn unet_bytes<B: Backend>(net: &UNet<B>) -> Result<Vec<u8>, CellError> {
    Recorder::<B>::record(
        &BinBytesRecorder::<FullPrecisionSettings>::default(),
        net.clone().into_record(),
        (),
    )
    .map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))
}

fn load_unet<B: ModelBackend>(
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
            let bytes = crate::files::read_regular(&file, MAX_NET_BYTES).map_err(|e| {
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
            let records = records(ctx, data)?.records;
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
            if let Some(dice) = result.dice {
                writer.key(format!(
                    "dice {dice:.3} on {} held-out images",
                    result.holdout_images
                ));
            }
            writer.write("unet.bin", &bytes)?;
            writer.write_json("segmenter.json", &result)
        }
    }
}

/// Masks of records predicted by a segmenter, at the segmenter's size (the crop resizes them to each
/// image). Predictions are kept in `<out>/cache/masks/<segmenter cell id>/` so each image is segmented
/// once per run folder.
pub fn segmenter_masks(ctx: &Ctx, name: &str, records: &[Record]) -> Result<Masks, CellError> {
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
        match crate::files::read_regular(&dir.join(key(r)), (size * size) as u64) {
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
    let bytes = ctx.read_bytes(&cell.name, "unet.bin", MAX_NET_BYTES)?;
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
        let _ = write_atomic(&dir.join(key(r)), &mask);
        by_record.insert(r.id.clone(), Gray::from_u8(size, size, &mask));
    }
    Ok(Masks {
        id: cell.id.clone(),
        by_record,
    })
}
