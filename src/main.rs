//! The `study` command line. Each subcommand is a thin layer over the library's pipeline functions.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use study::diagnostics::{self, Code, Style};
use study::exec::{CellError, Device, Options};
use study::source::SourceMap;
use study::study::Study;

#[derive(Parser)]
#[command(
    name = "study",
    version,
    about = "Declarative robustness and confounder studies of image classifiers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Run a study: every cell of its plan, skipping cells already finished, then write the report.
    Run {
        file: PathBuf,
        /// Output folder (default: the study's `output`, relative to the study file).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `cpu`, `cuda` or `cuda:N`.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Cells run at the same time; above 1, each cell runs as a `study run-cell` process.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// After a failed cell, go on with every cell that does not need it.
        #[arg(long, conflicts_with = "fail_fast")]
        keep_going: bool,
        /// Stop at the first failed cell (the default).
        #[arg(long)]
        fail_fast: bool,
        /// Only cells whose name matches (`*` matches any text), and the cells they need.
        #[arg(long)]
        only: Option<String>,
        /// Refuse to start unless every input file matches the study's lock file.
        #[arg(long)]
        locked: bool,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
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
    /// Render report.md, report.html and metrics.csv again from a run's results.json.
    Report { dir: PathBuf },
    /// Write the lock file: the content hash of every input file, beside the study (`<name>.lock`).
    Lock { file: PathBuf },
    /// Explain a diagnostic code, with a wrong and a fixed example.
    Explain {
        /// A code such as E0012 (or `all` to list every code).
        code: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files, format } => check(&files, format),
        Command::Plan { file, json } => plan(&file, json),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Data { file, preview } => data(&file, preview),
        Command::Run {
            file,
            out,
            device,
            jobs,
            keep_going,
            fail_fast: _,
            only,
            locked,
            quiet,
        } => run(&file, out, &device, jobs, keep_going, only, locked, quiet),
        Command::RunCell {
            plan,
            cell,
            out,
            device,
        } => run_cell(&plan, &cell, &out, &device),
        Command::Report { dir } => report(&dir),
        Command::Lock { file } => lock(&file),
        Command::Explain { code } => explain(&code),
    }
}

/// Prints a run-stage error against the study's sources.
fn report_error(e: &CellError, s: &Study, sources: &mut SourceMap) {
    let diags = e.to_diagnostics(s, sources);
    eprint!("{}", diagnostics::render_all(&diags, sources, style()));
}

#[allow(clippy::too_many_arguments)]
fn run(
    file: &Path,
    out: Option<PathBuf>,
    device: &str,
    jobs: usize,
    keep_going: bool,
    only: Option<String>,
    locked: bool,
    quiet: bool,
) -> ExitCode {
    let Some((mut loaded, s)) = load_valid(file) else {
        return ExitCode::from(1);
    };
    let root = study::study_root(file);
    let checked = Device::parse(device)
        .and_then(|d| d.probe().map(|_| d))
        .and_then(|d| Ok((d, locked.then(|| study::check_lock(file, &s)).transpose()?)));
    let device = match checked {
        Ok((device, lock)) => {
            if let Some(lock) = lock {
                let path = study::lock_path(file);
                eprintln!(
                    "inputs match {} ({} files)",
                    path.display(),
                    lock.files.len()
                );
            }
            device
        }
        Err(e) => {
            report_error(&e, &s, &mut loaded.sources);
            return ExitCode::from(1);
        }
    };
    let plan = study::plan(&s);
    let out = out.unwrap_or_else(|| root.join(&s.output));
    let options = Options {
        out: out.clone(),
        device,
        jobs,
        keep_going,
        only,
        progress: !quiet && std::io::stderr().is_terminal(),
        // Several jobs run cells as processes of their own, so that trainings run in parallel.
        executable: (jobs > 1).then(|| std::env::current_exe().ok()).flatten(),
    };
    let summary = match study::run(&plan, &root, &options) {
        Ok(o) => o,
        Err(e) => {
            report_error(&e, &s, &mut loaded.sources);
            return ExitCode::from(1);
        }
    };
    for (_, e) in &summary.failed {
        report_error(e, &s, &mut loaded.sources);
    }
    for (cell, _) in &summary.failed {
        eprintln!("failed: {cell}");
    }
    if !summary.blocked.is_empty() {
        eprintln!(
            "not run ({} cells) because a cell they need failed",
            summary.blocked.len()
        );
    }
    eprintln!(
        "{} cell(s) run, {} already done, {} failed in {:.1} s",
        summary.ran.len(),
        summary.skipped,
        summary.failed.len(),
        summary.seconds
    );
    if let Some(verdicts) = study::verdicts(&out) {
        for v in &verdicts {
            println!(
                "{}: {} ({})",
                v.hypothesis,
                format!("{:?}", v.outcome).to_lowercase(),
                v.reason
            );
        }
        println!("report: {}", out.join("report.md").display());
    }
    exit(summary.failed.is_empty())
}

fn run_cell(plan: &Path, cell: &str, out: &Path, device: &str) -> ExitCode {
    let result = Device::parse(device)
        .and_then(|d| d.probe().map(|_| d))
        .and_then(|d| study::run_cell(plan, cell, out, &d));
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    // Without the study's sources, the diagnostic names the declaration's file and line.
    let bytes = std::fs::read(plan).unwrap_or_default();
    match serde_json::from_slice::<study::exec::store::PlanFile>(&bytes) {
        Ok(f) => report_error(&e, &f.plan.study, &mut SourceMap::new()),
        Err(_) => eprintln!("{}", e.summary()),
    }
    ExitCode::from(1)
}

fn report(dir: &Path) -> ExitCode {
    match study::report(dir) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", dir.join(f).display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.summary());
            ExitCode::from(1)
        }
    }
}

fn lock(file: &Path) -> ExitCode {
    let Some((mut loaded, s)) = load_valid(file) else {
        return ExitCode::from(1);
    };
    match study::lock(file, &s) {
        Ok((path, lock)) => {
            println!(
                "wrote {} ({} input files)",
                path.display(),
                lock.files.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            report_error(&e, &s, &mut loaded.sources);
            ExitCode::from(1)
        }
    }
}

/// Loads a study and prints its diagnostics; the study when it is valid.
fn load_valid(file: &Path) -> Option<(study::LoadedStudy, Study)> {
    let mut loaded = study::load(file);
    eprint!(
        "{}",
        diagnostics::render_all(&loaded.diagnostics, &loaded.sources, style())
    );
    let s = loaded.study.take()?;
    Some((loaded, s))
}

/// Exit 0 on success, 1 otherwise.
fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn style() -> Style {
    let tty = std::io::stderr().is_terminal();
    Style {
        color: tty && std::env::var_os("NO_COLOR").is_none(),
        unicode: tty,
        width: 100,
    }
}

fn check(files: &[PathBuf], format: Format) -> ExitCode {
    if files.is_empty() {
        eprintln!("study check: give at least one study file");
        return ExitCode::from(2);
    }
    let mut valid = true;
    let mut json = Vec::new();
    for file in files {
        let loaded = study::load(file);
        valid &= loaded.study.is_some();
        match format {
            Format::Text => {
                eprint!("{}", diagnostics::render_all(&loaded.diagnostics, &loaded.sources, style()));
                if let Some(s) = &loaded.study {
                    eprintln!("{}: ok ({} fingerprint {})", file.display(), s.name, &study::plan::fingerprint(s)[..16]);
                }
            }
            Format::Json => json.push(serde_json::json!({
                "file": file.display().to_string(),
                "valid": loaded.study.is_some(),
                "fingerprint": loaded.study.as_ref().map(study::plan::fingerprint),
                "diagnostics": loaded.diagnostics.items.iter().map(|d| diagnostics::to_json(d, &loaded.sources)).collect::<Vec<_>>(),
            })),
        }
    }
    if let Format::Json = format {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    }
    exit(valid)
}

fn plan(file: &Path, json: bool) -> ExitCode {
    let Some((_, s)) = load_valid(file) else {
        return ExitCode::from(1);
    };
    let plan = study::plan(&s);
    if json {
        match serde_json::to_string_pretty(&plan) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cannot serialise the plan: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", study::plan::summary(&plan));
    }
    ExitCode::SUCCESS
}

fn fmt(files: &[PathBuf], check_only: bool) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for file in files {
        match study::syntax::format::format_path(file) {
            Ok((original, formatted)) if original == formatted => {}
            Ok((_, formatted)) if check_only => {
                println!("{} would be reformatted", file.display());
                let _ = formatted;
                status = ExitCode::from(1);
            }
            Ok((_, formatted)) => {
                // Write next to the file, then rename: a failure never leaves half a study behind.
                let tmp = file.with_extension("study.fmt-tmp");
                let written =
                    std::fs::write(&tmp, formatted).and_then(|_| std::fs::rename(&tmp, file));
                if let Err(e) = written {
                    let _ = std::fs::remove_file(&tmp);
                    eprintln!("cannot write {}: {e}", file.display());
                    status = ExitCode::from(1);
                } else {
                    println!("formatted {}", file.display());
                }
            }
            Err((sources, diags)) => {
                eprint!("{}", diagnostics::render_all(&diags, &sources, style()));
                status = ExitCode::from(1);
            }
        }
    }
    status
}

fn data(file: &Path, preview: bool) -> ExitCode {
    let Some((mut loaded, s)) = load_valid(file) else {
        return ExitCode::from(1);
    };
    let ctx = study::data_context(file, &s);
    let preview_dir = preview.then(|| ctx.root.join(&s.output));
    let (text, problems) = study::data::summary::report(&s, &ctx, preview_dir.as_deref());
    print!("{text}");
    let ok = problems.is_empty();
    if !ok {
        report_error(&CellError::Data(problems), &s, &mut loaded.sources);
    }
    exit(ok)
}

fn explain(code: &str) -> ExitCode {
    if code.eq_ignore_ascii_case("all") {
        for c in Code::ALL {
            println!("{}  {}", c, c.title());
        }
        return ExitCode::SUCCESS;
    }
    match Code::parse(code) {
        Some(c) => {
            println!("{c}: {}\n\n{}", c.title(), c.explanation());
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("unknown code `{code}`; `study explain all` lists every code");
            ExitCode::from(2)
        }
    }
}
