//! `study.lock`: the content hash of every input file of a study (manifests, images, masks, weights),
//! with the study's fingerprint and the tool's version. `study run --locked` refuses to start when the
//! files at hand differ, so two labs can tell before computing anything whether they hold the same data.

use super::inputs::{Bound, UNREADABLE, list};
use crate::data::{DataContext, Problem};
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// The lock of a plan bound to the files at hand; a dataset or file that cannot be read is a problem.
pub fn compute(bound: &Bound) -> Result<Lock, Vec<Problem>> {
    let mut problems = bound.problems.clone();
    let files = bound.plan.input_files();
    for (path, hash) in &files {
        if hash == UNREADABLE {
            problems.push(Problem::new(
                crate::diagnostics::Code::DataMissing,
                "",
                format!("{path} cannot be read"),
                "",
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Lock {
        format: LOCK_FORMAT,
        study: bound.plan.study.name.clone(),
        fingerprint: bound.plan.fingerprint.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        files,
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

/// Compares the files a bound plan reads with a lock.
pub fn compare(lock: &Lock, plan: &Plan, ctx: &DataContext) -> Differences {
    let mut d = Differences {
        fingerprint_changed: lock.fingerprint != plan.fingerprint,
        ..Differences::default()
    };
    let now = plan.input_files();
    for (path, hash) in &lock.files {
        match now.get(path).map(String::as_str) {
            Some(h) if h == hash.as_str() => {}
            Some(h) if h != UNREADABLE => d.changed.push(path.clone()),
            _ => {
                // A file the lock lists that the study no longer reads (or cannot read).
                match crate::hash::file_hash(&ctx.resolve(path)) {
                    Some(h) if h == *hash => {}
                    Some(_) => d.changed.push(path.clone()),
                    None => d.missing.push(path.clone()),
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
