//! The main task's AUC under each crop, side by side: what is left when the lungs are hidden.

use super::{
    AUC_RANGE, IntervalRule, NoValue, PROBE_LEVEL, Results, held_out_seen, scores_of, unit_metric,
};
use crate::eval::estimate::{UnitValue, combine};
use crate::eval::predictions::Predictions;
use crate::study::{Metric, ProportionInterval, Split};

/// The main task under each crop: AUC on the held-out seen partition, side by side.
/// `units[i]` holds the predictions of the models trained under `crops[i]`.
pub fn occlusion(
    name: &str,
    crops: &[String],
    split: &Split,
    units: &[Vec<Predictions>],
) -> Results {
    let partition = held_out_seen(split);
    let mut results = Results::new(name, "occlusion");
    let mut table = Vec::new();
    for (crop, units) in crops.iter().zip(units) {
        results.units += units.len();
        for p in split.partitions().iter().filter(|p| *p != "train") {
            let per_unit: Vec<Result<UnitValue, NoValue>> = units
                .iter()
                .map(|u| {
                    unit_metric(
                        Metric::Auc,
                        &scores_of(u, u.rows(p, None), 0),
                        0.5,
                        IntervalRule {
                            level: PROBE_LEVEL,
                            resamples: 0,
                            proportions: ProportionInterval::Wilson,
                        },
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
    results
}
