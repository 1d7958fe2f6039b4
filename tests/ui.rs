//! Every invalid study in `tests/ui/` is a test of its own (`cargo test --test ui -- NAME` runs one, and
//! every differing snapshot is reported, not just the first): it must report the code its first line names
//! (`// expect: E0012`) and print exactly its snapshot in `tests/ui/snapshots/`.

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use study::diagnostics::{Code, Severity, Style, render_all};

fn cases() -> Vec<PathBuf> {
    // Relative to the package root (where cargo runs tests), as the snapshots show the paths.
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/ui")
        .expect("tests/ui exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "study"))
        .collect();
    files.sort();
    files
}

fn expected_code(path: &Path) -> Result<Code, Failed> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().next().unwrap_or("");
    let code = first
        .strip_prefix("// expect: ")
        .ok_or_else(|| format!("{} lacks `// expect: CODE`", path.display()))?;
    Ok(Code::parse(code).ok_or_else(|| format!("{}: unknown code {code}", path.display()))?)
}

fn case_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("case")
        .to_string()
}

/// One case: its code among the diagnostics, validity that matches the code's severity, a label on every
/// diagnostic, and the rendered text equal to the snapshot.
fn check_case(path: &Path) -> Result<(), Failed> {
    let code = expected_code(path)?;
    let loaded = study::load(path);
    let codes: Vec<Code> = loaded.diagnostics.items.iter().map(|d| d.code).collect();
    if !codes.contains(&code) {
        return Err(format!("expected {code}, got {codes:?}").into());
    }
    match code.severity() {
        Severity::Error if loaded.study.is_some() => {
            return Err("an error must make the study invalid".into());
        }
        Severity::Warning if loaded.study.is_none() => {
            return Err("a warning must not make the study invalid".into());
        }
        _ => {}
    }
    if let Some(d) = loaded
        .diagnostics
        .items
        .iter()
        .find(|d| d.labels.is_empty())
    {
        return Err(format!("{} has no label", d.code).into());
    }
    let rendered = render_all(&loaded.diagnostics, &loaded.sources, Style::plain());
    insta::with_settings!({ snapshot_path => "ui/snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(case_name(path), rendered);
    });
    Ok(())
}

fn every_code_has_a_case() -> Result<(), Failed> {
    let covered: Vec<Code> = cases()
        .iter()
        .map(|p| expected_code(p))
        .collect::<Result<_, _>>()?;
    // A file over 16 MiB cannot live in the repository (tests/parse_robustness.rs covers it); data and
    // run codes come from reading data and running, not from the study text (tests/data.rs and
    // tests/run.rs cover them).
    let missing: Vec<String> = Code::ALL
        .iter()
        .filter(|c| **c != Code::TooLarge && !c.is_data() && !c.is_run())
        .filter(|c| !covered.contains(c))
        .map(|c| c.to_string())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("no ui case for {}", missing.join(", ")).into())
    }
}

fn every_code_has_an_explanation_with_examples() -> Result<(), Failed> {
    let lacking: Vec<String> = Code::ALL
        .iter()
        .filter(|c| !(c.explanation().contains("Wrong") && c.explanation().contains("Fixed")))
        .map(|c| c.to_string())
        .collect();
    if lacking.is_empty() {
        Ok(())
    } else {
        Err(format!("explanations without examples: {}", lacking.join(", ")).into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let cases = cases();
    let mut trials = vec![
        Trial::test("every_code_has_a_case", every_code_has_a_case),
        Trial::test(
            "every_code_has_an_explanation_with_examples",
            every_code_has_an_explanation_with_examples,
        ),
        Trial::test("there_are_cases", {
            let n = cases.len();
            move || match n {
                n if n >= 30 => Ok(()),
                n => Err(format!("only {n} ui cases").into()),
            }
        }),
    ];
    trials.extend(cases.into_iter().map(|path| {
        Trial::test(format!("case::{}", case_name(&path)), move || {
            check_case(&path)
        })
    }));
    libtest_mimic::run(&args, trials).exit();
}
