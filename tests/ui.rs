//! Every invalid study in `tests/ui/` with a snapshot of exactly what the tool prints for it.
//! Each file names the code it must produce on its first line: `// expect: E0012`.

use std::path::{Path, PathBuf};
use study::diagnostics::{Code, Style, render_all};

fn cases() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/ui")
        .expect("tests/ui exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "study"))
        .collect();
    files.sort();
    files
}

fn expected_code(path: &Path) -> Code {
    let bytes = std::fs::read(path).expect("readable case");
    let first = String::from_utf8_lossy(&bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let code = first
        .strip_prefix("// expect: ")
        .unwrap_or_else(|| panic!("{} lacks `// expect: CODE`", path.display()));
    Code::parse(code).unwrap_or_else(|| panic!("{}: unknown code {code}", path.display()))
}

#[test]
fn every_case_reports_its_code_and_matches_its_snapshot() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} ui cases", cases.len());
    let mut wrong = Vec::new();
    for path in cases {
        let code = expected_code(&path);
        let loaded = study::load(&path);
        let codes: Vec<Code> = loaded.diagnostics.items.iter().map(|d| d.code).collect();
        if !codes.contains(&code) {
            wrong.push(format!(
                "{}: expected {code}, got {codes:?}",
                path.display()
            ));
            continue;
        }
        if code.severity() == study::diagnostics::Severity::Error {
            assert!(
                loaded.study.is_none(),
                "{}: an error must make the study invalid",
                path.display()
            );
        } else {
            assert!(
                loaded.study.is_some(),
                "{}: a warning must not make the study invalid",
                path.display()
            );
        }
        for d in &loaded.diagnostics.items {
            assert!(
                !d.labels.is_empty(),
                "{}: {} has no label",
                path.display(),
                d.code
            );
        }
        let rendered = render_all(&loaded.diagnostics, &loaded.sources, Style::plain());
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("case")
            .to_string();
        insta::with_settings!({ snapshot_path => "ui/snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, rendered);
        });
    }
    assert!(
        wrong.is_empty(),
        "cases without their code:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_code_has_a_case() {
    let covered: Vec<Code> = cases().iter().map(|p| expected_code(p)).collect();
    for code in Code::ALL {
        // A file over 16 MiB cannot live in the repository (tests/parse_robustness.rs covers it); data
        // and run codes come from reading data and running, not from the study text (tests/data.rs and
        // tests/run.rs cover them).
        if *code == Code::TooLarge || code.is_data() || code.is_run() {
            continue;
        }
        assert!(covered.contains(code), "no ui case for {code}");
    }
}

#[test]
fn every_code_has_an_explanation_with_examples() {
    for code in Code::ALL {
        let text = code.explanation();
        assert!(
            text.contains("Wrong") && text.contains("Fixed"),
            "{code} explanation lacks examples"
        );
    }
}
