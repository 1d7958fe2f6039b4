//! Confounder probes and experiment aggregates: numbers computed from the predictions of evaluation
//! cells (or from the data itself), each with the interval a verdict reads.

mod logistic;
pub mod results;
mod roc;
pub mod verdict;

use crate::data::stats::association;
use crate::eval::estimate::{Estimate, UnitValue, combine};
use crate::eval::metrics::{
    Scores, auc, bootstrap_interval, confusion, delong_interval, macro_auc, percentile_interval,
    youden_threshold,
};
use crate::eval::predictions::{Prediction, Predictions};
use crate::plan::{Cell, Task};
use crate::run::store::CellWriter;
use crate::run::{CellError, Ctx};
use crate::study::{Experiment, GridPoint, Metric, ProbeKind, Setup, Threshold};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
pub use results::{Entry, Results, point_label};

const AUC_RANGE: Option<(f64, f64)> = Some((0.0, 1.0));

/// The predictions of every evaluation cell among `deps` whose model was trained with `setup`.
fn units(ctx: &Ctx, deps: &[String], setup: &Setup) -> Result<Vec<Predictions>, CellError> {
    let mut out = Vec::new();
    for d in deps {
        let cell = ctx.cell(d)?;
        let Task::Evaluate { train } = &cell.task else {
            continue;
        };
        let Task::Train { setup: s, .. } = &ctx.cell(train)?.task else {
            continue;
        };
        if s == setup {
            out.push(ctx.read::<Predictions>(d, "predictions.json")?);
        }
    }
    Ok(out)
}

/// The positive class of an experiment: declared, or the first class.
fn positive_of(exp: &Experiment, p: &Predictions) -> Result<usize, String> {
    match &exp.positive {
        Some(c) => p
            .class_index(c)
            .ok_or_else(|| format!("the positive class `{c}` is not among {:?}", p.classes)),
        None => Ok(0),
    }
}

fn scores_of<'a>(
    p: &Predictions,
    rows: impl Iterator<Item = &'a Prediction>,
    positive: usize,
) -> Scores {
    let (s, y) = p.binary(rows, positive);
    Scores::new(&s, &y)
}

/// A threshold metric as a function of scores.
fn threshold_metric(metric: Metric, threshold: f64) -> impl Fn(&Scores) -> Option<f64> {
    move |s: &Scores| {
        let c = confusion(s, threshold);
        match metric {
            Metric::Accuracy => c.accuracy(),
            Metric::Sensitivity => c.sensitivity(),
            Metric::Specificity => c.specificity(),
            Metric::F1 => c.f1(),
            Metric::BalancedAccuracy => c.balanced_accuracy(),
            Metric::Auc | Metric::Loss => {
                crate::eval::metrics::Value::Undefined("not a threshold metric".into())
            }
        }
        .get()
    }
}

/// One unit's value of a metric with its interval: DeLong for AUC, stratified bootstrap otherwise.
fn unit_metric(
    metric: Metric,
    s: &Scores,
    threshold: f64,
    level: f64,
    resamples: u32,
    seed: u64,
) -> Result<UnitValue, String> {
    if metric == Metric::Auc {
        return match delong_interval(s, level) {
            Ok((a, i)) => Ok(UnitValue::with_interval(a, i.lower, i.upper)),
            Err(why) => auc(s).get().map(UnitValue::plain).ok_or(why),
        };
    }
    let f = threshold_metric(metric, threshold);
    let value = f(s).ok_or_else(|| match metric {
        Metric::Sensitivity => "no positive images".to_string(),
        Metric::Specificity => "no negative images".to_string(),
        _ => "no images".to_string(),
    })?;
    Ok(match bootstrap_interval(s, level, resamples, seed, f) {
        Ok(i) => UnitValue::with_interval(value, i.lower, i.upper),
        Err(_) => UnitValue::plain(value),
    })
}

/// The decision threshold of a unit: fixed, or Youden's on its validation predictions (0.5 when the
/// validation partition cannot give one, with a note).
fn unit_threshold(
    exp: &Experiment,
    p: &Predictions,
    positive: usize,
    notes: &mut Vec<String>,
) -> f64 {
    match exp.threshold {
        Threshold::Fixed(t) => t,
        Threshold::Youden => {
            let s = scores_of(p, p.rows("validation", None), positive);
            match youden_threshold(&s) {
                Ok(t) => t,
                Err(why) => {
                    let note = format!(
                        "threshold 0.5 for {}: no Youden threshold on validation ({why})",
                        p.cell
                    );
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    0.5
                }
            }
        }
    }
}

/// Sources present in a partition of a unit's predictions, sorted.
fn sources_in(p: &Predictions, partition: &str) -> Vec<String> {
    let mut s: Vec<String> = p.rows(partition, None).map(|r| r.source.clone()).collect();
    s.sort();
    s.dedup();
    s
}

pub fn aggregate(ctx: &Ctx, cell: &Cell, name: &str, writer: &CellWriter) -> Result<(), CellError> {
    let exp = &ctx.study().experiments[name];
    let mut results = Results::new(name, "experiment");
    let mut curves = Vec::new();
    let mut worst = Vec::new();
    for point in &exp.points {
        let units = units(ctx, &cell.deps, &point.setup())?;
        results.units += units.len();
        let mut thresholds = Vec::new();
        let mut positives = Vec::new();
        for u in &units {
            let positive = positive_of(exp, u).map_err(|m| {
                CellError::fault(crate::diagnostics::Code::UnknownClass, m).of("experiment", name)
            })?;
            thresholds.push(unit_threshold(exp, u, positive, &mut results.notes));
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
                for metric in &exp.measures {
                    let per_unit: Vec<Result<UnitValue, String>> = scores
                        .iter()
                        .enumerate()
                        .map(|(k, s)| {
                            unit_metric(
                                *metric,
                                s,
                                thresholds[k],
                                exp.confidence,
                                exp.bootstrap,
                                cell.seed ^ k as u64,
                            )
                        })
                        .collect();
                    let mut args = vec![partition.clone()];
                    args.extend(scope.clone());
                    results.push(
                        metric.name(),
                        args,
                        Some(point),
                        combine(&per_unit, exp.confidence, AUC_RANGE),
                    );
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
            if exp.per_source {
                for metric in &exp.measures {
                    let by_source: Vec<(String, f64)> = results
                        .entries
                        .iter()
                        .filter(|e| e.field == metric.name() && e.point.as_ref() == Some(point))
                        .filter(|e| e.args.len() == 2 && &e.args[0] == partition)
                        .filter_map(|e| Some((e.args[1].clone(), e.estimate.value?)))
                        .collect();
                    if let Some((source, value)) =
                        by_source.iter().min_by(|a, b| a.1.total_cmp(&b.1))
                    {
                        worst.push(serde_json::json!({
                            "point": point, "partition": partition, "metric": metric.name(),
                            "source": source, "value": value,
                        }));
                    }
                }
            }
        }
    }
    results.details = serde_json::json!({
        "varying": exp.varying,
        "measures": exp.measures.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "partitions": exp.evaluate,
        "confidence": exp.confidence,
        "roc": curves,
        "worst_source": worst,
    });
    writer.write_json("results.json", &results)
}

/// The partition that holds out images of the sources seen in training (`seen`, else `test`).
fn held_out_seen(split: &crate::study::Split) -> String {
    let parts = split.partitions();
    ["seen", "test"]
        .iter()
        .find(|p| parts.iter().any(|q| q == *p))
        .map_or_else(|| "validation".to_string(), |p| p.to_string())
}

pub fn probe(ctx: &Ctx, cell: &Cell, name: &str, writer: &CellWriter) -> Result<(), CellError> {
    let study = ctx.study();
    let probe = &study.probes[name];
    let results = match &probe.kind {
        ProbeKind::Predict { setup, .. } => predict(ctx, cell, name, setup)?,
        ProbeKind::Occlusion { crops, setup } => occlusion(ctx, cell, name, crops, setup)?,
        ProbeKind::Gap {
            experiment,
            point,
            metric,
        } => gap(ctx, cell, name, experiment, point.as_ref(), *metric)?,
        ProbeKind::Association {
            first,
            second,
            split,
            partition,
        } => associate(ctx, name, first, second, split, partition)?,
        ProbeKind::MetadataBaseline { features, split } => {
            logistic::metadata_baseline(ctx, cell, name, features, split)?
        }
        ProbeKind::Finetune {
            experiment,
            point,
            sizes,
            epochs,
        } => crate::run::finetune(ctx, cell, name, experiment, point, sizes, *epochs)?,
        ProbeKind::Saliency {
            experiment,
            point,
            samples,
            masks,
        } => crate::run::saliency(ctx, cell, name, experiment, point, *samples, masks)?,
    };
    writer.write_json("results.json", &results)
}

/// Bootstrap over rows (not stratified) of a statistic of a set of rows.
pub(crate) fn row_bootstrap(
    n: usize,
    level: f64,
    resamples: u32,
    seed: u64,
    statistic: impl Fn(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::new();
    let mut pick = vec![0usize; n];
    for _ in 0..resamples {
        pick.iter_mut().for_each(|p| *p = rng.random_range(0..n));
        if let Some(v) = statistic(&pick) {
            values.push(v);
        }
    }
    percentile_interval(values, level).map(|i| (i.lower, i.upper))
}

const PROBE_LEVEL: f64 = 0.95;
const PROBE_RESAMPLES: u32 = 1000;

/// Predictability of a target (source, sex, ...) from the images: macro one-vs-rest AUC and accuracy on
/// the held-out images whose value was seen in training, against the majority baseline.
fn predict(ctx: &Ctx, cell: &Cell, name: &str, setup: &Setup) -> Result<Results, CellError> {
    let units = units(ctx, &cell.deps, setup)?;
    let mut results = Results::new(name, "predict");
    results.units = units.len();
    let (mut aucs, mut accs, mut bases) = (Vec::new(), Vec::new(), Vec::new());
    let mut details = Vec::new();
    for (k, u) in units.iter().enumerate() {
        let known = |r: &&Prediction| u.class_index(&r.truth).is_some();
        let train: Vec<&Prediction> = u.rows("train", None).filter(known).collect();
        let held: Vec<&Prediction> = u
            .rows
            .iter()
            .filter(|r| r.partition != "train" && r.partition != "validation")
            .filter(known)
            .collect();
        let classes = u.classes.len();
        let mut counts = vec![0usize; classes];
        train
            .iter()
            .for_each(|r| counts[u.class_index(&r.truth).unwrap_or(0)] += 1);
        let majority = (0..classes)
            .max_by_key(|c| (counts[*c], std::cmp::Reverse(*c)))
            .unwrap_or(0);
        if held.is_empty() {
            let why = "no held-out image has a value seen in training".to_string();
            aucs.push(Err(why.clone()));
            accs.push(Err(why.clone()));
            bases.push(Err(why));
            continue;
        }
        let truth: Vec<usize> = held
            .iter()
            .map(|r| u.class_index(&r.truth).unwrap_or(0))
            .collect();
        let scores: Vec<Vec<f64>> = held
            .iter()
            .map(|r| r.probabilities.iter().map(|p| *p as f64).collect())
            .collect();
        let argmax = |s: &Vec<f64>| {
            (0..s.len())
                .max_by(|a, b| s[*a].total_cmp(&s[*b]))
                .unwrap_or(0)
        };
        let auc_of = |idx: &[usize]| -> Option<f64> {
            let s: Vec<Vec<f64>> = idx.iter().map(|i| scores[*i].clone()).collect();
            let t: Vec<usize> = idx.iter().map(|i| truth[*i]).collect();
            macro_auc(&s, &t, classes).get()
        };
        let acc_of = |idx: &[usize]| -> Option<f64> {
            Some(
                idx.iter()
                    .filter(|i| argmax(&scores[**i]) == truth[**i])
                    .count() as f64
                    / idx.len() as f64,
            )
        };
        let all: Vec<usize> = (0..held.len()).collect();
        let seed = cell.seed ^ k as u64;
        aucs.push(match auc_of(&all) {
            Some(v) => Ok(
                match row_bootstrap(all.len(), PROBE_LEVEL, PROBE_RESAMPLES, seed, auc_of) {
                    Some((lo, hi)) => UnitValue::with_interval(v, lo, hi),
                    None => UnitValue::plain(v),
                },
            ),
            None => Err("fewer than two values of the target among the held-out images".into()),
        });
        let acc = acc_of(&all).unwrap_or(0.0);
        accs.push(Ok(
            match row_bootstrap(all.len(), PROBE_LEVEL, PROBE_RESAMPLES, seed ^ 1, acc_of) {
                Some((lo, hi)) => UnitValue::with_interval(acc, lo, hi),
                None => UnitValue::plain(acc),
            },
        ));
        let base = truth.iter().filter(|t| **t == majority).count() as f64 / truth.len() as f64;
        bases.push(Ok(UnitValue::plain(base)));
        details.push(serde_json::json!({
            "unit": u.cell, "classes": u.classes, "held_out": held.len(),
            "majority_class": u.classes.get(majority), "train_counts": counts,
        }));
    }
    results.push("auc", vec![], None, combine(&aucs, PROBE_LEVEL, AUC_RANGE));
    results.push(
        "accuracy",
        vec![],
        None,
        combine(&accs, PROBE_LEVEL, AUC_RANGE),
    );
    results.push(
        "baseline",
        vec![],
        None,
        combine(&bases, PROBE_LEVEL, AUC_RANGE),
    );
    results.details = serde_json::json!({ "units": details });
    Ok(results)
}

/// The main task under each crop: AUC on the held-out seen partition, side by side.
fn occlusion(
    ctx: &Ctx,
    cell: &Cell,
    name: &str,
    crops: &[String],
    setup: &Setup,
) -> Result<Results, CellError> {
    let split = &ctx.study().splits[&setup.split];
    let partition = held_out_seen(split);
    let mut results = Results::new(name, "occlusion");
    let mut table = Vec::new();
    for crop in crops {
        let s = Setup {
            crop: crop.clone(),
            ..setup.clone()
        };
        let units = units(ctx, &cell.deps, &s)?;
        results.units += units.len();
        for p in split.partitions().iter().filter(|p| *p != "train") {
            let per_unit: Vec<Result<UnitValue, String>> = units
                .iter()
                .map(|u| {
                    unit_metric(
                        Metric::Auc,
                        &scores_of(u, u.rows(p, None), 0),
                        0.5,
                        PROBE_LEVEL,
                        0,
                        0,
                    )
                })
                .collect();
            let e = combine(&per_unit, PROBE_LEVEL, AUC_RANGE);
            table.push(serde_json::json!({ "crop": crop, "partition": p, "auc": e }));
            if *p == partition {
                results.push("auc", vec![crop.clone()], None, e);
            }
        }
    }
    results.details = serde_json::json!({ "partition": partition, "table": table });
    Ok(results)
}

/// Seen − unseen of an experiment's metric, with a bootstrap interval, overall and per unseen source.
fn gap(
    ctx: &Ctx,
    cell: &Cell,
    name: &str,
    experiment: &str,
    point: Option<&GridPoint>,
    metric: Metric,
) -> Result<Results, CellError> {
    let exp = &ctx.study().experiments[experiment];
    let point = point.cloned().unwrap_or_else(|| exp.points[0].clone());
    let split = &ctx.study().splits[&point.split];
    let seen = held_out_seen(split);
    let units = units(ctx, &cell.deps, &point.setup())?;
    let mut results = Results::new(name, "gap");
    results.units = units.len();
    let mut notes = Vec::new();
    let mut unseen_sources: Vec<String> =
        units.iter().flat_map(|u| sources_in(u, "unseen")).collect();
    unseen_sources.sort();
    unseen_sources.dedup();
    let scopes: Vec<Option<String>> = std::iter::once(None)
        .chain(unseen_sources.into_iter().map(Some))
        .collect();
    // Per unit, once: its positive class, its decision threshold and its scores on the seen partition.
    let mut per_unit = Vec::with_capacity(units.len());
    for u in &units {
        let positive = positive_of(exp, u).map_err(|m| {
            CellError::fault(crate::diagnostics::Code::UnknownClass, m).of("experiment", experiment)
        })?;
        let threshold = unit_threshold(exp, u, positive, &mut notes);
        per_unit.push((
            positive,
            threshold,
            scores_of(u, u.rows(&seen, None), positive),
        ));
    }
    let seen_units: Vec<Result<UnitValue, String>> = per_unit
        .iter()
        .enumerate()
        .map(|(k, (_, threshold, s))| {
            unit_metric(
                metric,
                s,
                *threshold,
                exp.confidence,
                exp.bootstrap,
                cell.seed ^ k as u64,
            )
        })
        .collect();
    let mut table = Vec::new();
    results.push(
        "seen",
        vec![],
        None,
        combine(&seen_units, exp.confidence, AUC_RANGE),
    );
    for scope in &scopes {
        let (mut unseen_units, mut gap_units) = (Vec::new(), Vec::new());
        for (k, (u, (positive, threshold, a))) in units.iter().zip(&per_unit).enumerate() {
            let b = scores_of(u, u.rows("unseen", scope.as_deref()), *positive);
            let seed = cell.seed ^ (k as u64) << 8;
            unseen_units.push(unit_metric(
                metric,
                &b,
                *threshold,
                exp.confidence,
                exp.bootstrap,
                seed,
            ));
            gap_units.push(difference(
                metric,
                a,
                &b,
                *threshold,
                exp.confidence,
                exp.bootstrap,
                seed ^ 7,
            ));
        }
        let args: Vec<String> = scope.iter().cloned().collect();
        let unseen = combine(&unseen_units, exp.confidence, AUC_RANGE);
        let g = combine(&gap_units, exp.confidence, Some((-1.0, 1.0)));
        table.push(serde_json::json!({ "source": scope, "unseen": unseen, "gap": g }));
        results.push("unseen", args.clone(), None, unseen);
        results.push("gap", args, None, g);
    }
    results.notes = notes;
    results.details = serde_json::json!({
        "experiment": experiment, "point": point, "metric": metric.name(),
        "seen_partition": seen, "table": table,
    });
    Ok(results)
}

/// `metric(a) − metric(b)` with a percentile interval from stratified resamples of both sets.
fn difference(
    metric: Metric,
    a: &Scores,
    b: &Scores,
    threshold: f64,
    level: f64,
    resamples: u32,
    seed: u64,
) -> Result<UnitValue, String> {
    let stat = |s: &Scores| -> Option<f64> {
        if metric == Metric::Auc {
            auc(s).get()
        } else {
            threshold_metric(metric, threshold)(s)
        }
    };
    let va = stat(a).ok_or("the seen partition lacks a class")?;
    let vb = stat(b).ok_or("the unseen images lack a class")?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |s: &Scores| Scores {
        positives: (0..s.positives.len())
            .map(|_| s.positives[rng.random_range(0..s.positives.len())])
            .collect(),
        negatives: (0..s.negatives.len())
            .map(|_| s.negatives[rng.random_range(0..s.negatives.len())])
            .collect(),
    };
    let mut values = Vec::with_capacity(resamples as usize);
    for _ in 0..resamples {
        let (ra, rb) = (draw(a), draw(b));
        if let (Some(x), Some(y)) = (stat(&ra), stat(&rb)) {
            values.push(x - y);
        }
    }
    Ok(match percentile_interval(values, level) {
        Some(i) => UnitValue::with_interval(va - vb, i.lower, i.upper),
        None => UnitValue::plain(va - vb),
    })
}

/// Association of two variables in one partition of a split (its first fold).
fn associate(
    ctx: &Ctx,
    name: &str,
    first: &str,
    second: &str,
    split: &str,
    partition: &str,
) -> Result<Results, CellError> {
    let data = &ctx.study().splits[split].data;
    let records = crate::run::records(ctx, data)?.records;
    let parts = crate::run::partitions(ctx, split)?;
    let assignment = &parts.folds[0].1;
    let values: Vec<(String, String)> = records
        .iter()
        .zip(assignment)
        .filter(|(_, p)| p.as_deref() == Some(partition))
        .filter_map(|(r, _)| Some((r.attribute(first)?, r.attribute(second)?)))
        .collect();
    let a = association(values.iter().map(|(x, y)| (x.as_str(), y.as_str())));
    let mut results = Results::new(name, "association");
    let or_undefined =
        |v: Option<f64>, why: &str| v.map_or_else(|| Estimate::undefined(why), Estimate::exact);
    let why = "the table has a single row or column";
    results.push(
        "chi2",
        vec![],
        None,
        if a.p.is_some() {
            Estimate::exact(a.chi2)
        } else {
            Estimate::undefined(why)
        },
    );
    results.push("p", vec![], None, or_undefined(a.p, why));
    results.push("cramers_v", vec![], None, or_undefined(a.cramers_v, why));
    results.details = serde_json::json!({
        "first": first, "second": second, "split": split, "partition": partition,
        "fold": parts.folds[0].0, "rows": a.rows, "columns": a.columns, "counts": a.counts,
        "dof": a.dof, "images": values.len(),
    });
    Ok(results)
}
