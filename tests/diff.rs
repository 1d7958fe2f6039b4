//! `study diff`: what changed in meaning between two studies, and which plan cells it touches. Each case
//! edits the quickstart and snapshots the diff as a reader sees it.

mod common;

use std::path::Path;
use study::plan::diff::{DeclarationChange, StudyDiff, diff};

fn quickstart() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/quickstart.study"))
        .expect("the quickstart")
}

/// The diff of the quickstart and an edit of it, both checked in `dir`.
fn diff_of(edit: impl Fn(&str) -> String, dir: &Path) -> StudyDiff {
    let text = quickstart();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit applies");
    diff(&common::checked(&text, dir), &common::checked(&edited, dir))
}

fn edited(edit: impl Fn(&str) -> String) -> StudyDiff {
    let dir = tempfile::tempdir().expect("temp");
    diff_of(edit, dir.path())
}

#[test]
fn layout_and_comments_are_no_change_in_meaning() {
    let d = edited(|t| {
        t.replace(
            "  epochs 6\n",
            "  // longer would overfit\n\n  epochs   6\n",
        )
        .replace("seed 7", "seed 7  // fixed")
    });
    assert!(d.equal);
    assert!(d.declarations.is_empty() && d.header.is_empty());
    assert!(d.cells.changed.is_empty() && d.cells.only_first.is_empty());
    insta::assert_snapshot!("layout_only", d.text("a.study", "b.study"));
}

#[test]
fn a_renamed_crop_is_a_rename_and_its_cells_are_new() {
    let d = edited(|t| {
        t.replace("crop lungs_out =", "crop no_lungs =")
            .replace("crop [full, lungs_out]", "crop [full, no_lungs]")
    });
    assert!(!d.equal);
    assert!(d.declarations.iter().any(|c| matches!(c,
        DeclarationChange::Renamed { kind, from, to, .. } if kind == "crop" && from == "lungs_out" && to == "no_lungs")));
    assert!(
        d.cells
            .only_first
            .contains(&"train/cnn/lungs_out/seen_unseen/small/quick/rep1".to_string())
    );
    assert!(
        d.cells
            .only_second
            .contains(&"train/cnn/no_lungs/seen_unseen/small/quick/rep1".to_string())
    );
    insta::assert_snapshot!("rename_only", d.text("a.study", "b.study"));
}

#[test]
fn one_changed_field_names_its_values_and_the_cells_downstream() {
    let d = edited(|t| t.replace("  epochs 6\n", "  epochs 8\n"));
    let [
        DeclarationChange::Changed {
            kind, name, fields, ..
        },
    ] = d.declarations.as_slice()
    else {
        panic!("{:?}", d.declarations)
    };
    assert_eq!((kind.as_str(), name.as_str()), ("train", "quick"));
    assert_eq!(
        (
            fields[0].field.as_str(),
            fields[0].before.as_str(),
            fields[0].after.as_str()
        ),
        ("epochs", "6", "8")
    );
    // Data and split are the same computation; every training and what follows is not.
    assert!(
        !d.cells
            .changed
            .iter()
            .any(|c| c.starts_with("prepare/") || c.starts_with("split/"))
    );
    assert!(
        d.cells
            .changed
            .contains(&"train/cnn/full/seen_unseen/small/quick/rep1".to_string())
    );
    assert!(
        d.cells
            .changed
            .contains(&"verdict/source_shortcut".to_string())
    );
    assert_eq!(d.cells.same, 3, "prepare, split and the composition probe");
    insta::assert_snapshot!("one_field", d.text("a.study", "b.study"));
}

#[test]
fn an_added_probe_adds_its_cells_and_changes_only_the_report() {
    let d = edited(|t| {
        t.replace(
            "probe composition =",
            "probe occluded_source = predict(source) { model cnn, crop lungs_out, split seen_unseen, preprocess small, train quick }\nprobe composition =",
        )
    });
    assert!(
        matches!(d.declarations.as_slice(), [DeclarationChange::Added { kind, name, .. }] if kind == "probe" && name == "occluded_source")
    );
    // Only the report gathers the new results.
    assert_eq!(d.cells.changed, ["report"]);
    assert!(
        d.cells
            .only_second
            .contains(&"probe/occluded_source".to_string())
    );
    assert!(d.cells.only_first.is_empty());
    insta::assert_snapshot!("added_probe", d.text("a.study", "b.study"));
}

#[test]
fn a_changed_hypothesis_shows_its_rules_and_touches_only_its_verdict_and_the_report() {
    let d = edited(|t| {
        t.replace(
            "generalisation.gap.lower > 0.1\n",
            "generalisation.gap.lower > 0.15\n",
        )
    });
    assert_eq!(d.cells.changed, ["verdict/source_shortcut", "report"]);
    let text = d.text("a.study", "b.study");
    assert!(text.contains("confirmed: `source_probe.auc.lower > 0.9 and generalisation.gap.lower > 0.1` → `source_probe.auc.lower > 0.9 and generalisation.gap.lower > 0.15`"), "{text}");
    insta::assert_snapshot!("changed_hypothesis", text);
}

#[test]
fn a_declaration_moved_into_an_include_is_no_change_in_meaning() {
    let dir = tempfile::tempdir().expect("temp");
    let text = quickstart();
    let model = "model cnn = cnn(channels: [8, 16, 32], dropout: 0.1)\n";
    assert!(text.contains(model));
    std::fs::write(dir.path().join("models.study"), model).expect("writes the include");
    let moved = text.replace(model, "include \"models.study\"\n");
    let d = diff(
        &common::checked(&text, dir.path()),
        &common::checked(&moved, dir.path()),
    );
    assert!(d.equal, "{}", d.text("a.study", "b.study"));
    insta::assert_snapshot!("moved_include", d.text("a.study", "b.study"));
}

#[test]
fn study_diff_exits_0_when_equal_1_when_not_and_prints_json_for_tools() {
    let dir = tempfile::tempdir().expect("temp");
    let a = dir.path().join("a.study");
    let b = dir.path().join("b.study");
    std::fs::write(&a, quickstart()).expect("a");
    std::fs::write(&b, quickstart().replace("  epochs 6\n", "  epochs 8\n")).expect("b");
    let run = |args: &[&Path], json: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_study"));
        c.arg("diff").args(args);
        if json {
            c.args(["--format", "json"]);
        }
        c.output().expect("runs")
    };
    assert_eq!(run(&[&a, &a], false).status.code(), Some(0));
    // The text quotes the declaration in both files, with the changed field as help.
    let text = run(&[&a, &b], false);
    let shown = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(1));
    assert!(shown.contains("train `quick` changed"), "{shown}");
    for (file, label) in [("a.study", "before"), ("b.study", "after")] {
        assert!(
            shown.contains(&format!("[{}:29:7]", dir.path().join(file).display())),
            "{shown}"
        );
        assert!(shown.contains(label), "{shown}");
    }
    assert!(shown.contains("epochs: 6 → 8"), "{shown}");
    let different = run(&[&a, &b], true);
    assert_eq!(different.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&different.stdout).expect("JSON");
    assert_eq!(json["equal"], false);
    assert_eq!(json["declarations"][0]["change"], "changed");
    assert_eq!(json["declarations"][0]["fields"][0]["after"], "8");
    std::fs::write(&b, "study \"broken\" {").expect("b");
    assert_eq!(run(&[&a, &b], false).status.code(), Some(2));
}
