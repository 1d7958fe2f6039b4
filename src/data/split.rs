//! Splits: deterministic assignment of records to partitions, per fold, from (study seed, split name).
//! Groups (usually patients) never straddle two partitions; classes keep their shares when stratified.

use super::{Problem, Record, Table};
use crate::diagnostics::Code;
use crate::study::{Split, SplitMethod};
use indexmap::IndexMap;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};

/// Images per (partition, source, label).
pub type PartitionCounts = BTreeMap<(String, String, String), usize>;

/// One fold's assignment: a partition name (or nothing: the record is not used) per record.
#[derive(Clone, Debug, PartialEq)]
pub struct Fold {
    /// `None` for splits without folds; the held-out source or `foldN` otherwise.
    pub name: Option<String>,
    pub partitions: Vec<Option<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub split: String,
    pub folds: Vec<Fold>,
}

impl Assignment {
    /// Records (indices) of one partition of one fold.
    pub fn members(&self, fold: usize, partition: &str) -> Vec<usize> {
        self.folds[fold]
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.as_deref() == Some(partition))
            .map(|(i, _)| i)
            .collect()
    }

    /// Counts per fold × partition × source × label.
    pub fn counts(&self, table: &Table) -> Vec<(Option<String>, PartitionCounts)> {
        self.folds
            .iter()
            .map(|f| {
                let mut c = BTreeMap::new();
                for (r, p) in table.records.iter().zip(&f.partitions) {
                    if let Some(p) = p {
                        *c.entry((p.clone(), r.source.clone(), r.label.clone()))
                            .or_insert(0) += 1;
                    }
                }
                (f.name.clone(), c)
            })
            .collect()
    }

    /// Groups (patients) found in more than one partition of a fold: must be empty for grouped splits.
    pub fn leaks(&self, table: &Table, group: &str) -> Vec<(Option<String>, String, Vec<String>)> {
        let mut out = Vec::new();
        for f in &self.folds {
            let mut seen: HashMap<String, Vec<String>> = HashMap::new();
            for (r, p) in table.records.iter().zip(&f.partitions) {
                let (Some(p), Some(g)) = (p, group_key(r, group)) else {
                    continue;
                };
                let parts = seen.entry(g).or_default();
                if !parts.contains(p) {
                    parts.push(p.clone());
                }
            }
            let mut leaks: Vec<(String, Vec<String>)> =
                seen.into_iter().filter(|(_, ps)| ps.len() > 1).collect();
            leaks.sort();
            out.extend(leaks.into_iter().map(|(g, ps)| (f.name.clone(), g, ps)));
        }
        out
    }
}

fn group_key(r: &Record, group: &str) -> Option<String> {
    r.attribute(group)
        .or_else(|| r.extra.get(&format!("column:{group}")).cloned())
}

/// Seeded generator of one split (and fold).
fn rng(seed: u64, split: &str, fold: &str) -> ChaCha8Rng {
    let mut h = blake3::Hasher::new();
    h.update(b"study-split");
    h.update(&seed.to_le_bytes());
    h.update(split.as_bytes());
    h.update(&[0]);
    h.update(fold.as_bytes());
    ChaCha8Rng::from_seed(*h.finalize().as_bytes())
}

/// Assigns the records of `table` (the split's dataset) to partitions.
pub fn assign(
    name: &str,
    split: &Split,
    table: &Table,
    seed: u64,
) -> Result<Assignment, Vec<Problem>> {
    let records = &table.records;
    if let Some(group) = &split.group
        && !records.is_empty()
        && records.iter().all(|r| group_key(r, group).is_none())
    {
        return Err(vec![Problem::new(
            Code::MissingColumn,
            &split.data,
            format!(
                "split `{name}` groups by `{group}`, but no image of dataset `{}` has a `{group}`",
                split.data
            ),
            format!(
                "group by a column the dataset has (patients need `patient column \"...\"`), or drop `group {group}`"
            ),
        )]);
    }
    let all: Vec<usize> = (0..records.len()).collect();
    let sources = table.sources();
    let check_sources = |wanted: &[String]| -> Vec<Problem> {
        wanted
            .iter()
            .filter(|s| !sources.contains(s))
            .map(|s| {
                let options: Vec<&str> = sources.iter().map(String::as_str).collect();
                Problem::new(
                    Code::EmptyData,
                    &split.data,
                    format!(
                        "split `{name}` names source `{s}`, but dataset `{}` has no image from it",
                        split.data
                    ),
                    crate::diagnostics::suggest(s, options.iter().copied()).map_or_else(
                        || format!("the sources are: {}", sources.join(", ")),
                        |x| format!("did you mean `{x}`?"),
                    ),
                )
            })
            .collect()
    };
    let folds = match &split.method {
        SplitMethod::Random => {
            let mut parts = vec![None; records.len()];
            distribute(
                records,
                &all,
                &split.fractions,
                split,
                &mut rng(seed, name, ""),
                &mut parts,
            );
            vec![Fold {
                name: None,
                partitions: parts,
            }]
        }
        SplitMethod::BySource { seen, unseen } => {
            let problems = check_sources(&[seen.clone(), unseen.clone()].concat());
            if !problems.is_empty() {
                return Err(problems);
            }
            let mut parts = vec![None; records.len()];
            let seen_idx: Vec<usize> = all
                .iter()
                .copied()
                .filter(|i| seen.contains(&records[*i].source))
                .collect();
            distribute(
                records,
                &seen_idx,
                &split.fractions,
                split,
                &mut rng(seed, name, ""),
                &mut parts,
            );
            for i in &all {
                let s = &records[*i].source;
                let held_out = if unseen.is_empty() {
                    !seen.contains(s)
                } else {
                    unseen.contains(s)
                };
                if held_out {
                    parts[*i] = Some("unseen".into());
                }
            }
            vec![Fold {
                name: None,
                partitions: parts,
            }]
        }
        SplitMethod::LeaveOneSourceOut { sources: list } => {
            let problems = check_sources(list);
            if !problems.is_empty() {
                return Err(problems);
            }
            list.iter()
                .map(|left_out| {
                    let mut parts = vec![None; records.len()];
                    let rest: Vec<usize> = all
                        .iter()
                        .copied()
                        .filter(|i| {
                            list.contains(&records[*i].source) && &records[*i].source != left_out
                        })
                        .collect();
                    distribute(
                        records,
                        &rest,
                        &split.fractions,
                        split,
                        &mut rng(seed, name, left_out),
                        &mut parts,
                    );
                    for i in &all {
                        if &records[*i].source == left_out {
                            parts[*i] = Some("unseen".into());
                        }
                    }
                    Fold {
                        name: Some(left_out.clone()),
                        partitions: parts,
                    }
                })
                .collect()
        }
        SplitMethod::KFold { k } => {
            let fold_of = kfold(
                records,
                &all,
                *k as usize,
                split,
                &mut rng(seed, name, "folds"),
            );
            (0..*k as usize)
                .map(|f| {
                    let mut parts = vec![None; records.len()];
                    let rest: Vec<usize> =
                        all.iter().copied().filter(|i| fold_of[*i] != f).collect();
                    distribute(
                        records,
                        &rest,
                        &split.fractions,
                        split,
                        &mut rng(seed, name, &format!("fold{}", f + 1)),
                        &mut parts,
                    );
                    for i in &all {
                        if fold_of[*i] == f {
                            parts[*i] = Some("test".into());
                        }
                    }
                    Fold {
                        name: Some(format!("fold{}", f + 1)),
                        partitions: parts,
                    }
                })
                .collect()
        }
        SplitMethod::Column { column, values } => {
            let parts = records
                .iter()
                .map(|r| {
                    r.extra
                        .get(&format!("column:{column}"))
                        .and_then(|v| values.get(v.trim()))
                        .cloned()
                })
                .collect();
            vec![Fold {
                name: None,
                partitions: parts,
            }]
        }
    };
    Ok(Assignment {
        split: name.to_string(),
        folds,
    })
}

/// Groups of the given records: key → record indices, in a stable order.
fn groups(records: &[Record], indices: &[usize], group: Option<&str>) -> Vec<(String, Vec<usize>)> {
    let mut map: IndexMap<String, Vec<usize>> = IndexMap::new();
    for i in indices {
        let key = group
            .and_then(|g| group_key(&records[*i], g))
            .unwrap_or_else(|| format!("record:{}/{}", records[*i].dataset, records[*i].id));
        map.entry(key).or_default().push(*i);
    }
    let mut out: Vec<(String, Vec<usize>)> = map.into_iter().collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The label a group is stratified by: its most frequent label (ties: the first in name order).
fn group_label(records: &[Record], members: &[usize]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in members {
        *counts.entry(records[*i].label.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(l, _)| l.to_string())
        .unwrap_or_default()
}

/// Shuffled groups per stratum (one stratum when not stratified), strata in label order.
fn strata(
    records: &[Record],
    indices: &[usize],
    split: &Split,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<(String, Vec<usize>)>> {
    let mut by_label: BTreeMap<String, Vec<(String, Vec<usize>)>> = BTreeMap::new();
    for (key, members) in groups(records, indices, split.group.as_deref()) {
        let label = if split.stratify {
            group_label(records, &members)
        } else {
            String::new()
        };
        by_label.entry(label).or_default().push((key, members));
    }
    by_label
        .into_values()
        .map(|mut gs| {
            gs.shuffle(rng);
            gs
        })
        .collect()
}

/// Assigns whole groups to partitions so each stratum's images follow the fractions.
fn distribute(
    records: &[Record],
    indices: &[usize],
    fractions: &IndexMap<String, f64>,
    split: &Split,
    rng: &mut ChaCha8Rng,
    out: &mut [Option<String>],
) {
    let cumulative: Vec<(String, f64)> = fractions
        .iter()
        .filter(|(_, f)| **f > 0.0)
        .scan(0.0, |acc, (p, f)| {
            *acc += f;
            Some((p.clone(), *acc))
        })
        .collect();
    for stratum in strata(records, indices, split, rng) {
        let total: usize = stratum.iter().map(|(_, m)| m.len()).sum();
        let mut done = 0usize;
        for (_, members) in stratum {
            // The group goes where its middle falls on the cumulative scale.
            let middle = (done as f64 + members.len() as f64 / 2.0) / total as f64;
            let partition = cumulative
                .iter()
                .find(|(_, c)| middle < *c - 1e-12)
                .or(cumulative.last())
                .map(|(p, _)| p.clone());
            for i in &members {
                out[*i] = partition.clone();
            }
            done += members.len();
        }
    }
}

/// Fold index per record; groups dealt round-robin within each stratum.
fn kfold(
    records: &[Record],
    indices: &[usize],
    k: usize,
    split: &Split,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let mut fold_of = vec![usize::MAX; records.len()];
    let mut next = 0usize;
    for stratum in strata(records, indices, split, rng) {
        for (_, members) in stratum {
            for i in &members {
                fold_of[*i] = next % k;
            }
            next += 1;
        }
    }
    fold_of
}

/// Partitions of split `name` that lack a class although a classifier needs two there: those trained and
/// selected on, and those (or test sets: held-out images of their sources) an experiment evaluates.
pub fn missing_classes(
    study: &crate::study::Study,
    name: &str,
    assignment: &Assignment,
    table: &Table,
) -> Vec<Problem> {
    let split = &study.splits[name];
    let needed: Vec<String> = study
        .experiments
        .values()
        .filter(|e| e.points.iter().any(|p| p.split == name))
        .flat_map(|e| e.evaluate.clone())
        .chain(["train".to_string(), "validation".to_string()])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|p| split.evaluable().contains(p))
        .collect();
    let (tests, dataset) = (&split.tests, split.data.as_str());
    let classes = table.classes();
    let mut out = Vec::new();
    for (f, fold) in assignment.folds.iter().enumerate() {
        for partition in &needed {
            let members: Vec<usize> = match tests.get(partition) {
                Some(sources) => (0..table.records.len())
                    .filter(|i| {
                        fold.partitions[*i].as_deref().is_some_and(|p| {
                            crate::study::in_test_set(sources, p, &table.records[*i].source)
                        })
                    })
                    .collect(),
                None => assignment.members(f, partition),
            };
            let present: Vec<&String> = classes
                .iter()
                .filter(|c| members.iter().any(|i| &table.records[*i].label == *c))
                .collect();
            if present.len() < classes.len().min(2) || present.len() < 2 {
                let where_ = fold
                    .name
                    .as_ref()
                    .map_or(String::new(), |n| format!(" (fold {n})"));
                let has = if present.is_empty() {
                    "no image".to_string()
                } else {
                    format!(
                        "only {}",
                        present
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let mut sources: Vec<&str> = members
                    .iter()
                    .map(|i| table.records[*i].source.as_str())
                    .collect();
                sources.sort();
                sources.dedup();
                let from = match sources.as_slice() {
                    [] => String::new(),
                    [one] => format!(" (source {one})"),
                    many => format!(" (sources {})", many.join(", ")),
                };
                out.push(Problem::new(
                    Code::MissingClass,
                    dataset,
                    format!("partition `{partition}` of split `{}`{where_} has {has}{from}; a classifier needs two classes there", assignment.split),
                    "add a source with the other class to this partition (a union of one-label sources works), change the fractions, or stop evaluating this partition",
                ));
            }
        }
    }
    out
}
