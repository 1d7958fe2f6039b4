//! What the report shows of the data: the label × source composition of each split's partitions, and
//! example images, the first few of each source × label of an experiment's data as its models saw them
//! (after the crop and the preprocessing's resize), once per crop.

use super::images::{images_of, png_base64};
use super::readers::{partitions, records};
use crate::exec::Ctx;
use crate::report::{Composition, CompositionRow, Example, ExampleImages};
use crate::study::Setup;

/// Images per source × label.
const PER_GROUP: usize = 4;
/// The largest side of an example in the report (larger images are scaled down).
const MAX_SIDE: u32 = 96;

/// The examples of every experiment, one set per distinct crop and preprocessing of its grid; a set
/// whose images cannot be prepared (a failed segmenter) is left out.
pub fn examples(ctx: &Ctx) -> Vec<ExampleImages> {
    let mut out = Vec::new();
    for (name, exp) in &ctx.study().experiments {
        let mut done: Vec<(String, String, String)> = Vec::new();
        for point in &exp.points {
            let setup = point.setup();
            let key = (
                setup.crop.clone(),
                setup.preprocess.clone(),
                setup.split.clone(),
            );
            if done.contains(&key) {
                continue;
            }
            done.push(key);
            if let Some(images) = examples_of(ctx, &setup).filter(|i| !i.is_empty()) {
                out.push(ExampleImages {
                    experiment: name.clone(),
                    crop: setup.crop.clone(),
                    preprocess: setup.preprocess.clone(),
                    images,
                });
            }
        }
    }
    out
}

/// The composition of every split whose cells finished.
pub fn composition(ctx: &Ctx) -> Vec<Composition> {
    let study = ctx.study();
    study
        .splits
        .iter()
        .filter_map(|(name, split)| {
            let records = records(ctx, &split.data).ok()?.records;
            let (fold, assigned) = partitions(ctx, name).ok()?.folds.into_iter().next()?;
            let mut sources: Vec<String> = records.iter().map(|r| r.source.clone()).collect();
            sources.sort();
            sources.dedup();
            let mut rows: Vec<CompositionRow> = Vec::new();
            for partition in split.partitions() {
                let mut labels: Vec<&str> = Vec::new();
                for (r, p) in records.iter().zip(&assigned) {
                    if p.as_deref() == Some(partition.as_str())
                        && !labels.contains(&r.label.as_str())
                    {
                        labels.push(&r.label);
                    }
                }
                labels.sort();
                for label in labels {
                    let counts = sources
                        .iter()
                        .map(|s| {
                            records
                                .iter()
                                .zip(&assigned)
                                .filter(|(r, p)| {
                                    p.as_deref() == Some(partition.as_str())
                                        && r.label == label
                                        && &r.source == s
                                })
                                .count() as u64
                        })
                        .collect();
                    rows.push(CompositionRow {
                        partition: partition.clone(),
                        label: label.to_string(),
                        counts,
                    });
                }
            }
            Some(Composition {
                split: name.clone(),
                fold,
                sources,
                rows,
            })
        })
        .collect()
}

fn examples_of(ctx: &Ctx, setup: &Setup) -> Option<Vec<Example>> {
    let study = ctx.study();
    let records = records(ctx, &study.splits.get(&setup.split)?.data)
        .ok()?
        .records;
    let mut groups: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.source.as_str(), r.label.as_str()))
        .collect();
    groups.sort();
    groups.dedup();
    let mut wanted = Vec::new();
    for (source, label) in &groups {
        wanted.extend(
            records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.source == *source && r.label == *label)
                .take(PER_GROUP)
                .map(|(i, _)| i),
        );
    }
    let side = study.preprocessings.get(&setup.preprocess)?.resize;
    let images = images_of(ctx, setup, &records, &wanted).ok()?;
    images
        .usable
        .iter()
        .map(|(i, px)| {
            let img = image::GrayImage::from_raw(side, side, px.clone())?;
            let img = if side > MAX_SIDE {
                image::imageops::resize(
                    &img,
                    MAX_SIDE,
                    MAX_SIDE,
                    image::imageops::FilterType::Triangle,
                )
            } else {
                img
            };
            Some(Example {
                source: records[*i].source.clone(),
                label: records[*i].label.clone(),
                png: png_base64(&image::DynamicImage::ImageLuma8(img)),
            })
        })
        .collect()
}
