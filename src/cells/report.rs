//! The report cell: gathers the run's results, verdicts and provenance into a `Document`, renders it
//! with `report` and publishes the files into the output folder.

use super::readers::records;
use super::verdict::FromCells;
use crate::exec::inputs::UNREADABLE;
use crate::exec::store::{CellWriter, Store, write_atomic};
use crate::exec::{CellError, Completion, Ctx};
use crate::plan::{Plan, Task};
use crate::probe::verdict::{Lookup, evaluate};
use crate::report::{
    CellRecord, Document, FIGURES, FILES, Missing, Provenance, RESULTS_FORMAT, SkippedRows,
    StudyInfo, TrainingCurve, backends, published_name, render, stored_name,
};
use indexmap::IndexMap;

/// Builds the document from the cells of a run; missing results are listed, never invented.
pub fn document(ctx: &Ctx) -> Document {
    let plan = ctx.plan;
    let study = ctx.study();
    let lookup = FromCells(ctx);
    let mut missing = Vec::new();
    let mut results = Vec::new();
    for name in study.experiments.keys().chain(study.probes.keys()) {
        match lookup.results(name) {
            Some(r) => results.push(r),
            None => {
                let cell = lookup.cell_of(name);
                let reason = failed_dependency(ctx, &cell);
                missing.push(Missing { cell, reason });
            }
        }
    }
    let skipped = study
        .datasets
        .keys()
        .filter_map(|name| {
            let rows = records(ctx, name).ok()?.skipped;
            (!rows.is_empty()).then(|| SkippedRows {
                dataset: name.clone(),
                rows,
            })
        })
        .collect();
    // Notes of the trainings (a pretrained classifier replaced), each once, and their histories.
    let mut notes: Vec<String> = Vec::new();
    let mut training = Vec::new();
    for cell in plan
        .cells
        .iter()
        .filter(|c| matches!(c.task, Task::Train { .. }))
    {
        let Ok(model) = ctx.read::<super::train::TrainedModel>(&cell.name, "model.json") else {
            continue;
        };
        for note in &model.notes {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
        training.push(TrainingCurve {
            cell: cell.name.clone(),
            selected_epoch: model.selected_epoch,
            epochs: model.history,
        });
    }
    let verdicts = study
        .hypotheses
        .iter()
        .map(|(name, h)| evaluate(name, h, &lookup))
        .collect();
    let mut segmenters = IndexMap::new();
    for name in study.segmenters.keys() {
        if let Ok(r) = ctx.read(&format!("segmenter/{name}"), "segmenter.json") {
            segmenters.insert(name.clone(), r);
        }
    }
    let cells = plan
        .cells
        .iter()
        .map(|c| {
            let done = ctx.store.done(c);
            // The report cell is the one running now.
            let reporting = matches!(c.task, Task::Report);
            CellRecord {
                name: c.name.clone(),
                id: c.id.clone(),
                kind: c.kind().to_string(),
                seed: c.seed,
                seconds: done.as_ref().map(|d| d.seconds),
                backend: match &done {
                    Some(d) => Some(d.backend.clone()),
                    None => reporting.then(|| ctx.device.describe()),
                },
                done: done.is_some() || reporting,
            }
        })
        .collect::<Vec<_>>();
    // The files the cells read, as the run found them when it bound the plan (not read again here).
    let inputs = plan
        .input_files()
        .into_iter()
        .map(|(path, hash)| (path, (hash != UNREADABLE).then_some(hash)))
        .collect();
    Document {
        format: RESULTS_FORMAT,
        study: StudyInfo {
            name: study.name.clone(),
            description: study.description.clone(),
            fingerprint: plan.fingerprint.clone(),
            seed: study.seed,
            repeats: study.repeats,
        },
        verdicts,
        results,
        segmenters,
        missing,
        skipped,
        notes,
        training,
        examples: super::examples::examples(ctx),
        composition: super::examples::composition(ctx),
        provenance: Provenance {
            tool: "study".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            backend: backends(&cells)
                .iter()
                .map(|(b, _)| b.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            written_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            cells,
            inputs,
        },
        formats: study.report.formats.clone(),
    }
}

/// Why a cell has no results: the first unfinished cell on its dependency chain.
fn failed_dependency(ctx: &Ctx, name: &str) -> String {
    let Ok(cell) = ctx.cell(name) else {
        return "not in the plan".into();
    };
    for d in &cell.deps {
        if let Ok(dep) = ctx.cell(d)
            && !ctx.store.is_done(dep)
        {
            return format!("{d} did not finish ({})", failed_dependency(ctx, d));
        }
    }
    if ctx.store.is_done(cell) {
        "finished".into()
    } else {
        "failed or not run".into()
    }
}

/// Renders the document into the cell's folder and publishes it to the output folder.
pub fn write(ctx: &Ctx, writer: &CellWriter) -> Result<Completion, CellError> {
    let doc = document(ctx);
    remove_published(&ctx.store.root)?;
    for (name, text) in render(&doc) {
        writer.write(&stored_name(&name), text.as_bytes())?;
        write_atomic(&ctx.store.root.join(name), text.as_bytes())?;
    }
    Ok(if doc.missing.is_empty() {
        Completion::Done
    } else {
        Completion::Partial
    })
}

/// Removes the report files from the output folder unless they are those of the plan's finished report
/// cell, so that a run that fails before its report leaves no earlier version's verdicts as if current.
pub fn retract_stale_report(store: &Store, plan: &Plan) -> Result<(), CellError> {
    if plan.report_cell().is_some_and(|r| store.is_done(r)) {
        return Ok(());
    }
    remove_published(&store.root)
}

/// Removes the published report files and figures from the output folder.
fn remove_published(root: &std::path::Path) -> Result<(), CellError> {
    let gone = |path: &std::path::Path, r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CellError::io(path, &e)),
        _ => Ok(()),
    };
    for name in FILES {
        let path = root.join(name);
        gone(&path, std::fs::remove_file(&path))?;
    }
    let figures = root.join(FIGURES);
    gone(&figures, std::fs::remove_dir_all(&figures))
}

/// Copies the files of the plan's finished report cell to the output folder: the report of this study
/// version is published even when every cell was cached.
pub fn publish(store: &Store, plan: &Plan) -> Result<(), CellError> {
    let Some(report) = plan.report_cell() else {
        return Ok(());
    };
    if !store.is_done(report) {
        return Ok(());
    }
    let dir = store.cell_dir(report);
    let entries = std::fs::read_dir(&dir).map_err(|e| CellError::io(&dir, &e))?;
    let mut files: Vec<(String, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = published_name(&e.file_name().to_string_lossy())?;
            Some((name, e.path()))
        })
        .collect();
    files.sort();
    remove_published(&store.root)?;
    for (name, path) in files {
        let bytes = std::fs::read(&path).map_err(|e| CellError::io(&path, &e))?;
        write_atomic(&store.root.join(name), &bytes)?;
    }
    Ok(())
}
