//! The page of a document: verdicts first (question, answer, reason, evidence, flags), then each
//! experiment and probe as wide tables and figures, the training curves, and provenance.

use super::explain::{self, Flag};
use super::figures::{self, Curve, ForestRow, History};
use super::page::{Block, Figure, Headline, Line, Page, Table, Tone, code, em, strong, text};
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
                examples(doc, &r.target, &mut page);
            }
            "association" => association(r, &mut page),
            _ => entries_table(r, &mut page),
        }
        saliency(r, &mut page);
        for n in &r.notes {
            page.para(vec![em(n)]);
        }
    }
    training(doc, &mut page);
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
        forest(r, first, &points, &varying, page);
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
    confusion(r, &varying, page);
    roc(r, &varying, page);
}

/// The experiment's estimates of one measure, pooled and per source, for every grid cell.
fn forest(
    r: &Results,
    measure: &str,
    points: &[Option<GridPoint>],
    varying: &[String],
    page: &mut Page,
) {
    let partitions: Vec<String> = r.details["partitions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for point in points {
        let at = point
            .as_ref()
            .map(|p| point_label(p, varying))
            .unwrap_or_default();
        for e in r
            .entries
            .iter()
            .filter(|e| e.field == measure && &e.point == point)
        {
            let Some(value) = e.estimate.value else {
                continue;
            };
            let scope = match e.args.get(1) {
                Some(source) => format!("  {source}"),
                None => e.args.first().cloned().unwrap_or_default(),
            };
            let group = e
                .args
                .first()
                .and_then(|p| partitions.iter().position(|q| q == p))
                .unwrap_or(0);
            rows.push(ForestRow {
                label: if at.is_empty() {
                    scope
                } else {
                    format!("{at} · {scope}")
                },
                value,
                interval: e.estimate.lower.zip(e.estimate.upper),
                group,
            });
        }
    }
    if rows.is_empty() {
        return;
    }
    let title = format!(
        "{} of {}, pooled and per source",
        measure_word(measure),
        r.target
    );
    if let Some(svg) = figures::forest_svg(&title, measure, &rows) {
        page.push(Block::Figure(Figure {
            name: format!("{}-{measure}-by-source", r.target),
            caption: format!(
                "{} of `{}` per partition (pooled) and per source inside it, with intervals; the line \
                 marks chance (0.5). A high pooled value with sources near chance is the shortcut signature.",
                measure_word(measure),
                r.target
            ),
            svg,
        }));
    }
}

fn measure_word(m: &str) -> String {
    match m {
        "auc" => "AUC".into(),
        other => other.replace('_', " "),
    }
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

fn confusion(r: &Results, varying: &[String], page: &mut Page) {
    let Some(all) = r.details["confusion"].as_array().filter(|c| !c.is_empty()) else {
        return;
    };
    let positive = r.details["positive"].as_str().unwrap_or("positive");
    let panels: Vec<(String, [[u64; 2]; 2])> = all
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            (
                panel_title(c, varying),
                [[n("tp"), n("fn")], [n("fp"), n("tn")]],
            )
        })
        .collect();
    let models = all[0]["models"].as_u64().unwrap_or(1);
    page.push(Block::Figure(Figure {
        name: format!("{}-confusion", r.target),
        caption: format!(
            "Confusion matrices of `{}` at the decision threshold, counts summed over {models} model(s); \
             each row is shaded by its share.",
            r.target
        ),
        svg: figures::confusion_svg(positive, &panels),
    }));
}

/// `crop=full · seen`: the grid cell and partition of a panel of details.
fn panel_title(details: &serde_json::Value, varying: &[String]) -> String {
    let point: Option<GridPoint> = serde_json::from_value(details["point"].clone()).ok();
    let at = point.map(|p| point_label(&p, varying)).unwrap_or_default();
    [at, details["partition"].as_str().unwrap_or("").to_string()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One figure of ROC curves per grid cell and partition, a curve per trained model.
fn roc(r: &Results, varying: &[String], page: &mut Page) {
    let Some(rocs) = r.details["roc"].as_array() else {
        return;
    };
    let mut groups: IndexMap<String, Vec<Curve>> = IndexMap::new();
    for c in rocs.iter().filter(|c| c["source"].is_null()) {
        let title = panel_title(c, varying);
        let unit = c["unit"].as_str().unwrap_or("");
        groups.entry(title).or_default().push(Curve {
            label: unit.rsplit('/').next().unwrap_or(unit).to_string(),
            points: serde_json::from_value(c["roc"].clone()).unwrap_or_default(),
        });
    }
    for (title, curves) in &groups {
        if let Some(svg) = figures::roc_svg(&format!("ROC {title}"), curves) {
            page.push(Block::Figure(Figure {
                name: format!("{}-roc-{}", r.target, slug(title)),
                caption: format!(
                    "ROC curves of `{}`, {title}: one curve per model.",
                    r.target
                ),
                svg,
            }));
        }
    }
}

/// A file-name-safe form of a title.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
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

/// What an experiment's models saw: a few images per source × label under each crop.
fn examples(doc: &Document, experiment: &str, page: &mut Page) {
    for set in doc.examples.iter().filter(|e| e.experiment == experiment) {
        let images: Vec<(String, String)> = set
            .images
            .iter()
            .map(|i| (i.png.clone(), format!("{} · {}", i.source, i.label)))
            .collect();
        let per_row = images
            .iter()
            .take_while(|(_, c)| Some(c) == images.first().map(|f| &f.1))
            .count()
            .max(1);
        page.push(Block::Figure(Figure {
            name: format!("{experiment}-examples-{}-{}", set.crop, set.preprocess),
            caption: format!(
                "What the models of `{experiment}` saw under crop `{}` and preprocessing `{}`: the first \
                 images of each source × label (a row each), after cropping and resizing.",
                set.crop, set.preprocess
            ),
            svg: figures::image_grid_svg(
                &format!("{experiment}: crop {}, preprocess {}", set.crop, set.preprocess),
                &images,
                96,
                per_row,
            ),
        }));
    }
}

/// Saliency thumbnails, when the probe drew them.
fn saliency(r: &Results, page: &mut Page) {
    let Some(items) = r.details["thumbnails"].as_array().filter(|t| !t.is_empty()) else {
        return;
    };
    let images: Vec<(String, String)> = items
        .iter()
        .map(|t| {
            (
                t["png"].as_str().unwrap_or("").to_string(),
                format!(
                    "{} · {} · {:.2} in lungs",
                    t["source"].as_str().unwrap_or(""),
                    t["label"].as_str().unwrap_or(""),
                    t["lung_share"].as_f64().unwrap_or(f64::NAN)
                ),
            )
        })
        .collect();
    page.push(Block::Figure(Figure {
        name: format!("{}-saliency", r.target),
        caption: format!(
            "Saliency of `{}`: the image in grey, Grad-CAM in red, the lung outline in green; the share of \
             saliency inside the lungs under each.",
            r.target
        ),
        svg: figures::image_grid_svg(&format!("Saliency, {}", r.target), &images, 128, 4),
    }));
}

/// Loss and validation AUC per epoch of every training, one figure per setup (its repeats and folds
/// as lines).
fn training(doc: &Document, page: &mut Page) {
    if doc.training.is_empty() {
        return;
    }
    let mut groups: IndexMap<String, Vec<History>> = IndexMap::new();
    for t in &doc.training {
        let (setup, unit) = t.cell.rsplit_once('/').unwrap_or((&t.cell, ""));
        groups.entry(setup.to_string()).or_default().push(History {
            label: unit.to_string(),
            loss: t.epochs.iter().map(|e| (e.epoch as f64, e.loss)).collect(),
            validation_auc: t
                .epochs
                .iter()
                .filter_map(|e| Some((e.epoch as f64, e.validation_auc?)))
                .collect(),
            selected: Some(t.selected_epoch as f64),
        });
    }
    page.heading(2, "Training");
    for (setup, histories) in &groups {
        if let Some(svg) = figures::training_svg(setup, histories) {
            page.push(Block::Figure(Figure {
                name: format!("training-{}", slug(setup)),
                caption: format!(
                    "Training of `{setup}`: loss and validation AUC per epoch, a line per model; the ring \
                     marks the epoch kept."
                ),
                svg,
            }));
        }
    }
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
        vec![text(format!("input files: {}", p.inputs.len()))],
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
