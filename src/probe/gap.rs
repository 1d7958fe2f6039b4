//! The seen − unseen gap of an experiment's metric, overall and per unseen source.

use super::{
    AUC_RANGE, IntervalRule, NoValue, ProbeError, Results, positive_of, scores_of, sources_in,
    threshold_metric, unit_metric, unit_threshold,
};
use crate::eval::estimate::{UnitValue, combine};
use crate::eval::metrics::{Scores, auc, percentile_interval};
use crate::eval::predictions::Predictions;
use crate::study::{Experiment, GridPoint, Metric, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seen − unseen of an experiment's metric, with a bootstrap interval, overall and per unseen source.
/// `units` are the predictions of the models experiment `experiment` trained at `point`.
pub struct GapInput<'a> {
    pub experiment: &'a str,
    pub exp: &'a Experiment,
    pub point: &'a GridPoint,
    pub split: &'a Split,
    pub metric: Metric,
    /// The partition or test set compared with the held-out seen images (`unseen` unless `against`).
    pub unseen: &'a str,
    pub units: &'a [Predictions],
}

pub fn gap(name: &str, input: GapInput, seed: u64) -> Result<Results, ProbeError> {
    let GapInput {
        experiment,
        exp,
        point,
        split,
        metric,
        unseen: unseen_side,
        units,
    } = input;
    let seen = split.held_out_seen();
    let mut results = Results::new(name, "gap");
    results.units = units.len();
    let mut notes = Vec::new();
    let mut unseen_sources: Vec<String> = units
        .iter()
        .flat_map(|u| sources_in(u, unseen_side))
        .collect();
    unseen_sources.sort();
    unseen_sources.dedup();
    let scopes: Vec<Option<String>> = std::iter::once(None)
        .chain(unseen_sources.into_iter().map(Some))
        .collect();
    // Per unit, once: its positive class, its decision threshold and its scores on the seen partition.
    let mut per_unit = Vec::with_capacity(units.len());
    for u in units {
        let positive = positive_of(exp, u)?;
        let threshold = unit_threshold(exp, u, positive, &mut notes);
        per_unit.push((
            positive,
            threshold,
            scores_of(u, u.rows(&seen, None), positive),
        ));
    }
    let seen_units: Vec<Result<UnitValue, NoValue>> = per_unit
        .iter()
        .enumerate()
        .map(|(k, (_, threshold, s))| {
            unit_metric(
                metric,
                s,
                *threshold,
                IntervalRule::of(exp),
                seed ^ k as u64,
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
        let mut one_class = true;
        for (k, (u, (positive, threshold, a))) in units.iter().zip(&per_unit).enumerate() {
            let b = scores_of(u, u.rows(unseen_side, scope.as_deref()), *positive);
            one_class &= b.positives.is_empty() || b.negatives.is_empty();
            let seed = seed ^ (k as u64) << 8;
            let unseen = unit_metric(metric, &b, *threshold, IntervalRule::of(exp), seed);
            let gap = difference(
                metric,
                a,
                &b,
                *threshold,
                exp.confidence,
                exp.bootstrap,
                seed ^ 7,
            );
            gap_units.push(match (gap, &seen_units[k], &unseen) {
                (Ok(g), Ok(s), Ok(u)) => Ok(at_least_both_sides(g, s, u)),
                (g, _, _) => g,
            });
            unseen_units.push(unseen);
        }
        let args: Vec<String> = scope.iter().cloned().collect();
        let unseen = combine(&unseen_units, exp.confidence, AUC_RANGE);
        let g = combine(&gap_units, exp.confidence, Some((-1.0, 1.0)));
        // A source of one label has no per-source value of a two-class metric: one note, no lines.
        if let (true, Some(source), true) = (one_class, scope, unseen.undefined.is_some()) {
            notes.push(format!(
                "{source} holds one class in {unseen_side}: it has no {} of its own",
                metric.name()
            ));
            continue;
        }
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

/// A unit's gap whose seen or unseen side has an interval reaching 0 or 1 (where resamples of a perfect
/// score are all perfect, and the bootstrap of the gap sees no uncertainty on that side): each bound
/// widened to at least the two sides' own intervals combined (the MOVER of Zou & Donner 2008 for a
/// difference of independent estimates: `d − √((s − s_lo)² + (u_hi − u)²)`, `d + √((s_hi − s)² + (u − u_lo)²)`).
fn at_least_both_sides(gap: UnitValue, seen: &UnitValue, unseen: &UnitValue) -> UnitValue {
    let (Some(s_lo), Some(s_hi), Some(u_lo), Some(u_hi)) =
        (seen.lower, seen.upper, unseen.lower, unseen.upper)
    else {
        return gap;
    };
    let at_boundary = |lo: f64, hi: f64| lo <= 0.0 || hi >= 1.0;
    if !at_boundary(s_lo, s_hi) && !at_boundary(u_lo, u_hi) {
        return gap;
    }
    let (s, u) = (seen.value, unseen.value);
    let lower = gap.value - ((s - s_lo).powi(2) + (u_hi - u).powi(2)).sqrt();
    let upper = gap.value + ((s_hi - s).powi(2) + (u - u_lo).powi(2)).sqrt();
    UnitValue::with_interval(
        gap.value,
        gap.lower.map_or(lower, |l| l.min(lower)),
        gap.upper.map_or(upper, |h| h.max(upper)),
    )
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
) -> Result<UnitValue, NoValue> {
    let stat = |s: &Scores| -> Option<f64> {
        if metric == Metric::Auc {
            auc(s).get()
        } else {
            threshold_metric(metric, threshold)(s)
        }
    };
    let va = stat(a).ok_or(NoValue::SideLacksClass("seen partition lacks"))?;
    let vb = stat(b).ok_or(NoValue::SideLacksClass("unseen images lack"))?;
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
