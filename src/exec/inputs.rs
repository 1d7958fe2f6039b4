//! Inputs are part of a cell's identity. Before a run, every file a cell reads from outside the output
//! folder — a dataset's manifest, images and masks, pretrained and segmenter weights — is hashed, through
//! the length+modification-time memo so that an unchanged tree costs a stat per file, and the plan is bound
//! to those hashes (`Plan::bind`): a changed input re-runs exactly the cells downstream of it.

use crate::data::memo::{HashMemo, Learned, Stamp};
use crate::data::{DataContext, ImageSource, Problem};
use crate::plan::{Cell, InputCheck, Plan, Task};
use crate::study::{DatasetSource, SegmenterSource, Study};
use indexmap::IndexMap;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The hash recorded for a file that cannot be read (the cell reading it says why when it runs).
pub const UNREADABLE: &str = "unreadable";

/// A plan bound to the files at hand, and the problems met reading its datasets (the prepare cells
/// report them again when they run; `study lock` refuses to lock them).
pub struct Bound {
    pub plan: Plan,
    pub problems: Vec<Problem>,
    /// Hashes computed now that `memo` did not hold (for `HashMemo::learn`).
    pub learned: Vec<Learned>,
    /// Each file's length and modification time before it was hashed: what `moved` compares.
    pub stamps: Vec<(PathBuf, Stamp)>,
}

/// The cells that read one of `files` (paths as the plan shows them), directly or through the cells they
/// read, in plan order.
pub fn downstream<'p>(plan: &'p Plan, files: &[String]) -> Vec<&'p Cell> {
    let mut tainted = std::collections::HashSet::new();
    for cell in &plan.cells {
        if cell.inputs.keys().any(|k| files.contains(k))
            || cell.deps.iter().any(|d| tainted.contains(d.as_str()))
        {
            tainted.insert(cell.name.as_str());
        }
    }
    plan.cells
        .iter()
        .filter(|c| tainted.contains(c.name.as_str()))
        .collect()
}

/// The files of `stamps` whose length or modification time is no longer what it was (or that are gone).
pub fn moved(stamps: &[(PathBuf, Stamp)], root: &Path) -> Vec<String> {
    stamps
        .iter()
        .filter(|(path, stamp)| crate::hash::file_stamp(path).as_ref() != Some(stamp))
        .map(|(path, _)| display(path, root))
        .collect()
}

/// Binds `plan` to the files its cells read now, hashing only those `memo` does not know unchanged.
pub fn bind(plan: &Plan, ctx: &DataContext, memo: &HashMemo) -> Bound {
    let mut problems = Vec::new();
    let reads: Vec<(String, Vec<PathBuf>)> = plan
        .cells
        .iter()
        .map(|cell| {
            let files = cell_files(&plan.study, cell, ctx).unwrap_or_else(|(files, found)| {
                problems.extend(found);
                files
            });
            (cell.name.clone(), files)
        })
        .filter(|(_, files)| !files.is_empty())
        .collect();
    let mut all: Vec<&PathBuf> = reads.iter().flat_map(|(_, f)| f).collect();
    all.sort();
    all.dedup();
    let hashed: Vec<Option<(String, Stamp, Option<Learned>)>> =
        all.par_iter().map(|p| memo.hash(p)).collect();
    let mut learned = Vec::new();
    let mut stamps = Vec::new();
    let mut by_path: std::collections::HashMap<&PathBuf, Option<String>> = Default::default();
    for (path, h) in all.iter().copied().zip(hashed) {
        let hash = h.map(|(hash, stamp, new)| {
            stamps.push((path.clone(), stamp));
            learned.extend(new);
            hash
        });
        by_path.insert(path, hash);
    }
    let check = InputCheck {
        hashed: learned.len(),
        recognised: stamps.len() - learned.len(),
    };
    let inputs: IndexMap<String, BTreeMap<String, String>> = reads
        .iter()
        .map(|(cell, files)| {
            let hashed = files
                .iter()
                .map(|f| {
                    let hash = by_path[f].clone().unwrap_or_else(|| UNREADABLE.into());
                    (display(f, &ctx.root), hash)
                })
                .collect();
            (cell.clone(), hashed)
        })
        .collect();
    let mut plan = plan.bind(&inputs);
    plan.input_check = Some(check);
    Bound {
        plan,
        problems,
        learned,
        stamps,
    }
}

/// The files one cell reads from outside the output folder, sorted; on a dataset that cannot be read, the
/// files found so far (its manifest) and the problems.
#[allow(clippy::result_large_err)]
pub fn cell_files(
    study: &Study,
    cell: &Cell,
    ctx: &DataContext,
) -> Result<Vec<PathBuf>, (Vec<PathBuf>, Vec<Problem>)> {
    let mut files = Vec::new();
    match &cell.task {
        Task::Prepare { dataset } => {
            let d = &study.datasets[dataset];
            if let DatasetSource::Csv { manifest, .. } = &d.source {
                files.push(ctx.resolve(manifest));
            }
            // A union's parts are its dependencies, synthetic data is drawn from the seed.
            if matches!(
                d.source,
                DatasetSource::Csv { .. }
                    | DatasetSource::Folders { .. }
                    | DatasetSource::Dicom { .. }
            ) {
                match crate::data::load_dataset(study, dataset, ctx) {
                    Ok(table) => {
                        for r in &table.records {
                            for src in std::iter::once(&r.image).chain(r.mask.as_ref()) {
                                if let ImageSource::File(p) = src {
                                    files.push(p.clone());
                                }
                            }
                        }
                    }
                    Err(problems) => return Err((files, problems)),
                }
            }
        }
        Task::Segmenter { segmenter } => {
            if let SegmenterSource::Weights { path } = &study.segmenters[segmenter].source {
                files.push(ctx.resolve(path));
            }
        }
        Task::Train { setup, .. } => {
            if let Some(w) = &study.models[&setup.model].weights {
                files.push(ctx.resolve(w));
            }
        }
        _ => {}
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// A path as the user names it: relative to the study's folder where it is inside it.
pub fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// How the inputs of a run differ from those of an earlier one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn between(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Changes {
        let mut c = Changes::default();
        for (path, hash) in now {
            match before.get(path) {
                Some(h) if h == hash => {}
                Some(_) => c.changed.push(path.clone()),
                None => c.added.push(path.clone()),
            }
        }
        c.removed = before
            .keys()
            .filter(|p| !now.contains_key(*p))
            .cloned()
            .collect();
        c
    }

    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    /// One line per kind of change, each naming up to five files.
    pub fn lines(&self) -> Vec<String> {
        [
            ("changed", &self.changed),
            ("new", &self.added),
            ("no longer read", &self.removed),
        ]
        .iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(what, files)| format!("{} {what}: {}", files.len(), list(files)))
        .collect()
    }
}

/// Up to five names, then how many more.
pub fn list(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let more = if names.len() > 5 {
        format!(", and {} more", names.len() - 5)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}
