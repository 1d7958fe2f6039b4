//! The real-data studies on the real X-rays in ../shared/data/cxr-real: studies/real-cxr.study in a reduced
//! form (one repeat, no segmenter) and studies/cross-source.study whole. Skipped, with a message, where that
//! folder is absent. They assert what the data must show: the source is predictable from the images far
//! above chance, a covid classifier trained on two sources scores higher on their held-out images than on
//! unseen sources, and across sources it separates adults from children, not covid from non-covid.

use std::path::Path;
use study::exec::Options;

#[test]
fn real_xrays_show_the_source_shortcut() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !shared.join("cxr-real/manifest.csv").exists() {
        eprintln!(
            "skipped: {} is absent (real X-rays are not shipped with the project)",
            shared.join("cxr-real").display()
        );
        return;
    }
    let original = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/real-cxr.study"),
    )
    .expect("study");
    // Reduced: absolute data paths, one repeat, no lung segmenter (the lungs-out arm and its hypothesis go).
    let mut text = original
        .replace("../../shared/data", &shared.display().to_string())
        .replace("repeats 2", "repeats 1");
    let cut = |text: &str, from: &str, to: &str| -> String {
        let a = text.find(from).unwrap_or_else(|| panic!("no `{from}`"));
        let b = a + text[a..]
            .find(to)
            .unwrap_or_else(|| panic!("no `{to}` after `{from}`"));
        format!("{}{}", &text[..a], &text[b..])
    };
    text = cut(&text, "dataset lung_masks", "crop full");
    text = cut(&text, "crop lungs_out", "preprocess small");
    text = text.replace("grid { crop [full, lungs_out] }", "crop full");
    text = cut(&text, "probe occluded", "probe generalisation");
    text.truncate(
        text.find("hypothesis lungs_not_needed")
            .expect("second hypothesis"),
    );
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("real-cxr-reduced.study");
    std::fs::write(&path, &text).expect("write");
    let loaded = study::load_with(&path, study::source::Reach::Anywhere);
    let s = loaded.study.unwrap_or_else(|| {
        panic!(
            "{}\n{text}",
            study::diagnostics::render_all(
                &loaded.diagnostics,
                &loaded.sources,
                study::diagnostics::Style::plain()
            )
        )
    });
    let plan = study::plan::plan(&s);
    let options = Options::new(dir.path().join("out"));
    let outcome = study::run(&plan, dir.path(), &options).expect("runs");
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let doc: study::report::Document = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/results.json")).expect("results"),
    )
    .expect("parses");
    let get = |target: &str, field: &str, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        doc.results
            .iter()
            .find(|r| r.target == target)
            .and_then(|r| r.find(field, &args, None))
            .cloned()
            .unwrap_or_else(|| panic!("no {target}.{field}"))
    };
    let source = get("source_probe", "auc", &[]);
    let baseline = get("source_probe", "baseline", &[])
        .value
        .expect("baseline");
    let accuracy = get("source_probe", "accuracy", &[])
        .value
        .expect("accuracy");
    assert!(
        source.lower.expect("interval") > 0.85,
        "source AUC {source:?}"
    );
    assert!(
        accuracy > baseline + 0.2,
        "source accuracy {accuracy} vs majority {baseline}"
    );
    let seen = get("main", "auc", &["seen"]).value.expect("seen");
    let unseen = get("main", "auc", &["unseen"]).value.expect("unseen");
    assert!(seen > unseen + 0.1, "seen AUC {seen} vs unseen {unseen}");
    let gap = get("generalisation", "gap", &[]);
    assert!(gap.lower.expect("interval") > 0.0, "gap {gap:?}");
    // The report's first screen: the verdict with its reason, and the flags that apply to real data.
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).expect("report.md");
    let first = &md[..md.find("## Results").expect("results")];
    assert!(
        first.contains("**Confirmed: the source is predicted from the image with AUC"),
        "{first}"
    );
    // Figure 1 sends 5 non-covid images among its unseen ones: its AUC rests on few of a class.
    assert!(
        first.contains("`main.auc(unseen, figure1-covid-chestxray)` rests on"),
        "{first}"
    );
    // Where the threshold calls 95 % or more of the unseen images one class, the report says so.
    let main = doc
        .results
        .iter()
        .find(|r| r.target == "main")
        .expect("main");
    let unseen = main.details["confusion"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["partition"] == "unseen"))
        .expect("confusion on unseen");
    let n = |k: &str| unseen[k].as_f64().expect("count");
    let called = (n("tp") + n("fp")) / (n("tp") + n("fp") + n("tn") + n("fn"));
    let one_class = called.max(1.0 - called) >= 0.95;
    assert_eq!(
        first.contains("**Threshold**: in `main`"),
        one_class,
        "{called}: {first}"
    );
}

#[test]
fn the_lung_segmenter_learns_the_manual_masks() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !shared.join("lung-masks/manifest.csv").exists() {
        eprintln!("skipped: {} is absent", shared.join("lung-masks").display());
        return;
    }
    let original = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/real-cxr.study"),
    )
    .expect("study");
    let text = original
        .replace("../../shared/data", &shared.display().to_string())
        .replace("  epochs 15\n", "  epochs 6\n");
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("segmenter.study");
    std::fs::write(&path, &text).expect("write");
    let s = study::load_with(&path, study::source::Reach::Anywhere)
        .study
        .expect("valid");
    let plan = study::plan::plan(&s);
    let options = Options {
        only: Some("segmenter/lungs".into()),
        ..Options::new(dir.path().join("out"))
    };
    // The cells' ids cover the bytes of the images: the run's plan is the one bound to them.
    let claimed = study::claim(&plan, dir.path(), &options.out).expect("claims");
    let outcome = claimed.run(&options).expect("runs");
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let cell = claimed
        .plan
        .cells
        .iter()
        .find(|c| c.name == "segmenter/lungs")
        .expect("cell");
    let result: study::probe::SegmenterResult =
        study::exec::store::Store::new(dir.path().join("out"))
            .read_json(cell, "segmenter.json")
            .expect("written");
    // 270 manual masks: a fifth held out.
    assert_eq!((result.train_images, result.holdout_images), (216, 54));
    let (dice, iou) = (result.dice.expect("dice"), result.iou.expect("iou"));
    assert!(
        dice > 0.8 && iou > 0.65 && iou < dice,
        "Dice {dice}, IoU {iou}"
    );
    assert!(
        result.losses.last() < result.losses.first(),
        "{:?}",
        result.losses
    );
}

#[test]
fn cross_source_pairs_show_what_the_network_learned() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !shared.join("cxr-real/manifest.csv").exists() {
        eprintln!("skipped: {} is absent", shared.join("cxr-real").display());
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/cross-source.study");
    let s = study::load_with(&file, study::source::Reach::Anywhere)
        .study
        .expect("valid");
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    let summary = study::run(
        &study::plan(&s),
        &study::study_root(&file),
        &Options::new(&out),
    )
    .expect("runs");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let doc: study::report::Document =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results"))
            .expect("parses");
    let auc = |args: &str| {
        doc.results
            .iter()
            .find(|r| r.target == "main")
            .and_then(|r| r.find("auc", &[args.to_string()], None))
            .and_then(|e| e.value)
            .unwrap_or_else(|| panic!("main.auc({args})"))
    };
    // Adults against children is learned; covid against non-covid among adults is not.
    assert!(auc("seen") > 0.9, "seen {}", auc("seen"));
    assert!(
        auc("figure1_vs_kermany") > 0.9,
        "{}",
        auc("figure1_vs_kermany")
    );
    assert!(auc("unseen") < 0.7, "unseen {}", auc("unseen"));
    assert!(auc("cohen_vs_nih") < 0.7, "{}", auc("cohen_vs_nih"));
    for v in &doc.verdicts {
        assert_eq!(
            format!("{:?}", v.outcome),
            "Confirmed",
            "{}: {}",
            v.hypothesis,
            v.reason
        );
    }
}
