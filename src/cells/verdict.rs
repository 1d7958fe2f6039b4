//! The verdict cell: a hypothesis decided on the results of the cells it reads.

use crate::exec::store::CellWriter;
use crate::exec::{CellError, Completion, Ctx};
use crate::probe::Results;
use crate::probe::verdict::{Lookup, evaluate};

/// Results from the cells of a run.
pub struct FromCells<'a, 'c>(pub &'a Ctx<'c>);

impl FromCells<'_, '_> {
    /// The cell whose `results.json` holds a target's results.
    pub fn cell_of(&self, target: &str) -> String {
        if self.0.study().experiments.contains_key(target) {
            format!("aggregate/{target}")
        } else {
            format!("probe/{target}")
        }
    }
}

impl Lookup for FromCells<'_, '_> {
    fn results(&self, target: &str) -> Option<Results> {
        self.0.read(&self.cell_of(target), "results.json").ok()
    }
}

/// Writes the verdict; a verdict missing some of its results is partial (not cached).
pub fn decide(ctx: &Ctx, name: &str, writer: &CellWriter) -> Result<Completion, CellError> {
    let h = &ctx.study().hypotheses[name];
    let lookup = FromCells(ctx);
    let verdict = evaluate(name, h, &lookup);
    writer.key(format!("{:?}", verdict.outcome).to_lowercase());
    writer.write_json("verdict.json", &verdict)?;
    let complete = h.uses().iter().all(|t| lookup.results(t).is_some());
    Ok(if complete {
        Completion::Done
    } else {
        Completion::Partial
    })
}
