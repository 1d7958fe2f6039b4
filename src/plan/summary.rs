//! `study plan`: the plan as a reader checks it — cells by kind, experiments, what each result depends on,
//! the files the study reads and the folder it writes.

use super::{Plan, Task};
use crate::source::display_path;
use indexmap::{IndexMap, IndexSet};
use std::collections::HashMap;
use std::path::Path;

/// Counts and relations for `study plan`'s summary; `output` is the output folder as the study names it.
pub fn summary(plan: &Plan, output: &Path) -> String {
    let mut out = String::new();
    let s = &plan.study;
    out.push_str(&format!(
        "study \"{}\"  fingerprint {}\n",
        s.name,
        &plan.fingerprint[..16]
    ));
    out.push_str(&format!(
        "seed {}, {} repeat(s), output {}\n\n",
        s.seed, s.repeats, s.output
    ));
    out.push_str(&format!("{} cells:\n", plan.cells.len()));
    for kind in Task::KINDS {
        let n = plan.cells.iter().filter(|c| c.kind() == kind).count();
        if n > 0 {
            out.push_str(&format!("  {kind:<10} {n}\n"));
        }
    }
    if !s.experiments.is_empty() {
        out.push_str("\nexperiments:\n");
        for (name, e) in &s.experiments {
            // Each grid cell trains once per fold of its split and per repeat.
            let runs: usize = e
                .points
                .iter()
                .map(|p| s.splits[&p.split].folds().len())
                .sum::<usize>()
                * e.repeats as usize;
            let varying = if e.varying.is_empty() {
                "one setup".to_string()
            } else {
                format!("varying {}", e.varying.join(" × "))
            };
            let metrics: Vec<&str> = e.measures.iter().map(|m| m.name()).collect();
            out.push_str(&format!(
                "  {name}: {} grid cell(s) ({varying}) × folds × {} repeat(s) = {runs} training(s); measures {}\n",
                e.points.len(),
                e.repeats,
                metrics.join(", ")
            ));
        }
    }
    let interesting = ["aggregate", "probe", "verdict"];
    let kind_of: HashMap<&str, &str> = plan
        .cells
        .iter()
        .map(|c| (c.name.as_str(), c.kind()))
        .collect();
    out.push_str("\ndepends on:\n");
    for cell in plan
        .cells
        .iter()
        .filter(|c| interesting.contains(&c.kind()))
    {
        let mut counts: IndexMap<&str, usize> = IndexMap::new();
        for d in &cell.deps {
            let kind = kind_of.get(d.as_str()).copied().unwrap_or("?");
            *counts.entry(kind).or_default() += 1;
        }
        let deps: Vec<String> = counts
            .iter()
            .map(|(k, n)| {
                if *n == 1 {
                    cell.deps
                        .iter()
                        .find(|d| kind_of.get(d.as_str()) == Some(k))
                        .cloned()
                        .unwrap_or_default()
                } else {
                    format!("{n} {k} cells")
                }
            })
            .collect();
        out.push_str(&format!(
            "  {:<28} <- {}\n",
            cell.name,
            if deps.is_empty() {
                "nothing".into()
            } else {
                deps.join(", ")
            }
        ));
    }
    out.push_str(&files_read(plan));
    out.push_str(&format!(
        "\nwrites (unless `study run --out` says otherwise):\n  {}/\n",
        display_path(output)
    ));
    out
}

/// The files the plan's cells read, once bound: a folder of several files as one line with their count,
/// each with the cells reading it.
fn files_read(plan: &Plan) -> String {
    let mut folders: IndexMap<String, (Vec<&str>, IndexSet<&str>)> = IndexMap::new();
    let mut paths: Vec<(&str, &str)> = plan
        .cells
        .iter()
        .flat_map(|c| c.inputs.keys().map(move |p| (p.as_str(), c.name.as_str())))
        .collect();
    paths.sort();
    for (path, cell) in paths {
        let folder = match path.rfind('/') {
            Some(i) => &path[..i + 1],
            None => "",
        };
        let (files, cells) = folders.entry(folder.to_string()).or_default();
        if files.last() != Some(&path) {
            files.push(path);
        }
        cells.insert(cell);
    }
    if folders.is_empty() {
        return "\nreads: no file (synthetic data only)\n".into();
    }
    let mut out = String::from("\nreads (paths from the study's folder):\n");
    for (folder, (files, cells)) in folders {
        let what = match files.as_slice() {
            [one] => one.to_string(),
            many => format!(
                "{} ({} files)",
                if folder.is_empty() { "./" } else { &folder },
                many.len()
            ),
        };
        let cells: Vec<&str> = cells.into_iter().collect();
        out.push_str(&format!("  {what:<40} <- {}\n", cells.join(", ")));
    }
    out
}

/// How many cells `status` lists by name; the rest are counted.
const STATUS_SHOWN: usize = 200;

/// Which cells of the plan are done in an output folder (`done[i]` for `plan.cells[i]`) and which a run
/// would compute, by name: the cells to run first, then the finished ones.
pub fn status(plan: &Plan, out: &Path, done: &[bool]) -> String {
    let finished = done.iter().filter(|d| **d).count();
    let mut text = format!(
        "\nin {}/: {finished} of {} cells done, {} to run\n",
        display_path(out),
        plan.cells.len(),
        plan.cells.len() - finished
    );
    let ordered = plan
        .cells
        .iter()
        .zip(done)
        .filter(|(_, d)| !**d)
        .chain(plan.cells.iter().zip(done).filter(|(_, d)| **d));
    for (k, (cell, d)) in ordered.enumerate() {
        if k == STATUS_SHOWN {
            text.push_str(&format!(
                "  … and {} more\n",
                plan.cells.len() - STATUS_SHOWN
            ));
            break;
        }
        let mark = if *d { "done  " } else { "to run" };
        text.push_str(&format!("  {mark}  {}\n", cell.name));
    }
    text
}
