//! `study power`: whether a study can decide its hypotheses, from the counts alone, before anything is
//! trained. For every comparison of every rule: what it rests on, the smallest true value (or gap) at
//! which it holds with the target probability (the minimal detectable effect), the half-widths its bound
//! will have there, and the probability that it holds at values the user assumes. Per hypothesis: whether
//! it can be confirmed and whether it can be refuted at all; a hypothesis that can be neither, even at a
//! perfect score, is inconclusive by design (W0003 at `study check`).

pub mod design;
pub mod model;
pub mod rules;
pub mod simulate;
pub mod twin;

use crate::data::DataContext;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::{Condition, DatasetSource, Hypothesis, Study};
use design::Design;
use model::Measure;
use rules::{Path, Reach, Term, reach, side};
use serde::Serialize;
use std::fmt::Write;

/// The probability a rule must reach to count as able to decide.
pub const TARGET: f64 = 0.8;

/// A true value the user assumes for a result: `main.auc(unseen)=0.75`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assumption {
    pub key: String,
    pub value: f64,
}

impl Assumption {
    /// Reads `REFERENCE=VALUE` (spaces ignored).
    pub fn parse(text: &str) -> Result<Assumption, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (key, value) = compact.rsplit_once('=').ok_or_else(|| {
            format!("`{text}` is not REFERENCE=VALUE (for example 'main.auc(unseen)=0.75')")
        })?;
        let value: f64 = value
            .parse()
            .map_err(|_| format!("`{value}` in `{text}` is not a number"))?;
        Ok(Assumption {
            key: key.to_string(),
            value,
        })
    }
}

/// One comparison's power.
#[derive(Clone, Debug, Serialize)]
pub struct TermPower {
    pub text: String,
    /// What each result it reads rests on, in words.
    pub rests_on: Vec<String>,
    /// Why it has no analytic model (then nothing below is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
    pub best: f64,
    pub worst: f64,
    /// What the free value is: a result's true value, or the difference between two results.
    pub varies: String,
    /// Nothing is free: the data alone decides the comparison.
    pub fixed: bool,
    /// The free value at which the comparison holds with probability `TARGET` (`None`: never).
    pub detectable: Option<f64>,
    /// The bound's distance below and above the estimate at the stated value (the assumed value, else
    /// the detectable one), and that value.
    pub half_width: Option<(f64, f64, f64)>,
    /// The probability at the assumed values, when every result it reads has one.
    pub assumed: Option<f64>,
}

/// One rule (`confirmed when` or `refuted when`).
#[derive(Clone, Debug, Serialize)]
pub struct RulePower {
    pub outcome: &'static str,
    pub text: String,
    pub terms: Vec<TermPower>,
    /// The probability it holds at the most favourable true values of every comparison.
    pub best: f64,
    pub assumed: Option<f64>,
    /// Some comparison has no analytic model (its best is taken as certain).
    pub partial: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct HypothesisPower {
    pub name: String,
    pub statement: String,
    pub rules: Vec<RulePower>,
    pub can_confirm: bool,
    pub can_refute: bool,
}

impl HypothesisPower {
    /// Neither outcome reaches the target even at a perfect score.
    pub fn undecidable(&self) -> bool {
        !self.can_confirm && !self.can_refute
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PowerReport {
    pub target: f64,
    pub hypotheses: Vec<HypothesisPower>,
}

/// The power of every hypothesis of a study; assumptions must each name a result some rule reads.
pub fn analyse(
    study: &Study,
    design: &Design,
    assumptions: &[Assumption],
) -> Result<PowerReport, String> {
    analyse_scaled(study, design, assumptions, 1.0, Depth::Full)
}

/// How much of each comparison to compute.
#[derive(Clone, Copy, PartialEq)]
enum Depth {
    /// Minimal detectable effects, half-widths, assumed values.
    Full,
    /// Only whether each rule can reach the target (for `study check`).
    Reach,
}

/// As `analyse`, with every count multiplied by `scale`.
fn analyse_scaled(
    study: &Study,
    design: &Design,
    assumptions: &[Assumption],
    scale: f64,
    depth: Depth,
) -> Result<PowerReport, String> {
    let measure = |r: &crate::study::ResultRef| design.measure(r).map(|m| m.scaled(scale));
    let mut hypotheses = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for (name, h) in &study.hypotheses {
        let hp = hypothesis(name, h, &measure, assumptions, &mut keys, depth);
        hypotheses.push(hp);
    }
    for (k, a) in assumptions.iter().enumerate() {
        if assumptions[..k].iter().any(|b| b.key == a.key) {
            return Err(format!("`{}` is assumed twice", a.key));
        }
        if !keys.contains(&a.key) {
            let options: Vec<&str> = keys.iter().map(String::as_str).collect();
            return Err(format!(
                "no rule reads `{}`; {}",
                a.key,
                match crate::diagnostics::did_you_mean(&a.key, &options) {
                    s if s.is_empty() => format!("the rules read {}", options.join(", ")),
                    s => s,
                }
            ));
        }
    }
    Ok(PowerReport {
        target: TARGET,
        hypotheses,
    })
}

/// W0003 for every hypothesis that can neither be confirmed nor refuted at the declared sizes, for studies
/// whose splits read synthetic data only (counted from the declarations, with no file read; `study power`
/// says the same of file datasets). The help says how many times the images would let it decide.
pub fn design_warnings(study: &Study) -> Vec<Diagnostic> {
    let synthetic = |name: &str| -> bool {
        fn only_synthetic(study: &Study, name: &str) -> bool {
            match study.datasets.get(name).map(|d| &d.source) {
                Some(DatasetSource::Synthetic(_)) => true,
                Some(DatasetSource::Union { parts }) => {
                    parts.iter().all(|p| only_synthetic(study, p))
                }
                _ => false,
            }
        }
        only_synthetic(study, name)
    };
    if study.hypotheses.is_empty() || !study.splits.values().all(|s| synthetic(&s.data)) {
        return Vec::new();
    }
    let ctx = DataContext {
        root: std::path::PathBuf::new(),
        seed: study.seed,
    };
    let (design, problems) = Design::read(study, &ctx);
    if !problems.is_empty() {
        return Vec::new();
    }
    let quick = analyse_scaled(study, &design, &[], 1.0, Depth::Reach);
    if !quick.is_ok_and(|r| r.hypotheses.iter().any(HypothesisPower::undecidable)) {
        return Vec::new();
    }
    let Ok(report) = analyse(study, &design, &[]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for h in report.hypotheses.iter().filter(|h| h.undecidable()) {
        let Some(span) = study.hypotheses[&h.name].origin.span else {
            continue;
        };
        let best = |outcome: &str| {
            h.rules
                .iter()
                .find(|r| r.outcome == outcome)
                .map_or("has no rule".to_string(), |r| {
                    format!("holds at best with {:.0} %", r.best * 100.0)
                })
        };
        let mut counts: Vec<String> = Vec::new();
        for line in h
            .rules
            .iter()
            .flat_map(|r| &r.terms)
            .flat_map(|t| &t.rests_on)
        {
            if !counts.contains(line) {
                counts.push(line.clone());
            }
        }
        let times = [2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0]
            .into_iter()
            .find(|k| {
                analyse_scaled(study, &design, &[], *k, Depth::Reach).is_ok_and(|r| {
                    r.hypotheses
                        .iter()
                        .any(|g| g.name == h.name && !g.undecidable())
                })
            });
        let help = match times {
            Some(k) => format!(
                "with {k}× the images it could decide; `study power` shows each comparison's detectable effect"
            ),
            None => "even 100× the images would not let it decide: loosen the thresholds its rules compare with"
                .to_string(),
        };
        out.push(
            Diagnostic::new(
                Code::Undecidable,
                format!(
                    "hypothesis `{}` is inconclusive by design: even at a perfect score its confirming rule {} and its refuting rule {} (80 % needed); it rests on {}",
                    h.name,
                    best("confirmed"),
                    best("refuted"),
                    counts.join("; ")
                ),
            )
            .at(span, "cannot be decided at these sizes")
            .help(help),
        );
    }
    out
}

fn hypothesis(
    name: &str,
    h: &Hypothesis,
    measure: &dyn Fn(&crate::study::ResultRef) -> Result<Measure, String>,
    assumptions: &[Assumption],
    keys: &mut Vec<String>,
    depth: Depth,
) -> HypothesisPower {
    let mut rules = Vec::new();
    for (outcome, rule) in [("confirmed", &h.confirmed), ("refuted", &h.refuted)] {
        let Some(rule) = rule else { continue };
        let mut terms = Vec::new();
        let mut assumed_parts: Vec<Option<f64>> = Vec::new();
        let (best, _) = rules::combine(rule, &mut |c| {
            let t = term(c, measure, assumptions, keys, depth);
            let out = (t.best, t.worst);
            assumed_parts.push(t.assumed);
            terms.push(t);
            out
        });
        // The probability at the assumed values, combined as the rule combines its parts.
        let mut k = 0;
        let assumed = assumed_parts.iter().all(Option::is_some).then(|| {
            rules::combine(rule, &mut |_| {
                let p = assumed_parts[k].unwrap_or(0.0);
                k += 1;
                (p, p)
            })
            .0
        });
        rules.push(RulePower {
            outcome,
            text: rule.render(),
            partial: terms.iter().any(|t| t.unsupported.is_some()),
            terms,
            best,
            assumed,
        });
    }
    let can = |outcome: &str| {
        rules
            .iter()
            .any(|r| r.outcome == outcome && r.best >= TARGET)
    };
    HypothesisPower {
        name: name.to_string(),
        statement: h.statement.clone(),
        can_confirm: can("confirmed"),
        can_refute: can("refuted"),
        rules,
    }
}

fn term(
    c: &Condition,
    measure: &dyn Fn(&crate::study::ResultRef) -> Result<Measure, String>,
    assumptions: &[Assumption],
    keys: &mut Vec<String>,
    depth: Depth,
) -> TermPower {
    let Condition::Compare { lhs, op, rhs } = c else {
        unreachable!("combine hands over comparisons only")
    };
    let text = c.render();
    let sides = side(lhs, measure).and_then(|l| Ok((l, side(rhs, measure)?)));
    let (lhs, rhs) = match sides {
        Ok(s) => s,
        Err(why) => {
            return TermPower {
                text,
                rests_on: Vec::new(),
                unsupported: Some(why),
                best: 1.0,
                worst: 0.0,
                varies: String::new(),
                fixed: false,
                detectable: None,
                half_width: None,
                assumed: None,
            };
        }
    };
    let t = Term { lhs, op: *op, rhs };
    let results = t.results();
    for (key, _) in &results {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    }
    let assumed_of = |key: &str| assumptions.iter().find(|a| a.key == key).map(|a| a.value);
    let Reach {
        best,
        worst,
        detectable,
    } = match depth {
        Depth::Full => reach(&t, TARGET),
        Depth::Reach => {
            let (best, worst) = rules::quick_reach(&t);
            Reach {
                best,
                worst,
                detectable: None,
            }
        }
    };
    let path = t.path();
    let (varies, assumed, stated) = match path {
        Path::Left(_) | Path::Right(_) => {
            let (key, m) = results
                .iter()
                .find(|(_, m)| !matches!(m, Measure::Known(_)))
                .copied()
                .expect("a moving side");
            let value = assumed_of(key);
            let p = value.map(|v| t.along(v));
            let at = value.or(detectable);
            (
                format!("the true {}", describe_value(key, m)),
                p,
                at.map(|v| (m.at(v), v)),
            )
        }
        Path::Apart { left_higher } => {
            let (a, b) = (assumed_of(results[0].0), assumed_of(results[1].0));
            let p = a.zip(b).map(|(a, b)| t.probability(a, b));
            let (higher, lower) = if left_higher {
                (results[0], results[1])
            } else {
                (results[1], results[0])
            };
            (
                format!(
                    "how far the true {} lies above {} (the lower at chance, 0.5)",
                    higher.0, lower.0
                ),
                p,
                None,
            )
        }
        Path::Fixed => ("nothing: the data decides it".into(), Some(best), None),
    };
    TermPower {
        text,
        rests_on: results
            .iter()
            .map(|(key, m)| format!("{key}: {}", describe(m)))
            .collect(),
        unsupported: None,
        best,
        worst,
        varies,
        fixed: path == Path::Fixed,
        detectable,
        half_width: stated.map(|(s, v)| (s.below, s.above, v)),
        assumed,
    }
}

fn describe_value(key: &str, m: &Measure) -> String {
    match m {
        Measure::Gap { .. } => format!("gap {key} (the worse side at chance, 0.5)"),
        _ => key.to_string(),
    }
}

/// What a measure rests on, in words.
pub fn describe(m: &Measure) -> String {
    match m {
        Measure::Auc { folds, .. } => {
            let fold = |(p, n): &(usize, usize)| format!("{p} positive and {n} negative image(s)");
            match folds.as_slice() {
                [one] => format!("an AUC on {}", fold(one)),
                many => format!(
                    "an AUC over {} folds, the smallest on {}",
                    many.len(),
                    fold(many.iter().min_by_key(|(p, n)| p.min(n)).expect("folds"))
                ),
            }
        }
        Measure::Proportion { folds, .. } => match folds.as_slice() {
            [n] => format!("a proportion of {n} image(s)"),
            many => format!(
                "a proportion over {} folds, the smallest of {} image(s)",
                many.len(),
                many.iter().min().expect("folds")
            ),
        },
        Measure::Gap { seen, unseen } => {
            format!("seen ({}) − unseen ({})", describe(seen), describe(unseen))
        }
        Measure::Known(v) => format!("{v:.3}, known from the data before training"),
    }
}

/// The report as text: per hypothesis, each rule and comparison, and the verdict on its design.
pub fn render(report: &PowerReport) -> String {
    let mut out = String::new();
    let pct = |p: f64| format!("{:.0} %", p * 100.0);
    let _ = writeln!(
        out,
        "Power at the declared sizes: a comparison counts as able to hold when it holds with probability ≥ {}.",
        pct(report.target)
    );
    let _ = writeln!(
        out,
        "(Counts from the data as the split cells will assign it; spread between repeated trainings left out, so these are the most the counts allow.)"
    );
    for h in &report.hypotheses {
        let _ = writeln!(out, "\nhypothesis {} — {}", h.name, h.statement);
        for r in &h.rules {
            let _ = writeln!(out, "  {} when {}", r.outcome, r.text);
            for t in &r.terms {
                let _ = writeln!(out, "    {}", t.text);
                for line in &t.rests_on {
                    let _ = writeln!(out, "      rests on {line}");
                }
                if let Some(why) = &t.unsupported {
                    let _ = writeln!(out, "      no analytic power: {why}");
                    continue;
                }
                if t.fixed {
                    let holds = if t.best >= 1.0 {
                        "holds"
                    } else {
                        "does not hold"
                    };
                    let _ = writeln!(
                        out,
                        "      the data decides it before any training: it {holds}"
                    );
                    continue;
                }
                match t.detectable {
                    Some(x) => {
                        let _ = writeln!(
                            out,
                            "      holds with {} once {} is {} {x:.3}",
                            pct(report.target),
                            t.varies,
                            if t.best == t.worst { "at" } else { "at least" }
                        );
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "      never holds with {}: at best {} ({})",
                            pct(report.target),
                            pct(t.best),
                            t.varies
                        );
                    }
                }
                if let Some((below, above, at)) = t.half_width {
                    let _ = writeln!(
                        out,
                        "      its bounds at {at:.3}: −{below:.3} / +{above:.3}"
                    );
                }
                if let Some(p) = t.assumed {
                    let _ = writeln!(out, "      at the assumed values it holds with {}", pct(p));
                }
            }
            let _ = writeln!(
                out,
                "    → the rule holds at best with {}{}{}",
                pct(r.best),
                r.assumed.map_or(String::new(), |p| format!(
                    ", at the assumed values with {}",
                    pct(p)
                )),
                if r.partial {
                    " (a comparison without analytic power counted as certain)"
                } else {
                    ""
                }
            );
        }
        let yes = |outcome: &str, b: bool| {
            let partial = h.rules.iter().any(|r| r.outcome == outcome && r.partial);
            match (b, partial) {
                (true, true) => "not ruled out (parts of its rule have no analytic power)",
                (true, false) => "yes",
                (false, _) => "no",
            }
        };
        let _ = writeln!(
            out,
            "  can be confirmed: {}; can be refuted: {}{}",
            yes("confirmed", h.can_confirm),
            yes("refuted", h.can_refute),
            if h.undecidable() {
                " — inconclusive by design (W0003)"
            } else {
                ""
            }
        );
    }
    out
}
