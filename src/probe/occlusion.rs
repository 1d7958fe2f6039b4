//! The main task's AUC under each crop, side by side: what is left when the lungs are hidden.

use super::{
    AUC_RANGE, IntervalRule, NoValue, PROBE_LEVEL, Results, scores_of, sources_in, unit_metric,
};
use crate::eval::estimate::{UnitValue, combine};
use crate::eval::predictions::Predictions;
use crate::study::{Metric, ProportionInterval, Split};

/// The main task under each crop: AUC on the held-out seen partition (`auc(crop)`), side by side, and on
/// every held-out partition (`auc(crop, unseen)`) and unseen source (`auc(crop, unseen, source)`).
/// `units[i]` holds the predictions of the models trained under `crops[i]`.
pub fn occlusion(
    name: &str,
    crops: &[String],
    split: &Split,
    units: &[Vec<Predictions>],
) -> Results {
    let partition = split.held_out_seen();
    let mut results = Results::new(name, "occlusion");
    let mut table = Vec::new();
    let auc_of = |units: &[Predictions], p: &str, source: Option<&str>| {
        let per_unit: Vec<Result<UnitValue, NoValue>> = units
            .iter()
            .map(|u| {
                let rule = IntervalRule {
                    level: PROBE_LEVEL,
                    resamples: 0,
                    proportions: ProportionInterval::Wilson,
                };
                unit_metric(
                    Metric::Auc,
                    &scores_of(u, u.rows(p, source), 0),
                    0.5,
                    rule,
                    0,
                )
            })
            .collect();
        combine(&per_unit, PROBE_LEVEL, AUC_RANGE)
    };
    for (crop, units) in crops.iter().zip(units) {
        results.units += units.len();
        for p in split.partitions().iter().filter(|p| *p != "train") {
            let e = auc_of(units, p, None);
            table.push(serde_json::json!({ "crop": crop, "partition": p, "auc": e }));
            if *p == partition {
                results.push("auc", vec![crop.clone()], None, e.clone());
            }
            if p != "validation" {
                results.push("auc", vec![crop.clone(), p.clone()], None, e);
            }
            if p == "unseen" {
                let mut sources: Vec<String> =
                    units.iter().flat_map(|u| sources_in(u, p)).collect();
                sources.sort();
                sources.dedup();
                for source in sources {
                    let e = auc_of(units, p, Some(&source));
                    // A source of one label has no AUC of its own (the partition's covers it).
                    if e.undefined.is_none() {
                        results.push("auc", vec![crop.clone(), p.clone(), source], None, e);
                    }
                }
            }
        }
    }
    results.details = serde_json::json!({ "partition": partition, "table": table });
    results
}
