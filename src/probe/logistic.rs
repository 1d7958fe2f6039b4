//! The metadata-only baseline: logistic regression from metadata (one-hot categories, standardised age
//! with a missing flag) to the label, fitted on the training partition, scored on the held-out ones. A
//! high AUC means the label can be predicted without looking at an image.

use super::{AUC_RANGE, Results};
use crate::data::Record;
use crate::data::split::Fold;
use crate::eval::estimate::{UnitValue, combine};
use crate::eval::metrics::{Scores, Undefined, auc_interval};
use indexmap::IndexMap;

/// Columns built from the training records.
struct Encoder {
    /// (feature, its values seen in training) for categorical features.
    categories: Vec<(String, Vec<String>)>,
    /// Mean and standard deviation of age in training, when age is a feature.
    age: Option<(f64, f64)>,
}

impl Encoder {
    fn fit(features: &[String], train: &[&Record]) -> Encoder {
        let mut categories = Vec::new();
        let mut age = None;
        for f in features {
            if f == "age" {
                let ages: Vec<f64> = train.iter().filter_map(|r| r.age).collect();
                let (m, s) = if ages.is_empty() {
                    (0.0, 1.0)
                } else {
                    let m = ages.iter().sum::<f64>() / ages.len() as f64;
                    let v = ages.iter().map(|a| (a - m).powi(2)).sum::<f64>() / ages.len() as f64;
                    (m, v.sqrt().max(1e-9))
                };
                age = Some((m, s));
            } else {
                let mut values: Vec<String> = train
                    .iter()
                    .map(|r| r.attribute(f).unwrap_or_else(|| "(missing)".into()))
                    .collect();
                values.sort();
                values.dedup();
                categories.push((f.clone(), values));
            }
        }
        Encoder { categories, age }
    }

    /// Intercept, one column per category value (the first value of each feature is the reference),
    /// then age and its missing flag.
    fn encode(&self, r: &Record) -> Vec<f64> {
        let mut x = vec![1.0];
        for (f, values) in &self.categories {
            let v = r.attribute(f).unwrap_or_else(|| "(missing)".into());
            x.extend(values.iter().skip(1).map(|c| (*c == v) as u8 as f64));
        }
        if let Some((m, s)) = self.age {
            match r.age {
                Some(a) => x.extend([(a - m) / s, 0.0]),
                None => x.extend([0.0, 1.0]),
            }
        }
        x
    }
}

/// Newton–Raphson on the L2-penalised log-likelihood (penalty 1e-2, intercept unpenalised).
fn fit_logistic(x: &[Vec<f64>], y: &[bool]) -> Vec<f64> {
    let d = x.first().map_or(0, Vec::len);
    let mut w = vec![0.0; d];
    let lambda = 1e-2;
    for _ in 0..50 {
        let mut grad = vec![0.0; d];
        let mut hess = vec![vec![0.0; d]; d];
        for (xi, yi) in x.iter().zip(y) {
            let z: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let r = p - (*yi as u8 as f64);
            for j in 0..d {
                grad[j] += r * xi[j];
                for k in 0..d {
                    hess[j][k] += p * (1.0 - p) * xi[j] * xi[k];
                }
            }
        }
        for j in 1..d {
            grad[j] += lambda * w[j];
            hess[j][j] += lambda;
        }
        hess[0][0] += 1e-9;
        let Some(step) = solve(hess, grad) else { break };
        let mut change = 0.0f64;
        for j in 0..d {
            w[j] -= step[j];
            change = change.max(step[j].abs());
        }
        if change < 1e-10 {
            break;
        }
    }
    w
}

/// Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|i, j| a[*i][col].abs().total_cmp(&a[*j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, below) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (offset, row) in below.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            row.iter_mut()
                .zip(pivot_row)
                .skip(col)
                .for_each(|(x, p)| *x -= f * p);
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// The baseline's AUC for the label `positive`, one unit per fold of the split.
pub fn metadata_baseline(
    name: &str,
    features: &[String],
    positive: &str,
    records: &[Record],
    folds: &[Fold],
) -> Results {
    // Per scope (every held-out image; each held-out partition; each unseen source), the folds' AUCs.
    let mut scopes: IndexMap<Vec<String>, Vec<Result<UnitValue, Undefined>>> = IndexMap::new();
    let mut details = Vec::new();
    for Fold {
        name: fold,
        partitions: assignment,
    } in folds
    {
        let of = |keep: &dyn Fn(&str, &Record) -> bool| -> Vec<&Record> {
            records
                .iter()
                .zip(assignment)
                .filter(|(r, p)| p.as_deref().is_some_and(|p| keep(p, r)))
                .map(|(r, _)| r)
                .collect()
        };
        let train = of(&|p, _| p == "train");
        let encoder = Encoder::fit(features, &train);
        let x: Vec<Vec<f64>> = train.iter().map(|r| encoder.encode(r)).collect();
        let y: Vec<bool> = train.iter().map(|r| r.label == positive).collect();
        let w = fit_logistic(&x, &y);
        let score = |r: &Record| -> f64 {
            let z: f64 = encoder.encode(r).iter().zip(&w).map(|(a, b)| a * b).sum();
            1.0 / (1.0 + (-z).exp())
        };
        let held_out = |p: &str| p != "train" && p != "validation";
        let mut fold_scopes: Vec<(Vec<String>, Vec<&Record>)> =
            vec![(vec![], of(&|p, _| held_out(p)))];
        let mut partitions: Vec<&str> = assignment.iter().flatten().map(String::as_str).collect();
        partitions.sort();
        partitions.dedup();
        for p in partitions.into_iter().filter(|p| held_out(p)) {
            fold_scopes.push((vec![p.to_string()], of(&|q, _| q == p)));
            if p == "unseen" {
                let mut sources: Vec<&str> = of(&|q, _| q == p)
                    .iter()
                    .map(|r| r.source.as_str())
                    .collect();
                sources.sort();
                sources.dedup();
                for s in sources {
                    let rows = of(&|q, r| q == p && r.source == s);
                    fold_scopes.push((vec![p.to_string(), s.to_string()], rows));
                }
            }
        }
        let held = fold_scopes[0].1.len();
        for (args, rows) in fold_scopes {
            let labels: Vec<bool> = rows.iter().map(|r| r.label == positive).collect();
            // A source of one label has no AUC of its own (the partition's AUC covers it).
            if args.len() == 2 && (labels.iter().all(|l| *l) || labels.iter().all(|l| !*l)) {
                continue;
            }
            let scores: Vec<f64> = rows.iter().map(|r| score(r)).collect();
            let s = Scores::new(&scores, &labels);
            scopes.entry(args).or_default().push(
                auc_interval(&s, 0.95).map(|(a, i)| UnitValue::with_interval(a, i.lower, i.upper)),
            );
        }
        details.push(serde_json::json!({
            "fold": fold, "train_images": train.len(), "held_out_images": held,
            "coefficients": w,
        }));
    }
    let mut results = Results::new(name, "metadata_baseline");
    for (args, units) in scopes {
        results.push("auc", args, None, combine(&units, 0.95, AUC_RANGE));
    }
    results.details = serde_json::json!({
        "features": features, "positive": positive, "folds": details,
    });
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_regression_recovers_the_rates_of_a_binary_feature() {
        // Rows with the feature are positive 8 times in 10, rows without it 2 times in 10.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for k in 0..200 {
            let f = k % 2 == 1;
            x.push(vec![1.0, f as u8 as f64]);
            y.push(if f { k % 10 != 1 } else { k % 10 == 0 });
        }
        let w = fit_logistic(&x, &y);
        // The maximum-likelihood fit reproduces both rates (the small penalty barely moves them).
        let p1 = 1.0 / (1.0 + (-(w[0] + w[1])).exp());
        let p0 = 1.0 / (1.0 + (-w[0]).exp());
        assert!(
            (p1 - 0.8).abs() < 0.005 && (p0 - 0.2).abs() < 0.005,
            "{p0} {p1}"
        );
    }
}
