//! Every study shipped in `studies/` is valid, formats to a fixed point with the same fingerprint, and
//! plans deterministically.

use std::path::PathBuf;
use study::source::FileId;
use study::syntax::format::format_text;

fn study_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from("studies")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("studies/ exists").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "study") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no studies found");
    out
}

/// Loads a shipped study. `real-cxr` and `cross-source` read the shared X-rays beside the project, outside
/// their folder, so they are loaded as `--allow-outside` loads them (and refused without, which
/// `outside_data_needs_the_flag` checks).
fn load(path: &std::path::Path) -> study::LoadedStudy {
    let reach = if path.ends_with("real-cxr.study") || path.ends_with("cross-source.study") {
        study::source::Reach::Anywhere
    } else {
        study::source::Reach::StudyTree
    };
    study::load_with(path, reach)
}

#[test]
fn outside_data_needs_the_flag() {
    let loaded = study::load(std::path::Path::new("studies/real-cxr.study"));
    let codes = loaded.diagnostics.codes();
    assert_eq!(codes, ["E0035", "E0035"], "one per dataset path");
}

/// Root studies (those with a header); library files under studies/lib are checked through them.
fn root_studies() -> Vec<PathBuf> {
    study_files()
        .into_iter()
        .filter(|p| !p.starts_with("studies/lib"))
        .collect()
}

#[test]
fn every_study_checks_without_diagnostics() {
    for path in root_studies() {
        let loaded = load(&path);
        let rendered = study::diagnostics::render_all(
            &loaded.diagnostics,
            &loaded.sources,
            study::diagnostics::Style::plain(),
        );
        assert!(
            loaded.study.is_some(),
            "{} is invalid:\n{rendered}",
            path.display()
        );
        assert!(
            loaded.diagnostics.items.is_empty(),
            "{} has warnings:\n{rendered}",
            path.display()
        );
    }
}

#[test]
fn every_study_is_formatted_and_formatting_is_a_fixed_point() {
    for path in study_files() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let once =
            format_text(FileId(0), &text).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let twice = format_text(FileId(0), &once).expect("formatted text parses");
        assert_eq!(once, twice, "{}: fmt is not idempotent", path.display());
        assert_eq!(
            text,
            once,
            "{} is not in canonical format (run `study fmt`)",
            path.display()
        );
    }
}

#[test]
fn formatting_keeps_the_fingerprint_and_every_comment() {
    for path in root_studies() {
        let text = std::fs::read_to_string(&path).expect("readable");
        // Scramble the layout: collapse indentation and add blank lines; the meaning is unchanged.
        let scrambled: String = text.lines().map(|l| format!("{}\n\n", l.trim())).collect();
        let dir = path.parent().map(PathBuf::from);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x.study");
        let original = load(&path).study.expect("valid");
        let reformatted = format_text(FileId(0), &scrambled).expect("scrambled text parses");
        let reach = study::source::Reach::Anywhere; // what `load` allowed the original
        let again = study::load_bytes_with(name, reformatted.as_bytes(), dir.as_deref(), reach)
            .study
            .expect("still valid");
        assert_eq!(
            study::plan::fingerprint(&original),
            study::plan::fingerprint(&again),
            "{}",
            path.display()
        );
        let comments = |t: &str| {
            t.lines()
                .filter_map(|l| l.find("//").map(|i| l[i..].trim().to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            comments(&text),
            comments(&reformatted),
            "{}: comments lost or reordered",
            path.display()
        );
    }
}

#[test]
fn plan_json_is_valid_and_identical_across_runs() {
    for path in root_studies() {
        let a = study::plan::plan(&load(&path).study.expect("valid"));
        let b = study::plan::plan(&load(&path).study.expect("valid"));
        let ja = serde_json::to_string_pretty(&a).expect("serialises");
        let jb = serde_json::to_string_pretty(&b).expect("serialises");
        assert_eq!(ja, jb, "{}", path.display());
        let back: study::plan::Plan = serde_json::from_str(&ja).expect("plan JSON reads back");
        assert_eq!(back, a);
    }
}

#[test]
fn plan_cells_come_after_their_dependencies() {
    for path in root_studies() {
        let plan = study::plan::plan(&load(&path).study.expect("valid"));
        let mut seen = std::collections::HashSet::new();
        for cell in &plan.cells {
            for dep in &cell.deps {
                assert!(
                    seen.contains(dep.as_str()),
                    "{}: {} runs before its dependency {dep}",
                    path.display(),
                    cell.name
                );
            }
            assert!(
                seen.insert(cell.name.as_str()),
                "{}: cell {} twice",
                path.display(),
                cell.name
            );
        }
        assert_eq!(plan.cells.last().map(|c| c.name.as_str()), Some("report"));
    }
}
