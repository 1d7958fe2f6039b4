//! Association of two variables (source and label, sex and label, ...) in one partition of a split.

use super::Results;
use crate::data::Record;
use crate::data::split::Fold;
use crate::data::stats::association as contingency;
use crate::eval::estimate::Estimate;

/// Association of two variables in one partition of a split (its first fold).
pub fn association(
    name: &str,
    (first, second): (&str, &str),
    (split, partition): (&str, &str),
    records: &[Record],
    folds: &[Fold],
) -> Results {
    let assignment = &folds[0].partitions;
    let values: Vec<(String, String)> = records
        .iter()
        .zip(assignment)
        .filter(|(_, p)| p.as_deref() == Some(partition))
        .filter_map(|(r, _)| Some((r.attribute(first)?, r.attribute(second)?)))
        .collect();
    let a = contingency(values.iter().map(|(x, y)| (x.as_str(), y.as_str())));
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
        "fold": folds[0].name, "rows": a.rows, "columns": a.columns, "counts": a.counts,
        "dof": a.dof, "images": values.len(),
    });
    results
}
