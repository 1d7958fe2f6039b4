//! The command line's vocabulary: subcommands and their arguments (clap). `main.rs` parses them and
//! calls the pipeline functions of the library.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "study",
    version,
    about = "Declarative robustness and confounder studies of image classifiers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Let the study read, include and write files outside its own folder (absolute paths, `..`).
    #[arg(long, global = true)]
    pub allow_outside: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check studies; exit 0 when all are valid, 1 otherwise.
    Check {
        files: Vec<PathBuf>,
        /// Output format of the diagnostics.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the execution plan of a study.
    Plan {
        file: PathBuf,
        /// Print the whole plan as JSON.
        #[arg(long)]
        json: bool,
        /// Mark each cell done or to run in this output folder (default: the study's `output`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Format studies in the canonical layout.
    Fmt {
        files: Vec<PathBuf>,
        /// Only check; exit 1 when a file would change.
        #[arg(long)]
        check: bool,
    },
    /// Read a study's data: counts per source and label, demographics, associations, splits.
    Data {
        file: PathBuf,
        /// Also write a preview grid (one row per source × label) of every synthetic dataset.
        #[arg(long)]
        preview: bool,
    },
    /// Whether a study can decide its hypotheses, before anything is trained: for every rule, the
    /// smallest true effect it detects with 80 % probability and the half-width of its bounds, from the
    /// counts its data gives.
    Power(PowerArgs),
    /// Run a study: every cell of its plan, skipping cells already finished, then write the report.
    Run(RunArgs),
    /// Run one cell of a plan written by `study run` (what a cluster job calls).
    RunCell {
        /// The plan.json in a run's output folder.
        #[arg(long)]
        plan: PathBuf,
        /// The cell's id or name.
        #[arg(long)]
        cell: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Render report.md, report.html and metrics.csv again from a run's results.json (a bundle's into a
    /// folder beside it named after it).
    Report {
        dir: PathBuf,
        /// Replace report files in a folder that no run or report of this tool wrote.
        #[arg(long)]
        force: bool,
    },
    /// Each cell of the run in an output folder: done, running, pending or failed (with its Slurm task).
    Status { out: PathBuf },
    /// Write the lock file: the content hash of every input file, beside the study (`<name>.lock`).
    Lock { file: PathBuf },
    /// How two studies differ in meaning: declarations added, removed, renamed or changed (field by
    /// field), and the plan cells whose results are no longer comparable. Exit 0 when equal in meaning.
    Diff(DiffArgs),
    /// Two runs' results side by side (output folders or results.json files): same study, inputs, tool
    /// and backend; verdicts that changed; each estimate identical, within numerical noise, consistent
    /// or different. Exit 0 when the replication holds.
    Compare(CompareArgs),
    /// One archive of the study, its includes and lock, and its finished run (results, reports, figures,
    /// plan): what a lab sends a reviewer. `compare` and `report` read it as a run.
    Bundle(BundleArgs),
    /// Explain a diagnostic code, with a wrong and a fixed example.
    Explain {
        /// A code such as E0012 (or `all` to list every code).
        code: String,
    },
}

#[derive(Args)]
pub struct RunArgs {
    pub file: PathBuf,
    /// Output folder (default: the study's `output`, relative to the study file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Cells run at the same time; above 1, each cell runs as a `study run-cell` process.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// After a failed cell, go on with every cell that does not need it.
    #[arg(long, conflicts_with = "fail_fast")]
    pub keep_going: bool,
    /// Stop at the first failed cell (the default).
    #[arg(long)]
    pub fail_fast: bool,
    /// Only cells whose name matches (`*` matches any text), and the cells they need.
    #[arg(long)]
    pub only: Option<String>,
    /// Refuse to start unless every input file matches the study's lock file.
    #[arg(long)]
    pub locked: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub slurm: SlurmArgs,
    /// Slurm: return once the cells are submitted (`study status OUT` follows them).
    #[arg(long, help_heading = "Slurm")]
    pub detach: bool,
    /// Slurm: print the sbatch scripts instead of submitting them.
    #[arg(long, help_heading = "Slurm")]
    pub dry_run: bool,
}

/// Where cells run, and what a Slurm cluster is asked for (`study run`, `study power --simulate`).
#[derive(Args)]
pub struct SlurmArgs {
    /// Where cells run: here, or as job arrays on a Slurm cluster (docs/cluster.md).
    #[arg(long, value_enum, default_value = "local")]
    pub executor: Executor,
    /// Slurm: the partition (`sbatch --partition`).
    #[arg(long, help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Slurm: the account to charge (`--account`).
    #[arg(long, help_heading = "Slurm")]
    pub account: Option<String>,
    /// Slurm: time limit per cell (`--time`, e.g. `4:00:00`).
    #[arg(long, help_heading = "Slurm")]
    pub time: Option<String>,
    /// Slurm: memory per cell (`--mem`, e.g. `16G`).
    #[arg(long, help_heading = "Slurm")]
    pub mem: Option<String>,
    /// Slurm: CPUs per cell (`--cpus-per-task`).
    #[arg(long, help_heading = "Slurm")]
    pub cpus_per_cell: Option<u32>,
    /// Slurm: GPUs per cell that uses one, with `--device cuda` (`--gres=gpu:N`).
    #[arg(long, default_value_t = 1, help_heading = "Slurm")]
    pub gpus_per_cell: u32,
    /// Slurm: one more `sbatch` argument (repeatable), e.g. `--sbatch-arg=--qos=long`.
    #[arg(
        long = "sbatch-arg",
        allow_hyphen_values = true,
        help_heading = "Slurm"
    )]
    pub sbatch_args: Vec<String>,
    /// Slurm: seconds between looks at the queue while waiting.
    #[arg(long, default_value_t = 5.0, help_heading = "Slurm")]
    pub poll: f64,
}

#[derive(Args)]
pub struct PowerArgs {
    pub file: PathBuf,
    /// A true value to evaluate the rules at: `REFERENCE=VALUE`, the reference as a rule reads it
    /// without `.lower`/`.upper` (`--assume 'main.auc(unseen)=0.75'`); repeatable.
    #[arg(long)]
    pub assume: Vec<String>,
    /// Run the study's plan on its synthetic twin N times per scenario and count the verdicts:
    /// detection and false-alarm rates with Wilson intervals.
    #[arg(long, value_name = "N")]
    pub simulate: Option<u32>,
    /// Scenarios of the twin (repeatable; default both): `shortcut` (each source marked, disease signal
    /// weak) and `none` (no source signature, disease signal present).
    #[arg(long, value_parser = ["shortcut", "none"])]
    pub scenario: Vec<String>,
    /// Image side of the twin's phantoms and preprocessing (default: the study's).
    #[arg(long)]
    pub size: Option<u32>,
    /// Epochs of every training of the twin (default: the study's).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Folder of the twin's runs, `power.json` and `power.html` (default: the study's output + `/power`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cells run at the same time within each replicate.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

#[derive(Args)]
pub struct DiffArgs {
    pub first: PathBuf,
    pub second: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Args)]
pub struct CompareArgs {
    pub first: PathBuf,
    pub second: PathBuf,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: CompareFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Markdown,
    Html,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Executor {
    Local,
    Slurm,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `study bundle`'s arguments.
#[derive(clap::Args, Debug)]
pub struct BundleArgs {
    pub file: PathBuf,
    /// The run's output folder (default: the study's `output`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where to write the archive (default: `<out>/bundle.zip`); an existing file is replaced only
    /// when it is a bundle.
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// Replace the file at `--to` whatever it is.
    #[arg(long)]
    pub force: bool,
}
