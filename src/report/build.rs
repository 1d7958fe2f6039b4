//! The page of a document: verdicts first (question, answer, reason, evidence, flags), then each
//! experiment and probe as wide tables and figures, the training curves, and provenance.

use super::explain::{self, Flag};
use super::figures;
use super::page::{Block, Figure, Headline, Line, Page, Table, Tone, code, em, strong, text};
use super::visuals;
use super::{Document, estimate_text, field_text, num};
use crate::probe::{ResultEntry, Results, point_label};
use crate::study::GridPoint;
use indexmap::IndexMap;

pub fn page(doc: &Document) -> Page {
    let mut page = Page {
        title: doc.study.name.clone(),
        blocks: Vec::new(),
    };
    page.heading(1, format!("Study “{}”", doc.study.name));
    if let Some(d) = &doc.study.description {
        page.para(vec![text(d)]);
    }
    page.para(vec![
        text("Fingerprint "),
        code(&doc.study.fingerprint[..16.min(doc.study.fingerprint.len())]),
        text(format!(
            " · seed {} · {} repeat(s) · {} · study {}",
            doc.study.seed, doc.study.repeats, doc.provenance.backend, doc.provenance.tool_version
        )),
    ]);
    warnings(doc, &mut page);
    let flags = explain::flags(&doc.results);
    verdicts(doc, &flags, &mut page);
    visuals::composition(doc, &mut page);
    page.heading(2, "Results");
    page.para(vec![text(
        "Intervals are 95 % unless the experiment says otherwise; `± SE` is the standard error over repeats; \
         ⚠ marks a number resting on few images of a class.",
    )]);
    for r in &doc.results {
        page.heading(3, format!("{} `{}`", r.kind.replace('_', " "), r.target));
        match r.kind.as_str() {
            "experiment" => {
                experiment(r, &mut page);
                visuals::examples(doc, &r.target, &mut page);
            }
            "association" => association(r, &mut page),
            _ => entries_table(r, &mut page),
        }
        visuals::saliency(r, &mut page);
        for n in &r.notes {
            page.para(vec![em(n)]);
        }
    }
    visuals::training(doc, &mut page);
    segmenters(doc, &mut page);
    provenance(doc, &mut page);
    page
}

fn warnings(doc: &Document, page: &mut Page) {
    if !doc.missing.is_empty() {
        let mut lines = vec![vec![
            strong("Incomplete run."),
            text(" These results are missing and are not shown:"),
        ]];
        for m in &doc.missing {
            lines.push(vec![code(&m.cell), text(format!(": {}", m.reason))]);
        }
        page.push(Block::Callout {
            tone: Tone::Warning,
            lines,
        });
    }
    for note in &doc.notes {
        page.push(Block::Callout {
            tone: Tone::Note,
            lines: vec![vec![strong("Note:"), text(format!(" {note}"))]],
        });
    }
    for s in &doc.skipped {
        let mut lines = vec![vec![
            strong("Rows left out"),
            text(" of dataset "),
            code(&s.dataset),
            text(" ("),
            code("on_error skip"),
            text(format!("): {}", s.rows.len())),
        ]];
        for row in s.rows.iter().take(super::SKIPPED_SHOWN) {
            lines.push(vec![text(row)]);
        }
        if s.rows.len() > super::SKIPPED_SHOWN {
            let rest = s.rows.len() - super::SKIPPED_SHOWN;
            lines.push(vec![text(format!("and {rest} more (all in results.json)"))]);
        }
        page.push(Block::Callout {
            tone: Tone::Warning,
            lines,
        });
    }
}

/// The targets a verdict's numbers come from, and the experiments behind its gap probes.
fn read_by(v: &crate::probe::verdict::Verdict, results: &[Results]) -> Vec<String> {
    let mut targets: Vec<String> = v
        .confirmed
        .iter()
        .chain(&v.refuted)
        .flat_map(|r| &r.terms)
        .filter_map(|t| t.source.as_ref().map(|s| s.target.clone()))
        .collect();
    let behind: Vec<String> = results
        .iter()
        .filter(|r| targets.contains(&r.target))
        .filter_map(|r| r.details["experiment"].as_str().map(String::from))
        .collect();
    targets.extend(behind);
    targets
}

fn verdicts(doc: &Document, flags: &[Flag], page: &mut Page) {
    page.heading(2, "Verdicts");
    if doc.verdicts.is_empty() {
        page.para(vec![text("The study states no hypotheses.")]);
    } else {
        page.push(Block::Legend);
    }
    let mut shown = vec![false; flags.len()];
    for v in &doc.verdicts {
        let read = read_by(v, &doc.results);
        let mine: Vec<Line> = flags
            .iter()
            .enumerate()
            .filter(|(_, f)| read.contains(&f.target))
            .map(|(k, f)| {
                shown[k] = true;
                f.line.clone()
            })
            .collect();
        page.push(Block::Headline(Headline {
            hypothesis: v.hypothesis.clone(),
            question: v.statement.clone(),
            outcome: v.outcome,
            reason: explain::reason(v, &doc.results),
            evidence: explain::evidence(v, &doc.results),
            flags: mine,
        }));
    }
    let rest: Vec<Line> = flags
        .iter()
        .zip(&shown)
        .filter(|(_, s)| !**s)
        .map(|(f, _)| f.line.clone())
        .collect();
    if !rest.is_empty() {
        page.heading(3, "Flags on results no hypothesis reads");
        page.push(Block::List(rest));
    }
}

/// `0.908 [0.856, 0.960] ± 0.001` with ⚠ when it rests on few images (the reason is among the flags).
fn cell_text(e: &crate::eval::estimate::Estimate) -> String {
    let mut plain = e.clone();
    let caution = plain.caution.take().is_some();
    let mut s = estimate_text(&plain);
    if caution {
        s.push_str(" ⚠");
    }
    s
}

/// An experiment: a forest plot of its first measure, a wide table per grid cell (rows partition and
/// source, columns the measures), the worst sources, confusion matrices and ROC curves.
fn experiment(r: &Results, page: &mut Page) {
    let varying = super::varying(r);
    let measures: Vec<String> = r.details["measures"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut points: Vec<Option<GridPoint>> = Vec::new();
    for e in &r.entries {
        if !points.contains(&e.point) {
            points.push(e.point.clone());
        }
    }
    if let Some(first) = measures.first() {
        visuals::forest(r, first, &points, &varying, page);
    }
    for point in &points {
        let at = point
            .as_ref()
            .map(|p| point_label(p, &varying))
            .filter(|l| !l.is_empty())
            .map_or(String::new(), |l| format!(", {}", l.replace('=', " = ")));
        let mut rows: IndexMap<Vec<String>, Vec<&ResultEntry>> = IndexMap::new();
        for e in r.entries.iter().filter(|e| &e.point == point) {
            rows.entry(e.args.clone()).or_default().push(e);
        }
        let mut header = vec!["partition / source".to_string()];
        header.extend(measures.iter().cloned());
        header.push("positives / negatives".into());
        let table_rows = rows
            .iter()
            .map(|(args, entries)| {
                let mut cells: Vec<Line> = vec![vec![text(args.join(" · "))]];
                for m in &measures {
                    let cell = entries
                        .iter()
                        .find(|e| &e.field == m)
                        .map_or("–".to_string(), |e| cell_text(&e.estimate));
                    cells.push(vec![text(cell)]);
                }
                let n = explain::class_counts(r, point.as_ref(), args)
                    .map_or("–".to_string(), |(p, n)| format!("{p} / {n}"));
                cells.push(vec![text(n)]);
                cells
            })
            .collect();
        page.push(Block::Table(Table {
            caption: format!("`{}`{at}: measures by partition and source", r.target),
            header,
            rows: table_rows,
        }));
    }
    worst_sources(r, &varying, page);
    visuals::confusion(r, &varying, page);
    visuals::roc(r, &varying, page);
}

fn worst_sources(r: &Results, varying: &[String], page: &mut Page) {
    let Some(worst) = r.details["worst_source"]
        .as_array()
        .filter(|w| !w.is_empty())
    else {
        return;
    };
    page.para(vec![text(
        "Worst source per partition (partitions of two or more sources whose values differ):",
    )]);
    let items = worst
        .iter()
        .map(|w| {
            let point: Option<GridPoint> = serde_json::from_value(w["point"].clone()).ok();
            let at = point
                .map(|p| point_label(&p, varying))
                .filter(|l| !l.is_empty())
                .map_or(String::new(), |l| format!(" ({l})"));
            vec![
                text(format!(
                    "{} on {}: ",
                    w["metric"].as_str().unwrap_or(""),
                    w["partition"].as_str().unwrap_or("")
                )),
                code(w["source"].as_str().unwrap_or("")),
                text(format!(" {}{at}", num(w["value"].as_f64()))),
            ]
        })
        .collect();
    page.push(Block::List(items));
}

/// A probe's results as a table of its numbers.
fn entries_table(r: &Results, page: &mut Page) {
    let varying = super::varying(r);
    let rows = r
        .entries
        .iter()
        .map(|e| {
            let mut field = field_text(&e.field, &e.args);
            let p = super::point_text(e, &varying);
            if !p.is_empty() {
                field = format!("{field} at {p}");
            }
            vec![vec![code(field)], vec![text(cell_text(&e.estimate))]]
        })
        .collect();
    page.push(Block::Table(Table {
        caption: format!("`{}`: results", r.target),
        header: vec!["result".into(), "estimate".into()],
        rows,
    }));
}

fn association(r: &Results, page: &mut Page) {
    entries_table(r, page);
    let d = &r.details;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (rows, columns) = (strings(&d["rows"]), strings(&d["columns"]));
    let counts: Vec<Vec<u64>> = (0..rows.len())
        .map(|i| {
            d["counts"][i]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
                .unwrap_or_default()
        })
        .collect();
    let (first, second) = (
        d["first"].as_str().unwrap_or(""),
        d["second"].as_str().unwrap_or(""),
    );
    let within = format!(
        "{}.{}",
        d["split"].as_str().unwrap_or(""),
        d["partition"].as_str().unwrap_or("")
    );
    page.push(Block::Table(Table {
        caption: format!("`{}`: {first} × {second} in `{within}`", r.target),
        header: std::iter::once(first.to_string())
            .chain(columns.clone())
            .collect(),
        rows: rows
            .iter()
            .zip(&counts)
            .map(|(name, row)| {
                std::iter::once(vec![text(name)])
                    .chain(row.iter().map(|n| vec![text(n.to_string())]))
                    .collect()
            })
            .collect(),
    }));
    page.push(Block::Figure(Figure {
        name: format!("{}-composition", r.target),
        caption: format!(
            "Composition of `{within}`: {first} × {second}, each row shaded by its share. A dark diagonal \
             means the {second} gives the {first} away."
        ),
        svg: figures::heatmap_svg(
            &format!("{first} × {second} in {within}"),
            first,
            &rows,
            &columns,
            &counts,
        ),
    }));
}

fn segmenters(doc: &Document, page: &mut Page) {
    if doc.segmenters.is_empty() {
        return;
    }
    page.heading(2, "Segmenters");
    page.push(Block::Table(Table {
        caption: "Segmenters: overlap with the manual masks on held-out images".into(),
        header: vec![
            "segmenter".into(),
            "Dice".into(),
            "IoU".into(),
            "train / held-out images".into(),
        ],
        rows: doc
            .segmenters
            .iter()
            .map(|(name, s)| {
                vec![
                    vec![text(name)],
                    vec![text(num(s.dice))],
                    vec![text(num(s.iou))],
                    vec![text(format!("{} / {}", s.train_images, s.holdout_images))],
                ]
            })
            .collect(),
    }));
}

fn provenance(doc: &Document, page: &mut Page) {
    let p = &doc.provenance;
    page.heading(2, "Provenance");
    let total: f64 = p.cells.iter().filter_map(|c| c.seconds).sum();
    page.push(Block::List(vec![
        vec![text(format!("tool: {} {}", p.tool, p.tool_version))],
        vec![text(format!("backend: {}", p.backend))],
        vec![text("study fingerprint: "), code(&doc.study.fingerprint)],
        vec![text(format!("seed: {}", doc.study.seed))],
        vec![text(match &p.input_check {
            Some(check) => format!("input files: {}", check.describe()),
            None => format!("input files: {}", p.inputs.len()),
        })],
        vec![text(format!("compute time over all cells: {total:.1} s"))],
    ]));
    if let Some(warning) = super::mixed_backends(p) {
        page.push(Block::Callout {
            tone: Tone::Warning,
            lines: vec![vec![strong("Mixed backends."), text(format!(" {warning}"))]],
        });
    }
    page.push(Block::Table(Table {
        caption: "Cells: content id, seed, wall time and backend (full seeds in results.json)"
            .into(),
        header: vec![
            "cell".into(),
            "id".into(),
            "seed (hex, first 8 digits)".into(),
            "seconds".into(),
            "backend".into(),
        ],
        rows: p
            .cells
            .iter()
            .map(|c| {
                vec![
                    vec![text(&c.name)],
                    vec![code(&c.id)],
                    vec![text(super::short_seed(c.seed))],
                    vec![text(super::cell_time(c))],
                    vec![text(c.backend.as_deref().unwrap_or("–"))],
                ]
            })
            .collect(),
    }));
}
