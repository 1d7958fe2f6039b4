//! What users read back and are handed: a run's results (its folder, its results.json or a bundle, each
//! read within bounds and checked against what made it), reports rendered again, bundles written, two
//! runs compared. Nothing here writes over a file it did not write.

use crate::bundle;
use crate::diagnostics::Code;
use crate::exec::CellError;
use crate::probe::{Results, verdict};
use crate::report::{self, Document};
use crate::source::{SourceMap, lock_path, study_root};
use crate::study::Study;
use crate::{cli, plan};
use std::path::{Path, PathBuf};

/// The largest results.json read (a study of hundreds of experiments writes a few megabytes).
pub const MAX_RESULTS_BYTES: u64 = bundle::MAX_ENTRY_BYTES;

/// The file a folder made by `study report BUNDLE` holds, so that rendering again may replace its files.
const REPORT_MARK: &str = ".study-report";

/// `study bundle FILE`: the study (checked from `sources`) and its finished run in `out` (default: the
/// study's output folder) as one archive at `to` (default: `<out>/bundle.zip`); what was written. An
/// existing `to` is replaced only when it is a bundle, or with `force`.
pub fn bundle_run(
    file: &Path,
    sources: &SourceMap,
    study: &Study,
    out: Option<PathBuf>,
    to: Option<PathBuf>,
    force: bool,
) -> Result<String, CellError> {
    let out = out.unwrap_or_else(|| study_root(file).join(&study.output));
    let to = to.unwrap_or_else(|| out.join("bundle.zip"));
    if std::fs::symlink_metadata(&to).is_ok() && !force && !bundle::is_study_bundle(&to) {
        return Err(would_overwrite(&to, "a file that is not a study bundle")
            .help("choose another path with --to, or pass --force to replace it"));
    }
    let fingerprint = plan::fingerprint(study);
    let files = bundle::StudyFiles {
        entry: file,
        root: &study_root(file),
        lock: &lock_path(file),
        sources,
        fingerprint: &fingerprint,
    };
    let info = bundle::write(&files, &read_results(&out)?, &out, &to)?;
    Ok(format!(
        "wrote {} (study \"{}\", {}, fingerprint {})\n",
        to.display(),
        info.study,
        info.entry,
        &info.fingerprint[..16]
    ))
}

fn would_overwrite(path: &Path, what: &str) -> CellError {
    CellError::fault(
        Code::WouldOverwrite,
        format!("{} is {what}; it was left as it is", path.display()),
    )
}

/// The results of a run: `dir/results.json`, the results.json file given, or a bundle's; read within
/// bounds and checked: a bundle's entries against its hashes and its study's fingerprint, and every
/// verdict against what its rules give on the numbers beside it (where the study is at hand).
pub fn read_results(run: &Path) -> Result<Document, CellError> {
    if bundle::is_bundle(run) {
        let opened = bundle::open(run)?;
        let study = bundle::study_of(run, &opened)?;
        let bytes = opened.entries.get("run/results.json").ok_or_else(|| {
            CellError::fault(
                Code::Altered,
                format!("{}: it holds no run/results.json", run.display()),
            )
        })?;
        let doc: Document = serde_json::from_slice(bytes).map_err(|e| {
            CellError::fault(
                Code::CorruptOutput,
                format!("{}: results.json: {e}", run.display()),
            )
        })?;
        if doc.study.fingerprint != opened.info.fingerprint {
            return Err(CellError::fault(
                Code::Altered,
                format!(
                    "{}: its results.json is of another version of the study than the bundle's",
                    run.display()
                ),
            ));
        }
        check_verdicts(run, &doc, &study)?;
        return Ok(doc);
    }
    let path = if run.is_dir() {
        run.join("results.json")
    } else {
        run.to_path_buf()
    };
    let bytes = crate::files::read_regular(&path, MAX_RESULTS_BYTES).map_err(|e| {
        let code = match e {
            crate::files::ReadError::Io(_) => Code::CorruptOutput,
            _ => Code::FileUnreadable,
        };
        CellError::fault(code, format!("{}: {e}", path.display()))
            .help("give the output folder of a finished run, its results.json or a bundle")
    })?;
    let doc: Document = serde_json::from_slice(&bytes)
        .map_err(|e| CellError::fault(Code::CorruptOutput, format!("{}: {e}", path.display())))?;
    // The study of a run folder is in its plan.json; its verdicts are checked when it is this version's.
    let plan = path.parent().map(|d| d.join("plan.json"));
    if let Some(file) = plan.and_then(|p| crate::exec::store::PlanFile::read(&p).ok())
        && file.plan.fingerprint == doc.study.fingerprint
    {
        check_verdicts(&path, &doc, &file.plan.study)?;
    }
    Ok(doc)
}

/// Results by target, as a document holds them.
struct FromDocument<'a>(&'a [Results]);

impl verdict::Lookup for FromDocument<'_> {
    fn results(&self, target: &str) -> Option<Results> {
        self.0.iter().find(|r| r.target == target).cloned()
    }
}

/// Refuses a document whose verdicts are not what the study's rules give on its own numbers.
fn check_verdicts(path: &Path, doc: &Document, study: &Study) -> Result<(), CellError> {
    let lookup = FromDocument(&doc.results);
    for recorded in &doc.verdicts {
        let Some(h) = study.hypotheses.get(&recorded.hypothesis) else {
            continue;
        };
        let decided = verdict::evaluate(&recorded.hypothesis, h, &lookup);
        if decided.outcome != recorded.outcome {
            return Err(CellError::fault(
                Code::Altered,
                format!(
                    "{}: the verdict of {} reads {:?}, but its rules give {:?} on the numbers beside it",
                    path.display(),
                    recorded.hypothesis,
                    recorded.outcome,
                    decided.outcome
                ),
            )
            .help("the results were edited after the run wrote them: run the study again"));
        }
    }
    Ok(())
}

/// `study compare`: the comparison of two runs in the format asked for, and whether the replication holds.
pub fn compare_runs(
    first: &Path,
    second: &Path,
    format: cli::CompareFormat,
) -> Result<(String, bool), CellError> {
    let c = report::compare::compare(&read_results(first)?, &read_results(second)?);
    let page = || c.page(&first.display().to_string(), &second.display().to_string());
    let text = match format {
        cli::CompareFormat::Json => serde_json::to_string_pretty(&c).unwrap_or_default() + "\n",
        cli::CompareFormat::Markdown => report::render_page(&page(), false),
        cli::CompareFormat::Html => report::render_page(&page(), true),
    };
    Ok((text, c.holds))
}

/// Renders report.md, report.html and metrics.csv again from a run's results, all published together;
/// the files written. Files of the user's in the way are refused unless `force`.
pub fn report(run: &Path, force: bool) -> Result<Vec<String>, CellError> {
    let doc = read_results(run)?;
    let dir = &report_dir(run);
    let mut files: Vec<(String, Vec<u8>)> = report::render(&doc)
        .into_iter()
        .filter(|(name, _)| name != "results.json")
        .map(|(name, text)| (name, text.into_bytes()))
        .collect();
    let ours = dir.join("study.json").is_file() || dir.join(REPORT_MARK).is_file();
    if !ours && !force {
        let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        names.push(report::FIGURES);
        if let Some(taken) = names
            .iter()
            .map(|n| n.split('/').next().unwrap_or(n))
            .find(|n| std::fs::symlink_metadata(dir.join(n)).is_ok())
        {
            return Err(would_overwrite(
                &dir.join(taken),
                "in a folder no run or report of this tool wrote",
            )
            .help("move it away, or pass --force to replace the report files there"));
        }
    }
    let written: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    if bundle::is_bundle(run) {
        files.push((REPORT_MARK.into(), run.display().to_string().into_bytes()));
    }
    let replaced: Vec<&str> = report::FILES
        .iter()
        .copied()
        .filter(|n| *n != "results.json")
        .chain([report::FIGURES])
        .collect();
    crate::files::publish_together(dir, &files, &replaced)
        .map_err(|(path, e)| CellError::io(&path, &e))?;
    Ok(written)
}

/// Where `study report RUN` writes: the run's folder (the folder of a results.json given), or for a
/// bundle a folder beside it named after it.
pub fn report_dir(run: &Path) -> PathBuf {
    if bundle::is_bundle(run) {
        run.with_extension("")
    } else if run.is_file() {
        study_root(run)
    } else {
        run.to_path_buf()
    }
}
