//! The interpreter end to end on tests/fixtures/tiny-run.study: every cell kind runs, reruns skip
//! finished cells, a killed run resumes to the same numbers, locks catch changed data, failures are
//! diagnostics and the report marks what is missing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use study::diagnostics::Code;
use study::diagnostics::IntoDiagnostics;
use study::exec::{CellError, Device, Options, RunSummary};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-run.study")
}

fn load(path: &Path) -> study::study::Study {
    let loaded = study::load(path);
    loaded.study.unwrap_or_else(|| {
        panic!(
            "{}",
            study::diagnostics::render_all(
                &loaded.diagnostics,
                &loaded.sources,
                study::diagnostics::Style::plain()
            )
        )
    })
}

fn options(out: &Path) -> Options {
    Options::new(out)
}

fn run_study(path: &Path, opts: &Options) -> Result<RunSummary, CellError> {
    let s = load(path);
    let plan = study::plan::plan(&s);
    study::run(&plan, path.parent().expect("folder"), opts)
}

/// The code, message and declaration of a fault.
fn fault(e: &CellError) -> (Code, String, Option<(String, String)>) {
    match e {
        CellError::Fault {
            code,
            message,
            declaration,
            ..
        } => (*code, message.clone(), declaration.clone()),
        other => panic!("{other:?}"),
    }
}

/// One complete run of the fixture, shared by the tests that only read it.
fn shared() -> &'static (tempfile::TempDir, RunSummary) {
    static RUN: OnceLock<(tempfile::TempDir, RunSummary)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let outcome = run_study(&fixture(), &options(dir.path())).expect("runs");
        (dir, outcome)
    })
}

fn document(dir: &Path) -> study::report::Document {
    let bytes = std::fs::read(dir.join("results.json")).expect("results.json");
    serde_json::from_slice(&bytes).expect("parses")
}

/// Copies a run folder (to change it without touching the shared one).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

#[test]
fn every_cell_runs_and_the_report_shows_every_result() {
    let (dir, outcome) = shared();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let plan = study::plan::plan(&load(&fixture()));
    assert_eq!(outcome.ran.len(), plan.cells.len());
    let doc = document(dir.path());
    assert!(doc.missing.is_empty(), "{:?}", doc.missing);
    let kinds: Vec<&str> = doc.results.iter().map(|r| r.kind.as_str()).collect();
    for kind in [
        "experiment",
        "predict",
        "association",
        "gap",
        "metadata_baseline",
        "occlusion",
        "finetune",
        "saliency",
    ] {
        assert!(kinds.contains(&kind), "no {kind} results in {kinds:?}");
    }
    // Every number is defined or says why not.
    for r in &doc.results {
        for e in &r.entries {
            assert!(
                e.estimate.value.is_some() || e.estimate.undefined.is_some(),
                "{} {}",
                r.target,
                e.field
            );
            if let (Some(v), Some(lo), Some(hi)) =
                (e.estimate.value, e.estimate.lower, e.estimate.upper)
            {
                assert!(
                    lo <= v + 1e-12 && v <= hi + 1e-12,
                    "{} {} {lo} {v} {hi}",
                    r.target,
                    e.field
                );
            }
        }
    }
    // The planted marker makes the source trivially predictable.
    let source = doc
        .results
        .iter()
        .find(|r| r.target == "source_probe")
        .expect("probe");
    let auc = source
        .find("auc", &[], None)
        .and_then(|e| e.value)
        .expect("auc");
    assert!(auc > 0.9, "source AUC {auc}");
    // The verdict shows the numbers that decided it.
    let v = &doc.verdicts[0];
    assert_eq!(v.hypothesis, "shortcut");
    let terms = &v.confirmed.as_ref().expect("rule").terms;
    assert_eq!(terms.len(), 2);
    assert!(terms.iter().all(|t| t.value.is_some()));
    // Segmenter quality is reported.
    assert!(doc.segmenters["lungs"].dice.is_some());

    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("md");
    assert!(md.contains("## Verdicts") && md.contains("### shortcut"));
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg") && html.contains("polyline")
    );
    assert!(
        html.contains("data:image/png;base64,"),
        "saliency thumbnails"
    );
    assert!(!html.contains("<script"), "self-contained, no scripts");
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).expect("csv");
    let entries: usize = doc.results.iter().map(|r| r.entries.len()).sum();
    assert_eq!(csv.lines().count(), entries + 1);
    assert!(csv.starts_with("target,kind,model,crop,split,preprocess,train,field,partition,source,argument,value,lower,upper,se,units,undefined"));
}

#[test]
fn results_json_follows_its_documented_schema() {
    let (dir, _) = shared();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.schema.json"),
        )
        .expect("schema"),
    )
    .expect("schema parses");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).expect("read"))
            .expect("json");
    let errors: Vec<String> = validator
        .iter_errors(&results)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The schema is strict: an unknown field is an error.
    let mut broken = results.clone();
    broken["surprise"] = serde_json::json!(1);
    assert!(!validator.is_valid(&broken));
}

#[test]
fn predictions_are_saved_per_image() {
    let (dir, _) = shared();
    let plan = study::plan::plan(&load(&fixture()));
    let evaluate = plan
        .cells
        .iter()
        .find(|c| c.name == "evaluate/cnn/full/s/small/quick/rep1")
        .expect("cell");
    let csv = std::fs::read_to_string(
        dir.path()
            .join("cells")
            .join(&evaluate.id)
            .join("predictions.csv"),
    )
    .expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("image,source,label,score,partition,fold,cell,p_covid,p_normal")
    );
    // Every image of the split is predicted once (160 synthetic images, all in some partition).
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 160);
    assert!(
        rows.iter().any(|r| r.contains(",unseen,")) && rows.iter().any(|r| r.contains(",seen,"))
    );
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        let (p0, p1): (f64, f64) = (f[7].parse().expect("p"), f[8].parse().expect("p"));
        assert!((p0 + p1 - 1.0).abs() < 1e-5 && f[3] == f[7]);
    }
}

#[test]
fn a_rerun_of_an_unchanged_study_runs_nothing() {
    let (dir, first) = shared();
    let copy = tempfile::tempdir().expect("temp");
    copy_dir(dir.path(), copy.path());
    let again = run_study(&fixture(), &options(copy.path())).expect("runs");
    assert!(again.ran.is_empty(), "{:?}", again.ran);
    assert_eq!(again.skipped, first.ran.len());
    assert_eq!(document(copy.path()).results, document(dir.path()).results);
}

#[test]
fn editing_one_hypothesis_reruns_only_its_verdict_and_the_report() {
    let (dir, _) = shared();
    let work = tempfile::tempdir().expect("temp");
    copy_dir(dir.path(), &work.path().join("out"));
    let text = std::fs::read_to_string(fixture()).expect("read");
    let edited = text.replace(
        "generalisation.gap.lower > 0.1",
        "generalisation.gap.lower > 0.05",
    );
    assert_ne!(text, edited);
    let study_path = work.path().join("tiny-run.study");
    std::fs::write(&study_path, edited).expect("write");
    let outcome = run_study(&study_path, &options(&work.path().join("out"))).expect("runs");
    assert_eq!(
        outcome.ran,
        vec!["verdict/shortcut".to_string(), "report".to_string()]
    );
}

#[test]
fn a_killed_run_resumes_and_ends_with_the_same_results() {
    let (reference, _) = shared();
    let out = tempfile::tempdir().expect("temp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_study"))
        .args(["run", "--quiet", "--out"])
        .arg(out.path())
        .arg(fixture())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    // Kill it with SIGKILL once some, not all, trainings are done.
    let log = out.path().join("run.log");
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.matches("done train").count() >= 2 {
            break;
        }
        if started.elapsed().as_secs() > 300 || child.try_wait().expect("status").is_some() {
            panic!("the run ended before it could be killed:\n{text}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let plan = study::plan::plan(&load(&fixture()));
    let store = study::exec::store::Store::new(out.path());
    let finished: Vec<String> = plan
        .cells
        .iter()
        .filter(|c| store.is_done(c))
        .map(|c| c.name.clone())
        .collect();
    assert!(finished.len() < plan.cells.len(), "killed too late");
    let resumed = run_study(&fixture(), &options(out.path())).expect("resumes");
    assert!(resumed.failed.is_empty(), "{:?}", resumed.failed);
    for name in &finished {
        assert!(
            !resumed.ran.contains(name),
            "{name} finished before the kill and ran again"
        );
    }
    assert_eq!(resumed.ran.len() + finished.len(), plan.cells.len());
    let (a, b) = (document(out.path()), document(reference.path()));
    assert_eq!(
        a.results, b.results,
        "resumed results differ from an uninterrupted run"
    );
    assert_eq!(a.verdicts, b.verdicts);
    // No partial folder is left behind.
    let partial = std::fs::read_dir(store.cells())
        .expect("cells")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".partial-"));
    assert!(!partial);
}

#[test]
fn cells_reused_from_another_backend_are_named_in_the_report() {
    let (dir, _) = shared();
    let copy = tempfile::tempdir().expect("temp");
    copy_dir(dir.path(), copy.path());
    // As if the trainings had run in an earlier invocation on a GPU.
    let plan = study::plan::plan(&load(&fixture()));
    let store = study::exec::store::Store::new(copy.path());
    let mut trainings = 0;
    for cell in &plan.cells {
        if cell.kind() == "train" {
            let path = store.cell_dir(cell).join("done.json");
            let mut done: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).expect("done")).expect("json");
            done["backend"] = "cuda:0 (elsewhere)".into();
            std::fs::write(&path, done.to_string()).expect("write");
            trainings += 1;
        } else if cell.kind() == "report" {
            std::fs::remove_dir_all(store.cell_dir(cell)).expect("remove");
        }
    }
    assert!(trainings > 1);
    let again = run_study(&fixture(), &options(copy.path())).expect("runs");
    assert_eq!(again.ran, vec!["report".to_string()]);
    let doc = document(copy.path());
    let here = document(dir.path()).provenance.backend;
    assert!(!here.contains('+'), "{here}");
    assert_eq!(
        doc.provenance.backend,
        format!("{here} + cuda:0 (elsewhere)"),
        "backends in plan order (prepare cells come first)"
    );
    for c in &doc.provenance.cells {
        let expected = if c.kind == "train" {
            "cuda:0 (elsewhere)"
        } else {
            here.as_str()
        };
        assert_eq!(c.backend.as_deref(), Some(expected), "{}", c.name);
    }
    let md = std::fs::read_to_string(copy.path().join("report.md")).expect("md");
    assert!(
        md.contains(&format!(
            "Mixed backends.** Cells of this run were computed on more than one backend: {here} ("
        )) && md.contains(&format!("cuda:0 (elsewhere) ({trainings} cells)")),
        "{md}"
    );
    let html = std::fs::read_to_string(copy.path().join("report.html")).expect("html");
    assert!(html.contains("<b>Mixed backends.</b>"));
    // A run on one backend says nothing of the kind.
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("md");
    assert!(!md.contains("Mixed backends"));
}

#[test]
fn study_report_renders_again_from_results_json() {
    let (dir, _) = shared();
    let copy = tempfile::tempdir().expect("temp");
    std::fs::copy(
        dir.path().join("results.json"),
        copy.path().join("results.json"),
    )
    .expect("copy");
    let written = study::report(copy.path(), false).expect("renders");
    assert_eq!(written[..3], ["report.md", "report.html", "metrics.csv"]);
    assert!(written.len() > 3, "figures as well: {written:?}");
    assert!(
        written[3..]
            .iter()
            .all(|f| f.starts_with("figures/") && f.ends_with(".svg"))
    );
    for name in written {
        assert_eq!(
            std::fs::read_to_string(copy.path().join(&name)).expect("new"),
            std::fs::read_to_string(dir.path().join(&name)).expect("old"),
            "{name}"
        );
    }
}

#[test]
fn an_output_folder_of_another_study_is_refused() {
    let out = tempfile::tempdir().expect("temp");
    std::fs::write(
        out.path().join("study.json"),
        r#"{"study": "someone-else", "fingerprint": "00000000000000000000"}"#,
    )
    .expect("write");
    let err = run_study(&fixture(), &options(out.path())).expect_err("refused");
    let CellError::Fault { code, message, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(code, Code::OtherStudy);
    assert!(message.contains("someone-else"), "{message}");
    assert!(!out.path().join("cells").join("x").exists());
}

/// A study whose second experiment diverges (an absurd learning rate).
fn failing_study(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(fixture())
        .expect("read")
        .replace(
            "experiment main {",
            "train wild { optimizer sgd(lr: 1e30), epochs 2, batch 16 }\n\nexperiment broken { model cnn, crop full, split s, preprocess small, train wild }\n\nexperiment main {",
        )
        .replace(
            "refuted when main[crop = full].auc(unseen).lower > 0.8",
            "refuted when main[crop = full].auc(unseen).lower > 0.8 and broken.auc(seen) > 0.5",
        );
    let path = dir.join("failing.study");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn a_diverging_cell_is_a_diagnostic_and_keep_going_finishes_the_rest() {
    let work = tempfile::tempdir().expect("temp");
    let path = failing_study(work.path());
    let mut opts = options(&work.path().join("out"));
    opts.keep_going = true;
    opts.only = Some("verdict/*".into());
    let outcome = run_study(&path, &opts).expect("runs");
    assert!(!outcome.failed.is_empty());
    for (cell, e) in &outcome.failed {
        assert!(cell.starts_with("train/cnn/full/s/small/wild/"), "{cell}");
        let (code, message, declaration) = fault(e);
        assert_eq!(code, Code::Diverged);
        assert!(
            message.contains("epoch")
                && message.contains("learning rate 1000000000000000000000000000000"),
            "{message}"
        );
        assert_eq!(
            declaration.as_ref().map(|(k, n)| (k.as_str(), n.as_str())),
            Some(("train", "wild"))
        );
    }
    assert!(outcome.blocked.iter().any(|b| b == "aggregate/broken"));
    assert!(
        outcome.ran.iter().any(|c| c == "aggregate/main"),
        "independent cells went on"
    );
    // The verdict is written from what exists, says what it lacks, and is not cached as final.
    let s = load(&path);
    let plan = study::plan::plan(&s);
    let verdict = plan
        .cells
        .iter()
        .find(|c| c.name == "verdict/shortcut")
        .expect("cell");
    assert!(outcome.ran.contains(&verdict.name));
    assert!(!study::exec::store::Store::new(work.path().join("out")).is_done(verdict));

    // The diagnostic points at the declaration in the study text.
    let mut loaded = study::load(&path);
    let diags = (&outcome.failed[0].1).into_diagnostics(&s, &mut loaded.sources);
    let text =
        study::diagnostics::render_all(&diags, &loaded.sources, study::diagnostics::Style::plain());
    assert!(
        text.contains("E0061") && text.contains("train `wild` declared here"),
        "{text}"
    );

    // Fail-fast (the default) stops scheduling after the first failure.
    let mut opts = options(&work.path().join("out2"));
    opts.only = Some("aggregate/*".into());
    let outcome = run_study(&path, &opts).expect("runs");
    assert_eq!(outcome.failed.len(), 1);
    assert!(!outcome.blocked.is_empty());
}

#[test]
fn the_report_of_an_incomplete_run_lists_what_is_missing() {
    let work = tempfile::tempdir().expect("temp");
    let path = failing_study(work.path());
    let mut opts = options(&work.path().join("out"));
    opts.keep_going = true;
    opts.only = Some("report".into());
    let outcome = run_study(&path, &opts).expect("runs");
    assert!(!outcome.failed.is_empty());
    let doc = document(&work.path().join("out"));
    assert!(
        doc.missing.iter().any(|m| m.cell == "aggregate/broken"),
        "{:?}",
        doc.missing
    );
    assert!(
        !doc.results.iter().any(|r| r.target == "broken"),
        "nothing invented"
    );
    let v = &doc.verdicts[0];
    let refuted = v.refuted.as_ref().expect("rule");
    assert_ne!(refuted.holds, Some(true));
    let broken = refuted
        .terms
        .iter()
        .find(|t| t.text.starts_with("broken"))
        .expect("term");
    assert_eq!(broken.value, None);
    assert!(
        broken
            .undefined
            .as_deref()
            .unwrap_or("")
            .contains("has no results")
    );
    let md = std::fs::read_to_string(work.path().join("out/report.md")).expect("md");
    assert!(md.contains("Incomplete run") && md.contains("aggregate/broken"));
}

#[test]
fn run_cell_runs_one_cell_from_the_written_plan() {
    let out = tempfile::tempdir().expect("temp");
    let mut opts = options(out.path());
    opts.only = Some("prepare/phantom".into());
    run_study(&fixture(), &opts).expect("runs");
    let plan_file = out.path().join("plan.json");
    // A cell whose inputs are not finished is refused, not guessed.
    let err = study::run_cell(
        &plan_file,
        "train/cnn/full/s/small/quick/rep1",
        out.path(),
        &Device::Cpu,
    )
    .expect_err("needs its split");
    assert!(
        err.summary().contains("has not finished"),
        "{}",
        err.summary()
    );
    study::run_cell(&plan_file, "split/s", out.path(), &Device::Cpu).expect("runs");
    let plan = study::plan::plan(&load(&fixture()));
    let split = plan
        .cells
        .iter()
        .find(|c| c.name == "split/s")
        .expect("cell");
    let store = study::exec::store::Store::new(out.path());
    assert!(store.is_done(split));
    let partitions: study::cells::Partitions =
        store.read_json(split, "partitions.json").expect("written");
    assert_eq!(partitions.folds[0].1.len(), 160);
}

#[test]
fn devices_that_are_not_there_are_diagnostics() {
    let err = Device::parse("gpu").expect_err("unknown");
    assert!(err.summary().starts_with("E0063"), "{}", err.summary());
    assert_eq!(Device::parse("cuda:1").expect("parses"), Device::Cuda(1));
    if !cfg!(feature = "cuda") {
        let err = Device::Cuda(0).probe().expect_err("no cuda in this build");
        assert!(
            err.summary().contains("no CUDA support"),
            "{}",
            err.summary()
        );
    }
}

/// A manifest study over a few PNG files, for lock tests.
fn manifest_study(dir: &Path) -> PathBuf {
    let rows = common::png_manifest(dir, 6);
    std::fs::write(dir.join("manifest.csv"), rows).expect("manifest");
    let text = common::png_study("locked", "manifest.csv", "");
    let path = dir.join("locked.study");
    std::fs::write(&path, text).expect("study");
    path
}

#[test]
fn locked_runs_refuse_data_changed_by_one_byte() {
    let dir = tempfile::tempdir().expect("temp");
    let path = manifest_study(dir.path());
    let exe = env!("CARGO_BIN_EXE_study");
    let lock = std::process::Command::new(exe)
        .arg("lock")
        .arg(&path)
        .output()
        .expect("lock");
    assert!(
        lock.status.success(),
        "{}",
        String::from_utf8_lossy(&lock.stderr)
    );
    let lock_file: study::exec::lock::Lock =
        serde_json::from_slice(&std::fs::read(dir.path().join("locked.lock")).expect("lock file"))
            .expect("parses");
    assert_eq!(
        lock_file.files.len(),
        7,
        "manifest and six images: {:?}",
        lock_file.files.keys()
    );
    let run = |extra: &[&str]| {
        std::process::Command::new(exe)
            .args(["run", "--quiet", "--locked", "--only", "prepare/*"])
            .args(extra)
            .arg(&path)
            .output()
            .expect("run")
    };
    let ok = run(&[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // One byte of one image changes.
    let image = dir.path().join("images/4.png");
    let mut bytes = std::fs::read(&image).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&image, bytes).expect("write");
    let refused = run(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E0065") && stderr.contains("1 file(s) differ: images/4.png"),
        "{stderr}"
    );
    // A missing file is named as missing.
    std::fs::remove_file(dir.path().join("images/1.png")).expect("rm");
    let refused = run(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("E0065"), "{stderr}");
}

#[test]
fn weights_that_do_not_fit_stop_the_cell_with_a_diagnostic_naming_the_model() {
    let work = tempfile::tempdir().expect("temp");
    std::fs::write(
        work.path().join("resnet.safetensors"),
        b"this is not a weights file",
    )
    .expect("write");
    let text = std::fs::read_to_string(fixture()).expect("read").replace(
        "model cnn = cnn(channels: [4, 8])",
        "model cnn = cnn(channels: [4, 8])\nmodel pretrained = resnet(depth: 18, weights: \"resnet.safetensors\", freeze: all_but_head)",
    ).replace("experiment main {", "preprocess rgb { channels 3, resize 32 }\n\nexperiment tuned { model pretrained, crop full, split s, preprocess rgb, train quick }\n\nexperiment main {");
    let path = work.path().join("weights.study");
    std::fs::write(&path, text).expect("write");
    let mut opts = options(&work.path().join("out"));
    opts.only = Some("train/pretrained/*/rep1".into());
    let outcome = run_study(&path, &opts).expect("runs");
    let (cell, e) = &outcome.failed[0];
    assert!(cell.starts_with("train/pretrained/"), "{cell}");
    let (code, message, declaration) = fault(e);
    assert_eq!(code, Code::WeightsMismatch);
    assert!(message.contains("resnet.safetensors"), "{message}");
    assert_eq!(
        declaration.as_ref().map(|(k, n)| (k.as_str(), n.as_str())),
        Some(("model", "pretrained"))
    );
}

#[test]
fn cells_run_as_processes_in_parallel_give_the_same_results() {
    let (reference, _) = shared();
    let out = tempfile::tempdir().expect("temp");
    let mut opts = options(out.path());
    opts.jobs = 3;
    opts.executable = Some(env!("CARGO_BIN_EXE_study").into());
    let outcome = run_study(&fixture(), &opts).expect("runs");
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let (a, b) = (document(out.path()), document(reference.path()));
    for (x, y) in a.results.iter().zip(&b.results) {
        for (e, f) in x.entries.iter().zip(&y.entries) {
            assert_eq!(e, f, "{} {}", x.target, e.field);
        }
    }
    assert_eq!(a.results, b.results);
    assert_eq!(a.verdicts, b.verdicts);
}

#[test]
fn a_failure_in_a_cell_process_comes_back_as_its_diagnostic() {
    let work = tempfile::tempdir().expect("temp");
    let path = failing_study(work.path());
    let mut opts = options(&work.path().join("out"));
    opts.jobs = 2;
    opts.keep_going = true;
    opts.only = Some("aggregate/broken".into());
    opts.executable = Some(env!("CARGO_BIN_EXE_study").into());
    let outcome = run_study(&path, &opts).expect("runs");
    assert!(!outcome.failed.is_empty());
    let (code, message, declaration) = fault(&outcome.failed[0].1);
    assert_eq!(code, Code::Diverged, "{message}");
    assert_eq!(
        declaration.as_ref().map(|(k, n)| (k.as_str(), n.as_str())),
        Some(("train", "wild"))
    );
}

#[test]
fn a_run_without_a_terminal_prints_a_line_per_cell_logs_utc_times_and_indexes_cells_by_name() {
    let out = tempfile::tempdir().expect("temp");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_study"))
        .arg("run")
        .arg(fixture())
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let plan = study::plan::plan(&load(&fixture()));
    for cell in &plan.cells {
        let line = format!("done {} in ", cell.name);
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with(&line)).count(),
            1,
            "one line for {}:\n{stderr}",
            cell.name
        );
    }
    // Cells with a headline number say it.
    let regex = |p: &str| regex::Regex::new(p).expect("pattern");
    for key in [
        r"(?m)^done prepare/phantom in \d+\.\d\d s: 160 images$",
        r"(?m)^done train/cnn/full/s/small/quick/rep1 in \d+\.\d\d s: validation auc \d\.\d{3} at epoch \d of 2$",
        r"(?m)^done aggregate/main in \d+\.\d\d s: auc\(seen\) \d\.\d{3} \[",
        r"(?m)^done probe/generalisation in \d+\.\d\d s: gap -?\d\.\d{3} \[",
        r"(?m)^done segmenter/lungs in \d+\.\d\d s: dice \d\.\d{3} on \d+ held-out images$",
        r"(?m)^done verdict/\w+ in \d+\.\d\d s: (confirmed|refuted|inconclusive)$",
    ] {
        assert!(regex(key).is_match(&stderr), "{key}:\n{stderr}");
    }
    let log = std::fs::read_to_string(out.path().join("run.log")).expect("run.log");
    for line in log.lines() {
        let (time, _) = line.split_once(' ').expect("a time, then the event");
        assert!(
            time.ends_with('Z') && humantime::parse_rfc3339(time).is_ok(),
            "not a UTC time: {line}"
        );
    }
    // Every cell by name, with its folder and wall time.
    let index: Vec<serde_json::Value> = serde_json::from_slice(
        &std::fs::read(out.path().join("cells/index.json")).expect("cells/index.json"),
    )
    .expect("json");
    assert_eq!(index.len(), plan.cells.len());
    for (entry, cell) in index.iter().zip(&plan.cells) {
        assert_eq!(entry["name"], cell.name.as_str());
        assert_eq!(entry["status"], "done");
        assert!(
            entry["seconds"].as_f64().is_some_and(|s| s >= 0.0),
            "{entry}"
        );
        let id = entry["id"].as_str().expect("id");
        assert!(
            out.path()
                .join("cells")
                .join(id)
                .join("done.json")
                .is_file(),
            "{entry}"
        );
    }
}
