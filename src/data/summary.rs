//! `study data`: what the data holds before any training — counts per source and label, demographics
//! per source, the label–source association, and every split's partitions.

use super::split::Assignment;
use super::stats::association;
use super::{Record, Table};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A table of counts with row and column totals, as aligned text.
fn count_table(
    title: &str,
    rows: &[String],
    columns: &[String],
    count: impl Fn(&str, &str) -> usize,
) -> String {
    let mut out = String::new();
    let first = rows
        .iter()
        .map(String::len)
        .chain([title.len(), 5])
        .max()
        .unwrap_or(5);
    let widths: Vec<usize> = columns.iter().map(|c| c.len().max(6)).collect();
    let _ = write!(out, "  {title:<first$}");
    for (c, w) in columns.iter().zip(&widths) {
        let _ = write!(out, "  {c:>w$}");
    }
    let _ = writeln!(out, "  {:>6}", "total");
    let mut col_totals = vec![0usize; columns.len()];
    for r in rows {
        let _ = write!(out, "  {r:<first$}");
        let mut total = 0;
        for (j, (c, w)) in columns.iter().zip(&widths).enumerate() {
            let n = count(r, c);
            total += n;
            col_totals[j] += n;
            let _ = write!(out, "  {n:>w$}");
        }
        let _ = writeln!(out, "  {total:>6}");
    }
    let _ = write!(out, "  {:<first$}", "total");
    for (n, w) in col_totals.iter().zip(&widths) {
        let _ = write!(out, "  {n:>w$}");
    }
    let _ = writeln!(out, "  {:>6}", col_totals.iter().sum::<usize>());
    out
}

/// Counts, demographics and association of one dataset.
pub fn dataset(name: &str, table: &Table) -> String {
    let mut out = String::new();
    let records = &table.records;
    let _ = writeln!(out, "dataset {name}: {} images", records.len());
    if table.filtered + table.dropped + table.skipped.len() > 0 {
        let _ = writeln!(
            out,
            "  left out: {} by `keep` filters, {} by the label map, {} skipped as unreadable",
            table.filtered,
            table.dropped,
            table.skipped.len()
        );
    }
    let sources = table.sources();
    let classes = table.classes();
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in records {
        *counts
            .entry((r.source.as_str(), r.label.as_str()))
            .or_default() += 1;
    }
    out.push_str(&count_table("source", &sources, &classes, |s, c| {
        counts.get(&(s, c)).copied().unwrap_or(0)
    }));
    let _ = writeln!(out, "\n  per source: age (mean ± sd, known), sex, view");
    for s in &sources {
        let rs: Vec<&Record> = records.iter().filter(|r| &r.source == s).collect();
        let ages: Vec<f64> = rs.iter().filter_map(|r| r.age).collect();
        let age = if ages.is_empty() {
            "age unknown".to_string()
        } else {
            let m = ages.iter().sum::<f64>() / ages.len() as f64;
            let sd = (ages.iter().map(|a| (a - m).powi(2)).sum::<f64>() / ages.len() as f64).sqrt();
            format!("age {m:.1} ± {sd:.1} ({}/{})", ages.len(), rs.len())
        };
        let tally = |f: &dyn Fn(&Record) -> Option<String>| -> String {
            let mut t: BTreeMap<String, usize> = BTreeMap::new();
            for r in &rs {
                *t.entry(f(r).unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1;
            }
            t.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sex = tally(&|r| r.sex.map(|s| s.as_str().to_string()));
        let view = tally(&|r| r.view.clone());
        let _ = writeln!(out, "    {s}: {age}; sex {sex}; view {view}");
    }
    let a = association(
        records
            .iter()
            .map(|r| (r.label.as_str(), r.source.as_str())),
    );
    let _ = writeln!(
        out,
        "\n  label–source association: {}",
        describe_association(&a)
    );
    out
}

pub fn describe_association(a: &super::stats::Association) -> String {
    match (a.p, a.cramers_v) {
        (Some(p), Some(v)) => format!(
            "chi-square {:.2} (dof {}), p {}, Cramér's V {v:.3}{}",
            a.chi2,
            a.dof,
            format_p(p),
            strength(v)
        ),
        _ => "not testable (one source or one class)".to_string(),
    }
}

fn format_p(p: f64) -> String {
    match p {
        // Below double precision's resolution of 1 - cdf.
        p if p < 1e-15 => "< 1e-15".to_string(),
        p if p < 1e-4 => format!("{p:.1e}"),
        p => format!("{p:.4}"),
    }
}

fn strength(v: f64) -> &'static str {
    match v {
        v if v >= 0.5 => " — strong: the source predicts the label",
        v if v >= 0.3 => " — moderate",
        v if v >= 0.1 => " — weak",
        _ => " — negligible",
    }
}

/// Counts of every fold and partition of a split, and the check that no group straddles partitions.
pub fn split(
    name: &str,
    split: &crate::study::Split,
    table: &Table,
    assignment: &Assignment,
) -> String {
    let mut out = String::new();
    let classes = table.classes();
    let _ = writeln!(out, "split {name} (dataset {}):", split.data);
    for (fold, counts) in assignment.counts(table) {
        if let Some(f) = &fold {
            let _ = writeln!(out, "  fold {f}:");
        }
        let mut rows: Vec<String> = Vec::new();
        for (p, s, _) in counts.keys() {
            let row = format!("{p} / {s}");
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
        let order = split.partitions();
        rows.sort_by_key(|r| {
            order
                .iter()
                .position(|p| r.starts_with(&format!("{p} /")))
                .unwrap_or(usize::MAX)
        });
        out.push_str(&count_table(
            "partition / source",
            &rows,
            &classes,
            |row, c| {
                let (p, s) = row.split_once(" / ").unwrap_or((row, ""));
                counts
                    .get(&(p.to_string(), s.to_string(), c.to_string()))
                    .copied()
                    .unwrap_or(0)
            },
        ));
        let unused = assignment
            .folds
            .iter()
            .find(|f| f.name == fold)
            .map_or(0, |f| f.partitions.iter().filter(|p| p.is_none()).count());
        if unused > 0 {
            let _ = writeln!(
                out,
                "  ({unused} images of this dataset are in no partition of this split)"
            );
        }
    }
    let group = split.group.as_deref().unwrap_or("patient");
    let leaks = assignment.leaks(table, group);
    if split.group.is_some() {
        if leaks.is_empty() {
            let _ = writeln!(
                out,
                "  grouped by {group}: verified, no {group} is in two partitions"
            );
        } else {
            let _ = writeln!(
                out,
                "  grouped by {group}: {} group(s) straddle partitions (first: {:?})",
                leaks.len(),
                leaks[0]
            );
        }
    } else if !leaks.is_empty() {
        let _ = writeln!(
            out,
            "  not grouped: {} {group}(s) have images in more than one partition; add `group {group}` to keep them apart",
            leaks.len()
        );
    }
    if let Some(train) = split.partitions().first() {
        let fold0: Vec<&Record> = assignment
            .members(0, train)
            .iter()
            .map(|i| &table.records[*i])
            .collect();
        let a = association(fold0.iter().map(|r| (r.label.as_str(), r.source.as_str())));
        let _ = writeln!(
            out,
            "  label–source association in `{train}`: {}",
            describe_association(&a)
        );
    }
    out
}

/// Everything `study data` prints, for every dataset and split of the study; problems found on the way
/// (missing files, bad rows, partitions without a class) are returned for the caller to report.
pub fn report(
    study: &crate::study::Study,
    ctx: &super::DataContext,
    preview: Option<&std::path::Path>,
) -> (String, Vec<super::Problem>) {
    let mut out = String::new();
    let mut problems = Vec::new();
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for name in study.datasets.keys() {
        match super::load_dataset(study, name, ctx) {
            Ok(table) => {
                out.push_str(&dataset(name, &table));
                out.push('\n');
                if let (Some(dir), Some(crate::study::DatasetSource::Synthetic(spec))) =
                    (preview, study.datasets.get(name).map(|d| &d.source))
                {
                    match super::preview::write(dir, name, spec, &table, ctx.seed) {
                        Ok(path) => {
                            let _ = writeln!(
                                out,
                                "preview of {name}: {}\n",
                                crate::source::display_path(&path)
                            );
                        }
                        Err(e) => problems.push(super::Problem::new(
                            crate::diagnostics::Code::DataMissing,
                            name,
                            format!("cannot write the preview: {e}"),
                            "check that the output folder is writable",
                        )),
                    }
                }
                tables.insert(name.clone(), table);
            }
            Err(p) => problems.extend(p),
        }
    }
    for (name, s) in &study.splits {
        let Some(table) = tables.get(&s.data) else {
            continue;
        };
        match super::split::assign(name, s, table, study.seed) {
            Ok(a) => {
                out.push_str(&split(name, s, table, &a));
                out.push('\n');
                problems.extend(super::split::missing_classes(study, name, &a, table));
            }
            Err(p) => problems.extend(p),
        }
    }
    // A union reads its parts again: a part's problem is said once.
    let mut unique: Vec<super::Problem> = Vec::new();
    for p in problems {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    (out, unique)
}
