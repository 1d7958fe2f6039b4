//! Stage 4, the engine: runs a plan's cells in dependency order, each through one entry point
//! (`execute_cell`, what `study run-cell` calls), caching finished cells on disk so that a rerun skips
//! them and a killed run resumes where it stopped.
//!
//! The engine knows no cell body: it is handed one (`Body`, the `cells` module's dispatch) and gives it a
//! `Ctx` and a `CellWriter`. It imports the plan and the study's data types, never what runs on them.

mod context;
pub mod device;
mod error;
pub mod inputs;
pub mod lock;
mod options;
pub mod output;
mod process;
mod scheduler;
pub mod slurm;
pub mod store;

pub use context::Ctx;
pub use device::Device;
pub use error::CellError;
pub use options::{Options, Progress, SlurmOptions};
pub use output::{OutputClaim, claim};
pub use process::run_cell;
pub use scheduler::{RunSummary, run};

use crate::plan::Cell;
use std::time::Instant;
use store::{CellWriter, Done};

/// Whether a cell finished for good or wrote a partial result (a verdict or report missing inputs),
/// which is not cached so that a later run completes it.
pub enum Completion {
    Done,
    Partial,
}

/// What a cell does: reads its dependencies through the context, writes its outputs through the writer.
pub type Body = fn(&Ctx, &Cell, &CellWriter) -> Result<Completion, CellError>;

/// Runs one cell: its body writes into a partial folder, published under the cell's id once done.
pub fn execute_cell(ctx: &Ctx, cell: &Cell, body: Body) -> Result<Completion, CellError> {
    let started = Instant::now();
    let writer = ctx.store.begin(cell)?;
    match body(ctx, cell, &writer) {
        Ok(Completion::Done) => {
            writer.commit(Done {
                cell: cell.name.clone(),
                id: cell.id.clone(),
                seconds: started.elapsed().as_secs_f64(),
                backend: ctx.device.describe(),
                files: Default::default(),
                key: None,
            })?;
            let _ = std::fs::remove_dir_all(ctx.store.work_dir(cell));
            Ok(Completion::Done)
        }
        Ok(Completion::Partial) => {
            writer.abandon();
            Ok(Completion::Partial)
        }
        Err(e) => {
            writer.abandon();
            Err(e)
        }
    }
}
