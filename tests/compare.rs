//! `study compare`: two runs of the quickstart agree exactly; another seed agrees within its intervals;
//! the control study (no confound) differs and changes the verdict; a run whose numbers moved in the last
//! bits (what another backend does) agrees within numerical noise.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use study::report::compare::{Judgement, compare, judge};

/// A run of a study of `studies/` (its text edited by `edit`) into `<dir>/out`.
fn run(name: &str, edit: fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp");
    let studies = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies");
    let text = edit(std::fs::read_to_string(studies.join(name)).expect("the study"));
    let loaded = study::load_bytes(name, text.as_bytes(), Some(&studies));
    let plan = study::plan::plan(&loaded.study.expect("checks"));
    let out = dir.path().join("out");
    study::run(&plan, &studies, &study::exec::Options::new(&out)).expect("runs");
    dir
}

fn quickstart() -> PathBuf {
    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| run("quickstart.study", |t| t))
        .path()
        .join("out")
}

fn results(out: &Path) -> study::report::Document {
    study::read_results(out).expect("results")
}

#[test]
fn two_runs_of_the_quickstart_are_identical() {
    let again = run("quickstart.study", |t| t);
    let c = compare(&results(&quickstart()), &results(&again.path().join("out")));
    assert!(c.holds && c.same_study && c.same_inputs && c.same_tool);
    assert!(c.verdicts.is_empty());
    assert!(c.estimates.len() > 30);
    assert!(
        c.estimates
            .iter()
            .all(|p| p.judgement == Judgement::Identical)
    );
}

#[test]
fn another_seed_is_consistent_not_identical() {
    let other = run("quickstart.study", |t| t.replace("seed 7", "seed 8"));
    let c = compare(&results(&quickstart()), &results(&other.path().join("out")));
    assert!(!c.same_study, "the seed is part of the study");
    let count = |j| c.estimates.iter().filter(|p| p.judgement == j).count();
    assert!(
        count(Judgement::Consistent) > count(Judgement::Different),
        "{c:#?}"
    );
    assert!(count(Judgement::Identical) < c.estimates.len());
}

#[test]
fn the_control_differs_and_changes_the_verdict_and_the_command_says_so() {
    let dir = run("quickstart-control.study", |t| t);
    let control = dir.path().join("out");
    let c = compare(&results(&quickstart()), &results(&control));
    assert!(!c.holds);
    assert_eq!(c.verdicts.len(), 1);
    assert_eq!(c.verdicts[0].first.as_deref(), Some("confirmed"));
    assert_ne!(c.verdicts[0].second.as_deref(), Some("confirmed"));
    let auc = c
        .estimates
        .iter()
        .find(|p| p.target == "main" && p.name == "auc(seen) at crop=full")
        .expect("auc(seen)");
    assert_eq!(auc.judgement, Judgement::Different);
    let ran = std::process::Command::new(env!("CARGO_BIN_EXE_study"))
        .arg("compare")
        .arg(quickstart())
        .arg(&control)
        .output()
        .expect("runs");
    assert_eq!(ran.status.code(), Some(1));
    let md = String::from_utf8_lossy(&ran.stdout);
    assert!(md.contains("`source_shortcut`: confirmed → "), "{md}");
    assert!(md.contains("**replication holds**: no"), "{md}");
    let same = std::process::Command::new(env!("CARGO_BIN_EXE_study"))
        .arg("compare")
        .arg(quickstart())
        .arg(quickstart().join("results.json"))
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(same.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&same.stdout).expect("JSON");
    assert_eq!(json["holds"], true);
}

#[test]
fn numbers_moved_in_their_last_bits_are_within_numerical_noise() {
    let doc = results(&quickstart());
    let mut moved = doc.clone();
    moved.provenance.backend = "cuda:0".into();
    for r in &mut moved.results {
        for e in &mut r.entries {
            let nudge = |x: &mut Option<f64>| {
                if let Some(v) = x {
                    *v += 1e-9 * (1.0 + v.abs());
                }
            };
            nudge(&mut e.estimate.value);
            nudge(&mut e.estimate.lower);
            nudge(&mut e.estimate.upper);
        }
    }
    let c = compare(&doc, &moved);
    assert!(c.holds);
    assert_eq!(c.backends.1, "cuda:0");
    assert!(
        c.estimates
            .iter()
            .all(|p| matches!(p.judgement, Judgement::WithinNoise | Judgement::Identical))
    );
    assert!(
        c.estimates
            .iter()
            .any(|p| p.judgement == Judgement::WithinNoise)
    );
}

#[test]
fn judgements_follow_the_intervals() {
    let e = |v: f64, l: f64, u: f64| study::eval::estimate::Estimate {
        value: Some(v),
        lower: Some(l),
        upper: Some(u),
        se: None,
        units: vec![v],
        undefined: None,
        caution: None,
    };
    assert_eq!(
        judge(&e(0.8, 0.7, 0.9), &e(0.8, 0.7, 0.9)),
        Judgement::Identical
    );
    assert_eq!(
        judge(&e(0.8, 0.7, 0.9), &e(0.8 + 1e-8, 0.7, 0.9)),
        Judgement::WithinNoise
    );
    // Half-widths 0.1 and 0.1: differences up to 0.141 are consistent.
    assert_eq!(
        judge(&e(0.8, 0.7, 0.9), &e(0.93, 0.83, 1.03)),
        Judgement::Consistent
    );
    assert_eq!(
        judge(&e(0.8, 0.7, 0.9), &e(0.95, 0.85, 1.05)),
        Judgement::Different
    );
    let undefined = study::eval::estimate::Estimate::undefined("no negative images");
    assert_eq!(judge(&undefined, &undefined), Judgement::Identical);
    assert_eq!(judge(&e(0.8, 0.7, 0.9), &undefined), Judgement::Different);
}

#[test]
fn a_bundle_carries_the_study_and_its_run_and_reads_as_that_run() {
    let out = quickstart();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/quickstart.study");
    let loaded = study::load(&path);
    let s = loaded.study.clone().expect("checks");
    let dir = tempfile::tempdir().expect("temp");
    let to = dir.path().join("quickstart.zip");
    let said = study::bundle_run(
        &path,
        &loaded.sources,
        &s,
        Some(out.clone()),
        Some(to.clone()),
        false,
    )
    .expect("bundles");
    assert!(said.contains("study/quickstart.study"), "{said}");
    // The study as written, the run's files.
    let opened = study::bundle::open(&to).unwrap_or_else(|e| panic!("{}", e.summary()));
    let text = &opened.entries["study/quickstart.study"];
    assert_eq!(text, &std::fs::read(&path).expect("the file"));
    for name in [
        "run/report.md",
        "run/report.html",
        "run/plan.json",
        "run/metrics.csv",
    ] {
        assert!(opened.entries.contains_key(name), "{name}");
        assert!(opened.info.files.contains_key(name), "{name} has its hash");
    }
    // Compared with the run it came from: identical.
    let c = compare(
        &results(&out),
        &study::read_results(&to).expect("reads the bundle"),
    );
    assert!(c.holds);
    assert!(
        c.estimates
            .iter()
            .all(|p| p.judgement == Judgement::Identical)
    );
    // Rendered again from the bundle: the same report, beside the bundle.
    study::report(&to, false).expect("renders");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("quickstart/report.md")).expect("report.md"),
        std::fs::read_to_string(out.join("report.md")).expect("the original")
    );
    // A run of another version of the study is not bundled with this one.
    let other = study::load_bytes(
        "quickstart.study",
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("seed 7", "seed 9")
            .as_bytes(),
        path.parent(),
    );
    let refused = study::bundle_run(
        &path,
        &other.sources,
        &other.study.clone().unwrap(),
        Some(out),
        Some(to),
        false,
    );
    let message = refused.expect_err("another version").summary();
    assert!(
        message.contains("another version of the study"),
        "{message}"
    );
}
