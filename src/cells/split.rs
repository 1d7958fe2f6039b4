//! The split cell: assigns every record of the split's dataset to a partition, for every fold.

use super::readers::{Partitions, records};
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};

pub fn split(ctx: &Ctx, name: &str, writer: &CellWriter) -> Result<(), CellError> {
    let study = ctx.study();
    let split = &study.splits[name];
    let table = records(ctx, &split.data)?.table();
    let assignment =
        crate::data::split::assign(name, split, &table, study.seed).map_err(CellError::Data)?;
    // Partitions a classifier is trained, selected or evaluated on need both classes: found here, before any
    // training starts.
    let missing = crate::data::split::missing_classes(study, name, &assignment, &table);
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
