//! The Slurm executor: the cells a run still needs go to a Slurm cluster as job arrays, one array task per
//! `study run-cell --plan <out>/plan.json --cell <id>`.
//!
//! Cells are grouped in waves: a cell comes one wave after the latest pending cell it needs. Each wave is
//! one array (two when some of its cells need the accelerator and others do not), and a wave starts once
//! every array of the wave before it has ended (`--dependency=afterany:…`). `afterany` rather than
//! `afterok`: a failed task does not cancel the independent cells of the next wave; a cell whose inputs
//! did not finish refuses to start (`run-cell` checks), and the submitter names it blocked. The arrays it
//! submitted are kept in `<out>/slurm/jobs.json`, so that a later command (`study status`, or the same
//! `study run` again) knows which cells are queued or running and re-submits only what is missing.

use super::context::Ctx;
use super::device::Device;
use super::error::CellError;
use super::options::{Options, Progress, SlurmOptions};
use super::process::reported_failure;
use super::scheduler::{RunSummary, selected};
use super::store::Store;
use crate::diagnostics::Code;
use crate::plan::{Cell, Plan, Task};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The folder of the output folder that holds the scripts, the job list and the tasks' logs.
pub const SLURM_DIR: &str = "slurm";

/// One submitted array: its job id and its cells, task `k` running `cells[k]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Submitted {
    pub job: String,
    pub wave: usize,
    pub gpu: bool,
    pub cells: Vec<String>,
    pub script: PathBuf,
}

/// An array to submit: plan indices of its cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub wave: usize,
    pub gpu: bool,
    pub cells: Vec<usize>,
}

/// Whether a cell computes on the accelerator: segmenters, trainings, evaluations, and the probes that
/// run models (saliency, fine-tuning). The others read files and count.
pub fn uses_accelerator(plan: &Plan, cell: &Cell) -> bool {
    match &cell.task {
        Task::Segmenter { .. } | Task::Train { .. } | Task::Evaluate { .. } => true,
        Task::Probe { probe } => plan.study.probes.get(probe).is_some_and(|p| {
            matches!(
                p.kind,
                crate::study::ProbeKind::Saliency { .. } | crate::study::ProbeKind::Finetune { .. }
            )
        }),
        _ => false,
    }
}

/// The arrays that run the cells marked in `wanted`, in waves; with a CPU device every array is a CPU one.
pub fn arrays(plan: &Plan, wanted: &[bool], device: &Device) -> Vec<Array> {
    let index: HashMap<&str, usize> = plan
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    // Plan order puts dependencies first, so one pass gives every cell its wave.
    let mut wave = vec![0usize; plan.cells.len()];
    for (i, c) in plan.cells.iter().enumerate() {
        wave[i] = c
            .deps
            .iter()
            .filter_map(|d| index.get(d.as_str()))
            .filter(|d| wanted[**d])
            .map(|d| wave[*d] + 1)
            .max()
            .unwrap_or(0);
    }
    let gpu_device = matches!(device, Device::Cuda(_));
    let mut out: Vec<Array> = Vec::new();
    for (i, c) in plan.cells.iter().enumerate().filter(|(i, _)| wanted[*i]) {
        let gpu = gpu_device && uses_accelerator(plan, c);
        match out.iter_mut().find(|a| a.wave == wave[i] && a.gpu == gpu) {
            Some(a) => a.cells.push(i),
            None => out.push(Array {
                wave: wave[i],
                gpu,
                cells: vec![i],
            }),
        }
    }
    out.sort_by_key(|a| (a.wave, a.gpu));
    out
}

/// Single-quoted for bash.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `sbatch` script of an array; `after` are the job ids (or placeholders) it waits for.
pub fn script(
    plan: &Plan,
    array: &Array,
    out: &Path,
    exe: &Path,
    opts: &SlurmOptions,
    after: &[String],
) -> String {
    let out_text = out.display().to_string();
    let mut s = String::from("#!/bin/bash\n");
    let mut directive = |d: String| s.push_str(&format!("#SBATCH {d}\n"));
    let kind = if array.gpu { "gpu" } else { "cpu" };
    directive(format!(
        "--job-name=study-{}-w{}-{kind}",
        plan.study.name, array.wave
    ));
    directive(format!("--array=0-{}", array.cells.len() - 1));
    directive(format!("--output={out_text}/{SLURM_DIR}/logs/%A_%a.log"));
    directive("--ntasks=1".into());
    if let Some(p) = &opts.partition {
        directive(format!("--partition={p}"));
    }
    if let Some(a) = &opts.account {
        directive(format!("--account={a}"));
    }
    if let Some(t) = &opts.time {
        directive(format!("--time={t}"));
    }
    if let Some(m) = &opts.mem {
        directive(format!("--mem={m}"));
    }
    if let Some(c) = opts.cpus {
        directive(format!("--cpus-per-task={c}"));
    }
    if array.gpu {
        directive(format!("--gres=gpu:{}", opts.gpus.max(1)));
    }
    if !after.is_empty() {
        directive(format!("--dependency=afterany:{}", after.join(":")));
    }
    for e in &opts.extra {
        directive(e.clone());
    }
    s.push_str("set -eu\ncells=(\n");
    for i in &array.cells {
        let c = &plan.cells[*i];
        s.push_str(&format!("  {}  # {}\n", c.id, c.name));
    }
    // On the node the allocation's first GPU is the cell's.
    let device_arg = if array.gpu { "cuda:0" } else { "cpu" };
    s.push_str(&format!(
        ")\nexec {} run-cell --plan {} --cell \"${{cells[$SLURM_ARRAY_TASK_ID]}}\" --device {device_arg} --out {}\n",
        quoted(&exe.display().to_string()),
        quoted(&format!("{out_text}/plan.json")),
        quoted(&out_text)
    ));
    s
}

/// Every script `--dry-run` shows for the cells not finished in `out`, with `$WAVE_<k>` standing for the
/// job ids a submission would wait for.
pub fn dry_run(plan: &Plan, out: &Path, exe: &Path, run: &Options, opts: &SlurmOptions) -> String {
    let store = Store::new(out);
    let only = selected(plan, run.only.as_deref());
    let wanted: Vec<bool> = plan
        .cells
        .iter()
        .zip(only)
        .map(|(c, o)| o && !store.is_done(c))
        .collect();
    let device = &run.device;
    let all = arrays(plan, &wanted, device);
    if all.is_empty() {
        return format!(
            "every cell is done in {}: nothing to submit\n",
            out.display()
        );
    }
    let mut text = String::new();
    for (k, a) in all.iter().enumerate() {
        let after: Vec<String> = placeholders(&all, a.wave);
        text.push_str(&format!(
            "# array {} of {}: wave {}, {} cell(s){}\n",
            k + 1,
            all.len(),
            a.wave,
            a.cells.len(),
            if a.gpu { " on GPUs" } else { "" }
        ));
        text.push_str(&script(plan, a, out, exe, opts, &after));
        text.push('\n');
    }
    text
}

fn placeholders(all: &[Array], wave: usize) -> Vec<String> {
    all.iter()
        .filter(|b| wave > 0 && b.wave == wave - 1)
        .map(|b| format!("$WAVE_{}_{}", b.wave, if b.gpu { "GPU" } else { "CPU" }))
        .collect()
}

fn slurm_error(message: String) -> CellError {
    CellError::fault(Code::Slurm, message)
}

/// Runs a Slurm command and returns its standard output.
fn command(program: &str, args: &[&str]) -> Result<String, CellError> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| {
            slurm_error(format!("cannot run `{program}`: {e}"))
                .help("run on a machine where Slurm's commands (sbatch, squeue) are on PATH")
        })?;
    if !output.status.success() {
        return Err(slurm_error(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The state of every queued or running array task of this user, by `job_task`.
pub fn queue() -> Result<HashMap<String, String>, CellError> {
    let text = command("squeue", &["--me", "-h", "-r", "-o", "%i %T"])?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (id, state) = l.trim().split_once(' ')?;
            Some((id.to_string(), state.to_string()))
        })
        .collect())
}

/// How many times in a row the queue may not answer while a run waits before the run gives up.
const QUEUE_TRIES: u32 = 5;

/// `queue`, asked again after a pause when the controller does not answer (a busy or restarting
/// controller should not end a wait of hours); the last error when it never answers.
fn queue_patiently(pause: Duration) -> Result<HashMap<String, String>, CellError> {
    let mut tries = 1;
    loop {
        match queue() {
            Ok(q) => return Ok(q),
            Err(e) if tries >= QUEUE_TRIES => return Err(e),
            Err(_) => {
                tries += 1;
                std::thread::sleep(pause.max(Duration::from_secs(1)) * tries);
            }
        }
    }
}

/// The last three lines of a task's log (read from its last 4 KiB, however long the log grew), joined.
fn log_tail(log: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::new();
    let read = file
        .seek(SeekFrom::Start(len.saturating_sub(4096)))
        .and_then(|_| file.take(4096).read_to_end(&mut bytes));
    if read.is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
}

/// The arrays submitted into `out`, oldest first.
pub fn submitted(out: &Path) -> Vec<Submitted> {
    crate::files::read_regular(
        &out.join(SLURM_DIR).join("jobs.json"),
        super::store::MAX_RECORD_BYTES,
    )
    .ok()
    .and_then(|b| serde_json::from_slice(&b).ok())
    .unwrap_or_default()
}

/// Each cell's latest array task (`job_task`), by cell name.
pub fn tasks(out: &Path) -> HashMap<String, String> {
    let mut out_map = HashMap::new();
    for s in submitted(out) {
        for (k, cell) in s.cells.iter().enumerate() {
            out_map.insert(cell.clone(), format!("{}_{k}", s.job));
        }
    }
    out_map
}

/// Submits the cells of the plan that are neither finished nor queued, then (unless detached) waits for
/// every array to end and says how each cell ended.
pub fn run(
    plan: &Plan,
    store: &Store,
    root: &Path,
    opts: &Options,
    slurm: &SlurmOptions,
    exe: &Path,
) -> Result<RunSummary, CellError> {
    let started = Instant::now();
    let out = store
        .root
        .canonicalize()
        .map_err(|e| CellError::io(&store.root, &e))?;
    let report = |line: String| {
        if opts.progress != Progress::Silent {
            eprintln!("{line}");
        }
        store.log(&line);
    };
    let done: Vec<bool> = plan.cells.iter().map(|c| store.is_done(c)).collect();
    let earlier = tasks(&out);
    let queued = queue()?;
    let active: Vec<bool> = plan
        .cells
        .iter()
        .map(|c| earlier.get(&c.name).is_some_and(|t| queued.contains_key(t)))
        .collect();
    // Cells still queued from an earlier submission are waited for, never submitted twice; what they
    // leave missing is submitted by the next run, once their dependants are no longer queued.
    let queued_earlier = active.iter().filter(|a| **a).count();
    let only = selected(plan, opts.only.as_deref());
    let wanted: Vec<bool> = (0..plan.cells.len())
        .map(|i| queued_earlier == 0 && only[i] && !done[i])
        .collect();
    if queued_earlier > 0 {
        report(format!(
            "{queued_earlier} cell(s) are queued from an earlier submission: waiting for them (run again \
             afterwards to submit what is still missing)"
        ));
    }
    let all = arrays(plan, &wanted, &opts.device);
    let dir = out.join(SLURM_DIR);
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| CellError::io(&dir, &e))?;
    let mut records = submitted(&out);
    let stamp = records.len();
    let mut jobs_of_wave: HashMap<usize, Vec<String>> = HashMap::new();
    for (k, a) in all.iter().enumerate() {
        let after = match a.wave {
            0 => Vec::new(),
            w => jobs_of_wave.get(&(w - 1)).cloned().unwrap_or_default(),
        };
        let text = script(plan, a, &out, exe, slurm, &after);
        let path = dir.join(format!(
            "{}-{k}-w{}-{}.sh",
            stamp,
            a.wave,
            if a.gpu { "gpu" } else { "cpu" }
        ));
        super::store::write_atomic(&path, text.as_bytes())?;
        let job = command("sbatch", &["--parsable", &path.display().to_string()])?
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        report(format!(
            "submitted wave {} ({} cell(s){}) as Slurm job {job}",
            a.wave,
            a.cells.len(),
            if a.gpu { " on GPUs" } else { "" }
        ));
        jobs_of_wave.entry(a.wave).or_default().push(job.clone());
        records.push(Submitted {
            job,
            wave: a.wave,
            gpu: a.gpu,
            cells: a
                .cells
                .iter()
                .map(|i| plan.cells[*i].name.clone())
                .collect(),
            script: path,
        });
        let bytes = serde_json::to_vec_pretty(&records).unwrap_or_default();
        super::store::write_atomic(&dir.join("jobs.json"), &bytes)?;
    }
    let mut summary = RunSummary {
        skipped: done.iter().filter(|d| **d).count(),
        ..RunSummary::default()
    };
    if slurm.detach {
        summary.detached = true;
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    // Wait for every array this run depends on, reporting cells as they finish.
    let mine = tasks(&out);
    let watched: Vec<usize> = (0..plan.cells.len())
        .filter(|i| !done[*i] && (wanted[*i] || earlier.contains_key(&plan.cells[*i].name)))
        .collect();
    let mut seen_done = vec![false; plan.cells.len()];
    loop {
        let queued = queue_patiently(slurm.poll)?;
        for &i in &watched {
            let c = &plan.cells[i];
            if !seen_done[i]
                && let Some(d) = store.done(c)
            {
                seen_done[i] = true;
                let key = d.key.map_or(String::new(), |k| format!(": {k}"));
                report(format!("done {} in {:.2} s{key}", c.name, d.seconds));
            }
        }
        let running = watched.iter().any(|i| {
            mine.get(&plan.cells[*i].name)
                .is_some_and(|t| queued.contains_key(t))
        });
        if !running {
            break;
        }
        std::thread::sleep(slurm.poll);
    }
    let ctx = Ctx::new(plan, store, root, &opts.device, None);
    for &i in &watched {
        let c = &plan.cells[i];
        if store.is_done(c) {
            summary.ran.push(c.name.clone());
            continue;
        }
        let needs_unfinished = c
            .deps
            .iter()
            .any(|d| ctx.cell(d).is_ok_and(|dep| !store.is_done(dep)));
        if needs_unfinished {
            summary.blocked.push(c.name.clone());
            continue;
        }
        let task = mine.get(&c.name).cloned().unwrap_or_default();
        let error = reported_failure(store, c).unwrap_or_else(|| {
            let log = dir.join("logs").join(format!("{task}.log"));
            let tail = log_tail(&log);
            slurm_error(format!(
                "Slurm task {task} of `{}` ended without a result (cancelled, out of time or memory, or \
                 the node could not start it){}",
                c.name,
                if tail.is_empty() { String::new() } else { format!(": {tail}") }
            ))
            .help(format!(
                "see {} and `sacct -j {task}`; the same command submits the cell again",
                log.display()
            ))
        });
        report(format!(
            "failed {} (Slurm task {task}): {}",
            c.name,
            error.summary()
        ));
        summary.failed.push((c.name.clone(), error));
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// `study status OUT`: each cell of the plan run into `out`, done, running, pending, failed or not
/// submitted, with its Slurm task where it has one.
pub fn status(out: &Path) -> Result<String, CellError> {
    let file = super::store::PlanFile::read(&out.join("plan.json"))?;
    let store = Store::new(out);
    let tasks = tasks(out);
    let queued = if tasks.is_empty() {
        HashMap::new()
    } else {
        queue()?
    };
    let mut counts: indexmap::IndexMap<&str, usize> = indexmap::IndexMap::new();
    let mut lines = Vec::new();
    for c in &file.plan.cells {
        let task = tasks.get(&c.name);
        let mut why = String::new();
        let state = if store.is_done(c) {
            "done"
        } else if let Some(s) = task.and_then(|t| queued.get(t)) {
            match s.as_str() {
                "RUNNING" | "COMPLETING" | "CONFIGURING" => "running",
                _ => "pending",
            }
        } else if let Some(e) = reported_failure(&store, c) {
            why = format!(": {}", e.summary());
            "failed"
        } else if task.is_some() {
            "ended without a result"
        } else {
            "to run"
        };
        *counts.entry(state).or_default() += 1;
        let job = task.map_or(String::new(), |t| format!("  (Slurm task {t})"));
        lines.push(format!("  {state:<8} {}{job}{why}", c.name));
    }
    let total: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    Ok(format!(
        "{} in {}: {}\n{}\n",
        file.plan.study.name,
        out.display(),
        total.join(", "),
        lines.join("\n")
    ))
}
