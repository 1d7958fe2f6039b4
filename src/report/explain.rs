//! Verdicts and results in words: the one-sentence reason of a verdict built from its deciding rule and
//! the numbers it read, the evidence behind each number (interval, models, images), and the flags a
//! reviewer should see before trusting a result.

use super::page::{Line, Span, code, text};
use crate::eval::estimate::{Estimate, brief};
use crate::probe::Results;
use crate::probe::verdict::{CheckedRule, Decision, Term, Verdict};
use crate::study::{GridPoint, Statistic};

/// A pooled AUC at least this high, with a source inside it at chance, is the shortcut signature.
const HIGH_AUC: f64 = 0.8;
/// A within-source AUC at most this high is near chance.
const CHANCE_AUC: f64 = 0.6;

/// `AUC`, `sensitivity`: a metric's name in prose.
fn metric_word(field: &str) -> String {
    match field {
        "auc" => "AUC".into(),
        "f1" => "F1".into(),
        other => other.replace('_', " "),
    }
}

fn results_of<'a>(all: &'a [Results], target: &str) -> Option<&'a Results> {
    all.iter().find(|r| r.target == target)
}

/// ` (crop = full)` for a grid point of an experiment that varies it.
fn point_words(r: &Results, point: Option<&GridPoint>) -> String {
    let label = point
        .map(|p| crate::probe::point_label(p, &super::varying(r)))
        .unwrap_or_default();
    if label.is_empty() {
        String::new()
    } else {
        format!(" ({})", label.replace('=', " = "))
    }
}

/// What a number is, in words, with its estimate: `the source is predicted from the image: AUC 1.000
/// [1.000, 1.000]`.
pub fn describe(term: &Term, all: &[Results]) -> String {
    let Some(r) = &term.source else {
        return format!("`{}`", term.text);
    };
    let Some(results) = results_of(all, &r.target) else {
        return format!("`{}` (no results)", term.text);
    };
    let found = results.find(&r.field, &r.args, r.point.as_ref());
    let estimate = found.map_or_else(|| "not computed".to_string(), estimate_words);
    let (value, interval) = found.map_or(("not computed".to_string(), String::new()), split_words);
    let metric = metric_word(&r.field);
    let d = &results.details;
    match results.kind.as_str() {
        "predict" => {
            let target = d["target"].as_str().unwrap_or("attribute");
            match r.field.as_str() {
                "baseline" => format!("the majority-class baseline for the {target} is {estimate}"),
                _ => format!("the {target} is predicted from the image with {metric} {estimate}"),
            }
        }
        "gap" => {
            let m = metric_word(d["metric"].as_str().unwrap_or("auc"));
            let unseen = r
                .args
                .first()
                .map_or("unseen sources".to_string(), |s| format!("unseen {s}"));
            match r.field.as_str() {
                "gap" => {
                    format!("the model loses {value} {m}{interval} from seen sources to {unseen}")
                }
                "unseen" => format!("{m} on {unseen} is {estimate}"),
                _ => format!("{m} on held-out images of the seen sources is {estimate}"),
            }
        }
        "experiment" => {
            let place = r.args.join(" / ");
            let at = point_words(results, r.point.as_ref());
            format!("{metric} on {place}{at} is {estimate}")
        }
        "occlusion" => {
            let crop = r.args.first().cloned().unwrap_or_default();
            let on = r.args.get(1..).map(|a| a.join(" / ")).unwrap_or_default();
            let on = if on.is_empty() {
                let held = d["partition"].as_str().unwrap_or("the held-out partition");
                format!(" on {held} (held-out images of the training sources)")
            } else {
                format!(" on {on}")
            };
            format!("{metric} with crop {crop}{on} is {estimate}")
        }
        "association" => {
            let pair = format!(
                "{} and {}",
                d["first"].as_str().unwrap_or("?"),
                d["second"].as_str().unwrap_or("?")
            );
            match r.field.as_str() {
                "cramers_v" => format!("{pair} are associated with Cramér's V {estimate}"),
                "p" => format!("the association of {pair} has p = {estimate}"),
                _ => format!("the association of {pair} has χ² = {estimate}"),
            }
        }
        _ => format!("`{}` is {estimate}", term.text),
    }
}

/// `0.327 [0.222, 0.432]`, or why it is undefined.
fn estimate_words(e: &Estimate) -> String {
    match &e.undefined {
        Some(why) => format!("undefined ({why})"),
        None => brief(e),
    }
}

/// `0.327` and ` [0.222, 0.432]` apart, to put a unit between them (the reason when undefined).
fn split_words(e: &Estimate) -> (String, String) {
    match (&e.undefined, e.value) {
        (Some(why), _) => (format!("an undefined amount ({why})"), String::new()),
        (None, Some(v)) => (
            format!("{v:.3}"),
            e.lower
                .zip(e.upper)
                .map_or(String::new(), |(l, u)| format!(" [{l:.3}, {u:.3}]")),
        ),
        (None, None) => ("an unknown amount".into(), String::new()),
    }
}

/// `lower bound above 0.1`: the statistic a rule compared and how it compared (its value is in the
/// interval beside it).
fn comparison_words(term: &Term) -> Option<String> {
    let c = term.compared.as_ref()?;
    let statistic = match term.source.as_ref().map(|r| r.statistic) {
        Some(Statistic::Lower) => "lower bound",
        Some(Statistic::Upper) => "upper bound",
        Some(Statistic::Se) => "standard error",
        _ => "value",
    };
    let relation = match c.op.as_str() {
        ">" => "above",
        ">=" => "at least",
        "<" => "below",
        "<=" => "at most",
        "==" => "equal to",
        _ => "other than",
    };
    let negation = if c.holds == Some(false) { "not " } else { "" };
    Some(
        match (term.value, term.source.as_ref().map(|r| r.statistic)) {
            (Some(_), Some(Statistic::Lower | Statistic::Upper | Statistic::Value)) => {
                format!("{statistic} {negation}{relation} {}", c.bound)
            }
            (Some(v), _) => format!("{statistic} {v:.3}, {negation}{relation} {}", c.bound),
            (None, _) => format!("{statistic} undecided against {}", c.bound),
        },
    )
}

/// A term in a sentence: what it is and how it compared.
fn term_phrase(term: &Term, all: &[Results]) -> String {
    let what = describe(term, all);
    match comparison_words(term) {
        Some(how) => format!("{what} ({how})"),
        None => what,
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The terms of a rule that made it come out as it did: those whose comparison came out `holds` (all
/// terms when the rule compares no single number with a constant).
fn deciding_terms(rule: &CheckedRule, holds: Option<bool>) -> Vec<&Term> {
    let compared: Vec<&Term> = rule
        .terms
        .iter()
        .filter(|t| t.compared.as_ref().is_some_and(|c| c.holds == holds))
        .collect();
    if compared.is_empty() {
        rule.terms.iter().collect()
    } else {
        compared
    }
}

fn rule_phrase(rule: &CheckedRule, holds: Option<bool>, all: &[Results]) -> String {
    let phrases: Vec<String> = deciding_terms(rule, holds)
        .iter()
        .map(|t| term_phrase(t, all))
        .collect();
    if phrases.is_empty() {
        format!("`{}`", rule.text)
    } else {
        and_list(&phrases)
    }
}

/// The verdict's reason in one sentence, from the rule that decided it and the numbers it read.
pub fn reason(v: &Verdict, all: &[Results]) -> String {
    let because = |rule: &Option<CheckedRule>| {
        rule.as_ref()
            .map(|r| rule_phrase(r, r.holds, all))
            .unwrap_or_default()
    };
    match v.outcome {
        Decision::Confirmed => format!("Confirmed: {}.", because(&v.confirmed)),
        Decision::Refuted => format!("Refuted: {}.", because(&v.refuted)),
        Decision::Inconclusive => {
            let both_hold = [&v.confirmed, &v.refuted]
                .iter()
                .all(|r| r.as_ref().is_some_and(|r| r.holds == Some(true)));
            let part = |word: &str, rule: &Option<CheckedRule>| {
                rule.as_ref().map(|r| {
                    let how = match r.holds {
                        Some(true) => "holds",
                        Some(false) => "does not hold",
                        None => "cannot be decided",
                    };
                    format!("the {word} rule {how}: {}", rule_phrase(r, r.holds, all))
                })
            };
            let parts: Vec<String> = [
                part("confirming", &v.confirmed),
                part("refuting", &v.refuted),
            ]
            .into_iter()
            .flatten()
            .collect();
            let lead = if both_hold {
                "Inconclusive, both rules hold"
            } else {
                "Inconclusive"
            };
            format!("{lead}: {}.", parts.join("; "))
        }
    }
}

/// Each number the verdict's rules read: as written, its value, and what it rests on.
pub fn evidence(v: &Verdict, all: &[Results]) -> Vec<Line> {
    let mut seen = Vec::new();
    let mut lines = Vec::new();
    for t in v.confirmed.iter().chain(&v.refuted).flat_map(|r| &r.terms) {
        if seen.contains(&t.text) {
            continue;
        }
        seen.push(t.text.clone());
        let value = match (t.value, &t.undefined) {
            (Some(x), _) => format!(" = {x:.3}: "),
            (None, Some(why)) => format!(" undefined ({why}): "),
            (None, None) => " missing: ".to_string(),
        };
        let mut line = vec![code(&t.text), text(value), text(describe(t, all))];
        if let Some(basis) = basis(t, all) {
            line.push(text(format!(", {basis}")));
        }
        lines.push(line);
    }
    lines
}

/// What a number rests on: the models it averages and the images it was measured on.
fn basis(t: &Term, all: &[Results]) -> Option<String> {
    let r = t.source.as_ref()?;
    let results = results_of(all, &r.target)?;
    let mut parts = Vec::new();
    let models = results
        .find(&r.field, &r.args, r.point.as_ref())
        .map_or(0, |e| e.units.len());
    if models > 1 {
        parts.push(format!("mean of {models} models"));
    }
    match results.kind.as_str() {
        "experiment" => {
            if let Some((p, n)) = class_counts(results, r.point.as_ref(), &r.args) {
                parts.push(format!("{p} positive and {n} negative images"));
            }
        }
        "predict" => {
            if let Some(n) = results.details["units"][0]["held_out"].as_u64() {
                parts.push(format!("{n} held-out images"));
            }
        }
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The positives and negatives an experiment's number was measured on (the fewest over its models).
pub fn class_counts(r: &Results, point: Option<&GridPoint>, args: &[String]) -> Option<(u64, u64)> {
    let point = point.or_else(|| r.entries.iter().find_map(|e| e.point.as_ref()));
    let point = serde_json::to_value(point?).ok()?;
    let partition = args.first()?;
    let source = args.get(1);
    r.details["counts"].as_array()?.iter().find_map(|c| {
        (c["point"] == point
            && c["partition"].as_str() == Some(partition)
            && c["source"].as_str() == source.map(String::as_str))
        .then(|| Some((c["positives"].as_u64()?, c["negatives"].as_u64()?)))
        .flatten()
    })
}

/// Something a reviewer should see before trusting a result, with the results it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub target: String,
    pub line: Line,
}

/// Every flag of the results: the shortcut signature, thresholds that put every image in one class,
/// intervals of zero width, and numbers resting on few images of a class.
pub fn flags(all: &[Results]) -> Vec<Flag> {
    let mut out = Vec::new();
    for r in all {
        if r.kind == "experiment" {
            shortcut_signature(r, &mut out);
            one_class_thresholds(r, &mut out);
        }
        for e in &r.entries {
            let (Some(v), Some(lo), Some(hi)) =
                (e.estimate.value, e.estimate.lower, e.estimate.upper)
            else {
                continue;
            };
            if hi - lo < 1e-12 && (v <= 0.0 || v >= 1.0) {
                out.push(Flag {
                    target: r.target.clone(),
                    line: vec![
                        code(format!("{}.{}", r.target, super::field_text(&e.field, &e.args))),
                        text(format!(
                            "{} has an interval of zero width at {v:.3}: the interval method gives no \
                             width at a perfect score, so its bounds are optimistic",
                            point_words(r, e.point.as_ref())
                        )),
                    ],
                });
            }
        }
        let mut cautions = 0;
        for e in &r.entries {
            if let Some(why) = &e.estimate.caution {
                cautions += 1;
                if cautions <= 3 {
                    out.push(Flag {
                        target: r.target.clone(),
                        line: vec![
                            code(format!(
                                "{}.{}",
                                r.target,
                                super::field_text(&e.field, &e.args)
                            )),
                            text(format!(
                                "{} rests on {why}",
                                point_words(r, e.point.as_ref())
                            )),
                        ],
                    });
                }
            }
        }
        if cautions > 3 {
            out.push(Flag {
                target: r.target.clone(),
                line: vec![text(format!(
                    "and {} more numbers of `{}` resting on fewer than {} images of a class (marked ⚠ in its tables)",
                    cautions - 3,
                    r.target,
                    crate::probe::FEW_IMAGES
                ))],
            });
        }
    }
    out
}

/// Pooled AUC high while the AUC within one of the partition's sources is near chance: the model tells
/// the sources apart, not the classes inside a source.
fn shortcut_signature(r: &Results, out: &mut Vec<Flag>) {
    for pooled in r
        .entries
        .iter()
        .filter(|e| e.field == "auc" && e.args.len() == 1)
    {
        let Some(high) = pooled.estimate.value.filter(|v| *v >= HIGH_AUC) else {
            continue;
        };
        for within in r.entries.iter().filter(|e| {
            e.field == "auc"
                && e.args.len() == 2
                && e.args[0] == pooled.args[0]
                && e.point == pooled.point
        }) {
            if within.estimate.value.is_none_or(|v| v > CHANCE_AUC) {
                continue;
            }
            out.push(Flag {
                target: r.target.clone(),
                line: vec![
                    Span::Strong("Shortcut signature".into()),
                    text(format!(
                        " in `{}`{}: AUC on {} is {high:.3} pooled but {} within {} — near chance inside \
                         one source: the model separates the sources, not the classes within a source",
                        r.target,
                        point_words(r, pooled.point.as_ref()),
                        pooled.args[0],
                        brief(&within.estimate),
                        within.args[1],
                    )),
                ],
            });
        }
    }
}

/// Calling at least this share of a partition's images one class is flagged (when it holds both).
const ONE_CLASS_SHARE: f64 = 0.95;

/// A decision threshold that calls every image of a partition (or nearly every one, when the partition
/// holds both classes) one class.
fn one_class_thresholds(r: &Results, out: &mut Vec<Flag>) {
    let Some(confusions) = r.details["confusion"].as_array() else {
        return;
    };
    let positive = r.details["positive"].as_str().unwrap_or("positive");
    for c in confusions {
        let count = |k: &str| c[k].as_u64().unwrap_or(0);
        let (tp, fn_, fp, tn) = (count("tp"), count("fn"), count("fp"), count("tn"));
        let total = tp + fn_ + fp + tn;
        if total == 0 {
            continue;
        }
        let called_positive = (tp + fp) as f64 / total as f64;
        let (class, share) = if called_positive >= 0.5 {
            (positive.to_string(), called_positive)
        } else {
            (format!("not {positive}"), 1.0 - called_positive)
        };
        let both_classes = tp + fn_ > 0 && fp + tn > 0;
        let how_many = if share >= 1.0 {
            "every image".to_string()
        } else if both_classes && share >= ONE_CLASS_SHARE {
            format!("{:.0} % of the images", share * 100.0)
        } else {
            continue;
        };
        let point: Option<GridPoint> = serde_json::from_value(c["point"].clone()).ok();
        let models = c["models"].as_u64().unwrap_or(1).max(1);
        out.push(Flag {
            target: r.target.clone(),
            line: vec![
                Span::Strong("Threshold".into()),
                text(format!(
                    ": in `{}`{} {how_many} of {} {} called {class} ({} images, {models} model(s)): \
                     the threshold does not transfer there, so sensitivity and specificity there reflect \
                     the threshold more than the images; read the AUC, which needs none",
                    r.target,
                    point_words(r, point.as_ref()),
                    c["partition"].as_str().unwrap_or("?"),
                    if share >= 1.0 { "is" } else { "are" },
                    total / models,
                )),
            ],
        });
    }
}
