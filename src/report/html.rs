//! `report.html`: one self-contained page (no scripts, no external files): verdicts first, then the
//! results with ROC curves drawn as inline SVG, then provenance.

use super::markdown::outcome_word;
use super::plot::{Curve, roc_svg};
use super::{Document, estimate_text, field_text, num};
use crate::probe::point_label;
use crate::probe::verdict::{CheckedRule, Decision};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.verdict{border-left:6px solid #999;padding:.3em 1em;margin:1em 0;background:#fafafa}
.confirmed{border-color:#c0392b}.refuted{border-color:#27ae60}.inconclusive{border-color:#999}
.tag{font-weight:bold}.missing,.warn{background:#fff3cd;padding:.5em 1em;border:1px solid #e0c36c}
.charts{display:flex;flex-wrap:wrap;gap:8px}code{background:#f3f3f3;padding:0 .2em}";

fn rule_html(kind: &str, rule: &Option<CheckedRule>) -> String {
    let Some(r) = rule else { return String::new() };
    let holds = match r.holds {
        Some(true) => "holds",
        Some(false) => "does not hold",
        None => "unknown",
    };
    let mut out = format!(
        "<p>{kind} when <code>{}</code>: <b>{holds}</b></p><ul>",
        esc(&r.text)
    );
    for t in &r.terms {
        match t.value {
            Some(v) => out.push_str(&format!("<li><code>{}</code> = {v:.4}</li>", esc(&t.text))),
            None => out.push_str(&format!(
                "<li><code>{}</code> undefined ({})</li>",
                esc(&t.text),
                esc(t.undefined.as_deref().unwrap_or(""))
            )),
        }
    }
    out.push_str("</ul>");
    out
}

pub fn render(doc: &Document) -> String {
    let mut out = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&doc.study.name)
    );
    out.push_str(&format!("<h1>Study “{}”</h1>", esc(&doc.study.name)));
    if let Some(d) = &doc.study.description {
        out.push_str(&format!("<p>{}</p>", esc(d)));
    }
    out.push_str(&format!(
        "<p>Fingerprint <code>{}</code> · seed {} · {} repeat(s) · {}</p>",
        esc(&doc.study.fingerprint[..16.min(doc.study.fingerprint.len())]),
        doc.study.seed,
        doc.study.repeats,
        esc(&doc.provenance.backend)
    ));
    if !doc.missing.is_empty() {
        out.push_str(
            "<div class=\"missing\"><b>Incomplete run.</b> Missing results (not shown):<ul>",
        );
        for m in &doc.missing {
            out.push_str(&format!(
                "<li><code>{}</code>: {}</li>",
                esc(&m.cell),
                esc(&m.reason)
            ));
        }
        out.push_str("</ul></div>");
    }
    for note in &doc.notes {
        out.push_str(&format!(
            "<div class=\"warn\"><b>Note:</b> {}</div>",
            esc(note)
        ));
    }
    for s in &doc.skipped {
        out.push_str(&format!(
            "<div class=\"warn\"><b>Rows left out</b> of dataset <code>{}</code> (<code>on_error skip</code>): {}<ul>",
            esc(&s.dataset),
            s.rows.len()
        ));
        for row in s.rows.iter().take(super::SKIPPED_SHOWN) {
            out.push_str(&format!("<li>{}</li>", esc(row)));
        }
        if s.rows.len() > super::SKIPPED_SHOWN {
            let rest = s.rows.len() - super::SKIPPED_SHOWN;
            out.push_str(&format!("<li>and {rest} more (all in results.json)</li>"));
        }
        out.push_str("</ul></div>");
    }
    out.push_str("<h2>Verdicts</h2>");
    for v in &doc.verdicts {
        let class = match v.outcome {
            Decision::Confirmed => "confirmed",
            Decision::Refuted => "refuted",
            Decision::Inconclusive => "inconclusive",
        };
        out.push_str(&format!(
            "<div class=\"verdict {class}\"><h3>{} — <span class=\"tag\">{}</span></h3><p><i>{}</i></p><p>{}</p>{}{}</div>",
            esc(&v.hypothesis),
            outcome_word(v.outcome),
            esc(&v.statement),
            esc(&v.reason),
            rule_html("Confirmed", &v.confirmed),
            rule_html("Refuted", &v.refuted)
        ));
    }
    out.push_str("<h2>Results</h2>");
    for r in &doc.results {
        out.push_str(&format!(
            "<h3>{} <code>{}</code></h3>",
            esc(&r.kind.replace('_', " ")),
            esc(&r.target)
        ));
        let varying = super::varying(r);
        out.push_str("<table><tr><th>grid cell</th><th>result</th><th>estimate</th></tr>");
        for e in &r.entries {
            let p = super::point_text(e, &varying);
            out.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&p),
                esc(&field_text(&e.field, &e.args)),
                esc(&estimate_text(&e.estimate))
            ));
        }
        out.push_str("</table>");
        out.push_str(&roc_charts(&r.details, &varying));
        out.push_str(&thumbnails(&r.details));
        for n in &r.notes {
            out.push_str(&format!("<p><i>{}</i></p>", esc(n)));
        }
    }
    if !doc.segmenters.is_empty() {
        out.push_str("<h2>Segmenters</h2><table><tr><th>segmenter</th><th>Dice</th><th>IoU</th><th>train / held-out</th></tr>");
        for (name, s) in &doc.segmenters {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
                esc(name),
                num(s.dice),
                num(s.iou),
                s.train_images,
                s.holdout_images
            ));
        }
        out.push_str("</table>");
    }
    let p = &doc.provenance;
    out.push_str(&format!(
        "<h2>Provenance</h2><p>{} {} · backend {} · fingerprint <code>{}</code> · {} input files hashed</p>",
        esc(&p.tool),
        esc(&p.tool_version),
        esc(&p.backend),
        esc(&doc.study.fingerprint),
        p.inputs.len()
    ));
    if let Some(warning) = super::mixed_backends(p) {
        out.push_str(&format!(
            "<div class=\"warn\"><b>Mixed backends.</b> {}</div>",
            esc(&warning)
        ));
    }
    out.push_str(
        "<table><tr><th>cell</th><th>id</th><th>seed (hex, first 8 digits)</th><th>seconds</th><th>backend</th></tr>",
    );
    for c in &p.cells {
        out.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.id),
            super::short_seed(c.seed),
            super::cell_time(c),
            esc(c.backend.as_deref().unwrap_or("–"))
        ));
    }
    out.push_str("</table></body></html>\n");
    out
}

/// One chart per grid cell × partition (overall), a curve per trained model.
fn roc_charts(details: &serde_json::Value, varying: &[String]) -> String {
    let Some(rocs) = details["roc"].as_array() else {
        return String::new();
    };
    let mut groups: indexmap::IndexMap<String, Vec<Curve>> = indexmap::IndexMap::new();
    for r in rocs.iter().filter(|r| r["source"].is_null()) {
        let point: Option<crate::study::GridPoint> =
            serde_json::from_value(r["point"].clone()).ok();
        let label = point.map(|p| point_label(&p, varying)).unwrap_or_default();
        let title = format!(
            "{}{}{}",
            label,
            if label.is_empty() { "" } else { " · " },
            r["partition"].as_str().unwrap_or("")
        );
        let points: Vec<(f64, f64)> = serde_json::from_value(r["roc"].clone()).unwrap_or_default();
        let unit = r["unit"].as_str().unwrap_or("");
        let curves = groups.entry(title).or_default();
        let name = unit.rsplit('/').next().unwrap_or(unit).to_string();
        curves.push(Curve {
            label: name,
            points,
        });
    }
    if groups.is_empty() {
        return String::new();
    }
    let mut out = String::from("<div class=\"charts\">");
    for (title, curves) in &groups {
        if let Some(svg) = roc_svg(&format!("ROC {title}"), curves) {
            out.push_str(&svg);
        }
    }
    out.push_str("</div>");
    out
}

/// Saliency thumbnails: the image in grey, Grad-CAM in red, the lung outline in green.
fn thumbnails(details: &serde_json::Value) -> String {
    let Some(items) = details["thumbnails"].as_array().filter(|t| !t.is_empty()) else {
        return String::new();
    };
    let mut out = String::from("<div class=\"charts\">");
    for t in items {
        out.push_str(&format!(
            "<figure><img width=\"128\" height=\"128\" style=\"image-rendering:pixelated\" src=\"data:image/png;base64,{}\"><figcaption>{} · {} · {:.2} in lungs</figcaption></figure>",
            t["png"].as_str().unwrap_or(""),
            esc(t["source"].as_str().unwrap_or("")),
            esc(t["label"].as_str().unwrap_or("")),
            t["lung_share"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    out.push_str("</div>");
    out
}
