//! What later cells read from earlier ones: records, partitions, target values, prepared images.

use crate::data::Problem;
use crate::data::cache::{self, MaskOverride, PreparedImage};
use crate::data::gray::Gray;
use crate::data::split::{Assignment, Fold};
use crate::data::{Record, Table};
use crate::exec::{CellError, Ctx};
use crate::study::{Crop, Preprocess, Target};
use serde::{Deserialize, Serialize};

/// What a prepare cell writes: the dataset's records and what was left out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Records {
    pub records: Vec<Record>,
    /// Rows or images skipped under `on_error skip`, with the reason.
    pub skipped: Vec<String>,
    pub dropped: usize,
    pub filtered: usize,
}

impl Records {
    pub fn table(self) -> Table {
        Table {
            records: self.records,
            skipped: Vec::new(),
            dropped: self.dropped,
            filtered: self.filtered,
        }
    }
}

/// What a split cell writes: a partition (or none) per record, per fold.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Partitions {
    pub folds: Vec<(Option<String>, Vec<Option<String>>)>,
}

impl Partitions {
    pub fn assignment(&self, split: &str) -> Assignment {
        Assignment {
            split: split.to_string(),
            folds: self
                .folds
                .iter()
                .map(|(name, partitions)| Fold {
                    name: name.clone(),
                    partitions: partitions.clone(),
                })
                .collect(),
        }
    }

    /// The index of a fold by name (`None` for splits without folds).
    pub fn fold_index(&self, fold: &Option<String>) -> usize {
        self.folds.iter().position(|(n, _)| n == fold).unwrap_or(0)
    }
}

/// The records of a dataset, from its prepare cell.
pub fn records(ctx: &Ctx, dataset: &str) -> Result<Records, CellError> {
    ctx.read(&format!("prepare/{dataset}"), "records.json")
}

/// The partitions of a split, from its split cell.
pub fn partitions(ctx: &Ctx, split: &str) -> Result<Partitions, CellError> {
    ctx.read(&format!("split/{split}"), "partitions.json")
}

pub use crate::data::target_value;

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
