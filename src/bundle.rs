//! `study bundle`: what a lab sends a reviewer, as one zip archive. It holds the study file and its
//! includes under `study/` (paths relative to the study's folder), the lock file when there is one,
//! and the run under `run/`: results.json, the reports, the figures, metrics.csv and plan.json.
//! `bundle.json` names the entry study, the fingerprint and the BLAKE3 of every other entry. `study
//! compare` and `study report` read a bundle as a run once it checks: every entry bounded in size and
//! matching its hash, the study still of its recorded fingerprint, each verdict what its rules give on
//! the numbers beside it.

use crate::diagnostics::Code;
use crate::exec::CellError;
use crate::source::SourceMap;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The largest bundle entry read, by the size the archive declares and by the bytes it inflates to.
pub const MAX_ENTRY_BYTES: u64 = 128 << 20;
/// The most a bundle's entries may inflate to together.
const MAX_TOTAL_BYTES: u64 = 512 << 20;

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
    /// Every other entry's BLAKE3 (absent in bundles of earlier versions, which cannot be checked).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

fn fault(message: String) -> CellError {
    CellError::fault(Code::CorruptOutput, message)
}

fn altered(bundle: &Path, why: String) -> CellError {
    CellError::fault(Code::Altered, format!("{}: {why}", bundle.display()))
        .help("ask whoever made the bundle for it again; `study bundle` writes it whole")
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
    if let Ok(bytes) = crate::files::read_regular(study.lock, MAX_ENTRY_BYTES) {
        files.push((archive_name(&root, &canonical(study.lock)), bytes));
    }
    for name in RUN_FILES {
        if let Ok(bytes) = crate::files::read_regular(&out.join(name), MAX_ENTRY_BYTES) {
            files.push((format!("run/{name}"), bytes));
        }
    }
    let figures = out.join(crate::report::FIGURES);
    if let Ok(entries) = std::fs::read_dir(&figures) {
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let read = crate::files::read_regular(&p, MAX_ENTRY_BYTES);
            if let (Some(name), Ok(bytes)) = (p.file_name(), read) {
                files.push((format!("run/figures/{}", name.to_string_lossy()), bytes));
            }
        }
    }
    let info = BundleInfo {
        study: doc.study.name.clone(),
        entry: archive_name(&root, &canonical(entry)),
        fingerprint: fingerprint.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        files: files
            .iter()
            .map(|(name, bytes)| (name.clone(), blake3::hash(bytes).to_hex().to_string()))
            .collect(),
    };
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

/// Whether `path` is a bundle `study bundle` wrote (a zip archive holding `bundle.json`): what `--to`
/// may replace without `--force`.
pub fn is_study_bundle(path: &Path) -> bool {
    std::fs::File::open(path)
        .ok()
        .and_then(|f| zip::ZipArchive::new(f).ok())
        .is_some_and(|mut a| a.by_name("bundle.json").is_ok())
}

/// A bundle whose entries all match the hashes of its `bundle.json`.
pub struct Opened {
    pub info: BundleInfo,
    /// Every entry but `bundle.json`, by name.
    pub entries: BTreeMap<String, Vec<u8>>,
}

/// Opens a bundle and checks it: a regular file, every entry bounded (declared and inflated), listed
/// in `bundle.json` with the hash of its bytes, and nothing listed missing.
pub fn open(bundle: &Path) -> Result<Opened, CellError> {
    let file = crate::files::open_regular(bundle).map_err(|e| match e {
        crate::files::ReadError::Io(e) => CellError::io(bundle, &e),
        e => CellError::fault(Code::FileUnreadable, format!("{}: {e}", bundle.display())),
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| zip_error(bundle, e))?;
    let mut entries = BTreeMap::new();
    let mut total = 0u64;
    for k in 0..archive.len() {
        let mut entry = archive.by_index(k).map_err(|e| zip_error(bundle, e))?;
        let name = entry.name().to_string();
        let too_large = || {
            CellError::fault(
                Code::FileUnreadable,
                format!(
                    "{}: entry {name} inflates to more than {} bytes",
                    bundle.display(),
                    MAX_ENTRY_BYTES
                ),
            )
        };
        if entry.size() > MAX_ENTRY_BYTES {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| zip_error(bundle, format!("{name}: {e}")))?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Err(too_large());
        }
        total += bytes.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(CellError::fault(
                Code::FileUnreadable,
                format!(
                    "{}: its entries inflate to more than {MAX_TOTAL_BYTES} bytes",
                    bundle.display()
                ),
            ));
        }
        entries.insert(name, bytes);
    }
    let info: BundleInfo = entries
        .remove("bundle.json")
        .ok_or_else(|| altered(bundle, "it holds no bundle.json".into()))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| altered(bundle, format!("bundle.json: {e}")))
        })?;
    if info.files.is_empty() {
        return Err(altered(
            bundle,
            "its bundle.json lists no hashes (a bundle of an earlier version): it cannot be checked"
                .into(),
        ));
    }
    for (name, bytes) in &entries {
        match info.files.get(name) {
            None => {
                return Err(altered(
                    bundle,
                    format!("{name} is not listed in bundle.json"),
                ));
            }
            Some(h) if h != blake3::hash(bytes).to_hex().as_str() => {
                return Err(altered(
                    bundle,
                    format!("{name} differs from the file the bundle was made with"),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(name) = info.files.keys().find(|n| !entries.contains_key(*n)) {
        return Err(altered(bundle, format!("{name} is missing")));
    }
    Ok(Opened { info, entries })
}

/// Checks that the study inside a bundle still has the fingerprint the bundle records, by checking it
/// anew (its files written to a private temporary folder); the checked study.
pub fn study_of(bundle: &Path, opened: &Opened) -> Result<crate::study::Study, CellError> {
    let dir = tempfile::tempdir().map_err(|e| CellError::io(&std::env::temp_dir(), &e))?;
    for (name, bytes) in &opened.entries {
        let Some(relative) = name.strip_prefix("study/") else {
            continue;
        };
        // Archive names are written without `..` or roots; one that has them was not written here.
        let safe = Path::new(relative)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(altered(
                bundle,
                format!("{name} names a path outside the bundle"),
            ));
        }
        let path = dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CellError::io(parent, &e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| CellError::io(&path, &e))?;
    }
    let entry = opened
        .info
        .entry
        .strip_prefix("study/")
        .map(|e| dir.path().join(e))
        .ok_or_else(|| altered(bundle, "bundle.json names no study file".into()))?;
    let parsed = crate::syntax::parse_path(&entry, crate::source::Reach::StudyTree);
    let checked = match parsed.diagnostics.has_errors() {
        true => None,
        false => {
            crate::check::check(
                &parsed.ast,
                &parsed.sources,
                crate::source::Reach::StudyTree,
            )
            .0
        }
    };
    let study = checked.ok_or_else(|| altered(bundle, "the study inside does not check".into()))?;
    let now = crate::plan::fingerprint(&study);
    if now != opened.info.fingerprint {
        return Err(altered(
            bundle,
            format!(
                "the study inside has fingerprint {}, not the {} the bundle records (it was edited)",
                &now[..16],
                &opened.info.fingerprint[..16.min(opened.info.fingerprint.len())]
            ),
        ));
    }
    Ok(study)
}
