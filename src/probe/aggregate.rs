//! An experiment's measures, combined over its trained models.

use super::{
    AUC_RANGE, IntervalRule, NoValue, ProbeError, Results, few_images, method_notes, positive_of,
    roc, scores_of, sources_in, unit_metric, unit_threshold,
};
use crate::eval::estimate::{UnitValue, combine};
use crate::eval::metrics::Scores;
use crate::eval::predictions::Predictions;
use crate::study::{Experiment, Metric};

/// An experiment's measures per grid point, evaluated partition and (with `per source`) source, each
/// combined over the units (trained models) of its point. `units[i]` holds the predictions of the
/// models trained at `exp.points[i]`.
pub fn aggregate(
    name: &str,
    exp: &Experiment,
    units: &[Vec<Predictions>],
    seed: u64,
) -> Result<Results, ProbeError> {
    let mut results = Results::new(name, "experiment");
    let mut curves = Vec::new();
    let mut worst = Vec::new();
    let mut all_thresholds = Vec::new();
    let mut counts = Vec::new();
    let mut confusions = Vec::new();
    for (point, units) in exp.points.iter().zip(units) {
        results.units += units.len();
        let mut thresholds = Vec::new();
        let mut positives = Vec::new();
        for u in units {
            let positive = positive_of(exp, u)?;
            let t = unit_threshold(exp, u, positive, &mut results.notes);
            all_thresholds.push((u.cell.clone(), t));
            thresholds.push(t);
            positives.push(positive);
        }
        for partition in &exp.evaluate {
            let mut scopes: Vec<Option<String>> = vec![None];
            if exp.per_source {
                let mut all: Vec<String> = units
                    .iter()
                    .flat_map(|u| sources_in(u, partition))
                    .collect();
                all.sort();
                all.dedup();
                scopes.extend(all.into_iter().map(Some));
            }
            for scope in &scopes {
                // Each unit's scores in this scope, once for every metric and the ROC curves.
                let scores: Vec<Scores> = units
                    .iter()
                    .enumerate()
                    .map(|(k, u)| scores_of(u, u.rows(partition, scope.as_deref()), positives[k]))
                    .collect();
                counts.push(serde_json::json!({
                    "point": point, "partition": partition, "source": scope,
                    "positives": scores.iter().map(|s| s.positives.len()).min(),
                    "negatives": scores.iter().map(|s| s.negatives.len()).min(),
                }));
                if scope.is_none() {
                    confusions.push(confusion_at_thresholds(
                        point,
                        partition,
                        &scores,
                        &thresholds,
                    ));
                }
                // A source of one label (a covid-only collection): one note with what is defined there,
                // instead of an undefined AUC (and specificity or sensitivity) per metric.
                let one_label = scope.is_some()
                    && (scores.iter().all(|s| s.negatives.is_empty())
                        || scores.iter().all(|s| s.positives.is_empty()));
                let mut defined_here = Vec::new();
                for metric in &exp.measures {
                    let per_unit: Vec<Result<UnitValue, NoValue>> = scores
                        .iter()
                        .enumerate()
                        .map(|(k, s)| {
                            unit_metric(
                                *metric,
                                s,
                                thresholds[k],
                                IntervalRule::of(exp),
                                seed ^ k as u64,
                            )
                        })
                        .collect();
                    let mut args = vec![partition.clone()];
                    args.extend(scope.clone());
                    let mut estimate = combine(&per_unit, exp.confidence, AUC_RANGE);
                    if *metric == Metric::Auc && estimate.undefined.is_none() {
                        estimate.caution = few_images(&scores);
                    }
                    if one_label {
                        if estimate.undefined.is_some() {
                            continue;
                        }
                        defined_here.push(format!(
                            "{} {}",
                            metric.name(),
                            crate::eval::estimate::brief(&estimate)
                        ));
                    }
                    results.push(metric.name(), args, Some(point), estimate);
                }
                if let (true, Some(source)) = (one_label, scope) {
                    let positive = units
                        .first()
                        .and_then(|u| u.classes.get(positives[0]))
                        .map_or("positive", String::as_str);
                    let holds = if scores.iter().all(|s| s.negatives.is_empty()) {
                        format!("{positive} images only")
                    } else {
                        format!("no {positive} image")
                    };
                    let defined = if defined_here.is_empty() {
                        "no measure is defined there".to_string()
                    } else {
                        defined_here.join(", ")
                    };
                    let note = format!(
                        "{source} in {partition} holds {holds}: {defined}{}",
                        point_text(exp, point)
                    );
                    if !results.notes.contains(&note) {
                        results.notes.push(note);
                    }
                }
                for (u, s) in units.iter().zip(&scores) {
                    if let Some(curve) = roc::curve(s) {
                        curves.push(serde_json::json!({
                            "point": point, "partition": partition, "source": scope,
                            "unit": u.cell, "roc": curve,
                        }));
                    }
                }
            }
            // With one source the lowest value is no worst case: it is the partition's value.
            if exp.per_source && scopes.len() > 2 {
                for metric in &exp.measures {
                    let by_source: Vec<(String, f64)> = results
                        .entries
                        .iter()
                        .filter(|e| e.field == metric.name() && e.point.as_ref() == Some(point))
                        .filter(|e| e.args.len() == 2 && &e.args[0] == partition)
                        .filter_map(|e| Some((e.args[1].clone(), e.estimate.value?)))
                        .collect();
                    let lowest = by_source.iter().min_by(|a, b| a.1.total_cmp(&b.1));
                    let highest = by_source.iter().map(|s| s.1).fold(f64::MIN, f64::max);
                    // Sources that all score the same have no worst one.
                    if let Some((source, value)) = lowest.filter(|l| l.1 < highest) {
                        worst.push(serde_json::json!({
                            "point": point, "partition": partition, "metric": metric.name(),
                            "source": source, "value": value,
                        }));
                    }
                }
            }
        }
    }
    let mut notes = method_notes(exp, &all_thresholds);
    notes.append(&mut results.notes);
    results.notes = notes;
    results.details = serde_json::json!({
        "varying": exp.varying,
        "measures": exp.measures.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "partitions": exp.evaluate,
        "confidence": exp.confidence,
        "roc": curves,
        "worst_source": worst,
        "counts": counts,
        "confusion": confusions,
        "positive": units.iter().flatten().next().and_then(|u| u.classes.get(positive_of(exp, u).ok()?)),
    });
    Ok(results)
}

/// The confusion matrix of a partition, each model at its own threshold, summed over the models.
fn confusion_at_thresholds(
    point: &crate::study::GridPoint,
    partition: &str,
    scores: &[Scores],
    thresholds: &[f64],
) -> serde_json::Value {
    let mut total = crate::eval::metrics::Confusion {
        tp: 0,
        fp: 0,
        tn: 0,
        fn_: 0,
    };
    for (s, t) in scores.iter().zip(thresholds) {
        let c = crate::eval::metrics::confusion(s, *t);
        total.tp += c.tp;
        total.fp += c.fp;
        total.tn += c.tn;
        total.fn_ += c.fn_;
    }
    serde_json::json!({
        "point": point, "partition": partition, "models": scores.len(),
        "tp": total.tp, "fn": total.fn_, "fp": total.fp, "tn": total.tn,
    })
}

/// ` (crop = full)`: which grid cell a note is about, when the experiment varies anything.
fn point_text(exp: &Experiment, point: &crate::study::GridPoint) -> String {
    if exp.varying.is_empty() {
        return String::new();
    }
    let axes: Vec<String> = exp
        .varying
        .iter()
        .filter_map(|a| point.axis(a).map(|v| format!("{a} = {v}")))
        .collect();
    format!(" ({})", axes.join(", "))
}
