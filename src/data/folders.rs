//! Folder layouts: `root/<class>/<image>` or `root/<source>/<class>/<image>`, for image files or DICOM.

use super::images::read_dicom_header;
use super::{DataContext, ImageSource, Place, Problem, Record, Table, map_label};
use crate::diagnostics::Code;
use crate::study::{Dataset, DatasetMasks, DatasetSource, FolderLayout, OnError};
use std::path::{Path, PathBuf};

pub fn load(name: &str, dataset: &Dataset, ctx: &DataContext) -> Result<Table, Vec<Problem>> {
    let (root, layout, label_map, dicom) = match &dataset.source {
        DatasetSource::Folders {
            root,
            layout,
            label_map,
        } => (root, layout, label_map, false),
        DatasetSource::Dicom {
            root,
            layout,
            label_map,
        } => (root, layout, label_map, true),
        _ => unreachable!("folders::load is called for folder datasets"),
    };
    let root = ctx.resolve(root);
    if !root.is_dir() {
        return Err(vec![
            Problem::new(
                Code::DataMissing,
                name,
                format!(
                    "folder `{}` {}",
                    crate::source::display_path(&root),
                    crate::files::why_unusable(&root, true)
                ),
                super::manifest::download_help(name),
            )
            .at(Place::File(root)),
        ]);
    }
    let mask_root = match &dataset.masks {
        Some(DatasetMasks::Folder(dir)) => Some(ctx.resolve(dir)),
        _ => None,
    };
    let mut groups: Vec<(String, PathBuf)> = Vec::new();
    match layout {
        FolderLayout::ClassPerFolder => groups.push((name.to_string(), root.clone())),
        FolderLayout::SourceThenClass => {
            for dir in subdirs(&root) {
                groups.push((file_name(&dir), dir));
            }
        }
    }
    let mut table = Table::default();
    let mut problems = Vec::new();
    for (source, dir) in groups {
        for class_dir in subdirs(&dir) {
            let raw = file_name(&class_dir);
            let label = match map_label(label_map.as_ref(), &raw) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    table.dropped += files(&class_dir, dicom).len();
                    continue;
                }
                Err(m) => {
                    problems.push(
                        Problem::new(
                            Code::BadValue,
                            name,
                            format!("folder `{raw}`: {m}"),
                            "extend the label map, or add `* => drop`",
                        )
                        .at(Place::File(class_dir.clone())),
                    );
                    continue;
                }
            };
            for file in files(&class_dir, dicom) {
                let id = file
                    .strip_prefix(&root)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .replace('\\', "/");
                let mut record = Record {
                    id: id.clone(),
                    dataset: name.to_string(),
                    image: ImageSource::File(file.clone()),
                    mask: mask_root.as_ref().map(|m| ImageSource::File(m.join(&id))),
                    label: label.clone(),
                    source: source.clone(),
                    patient: None,
                    age: None,
                    sex: None,
                    view: None,
                    extra: Default::default(),
                };
                if dicom {
                    match read_dicom_header(&file, name) {
                        Ok(header) => {
                            record.patient = header.patient;
                            record.age = header.age;
                            record.sex = header.sex;
                            record.view = header.view;
                        }
                        Err(p) => {
                            match dataset.on_error {
                                OnError::Skip => table.skipped.push(p),
                                OnError::Fail => problems.push(p),
                            }
                            continue;
                        }
                    }
                }
                table.records.push(record);
            }
        }
    }
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(problems)
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// Image files of a class folder, sorted; hidden files are ignored.
fn files(dir: &Path, dicom: bool) -> Vec<PathBuf> {
    let wanted: &[&str] = if dicom {
        &["dcm", "dicom", ""]
    } else {
        &["png", "jpg", "jpeg", "dcm"]
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && !file_name(p).starts_with('.'))
        .filter(|p| {
            wanted.contains(
                &p.extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("")
                    .to_ascii_lowercase()
                    .as_str(),
            )
        })
        .collect();
    out.sort();
    out
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
