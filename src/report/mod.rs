//! Stage 5, report: the results of a run as one document (`results.json`, schema in docs/results.md),
//! laid out once as a page (`build`: verdicts with their reasons and flags first, then tables and
//! figures) and rendered to `report.md`, a self-contained `report.html`, the figures as SVG files under
//! `figures/`, and `metrics.csv`. A pure renderer: the report cell builds the `Document`, and
//! `study report DIR` renders again from a saved `results.json`.

mod build;
pub mod compare;
mod csv_table;
mod explain;
mod figures;
mod html;
mod markdown;
pub mod page;
mod visuals;

use crate::probe::verdict::Verdict;
use crate::probe::{ResultEntry, Results, SegmenterResult};
use crate::study::ReportFormat;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// How many skipped rows per dataset the reports list (results.json has them all).
pub(crate) const SKIPPED_SHOWN: usize = 10;

/// Version of the layout of `results.json`.
pub const RESULTS_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub format: u32,
    pub study: StudyInfo,
    pub verdicts: Vec<Verdict>,
    /// Experiments and probes in declaration order.
    pub results: Vec<Results>,
    pub segmenters: IndexMap<String, SegmenterResult>,
    /// Cells whose results are missing, with the reason; the report shows these as missing.
    pub missing: Vec<Missing>,
    /// Rows of datasets left out under `on_error skip`, with why (absent when none was).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRows>,
    /// What a reader should know about how models were made (a pretrained classifier replaced by the
    /// study's head), once each (absent when nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Loss and validation AUC per epoch of every training (absent in older results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub training: Vec<TrainingCurve>,
    /// A few images of each source × label per experiment and crop, as the models saw them (absent in
    /// older results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<ExampleImages>,
    /// Label × source counts of each split's partitions (its first fold), absent in older results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub composition: Vec<Composition>,
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

/// How a split's partitions are made of labels and sources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Composition {
    pub split: String,
    /// The fold counted (`None` for splits without folds; else the first).
    pub fold: Option<String>,
    pub sources: Vec<String>,
    /// One row per partition × label, a count per source.
    pub rows: Vec<CompositionRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompositionRow {
    pub partition: String,
    pub label: String,
    pub counts: Vec<u64>,
}

/// Example images of an experiment's data under one crop and preprocessing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleImages {
    pub experiment: String,
    pub crop: String,
    pub preprocess: String,
    pub images: Vec<Example>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub source: String,
    pub label: String,
    /// A grey PNG, base64.
    pub png: String,
}

/// The history of one training cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingCurve {
    pub cell: String,
    pub selected_epoch: u32,
    pub epochs: Vec<crate::train::EpochLog>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub cell: String,
    pub reason: String,
}

/// The rows of one dataset left out while reading it, each with its reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedRows {
    pub dataset: String,
    pub rows: Vec<String>,
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
    /// How the run that wrote this report recognised its input files: hashed then, or known unchanged
    /// from their length and modification time (absent in older results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_check: Option<crate::plan::InputCheck>,
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

/// The files a report publishes into the output folder, besides the figures.
pub const FILES: [&str; 4] = ["results.json", "report.md", "report.html", "metrics.csv"];

/// The folder of the output folder that holds the figures, one SVG file each.
pub const FIGURES: &str = "figures";

/// The files a document renders to, by path relative to the output folder (figures as
/// `figures/<name>.svg`, when the study asks for Markdown or HTML).
pub fn render(doc: &Document) -> Vec<(String, String)> {
    let mut out = vec![(
        "results.json".to_string(),
        serde_json::to_string_pretty(doc).unwrap_or_default(),
    )];
    let page = build::page(doc);
    for f in &doc.formats {
        match f {
            ReportFormat::Markdown => out.push(("report.md".into(), markdown::render(&page))),
            ReportFormat::Html => out.push(("report.html".into(), html::render(&page))),
            ReportFormat::Csv => out.push(("metrics.csv".into(), csv_table::render(doc))),
            ReportFormat::Json => {}
        }
    }
    if doc
        .formats
        .iter()
        .any(|f| matches!(f, ReportFormat::Markdown | ReportFormat::Html))
    {
        for fig in page.figures() {
            out.push((page::figure_path(&fig.name), fig.svg.clone()));
        }
    }
    out
}

/// A page (a comparison of runs) as Markdown or as a self-contained HTML file.
pub fn render_page(page: &page::Page, html: bool) -> String {
    if html {
        html::render(page)
    } else {
        markdown::render(page)
    }
}

/// A published file's name inside the report cell's folder, which is flat: `figures/a.svg` is
/// `figure.a.svg`.
pub fn stored_name(published: &str) -> String {
    match published.strip_prefix("figures/") {
        Some(rest) => format!("figure.{rest}"),
        None => published.to_string(),
    }
}

/// The path a file of the report cell's folder is published at (`None` for files it does not publish).
pub fn published_name(stored: &str) -> Option<String> {
    if let Some(rest) = stored.strip_prefix("figure.") {
        return Some(format!("{FIGURES}/{rest}"));
    }
    FILES.contains(&stored).then(|| stored.to_string())
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
pub(crate) fn point_text(e: &ResultEntry, varying: &[String]) -> String {
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

/// A cell's seed for provenance tables: its first 8 hex digits, enough to tell cells apart by eye (the
/// full value is in results.json).
pub(crate) fn short_seed(seed: u64) -> String {
    format!("{:08x}…", seed >> 32)
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
    if let Some(why) = &e.caution {
        s.push_str(&format!(" ⚠ {why}"));
    }
    s
}

/// The lines `study run` ends with for one verdict, cargo-style: the outcome and the statement, then the
/// rule that decided it with the numbers it read (both rules when neither decided).
pub fn verdict_lines(v: &Verdict) -> Vec<String> {
    use crate::probe::verdict::{CheckedRule, Decision};
    let outcome = format!("{:?}", v.outcome).to_lowercase();
    let mut lines = vec![format!("{}: {outcome} — {}", v.hypothesis, v.statement)];
    let mut rule = |kind: &str, r: &Option<CheckedRule>| {
        let Some(r) = r else { return };
        let holds = match r.holds {
            Some(true) => "holds",
            Some(false) => "does not hold",
            None => "cannot be decided",
        };
        let numbers: Vec<String> = r
            .terms
            .iter()
            .map(|t| match (t.value, &t.undefined) {
                (Some(x), _) => format!("{} = {x:.3}", t.text),
                (None, Some(why)) => format!("{} undefined ({why})", t.text),
                (None, None) => format!("{} missing", t.text),
            })
            .collect();
        lines.push(format!(
            "    {kind} `{}` {holds}: {}",
            r.text,
            numbers.join(", ")
        ));
    };
    match v.outcome {
        Decision::Confirmed => rule("confirmed when", &v.confirmed),
        Decision::Refuted => rule("refuted when", &v.refuted),
        Decision::Inconclusive => {
            rule("confirmed when", &v.confirmed);
            rule("refuted when", &v.refuted);
            lines.push(format!("    {}", v.reason));
        }
    }
    lines
}

/// `auc(unseen, site_c)` as a rule would write it.
pub(crate) fn field_text(field: &str, args: &[String]) -> String {
    if args.is_empty() {
        field.to_string()
    } else {
        format!("{field}({})", args.join(", "))
    }
}
