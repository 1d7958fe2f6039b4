//! Stage 4, run: executes a plan's cells in dependency order, each through one entry point
//! (`execute_cell`, what `study run-cell` calls), caching finished cells on disk so that a rerun skips
//! them and a killed run resumes where it stopped.

pub(crate) mod device;
mod inputs;
mod learn;
pub mod lock;
mod model_probes;
pub mod store;

pub use device::Device;
pub use inputs::{Partitions, Records, partitions, records};
pub use learn::{SegmenterResult, TrainedModel};
pub use model_probes::{finetune, saliency};

use crate::data::{DataContext, Problem};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::plan::{Cell, Plan, Task};
use crate::source::SourceMap;
use crate::study::Study;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use store::{Done, Owner, PlanFile, Store};

/// Why a cell could not finish.
#[derive(Clone, Debug, PartialEq)]
pub enum CellError {
    /// The data could not be read (files, manifests, images): shown with the files' snippets.
    Data(Vec<Problem>),
    Fault {
        code: Code,
        message: String,
        help: Option<String>,
        /// The declaration the failure belongs to: (kind keyword, name).
        declaration: Option<(String, String)>,
    },
}

impl CellError {
    pub fn fault(code: Code, message: impl Into<String>) -> Self {
        CellError::Fault {
            code,
            message: message.into(),
            help: None,
            declaration: None,
        }
    }

    pub fn io(path: &Path, e: &std::io::Error) -> Self {
        CellError::fault(Code::OutputWrite, format!("{}: {e}", path.display())).help(
            "free disk space or fix the permissions; a rerun continues where this run stopped",
        )
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        if let CellError::Fault { help, .. } = &mut self {
            *help = Some(text.into());
        }
        self
    }

    /// Names the declaration the failure belongs to (`"train"`, `"quick"`).
    pub fn of(mut self, kind: &str, name: &str) -> Self {
        if let CellError::Fault { declaration, .. } = &mut self
            && declaration.is_none()
        {
            *declaration = Some((kind.to_string(), name.to_string()));
        }
        self
    }

    /// Diagnostics pointing at the study (and at data files for data problems).
    pub fn to_diagnostics(&self, study: &Study, sources: &mut SourceMap) -> Diagnostics {
        match self {
            CellError::Data(problems) => {
                crate::data::problems_to_diagnostics(problems, study, sources)
            }
            CellError::Fault {
                code,
                message,
                help,
                declaration,
            } => {
                let mut d = Diagnostic::new(*code, message.clone());
                if let Some((kind, name)) = declaration {
                    match declaration_origin(study, kind, name) {
                        Some(origin) => match origin.span {
                            Some(span) => d = d.at(span, format!("{kind} `{name}` declared here")),
                            None => {
                                d.message = format!(
                                    "{} ({kind} `{name}` at {})",
                                    d.message, origin.location
                                )
                            }
                        },
                        None => d.message = format!("{} ({kind} `{name}`)", d.message),
                    }
                }
                if let Some(h) = help {
                    d = d.help(h.clone());
                }
                let mut out = Diagnostics::default();
                out.push(d);
                out
            }
        }
    }

    /// One line for logs and reports.
    pub fn summary(&self) -> String {
        match self {
            CellError::Data(problems) => {
                let first = problems
                    .first()
                    .map_or(String::new(), |p| format!("{} {}", p.code.id(), p.message));
                if problems.len() > 1 {
                    format!("{first} (and {} more data problems)", problems.len() - 1)
                } else {
                    first
                }
            }
            CellError::Fault {
                code,
                message,
                declaration,
                ..
            } => match declaration {
                Some((kind, name)) => format!("{} {message} ({kind} `{name}`)", code.id()),
                None => format!("{} {message}", code.id()),
            },
        }
    }
}

/// The origin of a declaration by kind keyword and name.
fn declaration_origin<'s>(
    study: &'s Study,
    kind: &str,
    name: &str,
) -> Option<&'s crate::study::Origin> {
    match kind {
        "dataset" => study.datasets.get(name).map(|d| &d.origin),
        "segmenter" => study.segmenters.get(name).map(|d| &d.origin),
        "crop" => study.crops.get(name).map(|d| &d.origin),
        "preprocess" => study.preprocessings.get(name).map(|d| &d.origin),
        "model" => study.models.get(name).map(|d| &d.origin),
        "train" => study.trainings.get(name).map(|d| &d.origin),
        "split" => study.splits.get(name).map(|d| &d.origin),
        "experiment" => study.experiments.get(name).map(|d| &d.origin),
        "probe" => study.probes.get(name).map(|d| &d.origin),
        "hypothesis" => study.hypotheses.get(name).map(|d| &d.origin),
        _ => None,
    }
}

/// How a run goes.
#[derive(Clone, Debug)]
pub struct Options {
    pub out: PathBuf,
    pub device: Device,
    /// Cells run at the same time.
    pub jobs: usize,
    /// Go on with independent cells after a failure (else stop at the first one).
    pub keep_going: bool,
    /// Run only cells whose name matches (`*` matches any text), with the cells they need.
    pub only: Option<String>,
    /// Draw progress bars.
    pub progress: bool,
    /// Run each cell as `EXECUTABLE run-cell …` in a process of its own (what a cluster executor does):
    /// with several jobs, trainings then run in parallel, each process with its own random generator.
    pub executable: Option<PathBuf>,
}

impl Options {
    /// The command line's defaults: the CPU, one job, stop at the first failure, every cell, no bars.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Options {
            out: out.into(),
            device: Device::Cpu,
            jobs: 1,
            keep_going: false,
            only: None,
            progress: false,
            executable: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ran: Vec<String>,
    pub skipped: usize,
    pub failed: Vec<(String, CellError)>,
    /// Cells not run because a cell they need failed (or the run stopped first).
    pub blocked: Vec<String>,
    pub seconds: f64,
}

/// Everything a cell reads: the plan, the output folder, the data's root, the device.
pub struct Ctx<'a> {
    pub plan: &'a Plan,
    pub store: &'a Store,
    pub data: DataContext,
    pub device: &'a Device,
    pub bars: Option<&'a indicatif::MultiProgress>,
    by_name: HashMap<&'a str, &'a Cell>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        plan: &'a Plan,
        store: &'a Store,
        root: &Path,
        device: &'a Device,
        bars: Option<&'a indicatif::MultiProgress>,
    ) -> Self {
        Ctx {
            plan,
            store,
            data: DataContext {
                root: root.to_path_buf(),
                seed: plan.study.seed,
            },
            device,
            bars,
            by_name: plan.cells.iter().map(|c| (c.name.as_str(), c)).collect(),
        }
    }

    pub fn study(&self) -> &'a Study {
        &self.plan.study
    }

    pub fn cell(&self, name: &str) -> Result<&'a Cell, CellError> {
        self.by_name.get(name).copied().ok_or_else(|| {
            CellError::fault(
                Code::CorruptOutput,
                format!("the plan has no cell `{name}`"),
            )
        })
    }

    /// A dependency's output file.
    pub fn read<T: serde::de::DeserializeOwned>(
        &self,
        cell: &str,
        file: &str,
    ) -> Result<T, CellError> {
        let c = self.cell(cell)?;
        if !self.store.is_done(c) {
            return Err(CellError::fault(
                Code::CorruptOutput,
                format!("cell `{cell}` has not finished"),
            ));
        }
        self.store.read_json(c, file)
    }
}

/// Whether a cell finished for good or wrote a partial result (a verdict or report missing inputs),
/// which is not cached so that a later run completes it.
pub enum Completion {
    Done,
    Partial,
}

/// Runs one cell: reads its dependencies' outputs, writes its own, marks it done.
pub fn execute_cell(ctx: &Ctx, cell: &Cell) -> Result<Completion, CellError> {
    let started = Instant::now();
    let writer = ctx.store.begin(cell)?;
    let result = match &cell.task {
        Task::Prepare { dataset } => {
            inputs::prepare(ctx, dataset, &writer).map(|_| Completion::Done)
        }
        Task::Split { split } => inputs::split(ctx, split, &writer).map(|_| Completion::Done),
        Task::Segmenter { segmenter } => {
            learn::segmenter(ctx, cell, segmenter, &writer).map(|_| Completion::Done)
        }
        Task::Train { .. } => learn::train(ctx, cell, &writer).map(|_| Completion::Done),
        Task::Evaluate { train } => learn::evaluate(ctx, train, &writer).map(|_| Completion::Done),
        Task::Aggregate { experiment } => {
            crate::probe::aggregate(ctx, cell, experiment, &writer).map(|_| Completion::Done)
        }
        Task::Probe { probe } => {
            crate::probe::probe(ctx, cell, probe, &writer).map(|_| Completion::Done)
        }
        Task::Verdict { hypothesis } => {
            crate::probe::verdict::decide(ctx, cell, hypothesis, &writer)
        }
        Task::Report => crate::report::write(ctx, cell, &writer),
    };
    match result {
        Ok(Completion::Done) => {
            writer.commit(&Done {
                cell: cell.name.clone(),
                id: cell.id.clone(),
                seconds: started.elapsed().as_secs_f64(),
                backend: ctx.device.describe(),
            })?;
            let _ = std::fs::remove_dir_all(ctx.store.work_dir(cell));
            Ok(Completion::Done)
        }
        Ok(Completion::Partial) => {
            writer.abandon();
            Ok(Completion::Partial)
        }
        Err(e) => {
            writer.abandon();
            Err(e)
        }
    }
}

/// Prepares the output folder: refuses one written by another study, writes the plan, clears partial
/// cells of a killed run.
pub fn open_output(plan: &Plan, root: &Path, out: &Path) -> Result<Store, CellError> {
    let store = Store::new(out);
    std::fs::create_dir_all(store.cells()).map_err(|e| CellError::io(out, &e))?;
    let owner_path = out.join("study.json");
    let owner = Owner {
        study: plan.study.name.clone(),
        fingerprint: plan.fingerprint.clone(),
    };
    if let Ok(bytes) = std::fs::read(&owner_path) {
        let previous: Option<Owner> = serde_json::from_slice(&bytes).ok();
        match previous {
            Some(p) if p.study == owner.study => {
                if p.fingerprint != owner.fingerprint {
                    store.log(&format!(
                        "study changed: fingerprint {} -> {}; cells are reused by content id",
                        &p.fingerprint[..16.min(p.fingerprint.len())],
                        &owner.fingerprint[..16]
                    ));
                }
            }
            other => {
                let whose = other.map_or("an unreadable study.json".to_string(), |p| {
                    format!(
                        "study \"{}\" (fingerprint {})",
                        p.study,
                        &p.fingerprint[..16.min(p.fingerprint.len())]
                    )
                });
                return Err(CellError::fault(
                    Code::OtherStudy,
                    format!(
                        "{} holds the results of {whose}, not of study \"{}\"",
                        out.display(),
                        plan.study.name
                    ),
                )
                .help("choose another folder with --out, or delete this one"));
            }
        }
    }
    let plan_file = PlanFile {
        root: root.to_path_buf(),
        plan: plan.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&plan_file)
        .map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))?;
    store::write_atomic(&out.join("plan.json"), &bytes)?;
    let owner_bytes = serde_json::to_vec_pretty(&owner)
        .map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))?;
    store::write_atomic(&owner_path, &owner_bytes)?;
    store.sweep();
    Ok(store)
}

/// `*`-wildcard match of a cell name.
fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return name == pattern || name.starts_with(&format!("{pattern}/"));
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Cell positions by name.
fn name_index(plan: &Plan) -> HashMap<&str, usize> {
    plan.cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect()
}

/// The cells to run: all, or those matching `only` and everything they need.
fn selected(plan: &Plan, only: Option<&str>) -> Vec<bool> {
    let Some(pattern) = only else {
        return vec![true; plan.cells.len()];
    };
    let index = name_index(plan);
    let mut keep = vec![false; plan.cells.len()];
    let mut stack: Vec<usize> = plan
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| matches(pattern, &c.name))
        .map(|(i, _)| i)
        .collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut keep[i], true) {
            continue;
        }
        stack.extend(
            plan.cells[i]
                .deps
                .iter()
                .filter_map(|d| index.get(d.as_str())),
        );
    }
    keep
}

#[derive(Clone, Debug, PartialEq)]
enum Status {
    Pending,
    Running,
    Done,
    /// Finished without its missing inputs (not cached).
    Partial,
    Failed,
    Blocked,
}

/// Runs a plan into `opts.out`. Errors only for problems with the output folder itself; failing cells
/// are reported in the outcome.
pub fn run(plan: &Plan, root: &Path, opts: &Options) -> Result<Outcome, CellError> {
    let started = Instant::now();
    let store = open_output(plan, root, &opts.out)?;
    let bars = opts.progress.then(indicatif::MultiProgress::new);
    let ctx = Ctx::new(plan, &store, root, &opts.device, bars.as_ref());
    let wanted = selected(plan, opts.only.as_deref());
    let index = name_index(plan);
    let mut status: Vec<Status> = plan
        .cells
        .iter()
        .map(|c| {
            if store.is_done(c) {
                Status::Done
            } else {
                Status::Pending
            }
        })
        .collect();
    let mut outcome = Outcome {
        skipped: (0..plan.cells.len())
            .filter(|i| wanted[*i] && status[*i] == Status::Done)
            .count(),
        ..Outcome::default()
    };
    let to_run = (0..plan.cells.len())
        .filter(|i| wanted[*i] && status[*i] == Status::Pending)
        .count();
    store.log(&format!(
        "run of \"{}\" ({}): {} cell(s) to run, {} already done",
        plan.study.name,
        &plan.fingerprint[..16],
        to_run,
        outcome.skipped
    ));
    let overall = match &bars {
        Some(b) if to_run > 0 => {
            let bar = b.add(indicatif::ProgressBar::new(to_run as u64));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>5} [{bar:30}] {pos}/{len} cells  {elapsed} eta {eta}  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix("run");
            bar
        }
        _ => indicatif::ProgressBar::hidden(),
    };

    let state = std::sync::Mutex::new((&mut status, &mut outcome, false));
    let wake = std::sync::Condvar::new();
    let tolerant = |c: &Cell| matches!(c.task, Task::Verdict { .. } | Task::Report);
    let jobs = opts.jobs.max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    // Pick the first pending cell whose dependencies are settled.
                    let next = {
                        let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            let (status, outcome, stopped) = &mut *guard;
                            let mut pick = None;
                            let mut waiting = false;
                            for i in 0..plan.cells.len() {
                                if !wanted[i] || status[i] != Status::Pending {
                                    continue;
                                }
                                let cell = &plan.cells[i];
                                let deps: Vec<&Status> = cell
                                    .deps
                                    .iter()
                                    .filter_map(|d| index.get(d.as_str()).map(|j| &status[*j]))
                                    .collect();
                                let unsettled = deps
                                    .iter()
                                    .any(|s| matches!(s, Status::Pending | Status::Running));
                                let broken = deps.iter().any(|s| {
                                    matches!(s, Status::Failed | Status::Blocked | Status::Partial)
                                });
                                if *stopped {
                                    status[i] = Status::Blocked;
                                    outcome.blocked.push(cell.name.clone());
                                    continue;
                                }
                                if unsettled {
                                    waiting = true;
                                    continue;
                                }
                                if broken && !tolerant(cell) {
                                    status[i] = Status::Blocked;
                                    outcome.blocked.push(cell.name.clone());
                                    store.log(&format!("blocked {}", cell.name));
                                    continue;
                                }
                                pick = Some(i);
                                break;
                            }
                            if let Some(i) = pick {
                                status[i] = Status::Running;
                                break Some(i);
                            }
                            if !waiting {
                                // No pending cell is left for this worker.
                                wake.notify_all();
                                break None;
                            }
                            guard = wake.wait(guard).unwrap_or_else(|p| p.into_inner());
                        }
                    };
                    let Some(i) = next else { break };
                    let cell = &plan.cells[i];
                    overall.set_message(cell.name.clone());
                    store.log(&format!("start {} ({})", cell.name, cell.id));
                    let t = Instant::now();
                    let result = match &opts.executable {
                        Some(exe) => execute_in_process(exe, &store, cell, &opts.device),
                        None => execute_cell(&ctx, cell),
                    };
                    let secs = t.elapsed().as_secs_f64();
                    overall.inc(1);
                    let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                    let (status, outcome, stopped) = &mut *guard;
                    match result {
                        Ok(Completion::Done) => {
                            status[i] = Status::Done;
                            outcome.ran.push(cell.name.clone());
                            store.log(&format!("done {} in {secs:.2} s", cell.name));
                        }
                        Ok(Completion::Partial) => {
                            status[i] = Status::Partial;
                            outcome.ran.push(cell.name.clone());
                            store.log(&format!("partial {} (inputs missing)", cell.name));
                        }
                        Err(e) => {
                            status[i] = Status::Failed;
                            store.log(&format!("failed {}: {}", cell.name, e.summary()));
                            if let Some(b) = &bars {
                                let _ = b.println(format!("failed {}: {}", cell.name, e.summary()));
                            }
                            outcome.failed.push((cell.name.clone(), e));
                            if !opts.keep_going {
                                *stopped = true;
                            }
                        }
                    }
                    wake.notify_all();
                }
            });
        }
    });
    overall.finish_and_clear();
    // The report of this study version is published even when every cell was cached.
    if let Some(report) = plan.cells.iter().find(|c| matches!(c.task, Task::Report))
        && store.is_done(report)
    {
        crate::report::publish(&store, &store.cell_dir(report))?;
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    store.log(&format!(
        "end: {} ran, {} skipped, {} failed, {} blocked, {:.2} s",
        outcome.ran.len(),
        outcome.skipped,
        outcome.failed.len(),
        outcome.blocked.len(),
        outcome.seconds
    ));
    Ok(outcome)
}

/// A failure as a process reports it to its parent (`work/<id>/error.json`).
#[derive(serde::Serialize, serde::Deserialize)]
struct ReportedError {
    code: String,
    message: String,
    help: Option<String>,
    declaration: Option<(String, String)>,
}

impl ReportedError {
    fn from(e: &CellError) -> Self {
        match e {
            CellError::Fault {
                code,
                message,
                help,
                declaration,
            } => ReportedError {
                code: code.id().into(),
                message: message.clone(),
                help: help.clone(),
                declaration: declaration.clone(),
            },
            CellError::Data(problems) => ReportedError {
                code: problems.first().map_or("E0069", |p| p.code.id()).into(),
                message: e.summary(),
                help: problems
                    .first()
                    .map(|p| p.help.clone())
                    .filter(|h| !h.is_empty()),
                declaration: problems
                    .first()
                    .map(|p| ("dataset".to_string(), p.dataset.clone())),
            },
        }
    }

    fn into_error(self) -> CellError {
        CellError::Fault {
            code: Code::parse(&self.code).unwrap_or(Code::Internal),
            message: self.message,
            help: self.help,
            declaration: self.declaration,
        }
    }
}

fn error_file(store: &Store, cell: &Cell) -> PathBuf {
    store.work_dir(cell).join("error.json")
}

/// Runs one cell through `EXECUTABLE run-cell` and reads back how it ended.
fn execute_in_process(
    exe: &Path,
    store: &Store,
    cell: &Cell,
    device: &Device,
) -> Result<Completion, CellError> {
    let _ = std::fs::remove_file(error_file(store, cell));
    let output = std::process::Command::new(exe)
        .arg("run-cell")
        .arg("--plan")
        .arg(store.root.join("plan.json"))
        .args(["--cell", &cell.id, "--device", &device.arg(), "--out"])
        .arg(&store.root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| {
            CellError::fault(
                Code::Internal,
                format!("cannot start {}: {e}", exe.display()),
            )
        })?;
    if output.status.success() {
        return Ok(if store.is_done(cell) {
            Completion::Done
        } else {
            Completion::Partial
        });
    }
    let reported: Option<ReportedError> = std::fs::read(error_file(store, cell))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Err(match reported {
        Some(r) => r.into_error(),
        None => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            CellError::fault(
                Code::Internal,
                format!(
                    "`{}` ended with {}: {}",
                    cell.name,
                    output.status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                ),
            )
        }
    })
}

/// `study run-cell`: one cell of a plan written by `study run`, whose dependencies are finished.
pub fn run_cell(
    plan_path: &Path,
    cell: &str,
    out: &Path,
    device: &Device,
) -> Result<(), CellError> {
    let bytes = std::fs::read(plan_path).map_err(|e| {
        CellError::fault(Code::CorruptOutput, format!("{}: {e}", plan_path.display()))
    })?;
    let file: PlanFile = serde_json::from_slice(&bytes).map_err(|e| {
        CellError::fault(Code::CorruptOutput, format!("{}: {e}", plan_path.display()))
            .help("pass the plan.json that `study run` wrote into its output folder")
    })?;
    let store = Store::new(out);
    std::fs::create_dir_all(store.cells()).map_err(|e| CellError::io(out, &e))?;
    let ctx = Ctx::new(&file.plan, &store, &file.root, device, None);
    let target = file
        .plan
        .cells
        .iter()
        .find(|c| c.id == cell || c.name == cell)
        .ok_or_else(|| {
            CellError::fault(
                Code::CorruptOutput,
                format!("the plan has no cell `{cell}`"),
            )
        })?;
    if store.is_done(target) {
        return Ok(());
    }
    for d in &target.deps {
        let dep = ctx.cell(d)?;
        if !store.is_done(dep) && !matches!(target.task, Task::Verdict { .. } | Task::Report) {
            return Err(CellError::fault(
                Code::CorruptOutput,
                format!("cell `{}` needs `{d}`, which has not finished", target.name),
            )
            .help("run the cells in the plan's order"));
        }
    }
    execute_cell(&ctx, target).map(|_| ()).inspect_err(|e| {
        // The parent of this process reads the failure back from here.
        if let Ok(bytes) = serde_json::to_vec(&ReportedError::from(e)) {
            let _ = store::write_atomic(&error_file(&store, target), &bytes);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        assert!(matches("train/*", "train/cnn/full/s/p/t/rep1"));
        assert!(matches("train", "train/cnn/full/s/p/t/rep1"));
        assert!(matches("*rep2", "train/cnn/full/s/p/t/rep2"));
        assert!(matches("probe/source_probe", "probe/source_probe"));
        assert!(!matches("probe/source", "probe/source_probe"));
        assert!(matches("*full*rep1", "evaluate/cnn/full/s/p/t/rep1"));
        assert!(!matches("*lungs*", "evaluate/cnn/full/s/p/t/rep1"));
    }
}
