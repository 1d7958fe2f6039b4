//! The counts a study's numbers will rest on, read before anything is trained: each split's dataset is
//! read (manifests, filters and label maps; synthetic datasets from their declaration; no image decoded)
//! and assigned to partitions exactly as the split cell will, and every result a rule reads becomes a
//! `Measure` over those counts.

use super::model::Measure;
use crate::data::split::{Assignment, assign};
use crate::data::{DataContext, Problem, Record, Table, load_dataset, target_value};
use crate::study::{
    Experiment, GridPoint, Metric, PROBE_LEVEL, ProbeKind, ProportionInterval, ResultRef, Split,
    Study, Target, in_test_set,
};
use std::collections::BTreeMap;

/// The study's splits with their datasets read and assigned.
pub struct Design<'s> {
    study: &'s Study,
    splits: BTreeMap<String, (Table, Assignment)>,
}

impl<'s> Design<'s> {
    /// Reads every dataset a split uses and assigns it. Splits whose data cannot be read are left out
    /// (their results have no measure), and every problem found is returned beside the design.
    pub fn read(study: &'s Study, ctx: &DataContext) -> (Self, Vec<Problem>) {
        let mut tables: BTreeMap<String, Result<Table, ()>> = BTreeMap::new();
        let mut splits = BTreeMap::new();
        let mut problems: Vec<Problem> = Vec::new();
        for (name, split) in &study.splits {
            let table = tables.entry(split.data.clone()).or_insert_with(|| {
                load_dataset(study, &split.data, ctx).map_err(|p| {
                    for p in p {
                        if !problems.contains(&p) {
                            problems.push(p);
                        }
                    }
                })
            });
            let Ok(table) = table else { continue };
            match assign(name, split, table, study.seed) {
                Ok(a) => {
                    splits.insert(name.clone(), (table.clone(), a));
                }
                Err(p) => problems.extend(p),
            }
        }
        (Design { study, splits }, problems)
    }

    /// The datasets the splits read, as read, by name.
    pub fn tables(&self) -> indexmap::IndexMap<String, Table> {
        let mut out = indexmap::IndexMap::new();
        for (name, split) in &self.study.splits {
            if let Some((table, _)) = self.splits.get(name) {
                out.entry(split.data.clone())
                    .or_insert_with(|| table.clone());
            }
        }
        out
    }

    /// A split's table and assignment, or why there is none.
    fn split(&self, name: &str) -> Result<&(Table, Assignment), String> {
        self.splits.get(name).ok_or_else(|| {
            format!("the data of split `{name}` cannot be read (`study data` says why)")
        })
    }

    /// What a rule's reference will rest on, or why it has no analytic model.
    pub fn measure(&self, r: &ResultRef) -> Result<Measure, String> {
        if let Some(exp) = self.study.experiments.get(&r.target) {
            let point = point_of(exp, r.point.as_ref())?;
            let metric = Metric::from_name(&r.field)
                .ok_or_else(|| format!("`{}` is not a metric", r.field))?;
            let partition = r.args.first().map(String::as_str).unwrap_or("unseen");
            return self.metric_measure(exp, &point.split, metric, partition, r.args.get(1));
        }
        let probe = self
            .study
            .probes
            .get(&r.target)
            .ok_or_else(|| format!("`{}` is neither an experiment nor a probe", r.target))?;
        match &probe.kind {
            ProbeKind::Gap {
                experiment,
                point,
                metric,
                against,
            } => {
                let exp = &self.study.experiments[experiment];
                let split_name = point_of(exp, point.as_ref())?.split.clone();
                let seen_side = self.study.splits[&split_name].held_out_seen();
                let unseen_side = against.as_deref().unwrap_or("unseen");
                let seen = self.metric_measure(exp, &split_name, *metric, &seen_side, None);
                let unseen =
                    self.metric_measure(exp, &split_name, *metric, unseen_side, r.args.first());
                match r.field.as_str() {
                    "seen" => seen,
                    "unseen" => unseen,
                    _ => Ok(Measure::Gap {
                        seen: Box::new(seen?),
                        unseen: Box::new(unseen?),
                    }),
                }
            }
            ProbeKind::Predict { target, setup } => self.predict(&setup.split, target, &r.field),
            ProbeKind::MetadataBaseline { split, .. } => {
                let s = &self.study.splits[split];
                let (table, a) = self.split(split)?;
                let positive = positive_class(self.study, s, None, table);
                let folds = (0..a.folds.len())
                    .map(|f| {
                        let rows =
                            held_out_rows(s, table, a, f, r.args.first().map(String::as_str));
                        classes_of(&rows, &positive)
                    })
                    .collect();
                Ok(Measure::Auc {
                    folds,
                    level: PROBE_LEVEL,
                })
            }
            ProbeKind::Association {
                first,
                second,
                split,
                partition,
            } => {
                let (table, a) = self.split(split)?;
                let rows: Vec<(String, String)> = a
                    .members(0, partition)
                    .into_iter()
                    .filter_map(|i| {
                        let rec = &table.records[i];
                        Some((rec.attribute(first)?, rec.attribute(second)?))
                    })
                    .collect();
                let assoc = crate::data::stats::association(
                    rows.iter().map(|(x, y)| (x.as_str(), y.as_str())),
                );
                let value = match r.field.as_str() {
                    "chi2" => Some(assoc.chi2),
                    "p" => assoc.p,
                    _ => assoc.cramers_v,
                };
                value
                    .map(Measure::Known)
                    .ok_or_else(|| format!("`{}` is undefined on this partition", r.field))
            }
            ProbeKind::Occlusion { .. }
            | ProbeKind::Finetune { .. }
            | ProbeKind::Saliency { .. } => Err(format!(
                "a `{}` probe has no analytic model; `--simulate` measures it",
                probe.kind.name()
            )),
        }
    }

    /// An experiment's metric on a partition or test set (and a source of it), per fold.
    fn metric_measure(
        &self,
        exp: &Experiment,
        split_name: &str,
        metric: Metric,
        partition: &str,
        source: Option<&String>,
    ) -> Result<Measure, String> {
        let split = &self.study.splits[split_name];
        let (table, a) = self.split(split_name)?;
        let positive = positive_class(self.study, split, exp.positive.as_deref(), table);
        let folds: Vec<(usize, usize)> = (0..a.folds.len())
            .map(|f| {
                let rows =
                    evaluated_rows(split, table, a, f, partition, source.map(String::as_str));
                classes_of(&rows, &positive)
            })
            .collect();
        let proportion = |counts: Vec<usize>| Measure::Proportion {
            folds: counts,
            level: exp.confidence,
            interval: exp.interval,
        };
        match metric {
            Metric::Auc => Ok(Measure::Auc {
                folds,
                level: exp.confidence,
            }),
            Metric::Sensitivity => Ok(proportion(folds.iter().map(|f| f.0).collect())),
            Metric::Specificity => Ok(proportion(folds.iter().map(|f| f.1).collect())),
            Metric::Accuracy => Ok(proportion(folds.iter().map(|f| f.0 + f.1).collect())),
            Metric::F1 | Metric::BalancedAccuracy | Metric::Loss => Err(format!(
                "{} has a bootstrap interval with no analytic model; `--simulate` measures it",
                metric.name()
            )),
        }
    }

    /// A `predict` probe: the held-out images whose value of the target was seen in training.
    fn predict(&self, split_name: &str, target: &Target, field: &str) -> Result<Measure, String> {
        let (table, a) = self.split(split_name)?;
        let mut folds = Vec::new();
        let mut sizes = Vec::new();
        let mut baselines = Vec::new();
        for f in 0..a.folds.len() {
            let mut trained: BTreeMap<String, usize> = BTreeMap::new();
            for i in a.members(f, "train") {
                if let Some(v) = target_value(&table.records[i], target) {
                    *trained.entry(v).or_default() += 1;
                }
            }
            let mut held: BTreeMap<String, usize> = BTreeMap::new();
            for (i, p) in a.folds[f].partitions.iter().enumerate() {
                if matches!(p.as_deref(), None | Some("train") | Some("validation")) {
                    continue;
                }
                if let Some(v) = target_value(&table.records[i], target)
                    && trained.contains_key(&v)
                {
                    *held.entry(v).or_default() += 1;
                }
            }
            let total: usize = held.values().sum();
            let fewest = held.values().copied().min().unwrap_or(0);
            folds.push((fewest, total - fewest));
            sizes.push(total);
            let majority = trained
                .iter()
                .max_by_key(|(v, n)| (**n, std::cmp::Reverse((*v).clone())))
                .map(|(v, _)| v.clone());
            let base = majority.and_then(|m| held.get(&m)).copied().unwrap_or(0);
            baselines.push(if total > 0 {
                base as f64 / total as f64
            } else {
                0.0
            });
        }
        match field {
            "accuracy" => Ok(Measure::Proportion {
                folds: sizes,
                level: PROBE_LEVEL,
                interval: ProportionInterval::Wilson,
            }),
            "baseline" => Ok(Measure::Known(
                baselines.iter().sum::<f64>() / baselines.len().max(1) as f64,
            )),
            _ => Ok(Measure::Auc {
                folds,
                level: PROBE_LEVEL,
            }),
        }
    }
}

/// The grid cell a reference selects, or the experiment's only one.
fn point_of<'e>(exp: &'e Experiment, point: Option<&GridPoint>) -> Result<&'e GridPoint, String> {
    match point {
        Some(p) => exp
            .points
            .iter()
            .find(|q| *q == p)
            .ok_or_else(|| "the selected grid cell does not run".to_string()),
        None => exp
            .points
            .first()
            .ok_or_else(|| "the experiment runs no grid cell".to_string()),
    }
}

/// The positive class: declared, else the dataset's first class (declared or first seen).
fn positive_class(study: &Study, split: &Split, declared: Option<&str>, table: &Table) -> String {
    if let Some(c) = declared {
        return c.to_string();
    }
    study
        .datasets
        .get(&split.data)
        .and_then(|d| d.classes.as_ref())
        .and_then(|c| c.first().cloned())
        .or_else(|| table.classes().first().cloned())
        .unwrap_or_default()
}

/// `(positives, negatives)` among rows.
fn classes_of(rows: &[&Record], positive: &str) -> (usize, usize) {
    let m = rows.iter().filter(|r| r.label == positive).count();
    (m, rows.len() - m)
}

/// The rows an experiment evaluates on `partition` (a partition or a named test set) in fold `f`.
fn evaluated_rows<'t>(
    split: &Split,
    table: &'t Table,
    a: &Assignment,
    f: usize,
    partition: &str,
    source: Option<&str>,
) -> Vec<&'t Record> {
    let test_set = split.tests.get(partition);
    table
        .records
        .iter()
        .zip(&a.folds[f].partitions)
        .filter(|(r, p)| {
            let Some(p) = p.as_deref() else {
                return false;
            };
            let member = match test_set {
                Some(sources) => in_test_set(sources, p, &r.source),
                None => p == partition,
            };
            member && source.is_none_or(|s| r.source == s)
        })
        .map(|(r, _)| r)
        .collect()
}

/// Every held-out row (any partition but train and validation), or one held-out partition's.
fn held_out_rows<'t>(
    split: &Split,
    table: &'t Table,
    a: &Assignment,
    f: usize,
    partition: Option<&str>,
) -> Vec<&'t Record> {
    match partition {
        Some(p) => evaluated_rows(split, table, a, f, p, None),
        None => table
            .records
            .iter()
            .zip(&a.folds[f].partitions)
            .filter(|(_, p)| !matches!(p.as_deref(), None | Some("train") | Some("validation")))
            .map(|(r, _)| r)
            .collect(),
    }
}
