//! The split cell: assigns every record of the split's dataset to a partition, for every fold.

use super::readers::records;
use crate::data::split::{Assignment, Fold};
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};
use serde::{Deserialize, Serialize};

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

pub fn split(ctx: &Ctx, name: &str, writer: &CellWriter) -> Result<(), CellError> {
    let study = ctx.study();
    let split = &study.splits[name];
    let table = records(ctx, &split.data)?.table();
    let assignment =
        crate::data::split::assign(name, split, &table, study.seed).map_err(CellError::Data)?;
    // Partitions that experiments evaluate (and the training partition) need both classes: found here,
    // before any training starts.
    let evaluated: Vec<String> = study
        .experiments
        .values()
        .filter(|e| e.points.iter().any(|p| p.split == name))
        .flat_map(|e| e.evaluate.clone())
        .chain(std::iter::once("train".to_string()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|p| split.partitions().contains(p))
        .collect();
    let missing = crate::data::split::missing_classes(&assignment, &table, &evaluated, &split.data);
    if !missing.is_empty() {
        return Err(CellError::Data(missing));
    }
    let partitions = Partitions {
        folds: assignment
            .folds
            .into_iter()
            .map(|f| (f.name, f.partitions))
            .collect(),
    };
    writer.write_json("partitions.json", &partitions)
}
