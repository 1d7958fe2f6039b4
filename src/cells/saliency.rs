//! The saliency probe: Grad-CAM of trained models and the share of saliency inside the lungs.

use super::images::images_of;
use super::readers::{partitions, records};
use super::train::TrainedModel;
use super::{guarded, net_config, probe_point, train_cells};
use crate::backend::ModelBackend;
use crate::data::gray::Gray;
use crate::data::transform::{Cropped, crop, resize};
use crate::diagnostics::Code;
use crate::eval::estimate::{UnitValue, combine};
use crate::exec::device::on_device;
use crate::exec::{CellError, Ctx};
use crate::plan::{Cell, Task};
use crate::probe::{Results, row_bootstrap};
use crate::study::{CropOp, GridPoint, Interpolation, MaskSource};
use crate::train::batch::Batcher;
use crate::train::checkpoint::load_net;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// A lung mask brought into the geometry of the prepared image: geometric crops cut the mask like the
/// image; occlusions leave the geometry unchanged.
fn mask_in_crop(mask: &Gray, op: &CropOp, size: usize) -> Option<Gray> {
    let geometric = matches!(
        op,
        CropOp::Box { .. } | CropOp::Center { .. } | CropOp::LungBox { .. }
    );
    let cut = if geometric {
        match crop(mask, Some(mask), op) {
            Cropped::Image(m) => m,
            _ => return None,
        }
    } else {
        mask.clone()
    };
    let mut m = resize(&cut, size, size, Interpolation::Bilinear);
    m.data
        .iter_mut()
        .for_each(|v| *v = if *v > 0.5 { 1.0 } else { 0.0 });
    // An empty mask (a segmenter that found no lung) says nothing about where the lungs are.
    m.data.iter().any(|v| *v > 0.0).then_some(m)
}

/// Grad-CAM maps for a batch of images: the last feature maps weighted by the gradient of the predicted
/// class's logit with respect to their spatial mean, ReLU, upsampled to the input. The head after
/// global pooling is piecewise linear in inference mode, so the gradient is taken by exact forward
/// differences on the pooled features (batch-norm and dropout stay in inference mode).
fn grad_cam<B: ModelBackend>(
    net: &crate::model::Net<B>,
    x: Tensor<B, 4>,
    size: usize,
) -> Vec<Option<Gray>> {
    let f = net.features(x);
    let [n, c, h, w] = f.dims();
    let pooled: Vec<f32> = f
        .clone()
        .mean_dim(3)
        .mean_dim(2)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap_or_default();
    let maps: Vec<f32> = f.into_data().convert::<f32>().to_vec().unwrap_or_default();
    let device = net.devices().into_iter().next().unwrap_or_default();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let z = &pooled[i * c..(i + 1) * c];
        let eps = 1e-2f32 * z.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let mut rows = Vec::with_capacity((c + 1) * c);
        rows.extend_from_slice(z);
        for k in 0..c {
            let mut r = z.to_vec();
            r[k] += eps;
            rows.extend(r);
        }
        let logits: Vec<f32> = net
            .classify(Tensor::<B, 4>::from_data(
                TensorData::new(rows, [c + 1, c, 1, 1]),
                &device,
            ))
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
        let classes = logits.len() / (c + 1);
        // The map explains the class the model predicts for this image.
        let class = (0..classes)
            .max_by(|a, b| logits[*a].total_cmp(&logits[*b]))
            .unwrap_or(0);
        let base = logits[class];
        let alpha: Vec<f32> = (0..c)
            .map(|k| (logits[(k + 1) * classes + class] - base) / eps)
            .collect();
        let mut cam = Gray::new(w, h, 0.0);
        for (k, a) in alpha.iter().enumerate() {
            let map = &maps[(i * c + k) * h * w..(i * c + k + 1) * h * w];
            cam.data.iter_mut().zip(map).for_each(|(o, m)| *o += a * m);
        }
        cam.data.iter_mut().for_each(|v| *v = v.max(0.0));
        let total: f32 = cam.data.iter().sum();
        out.push((total > 0.0).then(|| resize(&cam, size, size, Interpolation::Bilinear)));
    }
    out
}

pub fn saliency(
    ctx: &Ctx,
    cell: &Cell,
    name: &str,
    experiment: &str,
    point: &Option<GridPoint>,
    samples: u32,
    masks: &MaskSource,
) -> Result<Results, CellError> {
    let study = ctx.study();
    let point = probe_point(ctx, experiment, point);
    let setup = point.setup();
    let split = &study.splits[&setup.split];
    let records = records(ctx, &split.data)?.records;
    let parts = partitions(ctx, &setup.split)?;
    let pre = &study.preprocessings[&setup.preprocess];
    let size = pre.resize as usize;
    let op = &study.crops[&setup.crop].op;
    let trains = train_cells(ctx, &cell.deps, &setup)?;
    let mut overall_units = Vec::new();
    let mut by_source: std::collections::BTreeMap<String, Vec<Result<UnitValue, String>>> =
        Default::default();
    let mut thumbnails = Vec::new();
    let mut table = Vec::new();
    for (u, train_cell) in trains.iter().enumerate() {
        let Task::Train { fold, .. } = &train_cell.task else {
            continue;
        };
        let info: TrainedModel = ctx.read(&train_cell.name, "model.json")?;
        let assignment = &parts.folds[parts.fold_index(fold)].1;
        let mut held: Vec<usize> = (0..records.len())
            .filter(|i| {
                assignment[*i]
                    .as_deref()
                    .is_some_and(|p| p != "train" && p != "validation")
            })
            .collect();
        // A sample spread over sources and labels: shuffled, then taken round-robin by (source, label).
        held.shuffle(&mut ChaCha8Rng::seed_from_u64(cell.seed ^ u as u64));
        let mut groups: std::collections::BTreeMap<(String, String), Vec<usize>> =
            Default::default();
        for i in held {
            groups
                .entry((records[i].source.clone(), records[i].label.clone()))
                .or_default()
                .push(i);
        }
        let mut sample = Vec::new();
        let mut round = 0;
        while sample.len() < samples as usize && groups.values().any(|g| g.len() > round) {
            for g in groups.values() {
                if let Some(i) = g.get(round)
                    && sample.len() < samples as usize
                {
                    sample.push(*i);
                }
            }
            round += 1;
        }
        // Lung masks in the prepared geometry.
        let seg_masks = match masks {
            MaskSource::Segmenter(s) => Some(super::segmenter::segmenter_masks(
                ctx,
                s,
                &sample
                    .iter()
                    .map(|i| records[*i].clone())
                    .collect::<Vec<_>>(),
            )?),
            MaskSource::Dataset => None,
        };
        let mut lung = Vec::new();
        for i in &sample {
            let r = &records[*i];
            let (image, own) = crate::data::images::load_record(r, study, study.seed)
                .map_err(|p| CellError::Data(vec![p]))?;
            let mask = match &seg_masks {
                Some(m) => m
                    .by_record
                    .get(&r.id)
                    .map(|m| resize(m, image.width, image.height, Interpolation::Bilinear)),
                None => own,
            };
            lung.push(mask.and_then(|m| mask_in_crop(&m, op, size)));
        }
        let images = images_of(ctx, &setup, &records, &sample)?;
        let config = net_config(ctx, &setup, info.classes.len());
        let dir = ctx.store.cell_dir(train_cell);
        let pixels: Vec<Vec<u8>> = images.usable.iter().map(|(_, px)| px.clone()).collect();
        let cams: Vec<Option<Gray>> = guarded(|| {
            on_device!(ctx.device, |D, device| {
                type B = <D as AutodiffBackend>::InnerBackend;
                let net = load_net::<B>(&dir, "model-0.bin", &config, &device)
                    .map_err(|e| CellError::fault(Code::CorruptOutput, e.to_string()))?;
                let batcher = Batcher::with_stats(pre, size, config.in_channels, info.train_stats);
                let mut out = Vec::new();
                let idx: Vec<usize> = (0..pixels.len()).collect();
                for chunk in idx.chunks(16) {
                    out.extend(grad_cam(
                        &net,
                        batcher.batch::<B>(&pixels, chunk, None, &device),
                        size,
                    ));
                }
                Ok(out)
            })
        })?;
        let mut shares: Vec<(String, f64)> = Vec::new();
        for ((i, px), cam) in images.usable.iter().zip(&cams) {
            let k = sample.iter().position(|s| s == i).unwrap_or(0);
            let (Some(cam), Some(mask)) = (cam, &lung[k]) else {
                continue;
            };
            let total: f32 = cam.data.iter().sum();
            let inside: f32 = cam.data.iter().zip(&mask.data).map(|(c, m)| c * m).sum();
            let share = (inside / total) as f64;
            shares.push((records[*i].source.clone(), share));
            table.push(serde_json::json!({
                "unit": train_cell.name, "image": records[*i].id, "source": records[*i].source,
                "label": records[*i].label, "lung_share": share,
            }));
            if u == 0 && thumbnails.len() < 8 {
                thumbnails.push(serde_json::json!({
                    "image": records[*i].id, "source": records[*i].source, "label": records[*i].label,
                    "lung_share": share, "png": overlay_png(px, cam, mask, size),
                }));
            }
        }
        let unit = |values: &[f64]| -> Result<UnitValue, String> {
            if values.is_empty() {
                return Err(
                    "no sampled image has both a lung mask and a non-zero saliency map".into(),
                );
            }
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let boot = row_bootstrap(values.len(), 0.95, 1000, cell.seed ^ 3, |idx| {
                Some(idx.iter().map(|j| values[*j]).sum::<f64>() / idx.len() as f64)
            });
            Ok(match boot {
                Some((lo, hi)) => UnitValue::with_interval(mean, lo, hi),
                None => UnitValue::plain(mean),
            })
        };
        overall_units.push(unit(&shares.iter().map(|s| s.1).collect::<Vec<_>>()));
        let mut sources: Vec<String> = shares.iter().map(|s| s.0.clone()).collect();
        sources.sort();
        sources.dedup();
        for s in sources {
            let v: Vec<f64> = shares.iter().filter(|x| x.0 == s).map(|x| x.1).collect();
            by_source.entry(s).or_default().push(unit(&v));
        }
    }
    let mut results = Results::new(name, "saliency");
    results.units = trains.len();
    results.push(
        "lung_share",
        vec![],
        None,
        combine(&overall_units, 0.95, Some((0.0, 1.0))),
    );
    for (s, units) in by_source {
        results.push(
            "lung_share",
            vec![s],
            None,
            combine(&units, 0.95, Some((0.0, 1.0))),
        );
    }
    results.details = serde_json::json!({
        "experiment": experiment, "point": point, "images": table, "thumbnails": thumbnails,
    });
    Ok(results)
}

/// A small PNG (base64) of the image in grey with the saliency in red and the lung outline in green.
fn overlay_png(px: &[u8], cam: &Gray, mask: &Gray, size: usize) -> String {
    let max = cam.data.iter().fold(0.0f32, |m, v| m.max(*v)).max(1e-9);
    let mut rgb = image::RgbImage::new(size as u32, size as u32);
    for y in 0..size {
        for x in 0..size {
            let g = px[y * size + x] as f32;
            let c = cam.get(x, y) / max;
            let inside = mask.get(x, y) > 0.5;
            let edge = inside
                && [(0i32, 1i32), (1, 0), (0, -1), (-1, 0)]
                    .iter()
                    .any(|(dx, dy)| {
                        let (nx, ny) = (x as i32 + dx, y as i32 + dy);
                        nx < 0
                            || ny < 0
                            || nx >= size as i32
                            || ny >= size as i32
                            || mask.get(nx as usize, ny as usize) <= 0.5
                    });
            let pixel = if edge {
                [0, 200, 0]
            } else {
                [
                    (g * (1.0 - c) + 255.0 * c) as u8,
                    (g * (1.0 - c)) as u8,
                    (g * (1.0 - c)) as u8,
                ]
            };
            rgb.put_pixel(x as u32, y as u32, image::Rgb(pixel));
        }
    }
    super::images::png_base64(&image::DynamicImage::ImageRgb8(rgb))
}
