//! The prepare cell: reads a dataset's manifest or folders (or generates it) and records its rows.

use crate::data::{Record, Table};
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};
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

pub fn prepare(ctx: &Ctx, dataset: &str, writer: &CellWriter) -> Result<(), CellError> {
    let table =
        crate::data::load_dataset(ctx.study(), dataset, &ctx.data).map_err(CellError::Data)?;
    let records = Records {
        skipped: table.skipped.iter().map(|p| p.message.clone()).collect(),
        records: table.records,
        dropped: table.dropped,
        filtered: table.filtered,
    };
    writer.write_json("records.json", &records)
}
