//! The published designs: sources that each hold one label, combined with `union`, trained on the seen
//! sources and tested on unseen ones.

mod common;

use std::path::Path;

/// Writes `n` 16×16 PNGs of one label for source `name` under `dir/name/`, and its manifest
/// `dir/name.csv` (`path,label`, paths relative to the manifest).
fn one_label_source(dir: &Path, name: &str, label: &str, n: u32, shade: u32) {
    std::fs::create_dir_all(dir.join(name)).expect("mkdir");
    let mut rows = String::from("path,label\n");
    for k in 0..n {
        let file = format!("{name}/{k}.png");
        image::GrayImage::from_fn(16, 16, |x, y| {
            image::Luma([((x * 5 + y * 3 + k * 17 + shade) % 256) as u8])
        })
        .save(dir.join(&file))
        .expect("png");
        rows.push_str(&format!("{file},{label}\n"));
    }
    std::fs::write(dir.join(format!("{name}.csv")), rows).expect("manifest");
}

const SOURCES: [(&str, &str); 4] = [
    ("cohen", "covid"),
    ("kermany", "normal"),
    ("figure1", "covid"),
    ("nih", "normal"),
];

fn one_label_study(extra: &str) -> String {
    let mut text = String::from("study \"designs\" { seed 2 }\n");
    for (name, _) in SOURCES {
        text.push_str(&format!(
            "dataset {name} = csv(\"{name}.csv\") {{ image column \"path\", label column \"label\", source \"{name}\" }}\n"
        ));
    }
    text.push_str(
        r#"dataset all = union(cohen, kermany, figure1, nih)
crop full = full
preprocess p { resize 16 }
model m = cnn(channels: [4])
train t { optimizer adam(lr: 1e-3), epochs 1 }
split s = by_source { data all, seen [cohen, kermany], unseen [figure1, nih], fractions { train 60%, validation 20%, seen 20% } }
experiment e { model m, crop full, split s, preprocess p, train t, evaluate [seen, unseen] }
"#,
    );
    text.push_str(extra);
    text
}

/// The four one-label sources written into a new folder, `text` run there into `out`: the folder (kept
/// while it lives), the output folder and the run's summary.
fn run_on_four_sources(
    text: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    study::exec::RunSummary,
) {
    let dir = tempfile::tempdir().expect("temp");
    for (k, (name, label)) in SOURCES.iter().enumerate() {
        one_label_source(dir.path(), name, label, 12, k as u32 * 60);
    }
    let s = common::checked(text, dir.path());
    let out = dir.path().join("out");
    let summary = study::run(
        &study::plan(&s),
        dir.path(),
        &study::exec::Options::new(&out),
    )
    .expect("runs");
    (dir, out, summary)
}

/// `run_on_four_sources` for a run that must finish: the folder, the output folder and `results.json`.
fn finished_run(
    text: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    study::report::Document,
) {
    let (dir, out, summary) = run_on_four_sources(text);
    let failures: Vec<String> = summary.failed.iter().map(|(_, e)| e.summary()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let doc = serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results"))
        .expect("json");
    (dir, out, doc)
}

#[test]
fn a_union_of_one_label_sources_runs() {
    let (_dir, _, doc) = finished_run(&one_label_study(""));
    let e = doc.results.iter().find(|r| r.target == "e").expect("e");
    for partition in ["seen", "unseen"] {
        let auc = e
            .find("auc", &[partition.to_string()], None)
            .unwrap_or_else(|| panic!("auc({partition})"));
        assert!(auc.value.is_some(), "auc({partition}) {auc:?}");
    }
}

#[test]
fn a_label_map_may_yield_one_of_the_declared_classes() {
    let dir = tempfile::tempdir().expect("temp");
    let text = r#"study "maps" { seed 1 }
dataset pos = csv("pos.csv") { image column "path", source "pos", classes [covid, non_covid], label column "finding" { "covid" => covid, * => drop } }
dataset neg = csv("neg.csv") { image column "path", source "neg", classes [covid, non_covid], label column "finding" { "pneumonia" => non_covid, "normal" => non_covid } }
dataset all = union(pos, neg)
crop full = full
preprocess p { resize 16 }
model m = cnn(channels: [4])
train t { optimizer adam(lr: 1e-3), epochs 1 }
split s = by_source { data all, seen [pos, neg], unseen [] }
experiment e { model m, crop full, split s, preprocess p, train t }
"#;
    let s = common::checked(text, dir.path());
    assert_eq!(
        s.datasets["neg"].classes.as_deref(),
        Some(&["covid".to_string(), "non_covid".to_string()][..])
    );

    // A class the map produces must be declared; a split cannot train on one class (without `classes`,
    // the map tells the classes of `pos` before any data is read).
    let messages = |text: &str| -> Vec<String> {
        let loaded = study::load_bytes("t.study", text.as_bytes(), Some(dir.path()));
        loaded
            .diagnostics
            .items
            .iter()
            .map(|d| d.message.clone())
            .collect()
    };
    let wrong = messages(&text.replace("\"normal\" => non_covid", "\"normal\" => healthy"));
    assert!(
        wrong
            .iter()
            .any(|m| m.contains("produces class `healthy`, which `classes` does not list")),
        "{wrong:?}"
    );
    let single = messages(
        &text
            .replace("data all, seen [pos, neg]", "data pos, seen [pos]")
            .replacen("classes [covid, non_covid], ", "", 1),
    );
    assert!(
        single.iter().any(|m| m.contains("one class only")),
        "{single:?}"
    );
}

#[test]
fn a_partition_of_one_class_is_named_with_its_sources() {
    // Seen sources both covid-only: the training partition has one class.
    let text = one_label_study("")
        .replace("seen [cohen, kermany]", "seen [cohen, figure1]")
        .replace("unseen [figure1, nih]", "unseen [kermany, nih]");
    let (_dir, _, summary) = run_on_four_sources(&text);
    let messages: Vec<String> = summary.failed.iter().map(|(_, e)| e.summary()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("E0050")
            && messages[0].contains("has only covid (sources cohen, figure1)"),
        "{messages:?}"
    );
}

#[test]
fn proportions_carry_exact_intervals_and_the_report_states_its_methods() {
    let text = one_label_study("").replace(
        "evaluate [seen, unseen] }",
        "evaluate [seen, unseen], measure [auc, sensitivity, specificity], interval exact, positive covid }",
    );
    let (_dir, out, doc) = finished_run(&text);
    let e = doc.results.iter().find(|r| r.target == "e").expect("e");
    // The unseen partition holds figure1's 12 covid images: sensitivity is k/12 with its exact interval.
    let sensitivity = e
        .find("sensitivity", &["unseen".to_string()], None)
        .expect("sensitivity(unseen)");
    let value = sensitivity.value.expect("value");
    let k = (value * 12.0).round() as usize;
    assert!((value - k as f64 / 12.0).abs() < 1e-12, "{value}");
    let exact = study::eval::metrics::clopper_pearson_interval(k, 12, 0.95).expect("interval");
    assert_eq!(
        (sensitivity.lower, sensitivity.upper),
        (Some(exact.lower), Some(exact.upper))
    );
    assert!(exact.upper > exact.lower, "never zero-width");
    assert!(
        e.notes.iter().any(|n| n.contains("auc DeLong")
            && n.contains("sensitivity Clopper–Pearson")
            && n.contains("specificity Clopper–Pearson")),
        "{:?}",
        e.notes
    );
    assert!(
        e.notes.iter().any(|n| n.contains("decision threshold")),
        "{:?}",
        e.notes
    );
    // The seen partition (20% of 24 images) is small: its AUC is marked, in the document and the report.
    let seen = e
        .find("auc", &["seen".to_string()], None)
        .expect("auc(seen)");
    let caution = seen.caution.clone().unwrap_or_default();
    assert!(caution.contains("fewer than 10 of a class"), "{seen:?}");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    // Marked in its table, explained among the flags.
    assert!(md.contains(" ⚠ |"), "{md}");
    assert!(md.contains(&format!("(seen)` rests on {caution}")), "{md}");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
    assert!(
        csv.lines()
            .next()
            .is_some_and(|h| h.ends_with(",undefined,caution"))
    );
}

#[test]
fn occlusion_and_metadata_probes_read_the_partition_asked_for() {
    let probes = r#"crop centre_out = occlude(box(25%, 25%, 50%, 50%))
probe occluded = occlusion { crops [full, centre_out], model m, split s, preprocess p, train t }
probe meta = metadata_baseline(source) { split s }
hypothesis h "reads partitions" {
  confirmed when occluded.auc(centre_out, unseen).lower > 0.99 and meta.auc(unseen).lower > 0.99
  refuted when occluded.auc(full, seen).upper < 0.01 or meta.auc(seen).upper < 0.01
}
"#;
    let (_dir, out, doc) = finished_run(&one_label_study(probes));
    let args = |target: &str| -> Vec<Vec<String>> {
        let r = doc
            .results
            .iter()
            .find(|r| r.target == target)
            .expect(target);
        r.entries.iter().map(|e| e.args.clone()).collect()
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let occluded = args("occluded");
    for want in [
        strings(&["full"]),
        strings(&["full", "seen"]),
        strings(&["centre_out", "unseen"]),
    ] {
        assert!(occluded.contains(&want), "{want:?} in {occluded:?}");
    }
    // Every unseen source holds one label: no AUC of its own, no undefined line.
    assert!(!occluded.iter().any(|a| a.len() == 3), "{occluded:?}");
    let meta = args("meta");
    for want in [strings(&[]), strings(&["seen"]), strings(&["unseen"])] {
        assert!(meta.contains(&want), "{want:?} in {meta:?}");
    }
    assert!(!meta.iter().any(|a| a.len() == 2), "{meta:?}");
    // The verdict read the partitions' numbers (every term has a value).
    let confirmed = doc.verdicts[0].confirmed.as_ref().expect("rule");
    let terms: Vec<&str> = confirmed.terms.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        terms,
        [
            "occluded.auc(centre_out, unseen).lower",
            "meta.auc(unseen).lower"
        ]
    );
    assert!(
        confirmed.terms.iter().all(|t| t.value.is_some()),
        "{confirmed:?}"
    );

    // A partition the split does not hold is a check error with its span.
    let wrong = one_label_study(&probes.replace("meta.auc(unseen)", "meta.auc(test)"));
    let loaded = study::load_bytes("t.study", wrong.as_bytes(), Some(out.parent().unwrap()));
    let codes = loaded.diagnostics.codes();
    assert_eq!(codes, ["E0029"], "{codes:?}");
}

#[test]
fn test_sets_of_chosen_sources_work_in_measures_gaps_and_rules() {
    let text = one_label_study(
        r#"probe g = gap(e) { against covid_vs_kermany }
hypothesis h "pairs" {
  confirmed when e.auc(covid_vs_kermany).lower > 0.99 and g.gap.lower > 0.5
  refuted when e.auc(pooled).upper < 0.01
}
"#,
    )
    .replace(
        "fractions { train 60%, validation 20%, seen 20% } }",
        "fractions { train 60%, validation 20%, seen 20% }, tests { covid_vs_kermany [figure1, kermany], pooled [figure1, nih] } }",
    )
    .replace(
        "evaluate [seen, unseen] }",
        "evaluate [seen, unseen, covid_vs_kermany, pooled] }",
    );
    let (_dir, out, doc) = finished_run(&text);
    let value = |target: &str, field: &str, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        doc.results
            .iter()
            .find(|r| r.target == target)
            .and_then(|r| r.find(field, &args, None))
            .and_then(|e| e.value)
            .unwrap_or_else(|| panic!("{target}.{field}({args:?})"))
    };
    // A set of the unseen partition's sources is the unseen partition.
    assert_eq!(
        value("e", "auc", &["pooled"]),
        value("e", "auc", &["unseen"])
    );

    // Figure 1's covid images against Kermany's held-out negatives, from the predictions themselves.
    let predictions = std::fs::read_dir(out.join("cells"))
        .expect("cells")
        .flatten()
        .map(|d| d.path().join("predictions.json"))
        .find(|p| p.exists())
        .expect("an evaluate cell");
    let p: study::eval::predictions::Predictions =
        serde_json::from_slice(&std::fs::read(predictions).expect("reads")).expect("json");
    let positive = p.class_index("covid").expect("covid");
    let rows = p.rows.iter().filter(|r| {
        !["train", "validation"].contains(&r.partition.as_str())
            && ["figure1", "kermany"].contains(&r.source.as_str())
    });
    let (scores, labels) = p.binary(rows, positive);
    assert!(labels.iter().any(|l| *l) && labels.iter().any(|l| !*l));
    let direct = study::eval::metrics::auc(&study::eval::metrics::Scores::new(&scores, &labels))
        .get()
        .expect("defined");
    assert_eq!(value("e", "auc", &["covid_vs_kermany"]), direct);
    // The gap probe compares the held-out seen images with the set; its sources each hold one label, so
    // they get a note instead of undefined per-source lines.
    assert_eq!(value("g", "unseen", &[]), direct);
    let g = doc.results.iter().find(|r| r.target == "g").expect("g");
    assert!(
        g.entries.iter().all(|e| e.args.is_empty()),
        "{:?}",
        g.entries
    );
    assert!(
        g.notes
            .iter()
            .any(|n| n == "figure1 holds one class in covid_vs_kermany: it has no auc of its own"),
        "{:?}",
        g.notes
    );
    assert!(
        doc.verdicts[0]
            .confirmed
            .as_ref()
            .is_some_and(|c| c.terms.iter().all(|t| t.value.is_some()))
    );

    // A set names known sources, and no partition.
    for (set, code) in [
        ("pairs [figure1, hannover]", "E0027"),
        ("seen [figure1]", "E0011"),
    ] {
        let wrong = text.replace("covid_vs_kermany [figure1, kermany]", set);
        let loaded = study::load_bytes("t.study", wrong.as_bytes(), Some(out.parent().unwrap()));
        let codes = loaded.diagnostics.codes();
        assert!(codes.contains(&code), "{code}: {codes:?}");
    }
}

#[test]
fn a_one_label_source_gets_one_note_instead_of_undefined_lines() {
    let text = one_label_study("").replace(
        "evaluate [seen, unseen] }",
        "evaluate [seen, unseen], measure [auc, sensitivity, specificity], positive covid, per_source }",
    );
    let (_dir, _, doc) = finished_run(&text);
    let e = doc.results.iter().find(|r| r.target == "e").expect("e");
    let per_source: Vec<&study::probe::results::ResultEntry> =
        e.entries.iter().filter(|x| x.args.len() == 2).collect();
    assert!(
        per_source.iter().all(|x| x.estimate.undefined.is_none()),
        "no undefined per-source line: {per_source:?}"
    );
    // figure1 (unseen) is covid only: its sensitivity is there, its AUC and specificity are not.
    let of = |field: &str| {
        per_source
            .iter()
            .any(|x| x.field == field && x.args == ["unseen", "figure1"])
    };
    assert!(of("sensitivity") && !of("auc") && !of("specificity"));
    let notes: Vec<&String> = e
        .notes
        .iter()
        .filter(|n| n.starts_with("figure1 in unseen"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", e.notes);
    assert!(
        notes[0].starts_with("figure1 in unseen holds covid images only: sensitivity "),
        "{}",
        notes[0]
    );
    let nih: Vec<&String> = e
        .notes
        .iter()
        .filter(|n| n.starts_with("nih in unseen"))
        .collect();
    assert!(
        nih[0].starts_with("nih in unseen holds no covid image: specificity "),
        "{nih:?}"
    );
}

#[test]
fn a_problem_of_a_union_part_is_said_once() {
    let dir = tempfile::tempdir().expect("temp");
    for (k, (name, label)) in SOURCES.iter().enumerate().skip(1) {
        one_label_source(dir.path(), name, label, 12, k as u32 * 60);
    }
    // cohen.csv is missing: its dataset and the union that reads it both meet the problem.
    std::fs::write(dir.path().join("s.study"), one_label_study("")).expect("study");
    let (code, _, err) = common::study_in(Some(dir.path()), &["data", "s.study"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.matches("cannot read manifest `cohen.csv`").count(),
        1,
        "{err}"
    );
}

#[test]
fn the_number_of_trainings_is_bounded_and_the_bound_can_be_raised() {
    let dir = tempfile::tempdir().expect("temp");
    let text = one_label_study("").replace(
        "study \"designs\" { seed 2 }",
        "study \"designs\" { seed 2, repeats 1000 }",
    );
    // One grid point, one fold, 1000 repeats: under the default limit of 10 000.
    assert!(common::checked(&text, dir.path()).repeats == 1000);
    let wide = text.replace(
        "experiment e { model m,",
        "model m2 = cnn(channels: [2])\nmodel m3 = cnn(channels: [3])\nexperiment e { grid { model [m, m2, m3], crop [full, full2, full3, full4] },",
    )
    .replace("crop full = full", "crop full = full\ncrop full2 = center(90%)\ncrop full3 = center(80%)\ncrop full4 = center(70%)")
    .replace(", crop full, split s", ", split s");
    let loaded = study::load_bytes("t.study", wide.as_bytes(), Some(dir.path()));
    assert_eq!(
        loaded.diagnostics.codes(),
        ["E0036"],
        "12 points × 1000 repeats"
    );
    let raised = wide.replace("repeats 1000 }", "repeats 1000, max_trainings 12000 }");
    assert_eq!(common::checked(&raised, dir.path()).training_limit(), 12000);
    // A grid larger than the limit is refused before its points are made.
    let huge = raised.replace("max_trainings 12000", "max_trainings 5");
    let loaded = study::load_bytes("t.study", huge.as_bytes(), Some(dir.path()));
    let rendered: Vec<String> = loaded
        .diagnostics
        .items
        .iter()
        .map(|d| d.message.clone())
        .collect();
    assert!(
        rendered
            .iter()
            .any(|m| m == "the grid has 12 points, over the study's limit of 5 trainings"),
        "{rendered:?}"
    );
}
