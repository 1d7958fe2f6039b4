//! Inputs are part of a cell's identity: after a label is corrected, an image replaced or a row removed
//! in place, a run into the same folder re-runs exactly the cells downstream of the edit and its results
//! equal those of a fresh run in a new folder.

mod common;

use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Two datasets: `d` from a manifest of PNGs (the one edited), `phantom` synthetic (never touched), each
/// with its own experiment, and a hypothesis reading only the synthetic one.
const STUDY: &str = r#"study "edits" { seed 5 }
dataset d = csv("manifest.csv") { image column "path", label column "label", source column "source" }
dataset phantom = synthetic { size 16, source a { images 16, covid 70% }, source b { images 16, covid 30% } }
crop full = full
preprocess p { resize 16 }
model m = cnn(channels: [4])
train t { optimizer adam(lr: 1e-3), epochs 1 }
split s = by_source { data d, seen [a], unseen [b], fractions { train 70%, seen 30% } }
split q = by_source { data phantom, seen [a], unseen [b], fractions { train 70%, seen 30% } }
experiment e { model m, crop full, split s, preprocess p, train t, evaluate [unseen] }
experiment f { model m, crop full, split q, preprocess p, train t, evaluate [unseen] }
probe mix = association(label, source) { within s.train }
hypothesis h "unseen AUC of f" {
  confirmed when f.auc(unseen).lower > 0.99
  refuted when f.auc(unseen).upper < 0.99
}
"#;

const IMAGES: u32 = 16;

/// A study folder with the manifest, its images and the study file.
fn folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp");
    let rows = common::png_manifest(dir.path(), IMAGES);
    std::fs::write(dir.path().join("manifest.csv"), rows).expect("manifest");
    let file = dir.path().join("edits.study");
    std::fs::write(&file, STUDY).expect("study");
    (dir, file)
}

fn run(file: &Path, out: &Path) -> (study::exec::RunSummary, study::plan::Plan) {
    let s = common::checked(
        &std::fs::read_to_string(file).expect("reads"),
        file.parent().unwrap(),
    );
    let plan = study::plan(&s);
    let claimed = study::claim(&plan, file.parent().unwrap(), out).expect("claims");
    let summary = claimed.run(&study::exec::Options::new(out)).expect("runs");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    (summary, claimed.plan.clone())
}

/// `results.json` without wall times and dates.
fn results(out: &Path) -> serde_json::Value {
    common::results_without_times(out)
}

/// An edit of the manifest's data, in place.
#[derive(Clone, Debug)]
enum Edit {
    FlipLabel(u32),
    ReplaceImage(u32),
    RemoveRow(u32),
}

fn apply(edit: &Edit, dir: &Path) {
    let manifest = dir.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    match edit {
        Edit::FlipLabel(k) => {
            let line = &mut lines[*k as usize + 1];
            *line = if line.contains(",covid,") {
                line.replace(",covid,", ",normal,")
            } else {
                line.replace(",normal,", ",covid,")
            };
        }
        Edit::ReplaceImage(k) => {
            // Other pixels of the same size; the manifest is untouched.
            let img =
                image::GrayImage::from_fn(16, 16, |x, y| image::Luma([((x * y + 3) % 256) as u8]));
            img.save(dir.join(format!("images/{k}.png"))).expect("png");
        }
        Edit::RemoveRow(k) => {
            lines.remove(*k as usize + 1);
        }
    }
    std::fs::write(&manifest, lines.join("\n") + "\n").expect("manifest");
}

/// `prepare/d` and every cell that depends on it, directly or not.
fn downstream_of_d(plan: &study::plan::Plan) -> BTreeSet<String> {
    let mut down = BTreeSet::from(["prepare/d".to_string()]);
    for cell in &plan.cells {
        if cell.deps.iter().any(|d| down.contains(d)) {
            down.insert(cell.name.clone());
        }
    }
    down
}

fn check_edit(edit: Edit) {
    let (dir, file) = folder();
    let out = dir.path().join("out");
    let (_, before) = run(&file, &out);
    apply(&edit, dir.path());

    let (summary, after) = run(&file, &out);
    let ran: BTreeSet<String> = summary.ran.iter().cloned().collect();
    assert_eq!(ran, downstream_of_d(&after), "{edit:?}");
    assert!(
        !ran.contains("train/m/full/q/p/t/rep1") && !ran.contains("verdict/h"),
        "cells of the untouched dataset ran again: {ran:?}"
    );
    for (a, b) in before.cells.iter().zip(&after.cells) {
        assert_eq!(
            a.id == b.id,
            !ran.contains(&a.name),
            "{}: the id moves exactly for the cells that ran",
            a.name
        );
    }

    let fresh = dir.path().join("fresh");
    run(&file, &fresh);
    assert_eq!(results(&out), results(&fresh), "{edit:?}");
}

/// Three edits per run of the suite (each is two runs of the study); `PROPTEST_CASES` asks for more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn an_incremental_run_after_an_edit_equals_a_fresh_run(
        kind in 0u8..3,
        row in 0..IMAGES,
    ) {
        check_edit(match kind {
            0 => Edit::FlipLabel(row),
            1 => Edit::ReplaceImage(row),
            _ => Edit::RemoveRow(row),
        });
    }
}

#[test]
fn each_kind_of_edit_reruns_exactly_what_depends_on_it() {
    check_edit(Edit::FlipLabel(3));
    check_edit(Edit::ReplaceImage(5));
    check_edit(Edit::RemoveRow(9));
}

#[test]
fn the_run_says_which_inputs_changed_and_an_unchanged_tree_reruns_nothing() {
    let (dir, file) = folder();
    let out = dir.path().join("out");
    run(&file, &out);
    let (again, _) = run(&file, &out);
    assert!(again.ran.is_empty(), "{:?}", again.ran);

    apply(&Edit::ReplaceImage(2), dir.path());
    apply(&Edit::RemoveRow(7), dir.path());
    let s = common::checked(STUDY, dir.path());
    let claimed = study::claim(&study::plan(&s), dir.path(), &out).expect("claims");
    assert_eq!(claimed.changes.changed, ["images/2.png", "manifest.csv"]);
    assert_eq!(claimed.changes.removed, ["images/7.png"]);
    assert!(claimed.changes.added.is_empty());
    claimed.run(&study::exec::Options::new(&out)).expect("runs");
    let log = std::fs::read_to_string(out.join("run.log")).expect("run.log");
    assert!(
        log.contains("inputs since the last run: 2 changed: images/2.png, manifest.csv"),
        "{log}"
    );
}

#[test]
fn a_lock_written_after_an_edit_is_met_by_recomputed_cells() {
    let (dir, file) = folder();
    let out = dir.path().join("out");
    let study_cmd = || std::process::Command::new(env!("CARGO_BIN_EXE_study"));
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    ok(study_cmd().arg("lock").arg(&file).output().expect("locks"));
    ok(study_cmd()
        .args(["run", "--quiet", "--locked", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs"));

    // Edited after the lock: --locked refuses before computing anything.
    apply(&Edit::FlipLabel(0), dir.path());
    let refused = study_cmd()
        .args(["run", "--quiet", "--locked", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E0065") && stderr.contains("manifest.csv"),
        "{stderr}"
    );

    // Locked again: the run recomputes what the edit touches, and equals a fresh run.
    ok(study_cmd().arg("lock").arg(&file).output().expect("locks"));
    let stderr = ok(study_cmd()
        .args(["run", "--quiet", "--locked", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs"));
    assert!(stderr.contains("1 changed: manifest.csv"), "{stderr}");
    assert!(!stderr.contains(" 0 cell(s) run"), "{stderr}");
    let fresh = dir.path().join("fresh");
    run(&file, &fresh);
    assert_eq!(results(&out), results(&fresh));
}

#[test]
fn removing_the_row_of_a_corrupt_image_is_enough() {
    let (dir, file) = folder();
    std::fs::write(dir.path().join("images/4.png"), b"not a png").expect("corrupts");
    let out = dir.path().join("out");
    let s = common::checked(STUDY, dir.path());
    let summary = study::run(
        &study::plan(&s),
        dir.path(),
        &study::exec::Options::new(&out),
    )
    .expect("runs");
    let failure = summary
        .failed
        .first()
        .map(|(_, e)| e.summary())
        .unwrap_or_default();
    assert!(failure.contains("E0044"), "{failure}");

    apply(&Edit::RemoveRow(4), dir.path());
    let (summary, _) = run(&file, &out);
    assert!(summary.failed.is_empty());
    let fresh = dir.path().join("fresh");
    run(&file, &fresh);
    assert_eq!(results(&out), results(&fresh));
}
