//! The bodies of the plan's cells, one module per task kind: each reads its dependencies' outputs
//! through the engine's `Ctx`, computes (training with `train`, statistics with `probe`, documents with
//! `report`) and writes its outputs through a `CellWriter`. `body` is the dispatch the engine is handed.

mod aggregate;
mod evaluate;
mod examples;
mod finetune;
mod images;
mod prepare;
mod probes;
mod readers;
mod report;
mod saliency;
mod segmenter;
mod split;
mod train;
mod verdict;

pub use readers::{Partitions, Records};
pub use report::{document, publish, retract_stale_report};
pub use train::TrainedModel;

use crate::diagnostics::Code;
use crate::eval::predictions::Predictions;
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Completion, Ctx};
use crate::model::NetConfig;
use crate::plan::{Cell, Task};
use crate::study::{GridPoint, Setup, Target};

/// Runs the body of a cell's task (what the engine calls for every cell).
pub fn body(ctx: &Ctx, cell: &Cell, writer: &CellWriter) -> Result<Completion, CellError> {
    let done = |r: Result<(), CellError>| r.map(|_| Completion::Done);
    match &cell.task {
        Task::Prepare { dataset } => done(prepare::prepare(ctx, dataset, writer)),
        Task::Split { split } => done(split::split(ctx, split, writer)),
        Task::Segmenter { segmenter } => done(segmenter::segmenter(ctx, cell, segmenter, writer)),
        Task::Train { .. } => done(train::train(ctx, cell, writer)),
        Task::Evaluate { train } => done(evaluate::evaluate(ctx, train, writer)),
        Task::Aggregate { experiment } => done(aggregate::aggregate(ctx, cell, experiment, writer)),
        Task::Probe { probe } => done(probes::probe(ctx, cell, probe, writer)),
        Task::Verdict { hypothesis } => verdict::decide(ctx, hypothesis, writer),
        Task::Report => report::write(ctx, writer),
    }
}

/// Records the main number of results (the first, unless the kind has a headline field) as the cell's key number (`auc(seen) 0.908 [0.856, 0.960]`).
fn key_number(results: &crate::probe::Results, writer: &CellWriter) {
    // The number a reader looks for first: the gap of a gap probe, the strength of an association.
    let preferred = match results.kind.as_str() {
        "gap" => Some("gap"),
        "association" => Some("cramers_v"),
        _ => None,
    };
    let entry = preferred
        .and_then(|f| results.entries.iter().find(|e| e.field == f))
        .or(results.entries.first());
    if let Some(e) = entry {
        let field = crate::report::field_text(&e.field, &e.args);
        let value = match &e.estimate.undefined {
            Some(why) => format!("undefined ({why})"),
            None => crate::eval::estimate::brief(&e.estimate),
        };
        writer.key(format!("{field} {value}"));
    }
}

/// The predictions of every evaluation cell among `deps` whose model was trained with `setup`.
fn units(ctx: &Ctx, deps: &[String], setup: &Setup) -> Result<Vec<Predictions>, CellError> {
    let mut out = Vec::new();
    for d in deps {
        let cell = ctx.cell(d)?;
        let Task::Evaluate { train } = &cell.task else {
            continue;
        };
        let Task::Train { setup: s, .. } = &ctx.cell(train)?.task else {
            continue;
        };
        if s == setup {
            let mut p = ctx.read::<Predictions>(d, "predictions.json")?;
            if let Some(split) = ctx.study().splits.get(&setup.split) {
                p.tests = split.tests.clone();
            }
            out.push(p);
        }
    }
    Ok(out)
}

/// The train cells among `deps` (fine-tuning) or the train cells behind evaluate cells (saliency).
fn train_cells<'a>(
    ctx: &Ctx<'a>,
    deps: &[String],
    setup: &Setup,
) -> Result<Vec<&'a Cell>, CellError> {
    let mut out = Vec::new();
    for d in deps {
        let mut cell = ctx.cell(d)?;
        if let Task::Evaluate { train } = &cell.task {
            cell = ctx.cell(train)?;
        }
        if let Task::Train { setup: s, .. } = &cell.task
            && s == setup
            && !out.iter().any(|c: &&Cell| c.name == cell.name)
        {
            out.push(cell);
        }
    }
    Ok(out)
}

fn probe_point(ctx: &Ctx, experiment: &str, point: &Option<GridPoint>) -> GridPoint {
    point
        .clone()
        .unwrap_or_else(|| ctx.study().experiments[experiment].points[0].clone())
}

fn train_task(cell: &Cell) -> Result<(&Setup, &Target, &Option<String>), CellError> {
    match &cell.task {
        Task::Train {
            setup,
            target,
            fold,
            ..
        } => Ok((setup, target, fold)),
        _ => Err(CellError::fault(
            Code::CorruptOutput,
            format!("`{}` is not a train cell", cell.name),
        )),
    }
}

fn net_config(ctx: &Ctx, setup: &Setup, classes: usize) -> NetConfig {
    let model = &ctx.study().models[&setup.model];
    NetConfig {
        architecture: model.architecture.clone(),
        in_channels: ctx.study().preprocessings[&setup.preprocess].channels as usize,
        classes,
        head: model.head.iter().map(|h| *h as usize).collect(),
        dropout: model.dropout,
    }
}

/// Turns a panic inside burn into a diagnostic: out-of-memory when the message says so.
fn guarded<T>(f: impl FnOnce() -> Result<T, CellError>) -> Result<T, CellError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            let lower = why.to_lowercase();
            if lower.contains("out of memory") || lower.contains("oom") || lower.contains("alloc") {
                Err(CellError::fault(Code::OutOfMemory, why)
                    .help("lower the batch size or the input size, or use a smaller model"))
            } else {
                Err(CellError::fault(Code::Internal, why))
            }
        }
    }
}
