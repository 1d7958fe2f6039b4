//! The report cell: gathers the run's results, verdicts and provenance into a `Document`, renders it
//! with `report` and publishes the files into the output folder.

use super::readers::records;
use super::verdict::FromCells;
use crate::exec::inputs::UNREADABLE;
use crate::exec::store::{CellWriter, MAX_RECORD_BYTES, Store};
use crate::exec::{CellError, Completion, Ctx};
use crate::plan::{Plan, Task};
use crate::probe::verdict::{Lookup, evaluate};
use crate::report::{
    CellRecord, Document, FIGURES, FILES, Missing, Provenance, RESULTS_FORMAT, SkippedRows,
    StudyInfo, TrainingCurve, backends, published_name, render, stored_name,
};
use indexmap::IndexMap;
use std::path::Path;

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
    // Notes of the trainings (a pretrained classifier replaced), each once, their histories, and the
    // images they left out.
    let mut notes: Vec<String> = Vec::new();
    let mut training = Vec::new();
    let mut excluded = Vec::new();
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
        excluded.extend(model.excluded);
    }
    for cell in plan
        .cells
        .iter()
        .filter(|c| matches!(c.task, Task::Evaluate { .. }))
    {
        if let Ok(p) =
            ctx.read::<crate::eval::predictions::Predictions>(&cell.name, "predictions.json")
        {
            excluded.extend(p.excluded);
        }
    }
    let skipped = skipped_rows(ctx, excluded);
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
            input_check: plan.input_check,
        },
        formats: study.report.formats.clone(),
    }
}

/// Rows left out of each dataset under `on_error skip`: those the prepare cell could not read, then the
/// images the trainings and evaluations could not decode (`excluded`: record id and why), named once each.
fn skipped_rows(ctx: &Ctx, excluded: Vec<(String, String)>) -> Vec<SkippedRows> {
    let mut by_dataset: IndexMap<String, Vec<String>> = IndexMap::new();
    let mut dataset_of: std::collections::HashMap<String, String> = Default::default();
    for name in ctx.study().datasets.keys() {
        let Ok(read) = records(ctx, name) else {
            continue;
        };
        for r in &read.records {
            dataset_of.insert(r.id.clone(), name.clone());
        }
        by_dataset.insert(name.clone(), read.skipped);
    }
    for (id, reason) in excluded {
        // What a crop leaves out is the study's choice, told with the crop; unreadable images are not.
        if reason == super::images::REJECTED_BY_CROP || reason == super::images::NO_MASK {
            continue;
        }
        if let Some(rows) = dataset_of.get(&id).and_then(|d| by_dataset.get_mut(d)) {
            let row = format!("{id}: {reason}");
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    by_dataset
        .into_iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(dataset, rows)| SkippedRows { dataset, rows })
        .collect()
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

/// Renders the document into the cell's folder (`publish` puts it in the output folder once the run ends;
/// the report of an incomplete run, which is not kept as finished, is published at once).
pub fn write(ctx: &Ctx, writer: &CellWriter) -> Result<Completion, CellError> {
    let doc = document(ctx);
    let files: Vec<(String, Vec<u8>)> = render(&doc)
        .into_iter()
        .map(|(name, text)| (name, text.into_bytes()))
        .collect();
    for (name, bytes) in &files {
        writer.write(&stored_name(name), bytes)?;
    }
    if doc.missing.is_empty() {
        return Ok(Completion::Done);
    }
    // An incomplete run's report is not kept as a finished cell: it is published from here.
    publish_report(&ctx.store.root, &files)?;
    Ok(Completion::Partial)
}

/// Removes the report files from the output folder unless they are those of the plan's finished report
/// cell, so that a run that fails before its report leaves no earlier version's verdicts as if current.
pub fn retract_stale_report(store: &Store, plan: &Plan) -> Result<(), CellError> {
    if plan.report_cell().is_some_and(|r| store.is_done(r)) {
        return Ok(());
    }
    publish_report(&store.root, &[])
}

/// Publishes a report's files into `dir` together, replacing the report files and figures there: all of
/// them or, when writing fails, none (the earlier ones stay).
pub fn publish_report(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), CellError> {
    let mut replaced: Vec<&str> = FILES.to_vec();
    replaced.push(FIGURES);
    crate::files::publish_together(dir, files, &replaced)
        .map_err(|(path, e)| CellError::io(&path, &e))
}

/// Copies the files of the plan's finished report cell to the output folder, all together: the report of
/// this study version is published even when every cell was cached.
pub fn publish(store: &Store, plan: &Plan) -> Result<(), CellError> {
    let Some(report) = plan.report_cell() else {
        return Ok(());
    };
    let Some(done) = store.done(report) else {
        return Ok(());
    };
    let mut files = Vec::new();
    for stored in done.files.keys() {
        let Some(name) = published_name(stored) else {
            continue;
        };
        let bytes = store.read_checked(report, &done, stored, MAX_RECORD_BYTES)?;
        files.push((name, bytes));
    }
    files.sort();
    publish_report(&store.root, &files)
}
