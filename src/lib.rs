//! `study`: declarative robustness and confounder studies of image classifiers.
//!
//! The pipeline, one stage per module, data flowing one way:
//!
//! ```text
//! .study text ──parse──▶ Ast ──check──▶ Study ──plan──▶ Plan ──run──▶ cells ──report──▶ report.*
//!  (syntax)              (check)        (study)  (plan)      (exec + cells)     (report)
//! ```
//!
//! This file drives it as functions — `load`, `plan`, `run`, `run_cell`, `report`, `lock` — which the
//! command line only calls and prints. ARCHITECTURE.md names the rooms and what flows between them.

// The data-model enums are built once per study; boxing their big variants would only add noise.
#![allow(clippy::large_enum_variant)]

// The parser pest derives without its `std` feature names `alloc` from the crate root.
extern crate alloc;

pub mod backend;
pub mod bundle;
pub mod cells;
// The front end (read, parse, check, plan, diagnose) holds no unsafe code: its fuzzing needs no
// memory sanitizer (fuzz/README.md).
#[forbid(unsafe_code)]
pub mod check;
pub mod cli;
pub mod data;
#[forbid(unsafe_code)]
pub mod diagnostics;
pub mod eval;
pub mod exec;
#[forbid(unsafe_code)]
pub mod files;
#[forbid(unsafe_code)]
pub mod hash;
pub mod model;
#[forbid(unsafe_code)]
pub mod plan;
pub mod power;
pub mod probe;
pub mod publish;
pub mod report;
pub mod simulate;
#[forbid(unsafe_code)]
pub mod source;
#[forbid(unsafe_code)]
pub mod study;
#[forbid(unsafe_code)]
pub mod syntax;
pub mod train;

use diagnostics::{Code, Diagnostics};
use exec::lock::Lock;
use exec::store::{Store, write_atomic};
use exec::{CellError, Device, Options, RunSummary};
pub use publish::{bundle_run, compare_runs, read_results, report, report_dir};
use source::{Reach, SourceMap};
pub use source::{lock_path, study_root};
use std::path::{Path, PathBuf};
use study::Study;

/// A study read from disk: its sources (for rendering diagnostics), the checked study when valid, and
/// every diagnostic found on the way.
pub struct LoadedStudy {
    pub sources: SourceMap,
    pub study: Option<Study>,
    pub diagnostics: Diagnostics,
}

impl LoadedStudy {
    /// `study check --format json`: validity, fingerprint and diagnostics of one file.
    pub fn to_json(&self, file: &Path) -> serde_json::Value {
        serde_json::json!({
            "file": file.display().to_string(),
            "valid": self.study.is_some(),
            "fingerprint": self.study.as_ref().map(plan::fingerprint),
            "diagnostics": self
                .diagnostics
                .items
                .iter()
                .map(|d| diagnostics::to_json(d, &self.sources))
                .collect::<Vec<_>>(),
        })
    }
}

/// Parses and checks a study file and its includes, which may name files only inside its folder tree.
pub fn load(path: &Path) -> LoadedStudy {
    load_with(path, Reach::StudyTree)
}

/// Parses and checks a study file and its includes; `Reach::Anywhere` is `--allow-outside`.
pub fn load_with(path: &Path, reach: Reach) -> LoadedStudy {
    check_parsed(syntax::parse_path(path, reach), reach)
}

/// Parses and checks a study held in memory (includes resolve against `dir`).
///
/// ```
/// let text = r#"
/// study "demo" { seed 1 }
/// dataset phantom = synthetic { source a { images 20, covid 50% }, source b { images 20 } }
/// crop full = full
/// preprocess p { resize 64 }
/// model small = cnn(channels: [8, 16])
/// train quick { optimizer adam(lr: 1e-3), epochs 2 }
/// split s = by_source { data phantom, seen [a], unseen [b] }
/// experiment e { model small, crop full, split s, preprocess p, train quick }
/// "#;
/// let loaded = study::load_bytes("demo.study", text.as_bytes(), None);
/// let checked = loaded.study.expect("valid");
/// let plan = study::plan(&checked);
/// assert!(plan.cells.iter().any(|c| c.name == "train/small/full/s/p/quick/rep1"));
///
/// let typo = text.replace("model small,", "model smal,");
/// let loaded = study::load_bytes("demo.study", typo.as_bytes(), None);
/// assert!(loaded.study.is_none());
/// assert_eq!(loaded.diagnostics.items[0].code.id(), "E0012");
/// ```
pub fn load_bytes(name: &str, bytes: &[u8], dir: Option<&Path>) -> LoadedStudy {
    load_bytes_with(name, bytes, dir, Reach::StudyTree)
}

/// `load_bytes` with the reach of `--allow-outside` given or not.
pub fn load_bytes_with(name: &str, bytes: &[u8], dir: Option<&Path>, reach: Reach) -> LoadedStudy {
    check_parsed(syntax::parse_bytes(name, bytes, dir, reach), reach)
}

/// Checks what `syntax::parse_path` or `syntax::parse_bytes` read (a study is only checked when every
/// file parsed).
pub fn check_parsed(parsed: syntax::Parsed, reach: Reach) -> LoadedStudy {
    let mut diagnostics = parsed.diagnostics;
    if diagnostics.has_errors() {
        return LoadedStudy {
            sources: parsed.sources,
            study: None,
            diagnostics: diagnostics.sorted(),
        };
    }
    let (study, found) = check::check(&parsed.ast, &parsed.sources, reach);
    diagnostics.extend(found);
    if let Some(s) = &study {
        power::design_warnings(s)
            .into_iter()
            .for_each(|d| diagnostics.push(d));
    }
    LoadedStudy {
        sources: parsed.sources,
        study,
        diagnostics: diagnostics.sorted(),
    }
}

/// The execution plan of a checked study: its cells, their dependencies, seeds and content ids.
pub fn plan(study: &Study) -> plan::Plan {
    plan::plan(study)
}

/// Where a study's data is read from, and the seed its synthetic data derives from.
pub fn data_context(file: &Path, study: &Study) -> data::DataContext {
    data::DataContext {
        root: study_root(file),
        seed: study.seed,
    }
}

/// Runs a plan into `opts.out` (cells already finished are skipped), then publishes its report: `claim`
/// and `ClaimedRun::run` in one. Errors only for problems with the output folder itself; failing cells
/// are in the summary.
pub fn run(plan: &plan::Plan, root: &Path, opts: &Options) -> Result<RunSummary, CellError> {
    claim(plan, root, &opts.out)?.run(opts)
}

/// An output folder claimed for a run (one run at a time; a folder of other files is refused), with the
/// plan bound to the files its cells read now.
pub struct ClaimedRun {
    _claim: exec::OutputClaim,
    /// The plan with content ids covering the bytes of its inputs: what the run computes and records.
    pub plan: plan::Plan,
    /// How the inputs differ from those of the last run into this folder.
    pub changes: exec::inputs::Changes,
    root: PathBuf,
    /// Each input file's length and modification time when it was hashed.
    stamps: Vec<(PathBuf, data::memo::Stamp)>,
}

/// Claims `out` for a run of `plan` and binds the plan to its inputs (hashes remembered under
/// `<out>/cache`, so an unchanged tree costs a stat per file).
pub fn claim(plan: &plan::Plan, root: &Path, out: &Path) -> Result<ClaimedRun, CellError> {
    claim_hashing(plan, root, out, false)
}

/// `claim`; with `every_byte` (`--locked`) every input file is read and hashed, the memo only learning.
pub fn claim_hashing(
    plan: &plan::Plan,
    root: &Path,
    out: &Path,
    every_byte: bool,
) -> Result<ClaimedRun, CellError> {
    let claim = exec::claim(out)?;
    let ctx = data::DataContext {
        root: root.to_path_buf(),
        seed: plan.study.seed,
    };
    let memo_path = data::cache::memo_path(&data::cache::cache_dir(out));
    let mut memo = data::memo::HashMemo::load(&memo_path);
    let nothing_known = data::memo::HashMemo::default();
    let bound = exec::inputs::bind(plan, &ctx, if every_byte { &nothing_known } else { &memo });
    memo.learn(bound.learned, &memo_path);
    let stamps = bound.stamps;
    let bound = bound.plan;
    let before = exec::store::PlanFile::read(&out.join("plan.json"))
        .map(|f| f.plan.input_files())
        .ok();
    let changes = before.map_or_else(Default::default, |before| {
        exec::inputs::Changes::between(&before, &bound.input_files())
    });
    Ok(ClaimedRun {
        _claim: claim,
        plan: bound,
        changes,
        root: root.to_path_buf(),
        stamps,
    })
}

impl ClaimedRun {
    /// `--locked`: checks that the files this plan reads are those of the study's lock file.
    pub fn check_lock(&self, file: &Path) -> Result<Lock, CellError> {
        check_lock(file, &self.plan)
    }

    /// Runs the bound plan (cells already finished are skipped), then publishes its report.
    pub fn run(&self, opts: &Options) -> Result<RunSummary, CellError> {
        let store = Store::open(&self.plan, &self.root, &opts.out)?;
        for line in self.changes.lines() {
            store.log(&format!("inputs since the last run: {line}"));
        }
        // Reports of an earlier version are taken down until this version's is written.
        cells::retract_stale_report(&store, &self.plan)?;
        let summary = match &opts.slurm {
            Some(slurm) => {
                let exe = slurm_executable(opts)?;
                exec::slurm::run(&self.plan, &store, &self.root, opts, slurm, &exe)?
            }
            None => exec::run(&self.plan, &store, &self.root, opts, cells::body)?,
        };
        if !summary.detached {
            self.refuse_moved_inputs(&store, &summary)?;
        }
        cells::publish(&store, &self.plan)?;
        Ok(summary)
    }

    /// Fails, publishing nothing, when an input file moved while the run read it; the cells computed now
    /// from such a file are removed, as their ids name the bytes as they were.
    fn refuse_moved_inputs(&self, store: &Store, summary: &RunSummary) -> Result<(), CellError> {
        let moved = exec::inputs::moved(&self.stamps, &self.root);
        if moved.is_empty() {
            return Ok(());
        }
        for cell in exec::inputs::downstream(&self.plan, &moved) {
            if summary.ran.contains(&cell.name) {
                let _ = std::fs::remove_dir_all(store.cell_dir(cell));
            }
        }
        cells::retract_stale_report(store, &self.plan)?;
        store.log(&format!(
            "inputs changed during the run: {}",
            exec::inputs::list(&moved)
        ));
        Err(CellError::fault(
            Code::InputsMoved,
            format!(
                "{} input file(s) changed while the run read them: {}",
                moved.len(),
                exec::inputs::list(&moved)
            ),
        )
        .help("run again once the files stay as they are; nothing was published"))
    }
}

/// The `study` a cluster's nodes run: the one given, else this program.
fn slurm_executable(opts: &Options) -> Result<PathBuf, CellError> {
    opts.executable
        .clone()
        .or_else(|| std::env::current_exe().ok())
        .ok_or_else(|| CellError::fault(Code::Slurm, "cannot tell where this program is"))
}

/// The Slurm options of `study run`'s arguments (`None` with the local executor).
pub fn slurm_options(args: &cli::SlurmArgs, detach: bool) -> Option<exec::SlurmOptions> {
    (args.executor == cli::Executor::Slurm).then(|| exec::SlurmOptions {
        partition: args.partition.clone(),
        account: args.account.clone(),
        time: args.time.clone(),
        mem: args.mem.clone(),
        cpus: args.cpus_per_cell,
        gpus: args.gpus_per_cell,
        extra: args.sbatch_args.clone(),
        detach,
        poll: std::time::Duration::from_secs_f64(args.poll.max(0.1)),
    })
}

/// `study run --executor slurm --dry-run`: the scripts that would be submitted for the cells not done in
/// `out`, with the plan bound as a run would bind it.
pub fn slurm_dry_run(
    file: &Path,
    study: &Study,
    out: &Path,
    opts: &Options,
) -> Result<String, CellError> {
    let slurm = opts.slurm.clone().unwrap_or_default();
    let out = std::path::absolute(out).map_err(|e| CellError::io(out, &e))?;
    let bound = bound_plan(file, study, Some(&out));
    let exe = slurm_executable(opts)?;
    Ok(exec::slurm::dry_run(&bound.plan, &out, &exe, opts, &slurm))
}

/// The plan of a study bound to the files it reads now, with the problems met reading its datasets
/// (`study plan`, `study lock`). Hashes are read from, never written to, the memo of `out`.
pub fn bound_plan(file: &Path, study: &Study, out: Option<&Path>) -> exec::inputs::Bound {
    let memo = out.map_or_else(Default::default, |o| {
        data::memo::HashMemo::load(&data::cache::memo_path(&data::cache::cache_dir(o)))
    });
    exec::inputs::bind(&plan::plan(study), &data_context(file, study), &memo)
}

/// `study plan`: the summary of the plan bound to the files at hand (the ids a run would use, every file
/// read), with which cells are done in the output folder when it exists or is given; or the whole plan
/// as JSON.
pub fn plan_text(
    file: &Path,
    study: &Study,
    json: bool,
    out: Option<PathBuf>,
) -> Result<String, CellError> {
    let given = out.is_some();
    let out = out.unwrap_or_else(|| study_root(file).join(&study.output));
    let bound = bound_plan(file, study, Some(&out));
    if !bound.problems.is_empty() {
        eprintln!(
            "some data cannot be read: `study data {}` says what",
            file.display()
        );
    }
    if json {
        return serde_json::to_string_pretty(&bound.plan)
            .map(|t| t + "\n")
            .map_err(|e| {
                CellError::fault(Code::Internal, format!("cannot serialise the plan: {e}"))
            });
    }
    let mut text = plan::summary(&bound.plan, Path::new(&study.output));
    if given || out.join("study.json").exists() {
        let done = cells_done(&bound.plan, &out);
        text.push_str(&plan::status(&bound.plan, &out, &done));
    }
    Ok(text)
}

/// `study power`: each hypothesis's power at the counts the study's data gives, with `--assume`d true
/// values (`main.auc(unseen)=0.75`), and with `--simulate N` the verdicts of its synthetic twin over N
/// seeds per scenario; then the problems that kept some data from being counted.
pub fn power_text(args: &cli::PowerArgs, study: &Study) -> (String, Option<CellError>) {
    let file = &args.file;
    let bad = |why: String| {
        CellError::fault(Code::BadAssumption, why).help(
            "name a result as a rule reads it, without .lower or .upper: --assume 'main.auc(unseen)=0.75'",
        )
    };
    let parsed: Result<Vec<_>, _> = args
        .assume
        .iter()
        .map(|a| power::Assumption::parse(a))
        .collect();
    let assumptions = match parsed {
        Ok(a) => a,
        Err(why) => return (String::new(), Some(bad(why))),
    };
    let (design, problems) = power::design::Design::read(study, &data_context(file, study));
    let mut text = match power::analyse(study, &design, &assumptions) {
        Ok(report) => power::render(&report),
        Err(why) => return (String::new(), Some(bad(why))),
    };
    if !problems.is_empty() {
        return (text, Some(CellError::Data(problems)));
    }
    let Some(replicates) = args.simulate else {
        return (text, None);
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| study_root(file).join(&study.output).join("power"));
    let scenarios = match args.scenario.is_empty() {
        true => power::twin::Scenario::ALL.to_vec(),
        false => args
            .scenario
            .iter()
            .filter_map(|s| power::twin::Scenario::parse(s))
            .collect(),
    };
    let request = simulate::Request {
        replicates,
        scenarios,
        reduced: power::twin::Reduced {
            size: args.size,
            epochs: args.epochs,
        },
        out: out.clone(),
        jobs: args.jobs.max(1),
        slurm: slurm_options(&args.slurm, false),
        progress: Box::new(|line| eprintln!("twin {line}")),
    };
    let root = study_root(file);
    let run_plan = |plan: &plan::Plan, opts: &Options| -> Result<simulate::Ran, CellError> {
        let summary = run(plan, &root, opts)?;
        if let Some((cell, e)) = summary.failed.first() {
            return Ok(Err(format!("{cell}: {}", e.summary())));
        }
        Ok(verdicts(plan, &opts.out, &summary)
            .map(|vs| {
                vs.into_iter()
                    .map(|v| (v.hypothesis, format!("{:?}", v.outcome).to_lowercase()))
                    .collect()
            })
            .ok_or_else(|| "the run wrote no verdicts".to_string()))
    };
    match simulate::simulate(study, &data_context(file, study), &request, &run_plan) {
        Ok(sim) => {
            text.push('\n');
            text.push_str(&power::simulate::render(&sim));
            text.push_str(&format!(
                "\nwrote {} and {}\n",
                out.join("power.json").display(),
                out.join("power.html").display()
            ));
            (text, None)
        }
        Err(e) => (text, Some(e)),
    }
}

/// `study diff`'s output for two checked studies (JSON, or text quoting each changed declaration in both
/// files), and whether they mean the same.
pub fn diff_text(
    [first, second]: [(&Path, &LoadedStudy, &Study); 2],
    json: bool,
    style: diagnostics::Style,
) -> (String, bool) {
    let d = plan::diff::diff(first.2, second.2);
    if json {
        return (
            serde_json::to_string_pretty(&d).unwrap_or_default() + "\n",
            d.equal,
        );
    }
    // Both studies' files in one map, so that a note can quote a declaration on each side.
    type Ids = std::collections::HashMap<source::FileId, source::FileId>;
    let mut sources = SourceMap::new();
    let mut remap = |from: &SourceMap| -> Ids {
        from.files()
            .map(|(id, f)| {
                (
                    id,
                    sources.add(f.name.clone(), f.path.clone(), f.text.clone()),
                )
            })
            .collect()
    };
    let (in_first, in_second) = (remap(&first.1.sources), remap(&second.1.sources));
    let place = |study: &Study, ids: &Ids, kind: &str, name: Option<&str>| {
        let span = plan::diff::declared_at(study, kind, name?)?;
        Some(source::Span {
            file: *ids.get(&span.file)?,
            ..span
        })
    };
    let text = d.text_with(
        &first.0.display().to_string(),
        &second.0.display().to_string(),
        |change| {
            let (kind, a, b) = change.names();
            let (title, fields) = change.title();
            let labels: Vec<diagnostics::Label> = [
                (place(first.2, &in_first, kind, a), "before"),
                (place(second.2, &in_second, kind, b), "after"),
            ]
            .into_iter()
            .filter_map(|(span, message)| {
                Some(diagnostics::Label {
                    span: span?,
                    message: message.into(),
                    primary: true,
                })
            })
            .collect();
            let help = (!fields.is_empty()).then_some(fields.trim_end());
            diagnostics::render_note(&title, &labels, help, &sources, style)
        },
    );
    (text, d.equal)
}

/// Whether each cell of a bound plan is finished (and intact) in `out`, in plan order.
pub fn cells_done(plan: &plan::Plan, out: &Path) -> Vec<bool> {
    let store = exec::store::Store::new(out);
    plan.cells.iter().map(|c| store.is_done(c)).collect()
}

/// Runs one cell of a plan that `run` wrote into `out` (what `study run-cell` and cluster jobs call).
pub fn run_cell(plan: &Path, cell: &str, out: &Path, device: &Device) -> Result<(), CellError> {
    exec::run_cell(plan, cell, out, device, cells::body)
}

/// The study a run's plan file was made from (to point a `run-cell` failure at its declarations).
pub fn planned_study(plan: &Path) -> Option<Study> {
    exec::store::PlanFile::read(plan).ok().map(|f| f.plan.study)
}

/// The verdicts of this version of the study after `run` into `out`: from its report when that report
/// ran now or is a finished cell of this plan, never from an earlier version's (`None` then).
pub fn verdicts(
    plan: &plan::Plan,
    out: &Path,
    summary: &RunSummary,
) -> Option<Vec<probe::verdict::Verdict>> {
    let report = plan.report_cell()?;
    let current = summary.ran.contains(&report.name) || Store::new(out).is_done(report);
    if !current {
        return None;
    }
    let bytes = files::read_regular(&out.join("results.json"), publish::MAX_RESULTS_BYTES).ok()?;
    let doc: report::Document = serde_json::from_slice(&bytes).ok()?;
    Some(doc.verdicts)
}

/// What `study run` ends with: each verdict with the rule and numbers that decided it, then the report's
/// path (`report.html` when written, else `report.md`); `None` when the report is not current.
pub fn closing_lines(plan: &plan::Plan, out: &Path, summary: &RunSummary) -> Option<Vec<String>> {
    let verdicts = verdicts(plan, out, summary)?;
    let mut lines: Vec<String> = verdicts.iter().flat_map(report::verdict_lines).collect();
    let html = out.join("report.html");
    let report = if html.exists() {
        html
    } else {
        out.join("report.md")
    };
    lines.push(format!("report: {}", report.display()));
    Some(lines)
}

/// Writes the lock file of a study (the content hash of every input file); where, and the lock.
/// `study lock`'s line (the lock file written and how many input files it binds), or its error.
pub fn lock_text(file: &Path, study: &Study) -> (String, Option<CellError>) {
    match lock(file, study) {
        Ok((path, lock)) => (
            format!(
                "wrote {} ({} input files)\n",
                path.display(),
                lock.files.len()
            ),
            None,
        ),
        Err(e) => (String::new(), Some(e)),
    }
}

pub fn lock(file: &Path, study: &Study) -> Result<(PathBuf, Lock), CellError> {
    // Every byte is hashed: a lock never trusts the memo's length and modification time.
    let lock = exec::lock::compute(&bound_plan(file, study, None)).map_err(CellError::Data)?;
    let path = lock_path(file);
    if std::fs::symlink_metadata(&path).is_ok() && read_lock(&path).is_none() {
        return Err(CellError::fault(
            Code::WouldOverwrite,
            format!(
                "{} exists and is not a lock file; it was left as it is",
                path.display()
            ),
        )
        .help("move it away: the lock of a study is written beside it as `<name>.lock`"));
    }
    let text = serde_json::to_string_pretty(&lock)
        .map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))?;
    write_atomic(&path, text.as_bytes())?;
    Ok((path, lock))
}

/// A lock file, when `path` holds one (read within bounds).
fn read_lock(path: &Path) -> Option<Lock> {
    files::read_regular(path, exec::store::MAX_RECORD_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Checks that every file a bound plan reads matches the study's lock file (`--locked`); the lock when
/// it does.
pub fn check_lock(file: &Path, plan: &plan::Plan) -> Result<Lock, CellError> {
    let path = lock_path(file);
    let Some(lock) = read_lock(&path) else {
        return Err(CellError::fault(
            Code::LockMismatch,
            format!(
                "--locked needs {}, which is missing or unreadable",
                path.display()
            ),
        )
        .help(format!("write it with `study lock {}`", file.display())));
    };
    let diff = exec::lock::compare(&lock, plan, &data_context(file, &plan.study));
    if !diff.is_empty() {
        return Err(CellError::fault(
            Code::LockMismatch,
            format!(
                "the inputs differ from {}: {}",
                path.display(),
                diff.describe()
            ),
        )
        .help("obtain the locked files, or run `study lock` again to accept these"));
    }
    Ok(lock)
}
