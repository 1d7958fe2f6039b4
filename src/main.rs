//! The `study` command line. Each subcommand is a thin layer over the library's pipeline functions.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use study::diagnostics::{self, Code, Style};

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
        Command::Explain { code } => explain(&code),
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
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn plan(file: &Path, json: bool) -> ExitCode {
    let loaded = study::load(file);
    eprint!(
        "{}",
        diagnostics::render_all(&loaded.diagnostics, &loaded.sources, style())
    );
    let Some(s) = loaded.study else {
        return ExitCode::from(1);
    };
    let plan = study::plan::plan(&s);
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
    let mut loaded = study::load(file);
    eprint!(
        "{}",
        diagnostics::render_all(&loaded.diagnostics, &loaded.sources, style())
    );
    let Some(s) = loaded.study.take() else {
        return ExitCode::from(1);
    };
    let root = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let ctx = study::data::DataContext {
        root: root.clone(),
        seed: s.seed,
    };
    let preview_dir = preview.then(|| root.join(&s.output));
    let (text, problems) = study::data::summary::report(&s, &ctx, preview_dir.as_deref());
    print!("{text}");
    if problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    let diags = study::data::problems_to_diagnostics(&problems, &s, &mut loaded.sources);
    eprint!(
        "{}",
        diagnostics::render_all(&diags, &loaded.sources, style())
    );
    ExitCode::from(1)
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
