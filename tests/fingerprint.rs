//! The study fingerprint hashes meaning: layout, comments and file organisation do not change it; any
//! change of meaning does. Cell ids change exactly for the cells a change reaches.

const STUDY: &str = r#"study "fp" { seed 3, repeats 2 }
dataset phantom = synthetic {
  size 64
  source a { images 40, covid 80% }
  source b { images 40, covid 20% }
  source c { images 40 }
}
crop full = full
preprocess p { resize 64 }
model small = cnn(channels: [8, 16])
train quick { optimizer adam(lr: 1e-3), epochs 2 }
split s = by_source { data phantom, seen ["a", "b"], unseen ["c"] }
experiment e { model small, crop full, split s, preprocess p, train quick }
probe sp = predict(source) { model small, crop full, split s, preprocess p, train quick }
hypothesis h "the source is predictable" { confirmed when sp.auc.lower > 0.9 }
hypothesis g "the model generalises" { refuted when e.auc(unseen).upper < 0.7 }
"#;

fn fingerprint_of(text: &str) -> String {
    let loaded = study::load_bytes("fp.study", text.as_bytes(), None);
    study::plan::fingerprint(
        &loaded
            .study
            .unwrap_or_else(|| panic!("invalid: {:?}", loaded.diagnostics)),
    )
}

fn plan_of(text: &str) -> study::plan::Plan {
    study::plan::plan(
        &study::load_bytes("fp.study", text.as_bytes(), None)
            .study
            .expect("valid"),
    )
}

#[test]
fn comments_layout_and_declaration_order_do_not_change_it() {
    let base = fingerprint_of(STUDY);
    let commented = STUDY.replace(
        "crop full = full",
        "// the whole image\ncrop full = full   // no crop",
    );
    assert_eq!(base, fingerprint_of(&commented));
    let spread = STUDY.replace(
        "{ optimizer adam(lr: 1e-3), epochs 2 }",
        "{\n  optimizer adam(lr: 1e-3)\n\n  epochs 2\n}",
    );
    assert_eq!(base, fingerprint_of(&spread));
    let reordered = STUDY.replace("crop full = full\n", "") + "crop full = full\n";
    assert_eq!(base, fingerprint_of(&reordered));
}

#[test]
fn moving_declarations_into_an_included_file_does_not_change_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (head, rest) = STUDY.split_at(STUDY.find("crop full").expect("crop"));
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).expect("lib dir");
    std::fs::write(lib.join("shared.study"), rest).expect("write lib");
    std::fs::write(
        dir.path().join("main.study"),
        format!("{head}include \"lib/shared.study\"\n"),
    )
    .expect("write main");
    let loaded = study::load(&dir.path().join("main.study"));
    let split = study::plan::fingerprint(&loaded.study.expect("valid with include"));
    assert_eq!(fingerprint_of(STUDY), split);
}

#[test]
fn paths_are_resolved_relative_to_the_file_that_writes_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).expect("lib dir");
    let csv = "dataset d = csv(\"DATA\") { image column \"path\", label column \"label\", source column \"source\" }\nsplit r = random { data d }\nexperiment x { model small, crop full, split r, preprocess p, train quick }\n";
    std::fs::write(
        dir.path().join("a.study"),
        format!("{STUDY}{}", csv.replace("DATA", "data/m.csv")),
    )
    .expect("write");
    std::fs::write(lib.join("d.study"), csv.replace("DATA", "../data/m.csv")).expect("write");
    std::fs::write(
        dir.path().join("b.study"),
        format!("{STUDY}include \"lib/d.study\"\n"),
    )
    .expect("write");
    let fp = |name: &str| {
        study::plan::fingerprint(&study::load(&dir.path().join(name)).study.expect("valid"))
    };
    assert_eq!(fp("a.study"), fp("b.study"));
}

#[test]
fn every_change_of_meaning_changes_it() {
    let base = fingerprint_of(STUDY);
    let changes = [
        ("seed 3", "seed 4"),
        ("repeats 2", "repeats 3"),
        ("lr: 1e-3", "lr: 2e-3"),
        ("covid 80%", "covid 81%"),
        ("channels: [8, 16]", "channels: [16, 8]"),
        ("resize 64", "resize 96"),
        ("sp.auc.lower > 0.9", "sp.auc.lower >= 0.9"),
        (
            "\"the source is predictable\"",
            "\"the source can be predicted\"",
        ),
        ("unseen [\"c\"]", "unseen [\"c\"], group patient"),
    ];
    for (from, to) in changes {
        assert!(STUDY.contains(from), "{from}");
        assert_ne!(
            base,
            fingerprint_of(&STUDY.replace(from, to)),
            "changing `{from}` to `{to}` kept the fingerprint"
        );
    }
}

#[test]
fn editing_one_hypothesis_changes_only_its_verdict_and_the_report() {
    let before = plan_of(STUDY);
    let after = plan_of(&STUDY.replace("sp.auc.lower > 0.9", "sp.auc.lower > 0.95"));
    let changed: Vec<&str> = before
        .cells
        .iter()
        .zip(&after.cells)
        .filter(|(a, b)| a.id != b.id)
        .map(|(a, _)| a.name.as_str())
        .collect();
    assert_eq!(changed, vec!["verdict/h", "report"]);
}

#[test]
fn a_training_change_reaches_its_dependents_only() {
    let before = plan_of(STUDY);
    let after = plan_of(&STUDY.replace("epochs 2", "epochs 3"));
    for (a, b) in before.cells.iter().zip(&after.cells) {
        let reached = a.name.starts_with("train")
            || a.name.starts_with("evaluate")
            || a.name.starts_with("aggregate")
            || a.name.starts_with("probe")
            || a.name.starts_with("verdict")
            || a.name == "report";
        assert_eq!(a.id != b.id, reached, "{}", a.name);
    }
}

#[test]
fn cell_seeds_depend_on_the_study_seed_and_the_cell() {
    let a = plan_of(STUDY);
    let b = plan_of(&STUDY.replace("seed 3", "seed 4"));
    let seeds: std::collections::HashSet<u64> = a.cells.iter().map(|c| c.seed).collect();
    assert_eq!(seeds.len(), a.cells.len(), "two cells share a seed");
    assert!(a.cells.iter().zip(&b.cells).all(|(x, y)| x.seed != y.seed));
}
