//! How a run goes: where its cells run (here, in processes, or on a Slurm cluster), what it shows, which
//! cells it runs.

use super::device::Device;
use std::path::PathBuf;
use std::time::Duration;

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
    /// What the run shows on stderr while it goes.
    pub progress: Progress,
    /// Run each cell as `EXECUTABLE run-cell …` in a process of its own (what a cluster executor does):
    /// with several jobs, trainings then run in parallel, each process with its own random generator.
    pub executable: Option<PathBuf>,
    /// Submit the cells to a Slurm cluster instead of running them here (with `executable` on its nodes).
    pub slurm: Option<SlurmOptions>,
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
            progress: Progress::Silent,
            executable: None,
            slurm: None,
        }
    }
}

/// What a run shows on stderr while it goes (`run.log` has every line whatever this is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Silent,
    /// One plain line per finished, partial or failed cell: for a log file or a pipe.
    Lines,
    /// Progress bars: for a terminal.
    Bars,
}

impl Progress {
    /// Bars on a terminal, lines elsewhere, nothing when `quiet`.
    pub fn for_stderr(quiet: bool) -> Progress {
        use std::io::IsTerminal;
        match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Progress::Silent,
            (false, true) => Progress::Bars,
            (false, false) => Progress::Lines,
        }
    }
}

/// What the cluster is asked for, in `sbatch`'s own words.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `--time` per cell (`HH:MM:SS`, `D-HH`).
    pub time: Option<String>,
    /// `--mem` per cell (`16G`).
    pub mem: Option<String>,
    /// `--cpus-per-task` per cell.
    pub cpus: Option<u32>,
    /// GPUs per cell that uses the accelerator (with `--device cuda`); `--gres=gpu:N`.
    pub gpus: u32,
    /// More `sbatch` arguments, as given (`--qos=long`).
    pub extra: Vec<String>,
    /// Submit and return instead of waiting.
    pub detach: bool,
    /// How often the queue is looked at while waiting.
    pub poll: Duration,
}
