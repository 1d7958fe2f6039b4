//! `study bundle`: what a lab sends a reviewer, as one zip archive. It holds the study file and its
//! includes under `study/` (paths relative to the study's folder), the lock file when there is one,
//! and the run under `run/`: results.json, the reports, the figures, metrics.csv and plan.json.
//! `bundle.json` names the entry study and the fingerprint. `study compare` and `study report` read a
//! bundle as a run.

use crate::diagnostics::Code;
use crate::exec::CellError;
use crate::source::SourceMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The files of a run that a bundle carries (besides `figures/`).
const RUN_FILES: [&str; 5] = [
    "results.json",
    "report.md",
    "report.html",
    "metrics.csv",
    "plan.json",
];

/// What a bundle says about itself.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct BundleInfo {
    pub study: String,
    /// The entry study file, inside the archive.
    pub entry: String,
    pub fingerprint: String,
    pub tool_version: String,
}

fn fault(message: String) -> CellError {
    CellError::fault(Code::CorruptOutput, message)
}

fn zip_error(path: &Path, e: impl std::fmt::Display) -> CellError {
    fault(format!("{}: {e}", path.display()))
}

/// A path inside the archive for a file of the study: relative to the study's folder, `/`-separated.
fn archive_name(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let parts: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    format!("study/{}", parts.join("/"))
}

/// The study a bundle carries: its entry file, folder, lock file and every source file read.
pub struct StudyFiles<'a> {
    pub entry: &'a Path,
    pub root: &'a Path,
    pub lock: &'a Path,
    pub sources: &'a SourceMap,
    pub fingerprint: &'a str,
}

/// Writes the bundle of a study and its finished run in `out` (whose results are `doc`) to `to`.
pub fn write(
    study: &StudyFiles,
    doc: &crate::report::Document,
    out: &Path,
    to: &Path,
) -> Result<BundleInfo, CellError> {
    let (entry, sources, fingerprint) = (study.entry, study.sources, study.fingerprint);
    if doc.study.fingerprint != fingerprint {
        return Err(fault(format!(
            "{} holds a run of another version of the study (fingerprint {} ≠ {})",
            out.display(),
            &doc.study.fingerprint[..16],
            &fingerprint[..16]
        ))
        .help("run the study into that folder first, then bundle it"));
    }
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let root = canonical(study.root);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (_, f) in sources.files() {
        if let Some(path) = &f.path {
            files.push((
                archive_name(&root, &canonical(path)),
                f.text.clone().into_bytes(),
            ));
        }
    }
    let info = BundleInfo {
        study: doc.study.name.clone(),
        entry: archive_name(&root, &canonical(entry)),
        fingerprint: fingerprint.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if let Ok(bytes) = std::fs::read(study.lock) {
        files.push((archive_name(&root, &canonical(study.lock)), bytes));
    }
    for name in RUN_FILES {
        if let Ok(bytes) = std::fs::read(out.join(name)) {
            files.push((format!("run/{name}"), bytes));
        }
    }
    let figures = out.join(crate::report::FIGURES);
    if let Ok(entries) = std::fs::read_dir(&figures) {
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            if let (Some(name), Ok(bytes)) = (p.file_name(), std::fs::read(&p)) {
                files.push((format!("run/figures/{}", name.to_string_lossy()), bytes));
            }
        }
    }
    files.push((
        "bundle.json".into(),
        serde_json::to_vec_pretty(&info).unwrap_or_default(),
    ));
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in &files {
            zip.start_file(name.as_str(), options)
                .and_then(|_| zip.write_all(bytes).map_err(Into::into))
                .map_err(|e| zip_error(to, e))?;
        }
        zip.finish().map_err(|e| zip_error(to, e))?;
    }
    crate::exec::store::write_atomic(to, buffer.get_ref())?;
    Ok(info)
}

/// Whether a path names a bundle rather than a run folder or a results.json.
pub fn is_bundle(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "zip")
}

/// One file of a bundle.
pub fn read(bundle: &Path, name: &str) -> Result<Vec<u8>, CellError> {
    let file = std::fs::File::open(bundle).map_err(|e| CellError::io(bundle, &e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| zip_error(bundle, e))?;
    let mut entry = archive
        .by_name(name)
        .map_err(|e| zip_error(bundle, format!("{name}: {e}")))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| zip_error(bundle, e))?;
    Ok(bytes)
}
