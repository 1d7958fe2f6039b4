//! The `study` command line. Each subcommand is a thin layer over the library's pipeline functions.

use clap::Parser;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use study::cli::{Cli, Command, Format, RunArgs};
use study::diagnostics::{self, IntoDiagnostics, Style};
use study::exec::{CellError, Device, Options, Progress};
use study::source::{Reach, SourceMap};
use study::study::Study;
use study::syntax::format::{FormatError, Formatted, format_in_place};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let reach = match cli.allow_outside {
        true => Reach::Anywhere,
        false => Reach::StudyTree,
    };
    match cli.command {
        Command::Check { files, format } => check(&files, format, reach),
        Command::Plan { file, json, out } => plan(&file, json, out, reach),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Data { file, preview } => about(&file, reach, |s| data(&file, s, preview)),
        Command::Power(p) => about(&p.file, reach, |s| study::power_text(&p, s)),
        Command::Run(args) => run(args, reach),
        Command::RunCell {
            plan,
            cell,
            out,
            device,
        } => run_cell(&plan, &cell, &out, &device),
        Command::Report { dir, force } => report(&dir, force),
        Command::Status { out } => print_or_fail(study::exec::slurm::status(&out)),
        Command::Lock { file } => about(&file, reach, |s| study::lock_text(&file, s)),
        Command::Explain { code } => explain(&code),
        Command::Compare(c) => print_judged(study::compare_runs(&c.first, &c.second, c.format)),
        Command::Bundle(b) => match load_valid(&b.file, reach) {
            Some((loaded, s)) => print_or_fail(study::bundle_run(
                &b.file,
                &loaded.sources,
                &s,
                b.out,
                b.to,
                b.force,
            )),
            None => ExitCode::from(1),
        },
        Command::Diff(d) => diff(&d.first, &d.second, d.format, reach),
    }
}

/// Prints a run-stage error against the study's sources.
fn report_error(e: &CellError, s: &Study, sources: &mut SourceMap) {
    let diags = e.into_diagnostics(s, sources);
    print_diagnostics(&diags, sources);
}

fn run(args: RunArgs, reach: Reach) -> ExitCode {
    let file = &args.file;
    let Some((mut loaded, s)) = load_valid(file, reach) else {
        return ExitCode::from(1);
    };
    let root = study::study_root(file);
    let slurm = study::slurm_options(&args.slurm, args.detach);
    let out = args.out.unwrap_or_else(|| root.join(&s.output));
    let plan = study::plan(&s);
    // Cells sent to a cluster run on its nodes' devices, which this machine need not have.
    let device = match slurm {
        Some(_) => Device::parse(&args.device),
        None => Device::open(&args.device),
    };
    let started = device.and_then(|device| {
        let mut options = Options::new(&out);
        (options.device, options.slurm, options.only) = (device, slurm, args.only);
        if args.dry_run {
            print!("{}", study::slurm_dry_run(file, &s, &out, &options)?);
            std::process::exit(0);
        }
        let claimed = study::claim_hashing(&plan, &root, &out, args.locked)?;
        if args.locked {
            let lock = claimed.check_lock(file)?;
            let path = study::lock_path(file);
            eprintln!(
                "inputs match {} ({} files)",
                path.display(),
                lock.files.len()
            );
        }
        for line in claimed.changes.lines() {
            eprintln!("inputs since the last run: {line}");
        }
        options.jobs = args.jobs;
        options.keep_going = args.keep_going;
        options.progress = Progress::for_stderr(args.quiet);
        // Several jobs run cells as processes of their own, so that trainings run in parallel.
        options.executable = (args.jobs > 1)
            .then(|| std::env::current_exe().ok())
            .flatten();
        let summary = claimed.run(&options)?;
        Ok((summary, claimed.plan))
    });
    let (summary, plan) = match started {
        Ok(ran) => ran,
        Err(e) => {
            report_error(&e, &s, &mut loaded.sources);
            return ExitCode::from(1);
        }
    };
    for (_, e) in &summary.failed {
        report_error(e, &s, &mut loaded.sources);
    }
    summary.lines().iter().for_each(|l| eprintln!("{l}"));
    let closing = study::closing_lines(&plan, &out, &summary).unwrap_or_default();
    closing.iter().for_each(|l| println!("{l}"));
    exit(summary.failed.is_empty())
}

fn run_cell(plan: &Path, cell: &str, out: &Path, device: &str) -> ExitCode {
    let result = Device::open(device).and_then(|d| study::run_cell(plan, cell, out, &d));
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    // Without the study's sources, the diagnostic names the declaration's file and line.
    match study::planned_study(plan) {
        Some(s) => report_error(&e, &s, &mut SourceMap::new()),
        None => eprintln!(
            "{}{}",
            e.summary(),
            e.help_text()
                .map_or(String::new(), |h| format!("\n  help: {h}"))
        ),
    }
    ExitCode::from(1)
}

/// Prints a result's text, or its error.
fn print_or_fail(result: Result<String, CellError>) -> ExitCode {
    print_judged(result.map(|text| (text, true)))
}

/// Prints a result's text and exits 0 when it says so (1 when not, or on an error, which is printed).
fn print_judged(result: Result<(String, bool), CellError>) -> ExitCode {
    match result {
        Ok((text, ok)) => {
            print!("{text}");
            exit(ok)
        }
        Err(e) => {
            eprintln!("{}", e.summary());
            exit(false)
        }
    }
}

fn report(run: &Path, force: bool) -> ExitCode {
    let dir = study::report_dir(run);
    print_or_fail(study::report(run, force).map(|files| {
        let lines = files
            .iter()
            .map(|f| format!("wrote {}\n", dir.join(f).display()));
        lines.collect()
    }))
}

/// Loads a study and prints its diagnostics; the study when it is valid.
fn load_valid(file: &Path, reach: Reach) -> Option<(study::LoadedStudy, Study)> {
    let mut loaded = study::load_with(file, reach);
    print_diagnostics(&loaded.diagnostics, &loaded.sources);
    let s = loaded.study.take()?;
    Some((loaded, s))
}

/// Renders diagnostics to standard error.
fn print_diagnostics(diags: &study::diagnostics::Diagnostics, sources: &SourceMap) {
    eprint!("{}", diagnostics::render_all(diags, sources, style()));
}

/// Exit 0 on success, 1 otherwise.
fn exit(ok: bool) -> ExitCode {
    ExitCode::from(u8::from(!ok))
}

fn style() -> Style {
    let tty = std::io::stderr().is_terminal();
    Style {
        color: tty && std::env::var_os("NO_COLOR").is_none(),
        unicode: tty,
        width: 100,
    }
}

fn check(files: &[PathBuf], format: Format, reach: Reach) -> ExitCode {
    if files.is_empty() {
        eprintln!("study check: give at least one study file");
        return ExitCode::from(2);
    }
    let mut valid = true;
    let mut json = Vec::new();
    for file in files {
        let loaded = study::load_with(file, reach);
        valid &= loaded.study.is_some();
        match format {
            Format::Text => {
                print_diagnostics(&loaded.diagnostics, &loaded.sources);
                if let Some(s) = &loaded.study {
                    let fingerprint = study::plan::fingerprint(s);
                    eprintln!(
                        "{}: ok ({} fingerprint {})",
                        file.display(),
                        s.name,
                        &fingerprint[..16]
                    );
                }
            }
            Format::Json => json.push(loaded.to_json(file)),
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

fn plan(file: &Path, json: bool, out: Option<PathBuf>, reach: Reach) -> ExitCode {
    let Some((_, s)) = load_valid(file, reach) else {
        return ExitCode::from(1);
    };
    print_or_fail(study::plan_text(file, &s, json, out))
}

fn fmt(files: &[PathBuf], check_only: bool) -> ExitCode {
    let mut ok = true;
    for file in files {
        let result = format_in_place(file, check_only);
        match &result {
            Ok(Formatted::Unchanged) => {}
            Ok(Formatted::WouldChange) => println!("{} would be reformatted", file.display()),
            Ok(Formatted::Written) => println!("formatted {}", file.display()),
            Err(FormatError::Study(sources, diags)) => print_diagnostics(diags, sources),
            Err(FormatError::Write(e)) => eprintln!("cannot write {}: {e}", file.display()),
        }
        ok &= matches!(result, Ok(Formatted::Unchanged | Formatted::Written));
    }
    exit(ok)
}

fn data(file: &Path, s: &Study, preview: bool) -> (String, Option<CellError>) {
    let ctx = study::data_context(file, s);
    let preview_dir = preview.then(|| ctx.root.join(&s.output));
    let (text, problems) = study::data::summary::report(s, &ctx, preview_dir.as_deref());
    (
        text,
        (!problems.is_empty()).then_some(CellError::Data(problems)),
    )
}

/// Prints what `f` says of a valid study, then the error it met against the study's sources.
fn about(
    file: &Path,
    reach: Reach,
    f: impl FnOnce(&Study) -> (String, Option<CellError>),
) -> ExitCode {
    let Some((mut loaded, s)) = load_valid(file, reach) else {
        return ExitCode::from(1);
    };
    let (text, error) = f(&s);
    print!("{text}");
    if let Some(e) = &error {
        report_error(e, &s, &mut loaded.sources);
    }
    exit(error.is_none())
}

/// `study diff`: exit 0 when the studies mean the same, 1 when not, 2 when one does not check.
fn diff(first: &Path, second: &Path, format: Format, reach: Reach) -> ExitCode {
    let (Some((la, a)), Some((lb, b))) = (load_valid(first, reach), load_valid(second, reach))
    else {
        return ExitCode::from(2);
    };
    let (sides, json) = (
        [(first, &la, &a), (second, &lb, &b)],
        format == Format::Json,
    );
    print_judged(Ok(study::diff_text(sides, json, style())))
}

fn explain(code: &str) -> ExitCode {
    match diagnostics::explain(code) {
        Ok(text) => print!("{text}"),
        Err(why) => {
            eprintln!("{why}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
