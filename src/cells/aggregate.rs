//! The aggregate cell: an experiment's measures over all its trained models.

use super::units;
use crate::diagnostics::Code;
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};
use crate::plan::Cell;

pub fn aggregate(ctx: &Ctx, cell: &Cell, name: &str, writer: &CellWriter) -> Result<(), CellError> {
    let exp = &ctx.study().experiments[name];
    let by_point = exp
        .points
        .iter()
        .map(|point| units(ctx, &cell.deps, &point.setup()))
        .collect::<Result<Vec<_>, _>>()?;
    let results = crate::probe::aggregate(name, exp, &by_point, cell.seed)
        .map_err(|e| CellError::fault(Code::UnknownClass, e.to_string()).of("experiment", name))?;
    super::key_number(&results, writer);
    writer.write_json("results.json", &results)
}
