//! Studies that parse but are wrong are refused (or warned about) with the code that names the mistake:
//! every class of accepted-wrong study found by adversarial use has a case here.

mod common;

use study::diagnostics::Code;

/// A small valid study; cases replace one part of it or add to it.
const BASE: &str = r#"study "x" { seed 1 }
dataset d = synthetic { size 32, source a { images 20, covid 50% }, source b { images 20, covid 50% }, source c { images 20, covid 50% } }
crop full = full
preprocess p { resize 32 }
model m = cnn(channels: [8])
train t { optimizer adam(lr: 1e-3), epochs 2 }
split s = by_source { data d, seen ["a", "b"], unseen ["c"], fractions { train 70%, validation 10%, seen 20% } }
experiment e { model m, crop full, split s, preprocess p, train t }
"#;

fn codes_of(text: &str) -> Vec<Code> {
    let loaded = study::load_bytes("case.study", text.as_bytes(), None);
    let codes: Vec<Code> = loaded.diagnostics.items.iter().map(|d| d.code).collect();
    assert_eq!(
        loaded.study.is_some(),
        !loaded.diagnostics.has_errors(),
        "validity follows the errors"
    );
    codes
}

/// The codes for BASE with `from` replaced by `to` and `extra` appended.
fn codes(from: &str, to: &str, extra: &str) -> Vec<Code> {
    assert!(BASE.contains(from), "the base study has no `{from}`");
    codes_of(&(BASE.replacen(from, to, 1) + extra))
}

#[test]
fn the_base_study_is_valid_and_quiet() {
    assert_eq!(codes("", "", ""), []);
}

#[test]
fn a_union_declared_before_its_parts_has_their_sources_and_masks() {
    let text = r#"study "x" { seed 1 }
dataset all = union(a, b)
dataset a = synthetic { size 32, source site_a { images 20, covid 50% } }
dataset b = synthetic { size 32, source site_b { images 20, covid 50% } }
crop lungs = lung_box(dataset) { margin 5% }
preprocess p { resize 32 }
model m = cnn(channels: [8])
train t { optimizer adam(lr: 1e-3), epochs 1 }
split s = by_source { data all, seen ["site_a"], unseen ["site_b"] }
experiment e { model m, crop lungs, split s, preprocess p, train t }
"#;
    assert_eq!(codes_of(text), []);
    let cycle = text.replace("union(a, b)", "union(a, all)");
    assert!(codes_of(&cycle).contains(&Code::Cycle));
}

#[test]
fn two_report_blocks_are_refused() {
    let extra = "report { formats [markdown] }\nreport { formats [html] }\n";
    assert!(codes("", "", extra).contains(&Code::DuplicateName));
}

/// Cases that must be refused: (what is wrong, replaced, by, appended, the code that names it).
const REFUSED: &[(&str, &str, &str, &str, Code)] = &[
    (
        "a source inside a rule that no dataset has",
        "",
        "",
        "probe g = gap(e)\nhypothesis h \"x\" { confirmed when g.gap(\"nosuch\").lower > 0.1 }\n",
        Code::UnknownSource,
    ),
    (
        "a source inside an experiment result that no dataset has",
        "experiment e { model m,",
        "experiment e { per_source, model m,",
        "hypothesis h \"x\" { confirmed when e.auc(unseen, \"nosuch\").lower > 0.9 }\n",
        Code::UnknownSource,
    ),
    (
        "a seen source asked for as unseen",
        "experiment e { model m,",
        "experiment e { per_source, model m,",
        "hypothesis h \"x\" { confirmed when e.auc(unseen, \"a\").lower > 0.9 }\n",
        Code::UnknownSource,
    ),
    (
        "a repeated class",
        "",
        "",
        "dataset f = folders(\"x\") { classes [covid, normal, covid] }\n",
        Code::DuplicateEntry,
    ),
    (
        "a repeated crop in an occlusion probe",
        "",
        "",
        "probe o = occlusion { crops [full, full], model m, split s, preprocess p, train t }\n",
        Code::DuplicateEntry,
    ),
    (
        "a variable associated with itself",
        "",
        "",
        "probe a = association(label, label) { within s.train }\n",
        Code::IncompatibleChoice,
    ),
    (
        "a pixel box outside the image",
        "crop full = full",
        "crop full = box(0px, 0px, 64px, 64px)",
        "",
        Code::OutOfRange,
    ),
    (
        "a rule without a result in it",
        "",
        "",
        "probe g = gap(e)\nhypothesis h \"x\" { confirmed when 1 > 0 }\n",
        Code::BadRule,
    ),
    (
        "a rule that can never hold",
        "",
        "",
        "probe g = gap(e)\nhypothesis h \"x\" { confirmed when e.auc(unseen).lower > 90 }\n",
        Code::BadRule,
    ),
    (
        "a chi-square compared with an AUC",
        "",
        "",
        "probe a = association(label, source) { within s.train }\nhypothesis h \"x\" { confirmed when a.chi2 > e.auc(unseen).lower }\n",
        Code::BadRule,
    ),
    (
        "k-fold with more folds than images",
        "split s = by_source { data d, seen [\"a\", \"b\"], unseen [\"c\"], fractions { train 70%, validation 10%, seen 20% } }",
        "split s = kfold(100) { data d }",
        "",
        Code::OutOfRange,
    ),
    (
        "a segmenter holding out every image",
        "",
        "",
        "segmenter lungs = unet(depth: 2, base: 4) { train on d, epochs 1, holdout 100%, size 32 }\ncrop lf = lung_box(lungs)\nexperiment e2 { model m, crop lf, split s, preprocess p, train t }\n",
        Code::OutOfRange,
    ),
    (
        "seen sources that hold one class",
        "source a { images 20, covid 50% }, source b { images 20, covid 50% }",
        "source a { images 20, covid 100% }, source b { images 20, covid 100% }",
        "",
        Code::IncompatibleChoice,
    ),
    (
        "a gap over a split without unseen sources",
        "unseen [\"c\"],",
        "unseen [],",
        "probe g = gap(e)\n",
        Code::UnknownPartition,
    ),
    (
        "saliency over a dataset without masks",
        "",
        "",
        "dataset f = folders(\"x\") { classes [covid, normal], source from folder }\nsplit s2 = random { data f }\nexperiment e2 { model m, crop full, split s2, preprocess p, train t }\nprobe sal = saliency(e2) { samples 4, masks dataset }\n",
        Code::IncompatibleChoice,
    ),
];

/// Cases that are valid but warned about (W0002), with what is likely wrong.
const WARNED: &[(&str, &str, &str)] = &[
    ("a learning rate of a thousand", "lr: 1e-3", "lr: 1e3"),
    (
        "a cosine floor above the learning rate",
        "epochs 2 }",
        "epochs 2, schedule cosine(min_lr: 1e-2) }",
    ),
    (
        "a schedule step longer than training",
        "epochs 2 }",
        "epochs 2, schedule step(every: 5) }",
    ),
    (
        "a patience longer than training",
        "epochs 2 }",
        "epochs 2, early_stop after(patience: 5), select on validation auc }",
    ),
    ("an empty hypothesis statement", "", ""),
];

#[test]
fn likely_mistakes_are_warned_about() {
    let mut failures = Vec::new();
    for (what, from, to) in WARNED {
        let extra = if what.contains("hypothesis") {
            "probe g = gap(e)\nhypothesis h \"\" { confirmed when g.gap.lower > 0.1 }\n"
        } else {
            ""
        };
        let found = codes(from, to, extra);
        if !found.contains(&Code::Suspicious)
            || found
                .iter()
                .any(|c| c.severity() == study::diagnostics::Severity::Error)
        {
            failures.push(format!(
                "{what}: expected W0002 and no error, got {found:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn wrong_studies_are_refused_with_the_code_that_names_the_mistake() {
    let mut failures = Vec::new();
    for (what, from, to, extra, code) in REFUSED {
        let found = codes(from, to, extra);
        if !found.contains(code) {
            failures.push(format!("{what}: expected {code}, got {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn grouping_by_a_column_no_image_has_is_refused_by_study_data() {
    let dir = tempfile::tempdir().expect("temp");
    let text = BASE.replace("unseen [\"c\"],", "unseen [\"c\"], group ward,");
    std::fs::write(dir.path().join("s.study"), &text).expect("study");
    let (code, out, err) = common::study_in(Some(dir.path()), &["data", "s.study"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("groups by `ward`") && err.contains("E0042"),
        "{err}"
    );
    assert!(!out.contains("verified"), "{out}");
    // By a column the images have, the split is verified.
    let text = BASE.replace("unseen [\"c\"],", "unseen [\"c\"], group patient,");
    std::fs::write(dir.path().join("s.study"), &text).expect("study");
    let (code, out, err) = common::study_in(Some(dir.path()), &["data", "s.study"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("grouped by patient: verified"), "{out}");
}

#[test]
fn weights_of_an_unknown_format_and_undrawable_markers_are_warned_about() {
    let weights = codes(
        "model m = cnn(channels: [8])",
        "model m = resnet(depth: 18, weights: \"w.h5\")",
        "",
    );
    assert!(weights.contains(&Code::Suspicious), "{weights:?}");
    let marker = codes(
        "source a { images 20,",
        "source a { marker \"é\" top_left, images 20,",
        "",
    );
    assert_eq!(marker, [Code::Suspicious]);
}
