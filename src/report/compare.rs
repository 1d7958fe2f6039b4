//! `study compare`: two runs' results side by side. First whether they ran the same study on the same
//! inputs with the same tool and backend, then the verdicts that changed, then every estimate of either
//! run with a judgement: identical, within numerical noise (what another backend changes), consistent
//! (the difference is within what the two intervals allow), or different.

use super::page::{Block, Line, Page, Table, Tone, code, strong, text};
use super::{Document, field_text, num};
use crate::eval::estimate::Estimate;
use crate::probe::point_label;
use serde::Serialize;

/// Two values this close (absolutely, or relative to their size) are the same number computed on another
/// backend or with another summation order: CPU and CUDA runs differ in the last bits.
pub const NOISE_ABSOLUTE: f64 = 1e-6;
pub const NOISE_RELATIVE: f64 = 1e-5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Identical,
    WithinNoise,
    Consistent,
    Different,
}

impl Judgement {
    fn word(self) -> &'static str {
        match self {
            Judgement::Identical => "identical",
            Judgement::WithinNoise => "within numerical noise",
            Judgement::Consistent => "consistent",
            Judgement::Different => "different",
        }
    }
}

/// One estimate in both runs.
#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    pub target: String,
    /// `auc(unseen, site_c)` at `crop=full`.
    pub name: String,
    pub first: Option<Estimate>,
    pub second: Option<Estimate>,
    pub judgement: Judgement,
}

#[derive(Clone, Debug, Serialize)]
pub struct VerdictChange {
    pub hypothesis: String,
    pub first: Option<String>,
    pub second: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub same_study: bool,
    pub same_inputs: bool,
    pub same_tool: bool,
    pub backends: (String, String),
    pub verdicts: Vec<VerdictChange>,
    pub estimates: Vec<Pair>,
    /// The replication holds: no verdict changed and no estimate is different.
    pub holds: bool,
}

fn outcome(doc: &Document, hypothesis: &str) -> Option<String> {
    doc.verdicts
        .iter()
        .find(|v| v.hypothesis == hypothesis)
        .map(|v| format!("{:?}", v.outcome).to_lowercase())
}

/// The half-width of an estimate's interval, when it has one.
fn half_width(e: &Estimate) -> Option<f64> {
    Some((e.upper? - e.lower?) / 2.0)
}

/// How two estimates of one number relate.
pub fn judge(a: &Estimate, b: &Estimate) -> Judgement {
    let (Some(x), Some(y)) = (a.value, b.value) else {
        // Undefined on both sides for the same reason is the same result.
        return if a.value.is_none() && b.value.is_none() && a.undefined == b.undefined {
            Judgement::Identical
        } else {
            Judgement::Different
        };
    };
    let same_bounds = |p: Option<f64>, q: Option<f64>| match (p, q) {
        (Some(p), Some(q)) => p == q,
        (None, None) => true,
        _ => false,
    };
    if x == y && same_bounds(a.lower, b.lower) && same_bounds(a.upper, b.upper) {
        return Judgement::Identical;
    }
    let close = |p: f64, q: f64| {
        let d = (p - q).abs();
        d <= NOISE_ABSOLUTE || d <= NOISE_RELATIVE * p.abs().max(q.abs())
    };
    let bounds_close = |p: Option<f64>, q: Option<f64>| match (p, q) {
        (Some(p), Some(q)) => close(p, q),
        (None, None) => true,
        _ => false,
    };
    if close(x, y) && bounds_close(a.lower, b.lower) && bounds_close(a.upper, b.upper) {
        return Judgement::WithinNoise;
    }
    // The difference of two independent estimates has a half-width of √(h₁² + h₂²) at the same level.
    match (half_width(a), half_width(b)) {
        (Some(h1), Some(h2)) if (x - y).abs() <= (h1 * h1 + h2 * h2).sqrt() => {
            Judgement::Consistent
        }
        _ => Judgement::Different,
    }
}

pub fn compare(a: &Document, b: &Document) -> Comparison {
    let mut hypotheses: Vec<String> = a.verdicts.iter().map(|v| v.hypothesis.clone()).collect();
    for v in &b.verdicts {
        if !hypotheses.contains(&v.hypothesis) {
            hypotheses.push(v.hypothesis.clone());
        }
    }
    let verdicts: Vec<VerdictChange> = hypotheses
        .into_iter()
        .map(|h| VerdictChange {
            first: outcome(a, &h),
            second: outcome(b, &h),
            hypothesis: h,
        })
        .filter(|c| c.first != c.second)
        .collect();
    let mut estimates: Vec<Pair> = Vec::new();
    let key = |r: &crate::probe::Results, e: &crate::probe::ResultEntry| {
        let at = e
            .point
            .as_ref()
            .map(|p| point_label(p, &super::varying(r)))
            .filter(|l| !l.is_empty())
            .map_or(String::new(), |l| format!(" at {l}"));
        (
            r.target.clone(),
            format!("{}{at}", field_text(&e.field, &e.args)),
        )
    };
    for r in &a.results {
        for e in &r.entries {
            let (target, name) = key(r, e);
            estimates.push(Pair {
                target,
                name,
                first: Some(e.estimate.clone()),
                second: None,
                judgement: Judgement::Different,
            });
        }
    }
    for r in &b.results {
        for e in &r.entries {
            let (target, name) = key(r, e);
            match estimates
                .iter_mut()
                .find(|p| p.target == target && p.name == name && p.second.is_none())
            {
                Some(p) => p.second = Some(e.estimate.clone()),
                None => estimates.push(Pair {
                    target,
                    name,
                    first: None,
                    second: Some(e.estimate.clone()),
                    judgement: Judgement::Different,
                }),
            }
        }
    }
    for p in &mut estimates {
        if let (Some(x), Some(y)) = (&p.first, &p.second) {
            p.judgement = judge(x, y);
        }
    }
    let holds = verdicts.is_empty()
        && estimates
            .iter()
            .all(|p| p.judgement != Judgement::Different);
    Comparison {
        same_study: a.study.fingerprint == b.study.fingerprint,
        same_inputs: a.provenance.inputs == b.provenance.inputs,
        same_tool: a.provenance.tool_version == b.provenance.tool_version,
        backends: (a.provenance.backend.clone(), b.provenance.backend.clone()),
        verdicts,
        estimates,
        holds,
    }
}

fn estimate_cell(e: &Option<Estimate>) -> Line {
    vec![text(match e {
        None => "absent".to_string(),
        Some(e) => match &e.undefined {
            Some(why) => format!("undefined ({why})"),
            None => crate::eval::estimate::brief(e),
        },
    })]
}

impl Comparison {
    /// The comparison as a page (rendered like a report: Markdown or HTML).
    pub fn page(&self, first: &str, second: &str) -> Page {
        let mut page = Page {
            title: format!("{first} vs {second}"),
            blocks: Vec::new(),
        };
        page.heading(1, format!("Comparison of {first} and {second}"));
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        page.push(Block::List(vec![
            vec![
                strong("replication holds"),
                text(format!(": {}", yes_no(self.holds))),
            ],
            vec![text(format!(
                "same study (fingerprint): {}",
                yes_no(self.same_study)
            ))],
            vec![text(format!(
                "same input files (hashes): {}",
                yes_no(self.same_inputs)
            ))],
            vec![text(format!(
                "same tool version: {}",
                yes_no(self.same_tool)
            ))],
            vec![text(format!(
                "backends: {} · {}",
                self.backends.0, self.backends.1
            ))],
        ]));
        page.para(vec![text(format!(
            "Within numerical noise: the values and bounds differ by at most {NOISE_ABSOLUTE:e}, or \
             {NOISE_RELATIVE:e} of their size (another backend). Consistent: the difference is within \
             √(h₁² + h₂²) of the two intervals' half-widths h₁, h₂. Different: neither."
        ))]);
        page.heading(2, "Verdicts");
        if self.verdicts.is_empty() {
            page.para(vec![text("Every verdict is the same.")]);
        } else {
            page.push(Block::Callout {
                tone: Tone::Flag,
                lines: self
                    .verdicts
                    .iter()
                    .map(|v| {
                        vec![
                            code(&v.hypothesis),
                            text(format!(
                                ": {} → {}",
                                v.first.as_deref().unwrap_or("absent"),
                                v.second.as_deref().unwrap_or("absent")
                            )),
                        ]
                    })
                    .collect(),
            });
        }
        page.heading(2, "Estimates");
        let count = |j: Judgement| self.estimates.iter().filter(|p| p.judgement == j).count();
        page.para(vec![text(format!(
            "{} estimates: {} identical, {} within numerical noise, {} consistent, {} different.",
            self.estimates.len(),
            count(Judgement::Identical),
            count(Judgement::WithinNoise),
            count(Judgement::Consistent),
            count(Judgement::Different)
        ))]);
        let mut targets: Vec<&str> = Vec::new();
        for p in &self.estimates {
            if !targets.contains(&p.target.as_str()) {
                targets.push(&p.target);
            }
        }
        for t in targets {
            let mut rows: Vec<&Pair> = self.estimates.iter().filter(|p| p.target == t).collect();
            // The most different first.
            rows.sort_by_key(|p| std::cmp::Reverse(p.judgement));
            page.push(Block::Table(Table {
                caption: format!("`{t}`"),
                header: vec![
                    "estimate".into(),
                    first.to_string(),
                    second.to_string(),
                    "difference".into(),
                    "judgement".into(),
                ],
                rows: rows
                    .iter()
                    .map(|p| {
                        let diff = match (&p.first, &p.second) {
                            (Some(x), Some(y)) => num(x.value.zip(y.value).map(|(x, y)| y - x)),
                            _ => "–".into(),
                        };
                        vec![
                            vec![code(&p.name)],
                            estimate_cell(&p.first),
                            estimate_cell(&p.second),
                            vec![text(diff)],
                            vec![text(p.judgement.word())],
                        ]
                    })
                    .collect(),
            }));
        }
        page
    }
}
