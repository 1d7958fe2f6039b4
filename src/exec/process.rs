//! The process protocol: a cell run as `study run-cell` in a process of its own (what `--jobs N` and a
//! cluster executor do), its failure written to `work/<id>/error.json` and read back by the parent.

use super::context::Ctx;
use super::device::Device;
use super::error::CellError;
use super::store::{self, PlanFile, Store};
use super::{Body, Completion, execute_cell};
use crate::diagnostics::Code;
use crate::plan::Cell;
use std::path::{Path, PathBuf};

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

/// The failure a `run-cell` process left for a cell, when it left one.
pub(super) fn reported_failure(store: &Store, cell: &Cell) -> Option<CellError> {
    let bytes =
        crate::files::read_regular(&error_file(store, cell), store::MAX_RECORD_BYTES).ok()?;
    serde_json::from_slice::<ReportedError>(&bytes)
        .ok()
        .map(ReportedError::into_error)
}

/// Runs one cell through `EXECUTABLE run-cell` and reads back how it ended.
pub(super) fn execute_in_process(
    exe: &Path,
    store: &Store,
    cell: &Cell,
    device: &Device,
) -> Result<Completion, CellError> {
    let _ = std::fs::remove_file(error_file(store, cell));
    let mut command = std::process::Command::new(exe);
    command
        .arg("run-cell")
        .arg("--plan")
        .arg(store.root.join("plan.json"))
        .args(["--cell", &cell.id, "--device", &device.arg(), "--out"])
        .arg(&store.root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    die_with_parent(&mut command);
    let output = command.output().map_err(|e| {
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
    Err(match reported_failure(store, cell) {
        Some(e) => e,
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

/// Makes the child end when this process ends, however it ends (a killed run leaves no orphans
/// computing cells). The thread that starts the child waits for it, so the child's parent thread lives
/// as long as the child is wanted.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure calls only async-signal-safe functions (prctl, getppid).
    let parent = unsafe { libc::getpid() };
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the request took effect (no allocation after fork).
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Elsewhere children are left to finish their cell.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn die_with_parent(_command: &mut std::process::Command) {}

/// `study run-cell`: one cell of a plan written by `study run`, whose dependencies are finished.
pub fn run_cell(
    plan_path: &Path,
    cell: &str,
    out: &Path,
    device: &Device,
    body: Body,
) -> Result<(), CellError> {
    let file = PlanFile::read(plan_path)?;
    let altered = file.plan.altered_cells();
    if !altered.is_empty() {
        return Err(CellError::fault(
            Code::Altered,
            format!(
                "{}: {} do not follow from its study (edited after `study run` wrote it)",
                plan_path.display(),
                super::inputs::list(&altered)
            ),
        )
        .help("run `study run` again to write the plan; edit the study, not its plan"));
    }
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
    run_target(&ctx, &store, target, body).inspect_err(|e| {
        // The parent of this process (or a cluster executor) reads the failure back from here.
        if let Ok(bytes) = serde_json::to_vec(&ReportedError::from(e)) {
            let _ = store::write_atomic(&error_file(&store, target), &bytes);
        }
    })
}

/// Runs a cell of the plan unless it is done, once every cell it needs is.
fn run_target(ctx: &Ctx, store: &Store, target: &Cell, body: Body) -> Result<(), CellError> {
    if store.is_done(target) {
        return Ok(());
    }
    for d in &target.deps {
        let dep = ctx.cell(d)?;
        if !store.is_done(dep) && !target.task.tolerates_missing_inputs() {
            return Err(CellError::fault(
                Code::CorruptOutput,
                format!("cell `{}` needs `{d}`, which has not finished", target.name),
            )
            .help("run the cells in the plan's order"));
        }
    }
    execute_cell(ctx, target, body).map(|_| ())
}
