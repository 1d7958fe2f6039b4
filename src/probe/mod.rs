//! Confounder probes and experiment aggregates as pure statistics: each takes the predictions of
//! evaluation cells (or a dataset's records and partitions) and returns `Results`, every number with the
//! interval a verdict reads. Reading those inputs from a run is the `cells` module's work.

mod aggregate;
mod association;
mod gap;
mod logistic;
mod occlusion;
mod predict;
pub mod results;
mod roc;
pub mod verdict;

pub use aggregate::aggregate;
pub use association::association;
pub use gap::{GapInput, gap};
pub use logistic::metadata_baseline;
pub use occlusion::occlusion;
pub use predict::predict;
pub use results::{ResultEntry, Results, SegmenterResult, point_label};

use crate::eval::estimate::UnitValue;
use crate::eval::metrics::{
    Scores, Undefined, auc, auc_interval, bootstrap_interval, confusion, percentile_interval,
    proportion_interval, youden_threshold,
};
use crate::eval::predictions::{Prediction, Predictions};
use crate::study::{Experiment, Metric, PROBE_LEVEL, ProportionInterval, Threshold};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const AUC_RANGE: Option<(f64, f64)> = Some((0.0, 1.0));

/// Why one unit (one trained model) has no value of a number; the reason is kept in the results.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoValue {
    #[error(transparent)]
    Metric(#[from] Undefined),
    /// A threshold metric whose denominator class (`positive` or `negative`) has no image.
    #[error("no {0} images")]
    NoClass(&'static str),
    #[error("no images")]
    NoImages,
    /// A difference whose side (`seen partition lacks`, `unseen images lack`) misses a class.
    #[error("the {0} a class")]
    SideLacksClass(&'static str),
    #[error("source {name} has too few images to fine-tune on {n}")]
    TooFewToFineTune { name: String, n: usize },
}

/// Why a probe could not compute its results.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error("the positive class `{class}` is not among {classes:?}")]
    UnknownPositive { class: String, classes: Vec<String> },
}

/// The positive class of an experiment: declared, or the first class.
fn positive_of(exp: &Experiment, p: &Predictions) -> Result<usize, ProbeError> {
    match &exp.positive {
        Some(c) => p.class_index(c).ok_or_else(|| ProbeError::UnknownPositive {
            class: c.clone(),
            classes: p.classes.clone(),
        }),
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
                crate::eval::metrics::MetricValue::Undefined("not a threshold metric".into())
            }
        }
        .get()
    }
}

/// An AUC resting on fewer images of a class than this is marked in the report.
pub const FEW_IMAGES: usize = 10;

/// The caution for an AUC over these units' scores: the fewest positives and negatives of any unit, when
/// either is below `FEW_IMAGES` (and neither is zero, which leaves the AUC undefined instead).
pub fn few_images(scores: &[Scores]) -> Option<String> {
    let positives = scores.iter().map(|s| s.positives.len()).min()?;
    let negatives = scores.iter().map(|s| s.negatives.len()).min()?;
    (positives.min(negatives) < FEW_IMAGES && positives > 0 && negatives > 0).then(|| {
        format!("{positives} positive and {negatives} negative image(s): fewer than {FEW_IMAGES} of a class")
    })
}

/// What an experiment's numbers rest on: the interval of each measured metric and the decision threshold.
pub fn method_notes(exp: &Experiment, thresholds: &[(String, f64)]) -> Vec<String> {
    use Metric::*;
    let level = format!("{}%", exp.confidence * 100.0);
    let mut intervals = Vec::new();
    for m in &exp.measures {
        let how = match m {
            Auc => "DeLong".to_string(),
            Sensitivity | Specificity | Accuracy => exp.interval.name().to_string(),
            F1 | BalancedAccuracy => format!("stratified bootstrap, {} resamples", exp.bootstrap),
            Loss => continue,
        };
        intervals.push(format!("{} {how}", m.name()));
    }
    let mut notes = vec![format!(
        "{level} intervals: {}; over repeats and folds, the mean with the between-unit variance added",
        intervals.join(", ")
    )];
    let thresholded = exp.measures.iter().any(|m| !matches!(m, Auc | Loss));
    if thresholded {
        notes.push(match exp.threshold {
            Threshold::Fixed(t) => format!("decision threshold {t} (declared)"),
            Threshold::Youden => format!(
                "decision threshold: Youden's on each model's validation predictions ({})",
                thresholds
                    .iter()
                    .map(|(unit, t)| format!("{unit}: {t:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    notes
}

/// How one unit's intervals are formed: the level, the bootstrap resamples, the rule for proportions.
#[derive(Clone, Copy, Debug)]
pub struct IntervalRule {
    pub level: f64,
    pub resamples: u32,
    pub proportions: ProportionInterval,
}

impl IntervalRule {
    /// The rule an experiment declares (`confidence`, `bootstrap`, `interval`).
    pub fn of(exp: &Experiment) -> IntervalRule {
        IntervalRule {
            level: exp.confidence,
            resamples: exp.bootstrap,
            proportions: exp.interval,
        }
    }
}

/// One unit's value of a metric with its interval: DeLong for AUC; Wilson's (or the exact) interval for
/// proportions (sensitivity, specificity, accuracy); a stratified bootstrap for F1 and balanced accuracy.
fn unit_metric(
    metric: Metric,
    s: &Scores,
    threshold: f64,
    rule: IntervalRule,
    seed: u64,
) -> Result<UnitValue, NoValue> {
    if metric == Metric::Auc {
        return match auc_interval(s, rule.level) {
            Ok((a, i)) => Ok(UnitValue::with_interval(a, i.lower, i.upper)),
            Err(why) => auc(s).get().map(UnitValue::plain).ok_or(why.into()),
        };
    }
    let f = threshold_metric(metric, threshold);
    let value = f(s).ok_or(match metric {
        Metric::Sensitivity => NoValue::NoClass("positive"),
        Metric::Specificity => NoValue::NoClass("negative"),
        _ => NoValue::NoImages,
    })?;
    let c = confusion(s, threshold);
    let proportion = match metric {
        Metric::Sensitivity => Some((c.tp, c.tp + c.fn_)),
        Metric::Specificity => Some((c.tn, c.tn + c.fp)),
        Metric::Accuracy => Some((c.tp + c.tn, c.tp + c.tn + c.fp + c.fn_)),
        _ => None,
    };
    if let Some((successes, n)) = proportion {
        return Ok(
            match proportion_interval(rule.proportions, successes, n, rule.level) {
                Some(i) => UnitValue::with_interval(value, i.lower, i.upper),
                None => UnitValue::plain(value),
            },
        );
    }
    Ok(
        match bootstrap_interval(s, rule.level, rule.resamples, seed, f) {
            Ok(i) => UnitValue::with_interval(value, i.lower, i.upper),
            Err(_) => UnitValue::plain(value),
        },
    )
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

/// Bootstrap over rows (not stratified) of a statistic of a set of rows.
pub fn row_bootstrap(
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

const PROBE_RESAMPLES: u32 = 1000;
