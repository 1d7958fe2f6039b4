//! The prepare cell: reads a dataset's manifest or folders (or generates it) and records its rows.

use super::readers::Records;
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};

pub fn prepare(ctx: &Ctx, dataset: &str, writer: &CellWriter) -> Result<(), CellError> {
    let table =
        crate::data::load_dataset(ctx.study(), dataset, &ctx.data).map_err(CellError::Data)?;
    let records = Records {
        skipped: table.skipped.iter().map(|p| p.message.clone()).collect(),
        records: table.records,
        dropped: table.dropped,
        filtered: table.filtered,
    };
    writer.key(format!("{} images", records.records.len()));
    writer.write_json("records.json", &records)
}
