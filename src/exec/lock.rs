//! `study.lock`: the content hash of every input file of a study (manifests, images, masks, weights),
//! with the study's fingerprint and the tool's version. `study run --locked` refuses to start when the
//! files at hand differ, so two labs can tell before computing anything whether they hold the same data.

use crate::data::{DataContext, ImageSource, Problem};
use crate::study::{DatasetSource, SegmenterSource, Study};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const LOCK_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub format: u32,
    pub study: String,
    pub fingerprint: String,
    pub tool_version: String,
    /// Path (relative to the study's folder where possible) → blake3 of the bytes.
    pub files: BTreeMap<String, String>,
}

/// Every file a study reads, reading its datasets.
pub fn input_files(study: &Study, ctx: &DataContext) -> Result<Vec<PathBuf>, Vec<Problem>> {
    files_of(study, ctx, |name| {
        crate::data::load_dataset(study, name, ctx).map(|t| t.records)
    })
}

/// Every file a study reads, with each dataset's records from `records` (a run reads them from its
/// prepare cells instead of reading the datasets again).
pub fn files_of(
    study: &Study,
    ctx: &DataContext,
    records: impl Fn(&str) -> Result<Vec<crate::data::Record>, Vec<Problem>>,
) -> Result<Vec<PathBuf>, Vec<Problem>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (name, d) in &study.datasets {
        if let DatasetSource::Csv { manifest, .. } = &d.source {
            files.push(ctx.resolve(manifest));
        }
        if matches!(d.source, DatasetSource::Union { .. }) {
            continue;
        }
        match records(name) {
            Ok(records) => {
                for r in records {
                    for src in std::iter::once(&r.image).chain(r.mask.as_ref()) {
                        if let ImageSource::File(p) = src {
                            files.push(p.clone());
                        }
                    }
                }
            }
            Err(p) => problems.extend(p),
        }
    }
    for m in study.models.values() {
        if let Some(w) = &m.weights {
            files.push(ctx.resolve(w));
        }
    }
    for s in study.segmenters.values() {
        if let SegmenterSource::Weights { path } = &s.source {
            files.push(ctx.resolve(path));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Hashes of the files (`None` for a file that cannot be read).
pub fn hashes(files: &[PathBuf], root: &Path) -> BTreeMap<String, Option<String>> {
    files
        .par_iter()
        .map(|f| {
            let hash = std::fs::read(f)
                .ok()
                .map(|b| blake3::hash(&b).to_hex().to_string());
            (display(f, root), hash)
        })
        .collect()
}

/// The lock of a study as its files are now; files that cannot be read are reported as problems.
pub fn compute(study: &Study, ctx: &DataContext) -> Result<Lock, Vec<Problem>> {
    let files = input_files(study, ctx)?;
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, hash) in hashes(&files, &ctx.root) {
        match hash {
            Some(h) => {
                out.insert(path, h);
            }
            None => problems.push(Problem::new(
                crate::diagnostics::Code::DataMissing,
                "",
                format!("{path} cannot be read"),
                "",
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Lock {
        format: LOCK_FORMAT,
        study: study.name.clone(),
        fingerprint: crate::plan::fingerprint(study),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        files: out,
    })
}

/// How the files at hand differ from a lock.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Differences {
    pub changed: Vec<String>,
    pub missing: Vec<String>,
    /// Files the study reads now that the lock does not list.
    pub added: Vec<String>,
    pub fingerprint_changed: bool,
}

impl Differences {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
            && self.missing.is_empty()
            && self.added.is_empty()
            && !self.fingerprint_changed
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.fingerprint_changed {
            parts.push("the study itself changed (fingerprint differs)".to_string());
        }
        let list = |v: &[String]| {
            let shown: Vec<&str> = v.iter().take(5).map(String::as_str).collect();
            let more = if v.len() > 5 {
                format!(", and {} more", v.len() - 5)
            } else {
                String::new()
            };
            format!("{}{more}", shown.join(", "))
        };
        if !self.changed.is_empty() {
            parts.push(format!(
                "{} file(s) differ: {}",
                self.changed.len(),
                list(&self.changed)
            ));
        }
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} file(s) are missing: {}",
                self.missing.len(),
                list(&self.missing)
            ));
        }
        if !self.added.is_empty() {
            parts.push(format!(
                "{} file(s) are not in the lock: {}",
                self.added.len(),
                list(&self.added)
            ));
        }
        parts.join("; ")
    }
}

/// Compares the files a study reads now with a lock.
pub fn compare(lock: &Lock, study: &Study, ctx: &DataContext) -> Differences {
    let mut d = Differences {
        fingerprint_changed: lock.fingerprint != crate::plan::fingerprint(study),
        ..Differences::default()
    };
    let files = input_files(study, ctx).unwrap_or_default();
    let now = hashes(&files, &ctx.root);
    for (path, hash) in &lock.files {
        match now.get(path) {
            Some(Some(h)) if h == hash => {}
            Some(Some(_)) => d.changed.push(path.clone()),
            _ => {
                // A file the lock lists that the study no longer finds (or cannot read).
                let p = ctx.resolve(path);
                match std::fs::read(&p) {
                    Ok(b) if blake3::hash(&b).to_hex().as_str() == hash => {}
                    Ok(_) => d.changed.push(path.clone()),
                    Err(_) => d.missing.push(path.clone()),
                }
            }
        }
    }
    for path in now.keys() {
        if !lock.files.contains_key(path) {
            d.added.push(path.clone());
        }
    }
    d
}
