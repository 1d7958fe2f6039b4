//! Data: datasets become tables of records (image reference, label, source and metadata); images are
//! decoded, cropped, occluded, resized and normalised; splits assign records to partitions.
//!
//! This layer reports problems as `Problem`s that name files and byte ranges; its `IntoDiagnostics`
//! turns them into coded diagnostics with snippets of the manifest and of the study.

pub mod cache;
pub mod folders;
pub mod gray;
pub mod images;
pub mod manifest;
pub mod memo;
pub mod metadata;
pub mod preview;
pub mod split;
pub mod stats;
pub mod summary;
pub mod synthetic;
pub mod transform;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, IntoDiagnostics};
use crate::source::{SourceMap, Span};
use crate::study::{DatasetSource, LabelMap, LabelTarget, OnError, Study};
use indexmap::IndexMap;
use metadata::Sex;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where an image (or mask) comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    File(PathBuf),
    /// Drawn by the synthetic generator: image `index` of `source` in `dataset`.
    Synthetic {
        dataset: String,
        source: String,
        index: u32,
    },
}

/// One image with its label and metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique within its dataset: the image path relative to the dataset root, or `source/index`.
    pub id: String,
    /// The declared dataset the record was read from (a union's part, not the union).
    pub dataset: String,
    pub image: ImageSource,
    pub mask: Option<ImageSource>,
    pub label: String,
    pub source: String,
    pub patient: Option<String>,
    pub age: Option<f64>,
    pub sex: Option<Sex>,
    pub view: Option<String>,
    /// Extra metadata and raw columns needed by splits.
    pub extra: IndexMap<String, String>,
}

impl Record {
    /// The files the record reads: its image and its mask, where they are files.
    pub fn file_paths(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.image)
            .chain(self.mask.as_ref())
            .filter_map(|s| match s {
                ImageSource::File(p) => Some(p),
                _ => None,
            })
    }

    /// A metadata value by name, as text (what probes, groups and column splits read).
    pub fn attribute(&self, name: &str) -> Option<String> {
        match name {
            "label" => Some(self.label.clone()),
            "source" => Some(self.source.clone()),
            "patient" => self.patient.clone(),
            "age" => self.age.map(|a| format!("{a}")),
            "sex" => self.sex.map(|s| s.as_str().to_string()),
            "view" => self.view.clone(),
            other => self.extra.get(other).cloned(),
        }
    }
}

/// A record's value of a training target, or `None` when it has none (such records are left out).
pub fn target_value(record: &Record, target: &crate::study::Target) -> Option<String> {
    use crate::study::Target;
    match target {
        Target::Label => Some(record.label.clone()),
        Target::Source => Some(record.source.clone()),
        Target::Attribute(name) => record.attribute(name),
        Target::AgeGroup(edges) => {
            let age = record.age?;
            let k = edges.iter().filter(|e| age >= **e).count();
            Some(match k {
                0 => format!("<{}", edges[0]),
                k if k == edges.len() => format!(">={}", edges[k - 1]),
                k => format!("{}-{}", edges[k - 1], edges[k]),
            })
        }
    }
}

/// A dataset read into memory.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub records: Vec<Record>,
    /// Rows or images left out under `on_error skip`, with the reason.
    pub skipped: Vec<Problem>,
    /// Rows a label map sent to `drop`, and rows a `keep` filter left out.
    pub dropped: usize,
    pub filtered: usize,
}

impl Table {
    /// Class names in first-seen order.
    pub fn classes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            if !out.contains(&r.label) {
                out.push(r.label.clone());
            }
        }
        out
    }

    pub fn sources(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            if !out.contains(&r.source) {
                out.push(r.source.clone());
            }
        }
        out
    }
}

/// A problem found in data, with the file and byte range it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    pub help: String,
    pub place: Option<Place>,
    /// The declared dataset the problem belongs to.
    pub dataset: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    /// Bytes `start..end` of a text file (a manifest cell or row).
    Text {
        file: PathBuf,
        start: usize,
        end: usize,
    },
    /// A whole file (an image, a folder).
    File(PathBuf),
}

impl Problem {
    pub fn new(
        code: Code,
        dataset: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Problem {
            code,
            message: message.into(),
            help: help.into(),
            place: None,
            dataset: dataset.into(),
        }
    }

    pub fn at(mut self, place: Place) -> Self {
        self.place = Some(place);
        self
    }
}

/// Where the study's relative paths start.
#[derive(Clone, Debug)]
pub struct DataContext {
    /// The folder of the root study file.
    pub root: PathBuf,
    pub seed: u64,
}

impl DataContext {
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }
}

/// Reads a declared dataset (unions read each part). Fails with every problem found when the dataset
/// cannot be used; problems under `on_error skip` are kept in `Table::skipped` instead.
pub fn load_dataset(study: &Study, name: &str, ctx: &DataContext) -> Result<Table, Vec<Problem>> {
    let Some(dataset) = study.datasets.get(name) else {
        return Err(vec![Problem::new(
            Code::DataMissing,
            name,
            format!("no dataset `{name}`"),
            "",
        )]);
    };
    let mut table = match &dataset.source {
        DatasetSource::Csv { .. } => manifest::load(name, dataset, ctx)?,
        DatasetSource::Folders { .. } | DatasetSource::Dicom { .. } => {
            folders::load(name, dataset, ctx)?
        }
        DatasetSource::Synthetic(s) => synthetic::records(name, s, ctx.seed),
        DatasetSource::Union { parts } => {
            let mut table = Table::default();
            let mut problems = Vec::new();
            for part in parts {
                match load_dataset(study, part, ctx) {
                    Ok(t) => {
                        table.records.extend(t.records);
                        table.skipped.extend(t.skipped);
                        table.dropped += t.dropped;
                        table.filtered += t.filtered;
                    }
                    Err(p) => problems.extend(p),
                }
            }
            if !problems.is_empty() {
                return Err(problems);
            }
            table
        }
    };
    // Results record every image's path as text: a name that is not UTF-8 is told here, by its file.
    for r in std::mem::take(&mut table.records) {
        let unnamed = r.file_paths().find(|p| p.to_str().is_none()).cloned();
        match unnamed {
            None => table.records.push(r),
            Some(path) => table.skipped.push(
                Problem::new(
                    Code::BadValue,
                    name,
                    "its file name is not valid UTF-8",
                    "rename the file (and its row) with UTF-8 characters, or set `on_error skip` on the dataset",
                )
                .at(Place::File(path)),
            ),
        }
    }
    if dataset.on_error == OnError::Fail && !table.skipped.is_empty() {
        return Err(std::mem::take(&mut table.skipped));
    }
    check_table(name, &table)?;
    Ok(table)
}

/// A usable table has images and patients whose metadata agree. One class is allowed (a collection of
/// covid images only, a part of a union): what is trained and evaluated is checked per partition.
fn check_table(name: &str, table: &Table) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    if table.records.is_empty() {
        problems.push(Problem::new(
            Code::EmptyData,
            name,
            format!("dataset `{name}` has no images ({} left out by `keep`, {} dropped by the label map, {} skipped)", table.filtered, table.dropped, table.skipped.len()),
            "check the filters and the label map",
        ));
    }
    let mut patients: std::collections::HashMap<&str, &Record> = std::collections::HashMap::new();
    for r in &table.records {
        let Some(p) = r.patient.as_deref() else {
            continue;
        };
        match patients.get(p) {
            Some(first)
                if (first.sex.is_some() && r.sex.is_some() && first.sex != r.sex)
                    || first.source != r.source =>
            {
                let (what, a, b) = if first.source != r.source {
                    ("source", first.source.clone(), r.source.clone())
                } else {
                    ("sex", format!("{:?}", first.sex), format!("{:?}", r.sex))
                };
                problems.push(Problem::new(
                    Code::PatientConflict,
                    &r.dataset,
                    format!(
                        "patient `{p}` has {what} {a} in `{}` and {b} in `{}`",
                        first.id, r.id
                    ),
                    "make patient ids unique per source (prefix them), or correct the metadata",
                ));
                if problems.len() > 20 {
                    break;
                }
            }
            Some(_) => {}
            None => {
                patients.insert(p, r);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Applies a label map to a raw label. `Ok(None)` means the row is dropped.
pub fn map_label(map: Option<&LabelMap>, raw: &str) -> Result<Option<String>, LabelError> {
    let raw = raw.trim();
    let Some(map) = map else {
        return if raw.is_empty() {
            Err(LabelError::Empty)
        } else {
            Ok(Some(raw.to_string()))
        };
    };
    let target = map.entries.get(raw).or(map.wildcard.as_ref());
    match target {
        Some(LabelTarget::Class(c)) => Ok(Some(c.clone())),
        Some(LabelTarget::Drop) => Ok(None),
        None => Err(LabelError::Unmapped(raw.to_string())),
    }
}

/// Why a raw label has no class.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LabelError {
    #[error("the label is empty")]
    Empty,
    #[error("the label map has no entry for \"{0}\" and no wildcard `*`")]
    Unmapped(String),
}

/// Turns data problems into diagnostics: manifest cells are shown as snippets, and each diagnostic points
/// back at the dataset's declaration in the study when it is known.
impl IntoDiagnostics<Study> for &[Problem] {
    fn into_diagnostics(self, study: &Study, sources: &mut SourceMap) -> Diagnostics {
        problems_to_diagnostics(self, study, sources)
    }
}

fn problems_to_diagnostics(
    problems: &[Problem],
    study: &Study,
    sources: &mut SourceMap,
) -> Diagnostics {
    let mut loaded: IndexMap<PathBuf, crate::source::FileId> = IndexMap::new();
    let mut out = Diagnostics::default();
    for p in problems {
        let mut d = Diagnostic::new(p.code, p.message.clone());
        match &p.place {
            Some(Place::Text { file, start, .. }) if !manifest::quotable(file) => {
                // Not a manifest's text: the place is given by line, its contents are not shown.
                let read = crate::files::read_regular(file, manifest::MAX_MANIFEST_BYTES);
                let line = read.map_or(1, |b| {
                    1 + b[..(*start).min(b.len())]
                        .iter()
                        .filter(|c| **c == b'\n')
                        .count()
                });
                d.message = format!(
                    "{}, line {line}: {} (not quoted: not a .csv file)",
                    crate::source::display_path(file),
                    d.message
                );
            }
            Some(Place::Text { file, start, end }) => {
                let id = match loaded.get(file) {
                    Some(id) => *id,
                    None => {
                        let text = crate::files::read_regular(file, manifest::MAX_MANIFEST_BYTES)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        let id = sources.add(
                            crate::source::display_path(file),
                            Some(file.clone()),
                            text,
                        );
                        loaded.insert(file.clone(), id);
                        id
                    }
                };
                d = d.at(Span::new(id, *start, *end), "here");
            }
            Some(Place::File(file)) => {
                d.message = format!("{}: {}", crate::source::display_path(file), d.message);
            }
            None => {}
        }
        if let Some(span) = study.datasets.get(&p.dataset).and_then(|ds| ds.origin.span) {
            let label = format!("dataset `{}` declared here", p.dataset);
            d = if d.labels.is_empty() {
                d.at(span, label)
            } else {
                d.also(span, label)
            };
        }
        if !p.help.is_empty() {
            d = d.help(p.help.clone());
        }
        out.push(d);
    }
    out
}
