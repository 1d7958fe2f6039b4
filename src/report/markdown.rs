//! `report.md`: verdicts first, then every experiment and probe as tables, then provenance.

use super::{Document, estimate_text, field_text, num};
use crate::probe::verdict::{CheckedRule, Decision};

pub fn outcome_word(o: Decision) -> &'static str {
    match o {
        Decision::Confirmed => "CONFIRMED",
        Decision::Refuted => "REFUTED",
        Decision::Inconclusive => "INCONCLUSIVE",
    }
}

fn rule_lines(kind: &str, rule: &Option<CheckedRule>, out: &mut String) {
    let Some(r) = rule else { return };
    let holds = match r.holds {
        Some(true) => "holds",
        Some(false) => "does not hold",
        None => "unknown",
    };
    out.push_str(&format!("- {kind} when `{}`: **{holds}**\n", r.text));
    for t in &r.terms {
        match (&t.value, &t.undefined) {
            (Some(v), _) => out.push_str(&format!("  - `{}` = {v:.4}\n", t.text)),
            (None, why) => out.push_str(&format!(
                "  - `{}` undefined ({})\n",
                t.text,
                why.clone().unwrap_or_default()
            )),
        }
    }
}

pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    out.push_str(&format!("# Study \"{}\"\n\n", doc.study.name));
    if let Some(d) = &doc.study.description {
        out.push_str(&format!("{d}\n\n"));
    }
    out.push_str(&format!(
        "Fingerprint `{}` · seed {} · {} repeat(s) · {} · study {}\n\n",
        &doc.study.fingerprint[..16.min(doc.study.fingerprint.len())],
        doc.study.seed,
        doc.study.repeats,
        doc.provenance.backend,
        doc.provenance.tool_version
    ));
    if !doc.missing.is_empty() {
        out.push_str("> **Incomplete run.** These results are missing and are not shown:\n");
        for m in &doc.missing {
            out.push_str(&format!("> - `{}`: {}\n", m.cell, m.reason));
        }
        out.push('\n');
    }
    for note in &doc.notes {
        out.push_str(&format!("> **Note:** {note}\n\n"));
    }
    for s in &doc.skipped {
        out.push_str(&format!(
            "> **Rows left out** of dataset `{}` (`on_error skip`): {}\n",
            s.dataset,
            s.rows.len()
        ));
        for row in s.rows.iter().take(super::SKIPPED_SHOWN) {
            out.push_str(&format!("> - {row}\n"));
        }
        if s.rows.len() > super::SKIPPED_SHOWN {
            let rest = s.rows.len() - super::SKIPPED_SHOWN;
            out.push_str(&format!("> - and {rest} more (all in results.json)\n"));
        }
        out.push('\n');
    }
    out.push_str("## Verdicts\n\n");
    if doc.verdicts.is_empty() {
        out.push_str("The study states no hypotheses.\n\n");
    }
    for v in &doc.verdicts {
        out.push_str(&format!(
            "### {} — {}\n\n*{}*\n\n{}.\n\n",
            v.hypothesis,
            outcome_word(v.outcome),
            v.statement,
            capitalise(&v.reason)
        ));
        rule_lines("confirmed", &v.confirmed, &mut out);
        rule_lines("refuted", &v.refuted, &mut out);
        out.push('\n');
    }
    out.push_str("## Results\n\nIntervals are 95 % unless the experiment says otherwise; `± SE` is the standard error over repeats.\n\n");
    for r in &doc.results {
        out.push_str(&format!(
            "### {} `{}`\n\n",
            r.kind.replace('_', " "),
            r.target
        ));
        let varying = super::varying(r);
        let has_points = r.entries.iter().any(|e| e.point.is_some()) && !varying.is_empty();
        if has_points {
            out.push_str("| grid cell | result | estimate |\n|---|---|---|\n");
        } else {
            out.push_str("| result | estimate |\n|---|---|\n");
        }
        for e in &r.entries {
            let field = field_text(&e.field, &e.args);
            if has_points {
                let p = super::point_text(e, &varying);
                out.push_str(&format!(
                    "| {p} | `{field}` | {} |\n",
                    estimate_text(&e.estimate)
                ));
            } else {
                out.push_str(&format!("| `{field}` | {} |\n", estimate_text(&e.estimate)));
            }
        }
        if let Some(worst) = r.details["worst_source"]
            .as_array()
            .filter(|w| !w.is_empty())
        {
            out.push_str("\nWorst source per partition:\n\n");
            for w in worst {
                out.push_str(&format!(
                    "- {} {} on `{}`: {} ({})\n",
                    w["metric"].as_str().unwrap_or(""),
                    w["partition"].as_str().unwrap_or(""),
                    w["source"].as_str().unwrap_or(""),
                    num(w["value"].as_f64()),
                    w["point"]["crop"]
                        .as_str()
                        .map_or(String::new(), |c| format!("crop {c}"))
                ));
            }
        }
        if r.kind == "association" {
            out.push_str(&association_table(&r.details));
        }
        for n in &r.notes {
            out.push_str(&format!("\n> {n}\n"));
        }
        out.push('\n');
    }
    if !doc.segmenters.is_empty() {
        out.push_str("## Segmenters\n\n| segmenter | Dice | IoU | train / held-out images |\n|---|---|---|---|\n");
        for (name, s) in &doc.segmenters {
            out.push_str(&format!(
                "| {name} | {} | {} | {} / {} |\n",
                num(s.dice),
                num(s.iou),
                s.train_images,
                s.holdout_images
            ));
        }
        out.push('\n');
    }
    out.push_str(&provenance(doc));
    out
}

fn association_table(d: &serde_json::Value) -> String {
    let columns: Vec<&str> = d["columns"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let rows: Vec<&str> = d["rows"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let mut out = format!(
        "\n{} × {} in `{}.{}`:\n\n| {} | {} |\n|---|{}\n",
        d["first"].as_str().unwrap_or(""),
        d["second"].as_str().unwrap_or(""),
        d["split"].as_str().unwrap_or(""),
        d["partition"].as_str().unwrap_or(""),
        d["first"].as_str().unwrap_or(""),
        columns.join(" | "),
        "---|".repeat(columns.len())
    );
    for (i, r) in rows.iter().enumerate() {
        let counts: Vec<String> = d["counts"][i]
            .as_array()
            .map(|a| a.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        out.push_str(&format!("| {r} | {} |\n", counts.join(" | ")));
    }
    out
}

fn provenance(doc: &Document) -> String {
    let p = &doc.provenance;
    let mut out = String::from("## Provenance\n\n");
    out.push_str(&format!(
        "- tool: {} {}\n- backend: {}\n- study fingerprint: `{}`\n- seed: {}\n- input files: {}\n",
        p.tool,
        p.tool_version,
        p.backend,
        doc.study.fingerprint,
        doc.study.seed,
        p.inputs.len()
    ));
    let total: f64 = p.cells.iter().filter_map(|c| c.seconds).sum();
    out.push_str(&format!("- compute time over all cells: {total:.1} s\n\n"));
    if let Some(warning) = super::mixed_backends(p) {
        out.push_str(&format!("> **Mixed backends.** {warning}\n\n"));
    }
    out.push_str(
        "| cell | id | seed (hex, first 8 digits) | seconds | backend |\n|---|---|---|---|---|\n",
    );
    for c in &p.cells {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            c.name,
            c.id,
            super::short_seed(c.seed),
            super::cell_time(c),
            c.backend.as_deref().unwrap_or("–")
        ));
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
