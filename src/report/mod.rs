//! Stage 5, report: the results of a run as one document (`results.json`, schema in docs/results.md),
//! rendered to `report.md`, a self-contained `report.html` with ROC curves as inline SVG, and
//! `metrics.csv`. `study report DIR` renders again from a saved `results.json`.

mod csv_table;
mod html;
mod markdown;
mod plot;

use crate::plan::Task;
use crate::probe::Results;
use crate::probe::verdict::{self, FromCells, Lookup, Verdict};
use crate::run::store::{CellWriter, Store, write_atomic};
use crate::run::{CellError, Completion, Ctx};
use crate::study::ReportFormat;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the layout of `results.json`.
pub const RESULTS_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub format: u32,
    pub study: StudyInfo,
    pub verdicts: Vec<Verdict>,
    /// Experiments and probes in declaration order.
    pub results: Vec<Results>,
    pub segmenters: IndexMap<String, crate::run::SegmenterResult>,
    /// Cells whose results are missing, with the reason; the report shows these as missing.
    pub missing: Vec<Missing>,
    pub provenance: Provenance,
    /// The formats the study asked for.
    pub formats: Vec<ReportFormat>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyInfo {
    pub name: String,
    pub description: Option<String>,
    pub fingerprint: String,
    pub seed: u64,
    pub repeats: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub cell: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub tool: String,
    pub tool_version: String,
    /// The backends the cells were computed on, in plan order, joined by ` + ` (cells of earlier
    /// invocations are reused whatever device they ran on; each cell's own is in `cells`).
    pub backend: String,
    /// Seconds since the Unix epoch when the report was written.
    pub written_at: u64,
    pub cells: Vec<CellRecord>,
    /// Input files with their blake3 content hash (`null` when unreadable).
    pub inputs: std::collections::BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub name: String,
    pub id: String,
    pub kind: String,
    pub seed: u64,
    /// Wall time of the cell when it ran (it may have run in an earlier invocation).
    pub seconds: Option<f64>,
    /// The backend the cell ran on (`null` while it has not finished).
    pub backend: Option<String>,
    pub done: bool,
}

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
                let cell = if study.experiments.contains_key(name) {
                    format!("aggregate/{name}")
                } else {
                    format!("probe/{name}")
                };
                let reason = failed_dependency(ctx, &cell);
                missing.push(Missing { cell, reason });
            }
        }
    }
    let verdicts = study
        .hypotheses
        .iter()
        .map(|(name, h)| verdict::evaluate(name, h, &lookup))
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
    // The records come from the prepare cells: the datasets are not read again for the report.
    let inputs = crate::run::lock::files_of(study, &ctx.data, |name| {
        crate::run::records(ctx, name)
            .map(|r| r.records)
            .map_err(|_| Vec::new())
    })
    .map(|files| crate::run::lock::hashes(&files, &ctx.data.root))
    .unwrap_or_default();
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

/// The files a document renders to, by name.
pub fn render(doc: &Document) -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "results.json",
        serde_json::to_string_pretty(doc).unwrap_or_default(),
    )];
    for f in &doc.formats {
        match f {
            ReportFormat::Markdown => out.push(("report.md", markdown::render(doc))),
            ReportFormat::Html => out.push(("report.html", html::render(doc))),
            ReportFormat::Csv => out.push(("metrics.csv", csv_table::render(doc))),
            ReportFormat::Json => {}
        }
    }
    out
}

/// The report cell: renders into its own folder and publishes to the output folder.
pub fn write(
    ctx: &Ctx,
    _cell: &crate::plan::Cell,
    writer: &CellWriter,
) -> Result<Completion, CellError> {
    let doc = document(ctx);
    for (name, text) in render(&doc) {
        writer.write(name, text.as_bytes())?;
        write_atomic(&ctx.store.root.join(name), text.as_bytes())?;
    }
    Ok(if doc.missing.is_empty() {
        Completion::Done
    } else {
        Completion::Partial
    })
}

/// Copies a finished report cell's files to the output folder.
pub fn publish(store: &Store, dir: &Path) -> Result<(), CellError> {
    for name in ["results.json", "report.md", "report.html", "metrics.csv"] {
        let from = dir.join(name);
        if let Ok(bytes) = std::fs::read(&from) {
            write_atomic(&store.root.join(name), &bytes)?;
        }
    }
    Ok(())
}

/// `study report DIR`: renders the reports again from `DIR/results.json`.
pub fn rerender(dir: &Path) -> Result<Vec<String>, CellError> {
    let path = dir.join("results.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        CellError::fault(
            crate::diagnostics::Code::CorruptOutput,
            format!("{}: {e}", path.display()),
        )
        .help("give the output folder of a finished run")
    })?;
    let doc: Document = serde_json::from_slice(&bytes).map_err(|e| {
        CellError::fault(
            crate::diagnostics::Code::CorruptOutput,
            format!("{}: {e}", path.display()),
        )
    })?;
    let mut written = Vec::new();
    for (name, text) in render(&doc) {
        if name == "results.json" {
            continue;
        }
        write_atomic(&dir.join(name), text.as_bytes())?;
        written.push(name.to_string());
    }
    Ok(written)
}

/// The grid axes an experiment varies (empty for probes).
pub(crate) fn varying(r: &Results) -> Vec<String> {
    r.details["varying"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The grid cell of an entry, as `crop=full` over the varying axes (empty for probes).
pub(crate) fn point_text(e: &crate::probe::Entry, varying: &[String]) -> String {
    e.point
        .as_ref()
        .map(|p| crate::probe::point_label(p, varying))
        .unwrap_or_default()
}

/// The distinct backends of the cells, in plan order, with how many cells ran on each.
pub(crate) fn backends(cells: &[CellRecord]) -> Vec<(String, usize)> {
    let mut counts: IndexMap<String, usize> = IndexMap::new();
    for b in cells.iter().filter_map(|c| c.backend.clone()) {
        *counts.entry(b).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// A warning when the cells of one report were computed on different backends (numbers may then
/// differ in their last digits from a run on one backend), or `None`.
pub(crate) fn mixed_backends(p: &Provenance) -> Option<String> {
    let all = backends(&p.cells);
    (all.len() > 1).then(|| {
        let list = all
            .iter()
            .map(|(b, n)| format!("{b} ({n} cell{})", if *n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "Cells of this run were computed on more than one backend: {list}. \
             Results can differ slightly between backends; delete the run folder and run again \
             to compute every cell on one."
        )
    })
}

/// A cell's wall time for provenance tables.
pub(crate) fn cell_time(c: &CellRecord) -> String {
    match (c.seconds, c.done) {
        (Some(s), _) => format!("{s:.2}"),
        (None, true) => "–".into(),
        (None, false) => "not finished".into(),
    }
}

/// A number for tables: three decimals, or a dash.
pub(crate) fn num(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.3}"))
}

/// `0.912 [0.85, 0.96]` (± SE when there are repeats), or the reason it is undefined.
pub(crate) fn estimate_text(e: &crate::eval::estimate::Estimate) -> String {
    if let Some(why) = &e.undefined {
        return format!("undefined ({why})");
    }
    let mut s = num(e.value);
    if e.lower.is_some() || e.upper.is_some() {
        s.push_str(&format!(" [{}, {}]", num(e.lower), num(e.upper)));
    }
    if let Some(se) = e.se {
        s.push_str(&format!(" ± {se:.3} SE"));
    }
    s
}

/// `auc(unseen, site_c)` as a rule would write it.
pub(crate) fn field_text(field: &str, args: &[String]) -> String {
    if args.is_empty() {
        field.to_string()
    } else {
        format!("{field}({})", args.join(", "))
    }
}
