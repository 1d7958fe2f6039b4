//! What later cells read from earlier ones: records, partitions, target values, prepared images.

use super::prepare::Records;
use super::split::Partitions;
use crate::data::Problem;
use crate::data::Record;
use crate::data::cache::{self, MaskOverride, PreparedImage};
use crate::data::gray::Gray;
use crate::exec::{CellError, Ctx};
use crate::study::{Crop, CropOp, MaskSource, OnError, Preprocess, Region, Setup, Target};

/// The records of a dataset, from its prepare cell.
pub fn records(ctx: &Ctx, dataset: &str) -> Result<Records, CellError> {
    ctx.read(&format!("prepare/{dataset}"), "records.json")
}

/// The partitions of a split, from its split cell.
pub fn partitions(ctx: &Ctx, split: &str) -> Result<Partitions, CellError> {
    ctx.read(&format!("split/{split}"), "partitions.json")
}

/// A record's value of a training target, or `None` when it has none (such records are left out).
pub fn target_value(record: &Record, target: &Target) -> Option<String> {
    match target {
        Target::Label => Some(record.label.clone()),
        Target::Source => Some(record.source.clone()),
        Target::Attribute(name) => record.attribute(name),
        Target::AgeGroup(edges) => {
            let age = record.age?;
            let k = edges.iter().filter(|e| age >= **e).count();
            Some(match k {
                0 => format!("<{}", edges[0]),
                k if k == edges.len() => format!(">={}", edges[k - 1]),
                k => format!("{}-{}", edges[k - 1], edges[k]),
            })
        }
    }
}

/// The classes of a target: for labels the dataset's declared classes (or their order of appearance);
/// for other targets the values present in training, sorted.
pub fn target_classes(
    ctx: &Ctx,
    dataset: &str,
    target: &Target,
    training: &[&Record],
) -> Vec<String> {
    if *target == Target::Label
        && let Some(classes) = ctx
            .study()
            .datasets
            .get(dataset)
            .and_then(|d| d.classes.clone())
    {
        return classes;
    }
    let mut values: Vec<String> = training
        .iter()
        .filter_map(|r| target_value(r, target))
        .collect();
    if *target == Target::Label {
        let mut seen = Vec::new();
        for v in values {
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        return seen;
    }
    values.sort();
    values.dedup();
    values
}

/// Lung masks predicted by a segmenter cell, by record id (when the crop uses one).
pub struct Masks {
    pub id: String,
    pub by_record: std::collections::HashMap<String, Gray>,
}

/// Images of `records` prepared for a crop and preprocessing, through the shared cache.
pub fn prepared(
    ctx: &Ctx,
    records: &[Record],
    crop: &Crop,
    pre: &Preprocess,
    masks: Option<&Masks>,
) -> Vec<Result<PreparedImage, Problem>> {
    let lookup = masks.map(|m| move |r: &Record| m.by_record.get(&r.id).cloned());
    let override_: MaskOverride = match &lookup {
        Some(f) => Some(f),
        None => None,
    };
    let cache_dir = ctx.store.cache_dir();
    cache::with_progress(ctx.bars.cloned(), || {
        cache::prepare(
            records,
            ctx.study(),
            ctx.study().seed,
            crop,
            pre,
            override_,
            masks.map_or("", |m| m.id.as_str()),
            Some(&cache_dir),
        )
    })
    .outcomes
}

/// The images of some records for a setup: 8-bit pixels of the usable ones, and why the others are not.
pub struct Images {
    /// (record index, pixels)
    pub usable: Vec<(usize, Vec<u8>)>,
    pub excluded: Vec<(String, String)>,
}

pub fn images_of(
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
            Ok(PreparedImage::Image(px)) => out.usable.push((wanted[k], px)),
            Ok(PreparedImage::Rejected) => out.excluded.push((
                r.id.clone(),
                "lung box too small (rejected by the crop)".into(),
            )),
            Ok(PreparedImage::NoMask) => out
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
        MaskSource::Segmenter(name) => {
            super::segmenter::segmenter_masks(ctx, name, records).map(Some)
        }
    }
}
