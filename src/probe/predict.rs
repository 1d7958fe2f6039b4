//! How well a target other than the label (source, sex, age group) can be predicted from the images.

use super::{AUC_RANGE, PROBE_LEVEL, PROBE_RESAMPLES, Results, row_bootstrap};
use crate::eval::estimate::{UnitValue, combine};
use crate::eval::mann_whitney::newcombe_interval;
use crate::eval::metrics::{macro_auc, wilson_interval};
use crate::eval::predictions::{Prediction, Predictions};

/// Predictability of a target (source, sex, ...) from the images: macro one-vs-rest AUC and accuracy on
/// the held-out images whose value was seen in training, against the majority baseline.
pub fn predict(name: &str, units: &[Predictions], seed: u64) -> Results {
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
        let seed = seed ^ k as u64;
        aucs.push(match auc_of(&all) {
            Some(v) => Ok(
                match row_bootstrap(all.len(), PROBE_LEVEL, PROBE_RESAMPLES, seed, auc_of) {
                    Some((lo, hi)) => {
                        let (lo, hi) = at_least_newcombe(v, lo, hi, &truth, classes);
                        UnitValue::with_interval(v, lo, hi)
                    }
                    None => UnitValue::plain(v),
                },
            ),
            None => Err("fewer than two values of the target among the held-out images".into()),
        });
        let acc = acc_of(&all).unwrap_or(0.0);
        accs.push(Ok(
            match row_bootstrap(all.len(), PROBE_LEVEL, PROBE_RESAMPLES, seed ^ 1, acc_of) {
                Some((lo, hi)) => {
                    let (lo, hi) = at_least_wilson(acc, lo, hi, all.len());
                    UnitValue::with_interval(acc, lo, hi)
                }
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
    results
}

/// A macro AUC whose bootstrap interval reaches 0 or 1 (every resample of a perfect separation is perfect)
/// widened, on each side, to at least Newcombe's interval for one class against the rest at that value,
/// the class being the one with the fewest held-out images: the bound then reflects the sample size.
fn at_least_newcombe(value: f64, lo: f64, hi: f64, truth: &[usize], classes: usize) -> (f64, f64) {
    if lo > 0.0 && hi < 1.0 {
        return (lo, hi);
    }
    let fewest = (0..classes)
        .map(|c| truth.iter().filter(|t| **t == c).count())
        .filter(|n| *n > 0)
        .min()
        .unwrap_or(0);
    if fewest == 0 || fewest == truth.len() {
        return (lo, hi);
    }
    let (n_lo, n_hi) = newcombe_interval(value, fewest, truth.len() - fewest, PROBE_LEVEL);
    (lo.min(n_lo), hi.max(n_hi))
}

/// An accuracy whose bootstrap interval reaches 0 or 1 (every resample of a perfect score is perfect)
/// widened, on each side, to at least Wilson's interval for that share of `n` images.
fn at_least_wilson(value: f64, lo: f64, hi: f64, n: usize) -> (f64, f64) {
    if lo > 0.0 && hi < 1.0 {
        return (lo, hi);
    }
    let correct = (value * n as f64).round() as usize;
    match wilson_interval(correct.min(n), n, PROBE_LEVEL) {
        Some(i) => (lo.min(i.lower), hi.max(i.upper)),
        None => (lo, hi),
    }
}
