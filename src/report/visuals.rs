//! The page's figures, from the document's data: the per-source forest plot, confusion matrices and ROC
//! curves of an experiment, the composition of the splits, example images, saliency and training curves.

use super::Document;
use super::figures::{self, Curve, ForestRow, History};
use super::page::{Block, Figure, Page};
use crate::probe::{Results, point_label};
use crate::study::GridPoint;
use indexmap::IndexMap;

/// The experiment's estimates of one measure, pooled and per source, for every grid cell.
pub(super) fn forest(
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

pub(super) fn confusion(r: &Results, varying: &[String], page: &mut Page) {
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
pub(super) fn roc(r: &Results, varying: &[String], page: &mut Page) {
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

/// The label × source counts of each split's partitions, as a heat map.
pub(super) fn composition(doc: &Document, page: &mut Page) {
    if doc.composition.is_empty() {
        return;
    }
    page.heading(2, "Data");
    for c in &doc.composition {
        let rows: Vec<String> = c
            .rows
            .iter()
            .map(|r| format!("{} · {}", r.partition, r.label))
            .collect();
        let counts: Vec<Vec<u64>> = c.rows.iter().map(|r| r.counts.clone()).collect();
        let fold = c
            .fold
            .as_ref()
            .map_or(String::new(), |f| format!(", fold {f}"));
        page.push(Block::Figure(Figure {
            name: format!("{}-composition", c.split),
            caption: format!(
                "Split `{}`{fold}: images per partition × label (rows) and source (columns), each row \
                 shaded by its share. A source that holds most of one label in training is a shortcut \
                 the model can take.",
                c.split
            ),
            svg: figures::heatmap_svg(
                &format!("{}{fold}: partition · label × source", c.split),
                "partition · label",
                &rows,
                &c.sources,
                &counts,
            ),
        }));
    }
}

/// What an experiment's models saw: a few images per source × label under each crop.
pub(super) fn examples(doc: &Document, experiment: &str, page: &mut Page) {
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
pub(super) fn saliency(r: &Results, page: &mut Page) {
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
pub(super) fn training(doc: &Document, page: &mut Page) {
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
