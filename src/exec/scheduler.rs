//! The scheduler: runs the selected cells of a plan in dependency order on `jobs` workers, skipping
//! cells already finished, stopping at the first failure unless asked to keep going.

use super::context::Ctx;
use super::error::CellError;
pub use super::options::{Options, Progress};
use super::process::execute_in_process;
use super::store::{Damage, Store};
use super::{Body, Completion, execute_cell};
use crate::plan::Plan;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// What a run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub ran: Vec<String>,
    pub skipped: usize,
    pub failed: Vec<(String, CellError)>,
    /// Cells not run because a cell they need failed (or the run stopped first).
    pub blocked: Vec<String>,
    /// Finished cells whose outputs had changed or gone, with why: recomputed, not read.
    pub recomputed: Vec<(String, String)>,
    pub seconds: f64,
    /// The cells were submitted to a cluster and the run returned without waiting for them.
    pub detached: bool,
}

impl RunSummary {
    /// What the terminal says at the end of a run: cells recomputed and why, failed, not run, and counts.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .recomputed
            .iter()
            .map(|(cell, why)| format!("recomputed {cell}: {why}"))
            .collect();
        lines.extend(
            self.failed
                .iter()
                .map(|(cell, _)| format!("failed: {cell}")),
        );
        if !self.blocked.is_empty() {
            let n = self.blocked.len();
            lines.push(format!(
                "not run ({n} cells) because a cell they need failed"
            ));
        }
        if self.detached {
            lines.push(
                "submitted to Slurm: `study status OUT` shows each cell; the same command again waits for \
                 them and writes the report"
                    .into(),
            );
            return lines;
        }
        lines.push(format!(
            "{} cell(s) run, {} already done, {} failed in {:.1} s",
            self.ran.len(),
            self.skipped,
            self.failed.len(),
            self.seconds
        ));
        lines
    }
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
pub(super) fn selected(plan: &Plan, only: Option<&str>) -> Vec<bool> {
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

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    /// Not run (not selected with `--only`, or the run stopped before it).
    Pending,
    Running,
    Done,
    /// Finished without its missing inputs (not cached).
    Partial,
    Failed,
    Blocked,
}

/// Runs a plan into the output folder `store` (opened with `Store::open` by the caller, which holds its
/// claim). Errors only for problems with the output folder itself; failing cells are in the summary.
pub fn run(
    plan: &Plan,
    store: &Store,
    root: &Path,
    opts: &Options,
    body: Body,
) -> Result<RunSummary, CellError> {
    let started = Instant::now();
    // The index describes a finished run: none stands while this one goes (or after it is killed).
    let index_path = store.cells().join(INDEX);
    std::fs::remove_file(&index_path)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| CellError::io(&index_path, &e))?;
    let bars = (opts.progress == Progress::Bars).then(indicatif::MultiProgress::new);
    // A line for the log and, without bars, for stderr.
    let report = |line: String| {
        if opts.progress == Progress::Lines {
            eprintln!("{line}");
        }
        store.log(&line);
    };
    let ctx = Ctx::new(plan, store, root, &opts.device, bars.as_ref());
    let wanted = selected(plan, opts.only.as_deref());
    let index = name_index(plan);
    // A cell whose folder does not hold what it wrote is recomputed, never read.
    let mut recomputed = Vec::new();
    let mut status: Vec<Status> = Vec::with_capacity(plan.cells.len());
    for c in &plan.cells {
        status.push(match store.verify(c) {
            Ok(_) => Status::Done,
            Err(Damage::NotFinished) => Status::Pending,
            Err(damage) => {
                store.log(&format!("recomputing {}: {damage}", c.name));
                let dir = store.cell_dir(c);
                std::fs::remove_dir_all(&dir).map_err(|e| CellError::io(&dir, &e))?;
                recomputed.push((c.name.clone(), damage.to_string()));
                Status::Pending
            }
        });
    }
    let mut outcome = RunSummary {
        skipped: (0..plan.cells.len())
            .filter(|i| wanted[*i] && status[*i] == Status::Done)
            .count(),
        recomputed,
        ..RunSummary::default()
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
                                if broken && !cell.task.tolerates_missing_inputs() {
                                    status[i] = Status::Blocked;
                                    outcome.blocked.push(cell.name.clone());
                                    report(format!("blocked {}", cell.name));
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
                        Some(exe) => execute_in_process(exe, store, cell, &opts.device),
                        None => execute_cell(&ctx, cell, body),
                    };
                    let secs = t.elapsed().as_secs_f64();
                    overall.inc(1);
                    let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                    let (status, outcome, stopped) = &mut *guard;
                    match result {
                        Ok(Completion::Done) => {
                            status[i] = Status::Done;
                            outcome.ran.push(cell.name.clone());
                            let key = store
                                .done(cell)
                                .and_then(|d| d.key)
                                .map_or(String::new(), |k| format!(": {k}"));
                            report(format!("done {} in {secs:.2} s{key}", cell.name));
                        }
                        Ok(Completion::Partial) => {
                            status[i] = Status::Partial;
                            outcome.ran.push(cell.name.clone());
                            report(format!("partial {} (inputs missing)", cell.name));
                        }
                        Err(e) => {
                            status[i] = Status::Failed;
                            report(format!("failed {}: {}", cell.name, e.summary()));
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
    write_index(plan, store, &status)?;
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

/// The index of cells by name, inside `cells/`.
const INDEX: &str = "index.json";

/// One cell in `cells/index.json`.
#[derive(serde::Serialize)]
struct IndexEntry<'a> {
    name: &'a str,
    id: &'a str,
    status: Status,
    /// Wall time when it ran, in this run or an earlier one.
    seconds: Option<f64>,
}

/// Writes `<out>/cells/index.json`: every cell of the plan by name, with its folder's id, how it stands
/// after this run and its wall time, so that a person finds a cell's outputs without hashing.
fn write_index(plan: &Plan, store: &Store, status: &[Status]) -> Result<(), CellError> {
    let entries: Vec<IndexEntry> = plan
        .cells
        .iter()
        .zip(status)
        .map(|(cell, &status)| IndexEntry {
            name: &cell.name,
            id: &cell.id,
            status,
            seconds: matches!(status, Status::Done)
                .then(|| store.done(cell).map(|d| d.seconds))
                .flatten(),
        })
        .collect();
    let json = serde_json::to_vec_pretty(&entries).unwrap_or_default();
    super::store::write_atomic(&store.cells().join(INDEX), &json)
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
