//! `study power`: the analytic report before any training, the W0003 warning of `study check`, and the
//! synthetic twin's detection and false-alarm rates with `--simulate`.

mod common;

use std::path::Path;

fn study(args: &[&str]) -> (i32, String, String) {
    common::study_in(None, args)
}

#[test]
fn power_names_each_rules_counts_and_detectable_effect_and_both_outcomes() {
    let (code, out, err) = study(&["power", "studies/quickstart.study"]);
    assert_eq!(code, 0, "{err}");
    // Every comparison says what it rests on and the smallest true value that makes it hold with 80 %.
    let terms = out.matches("\n    source_probe.auc.lower > 0.9\n").count()
        + out
            .matches("\n    generalisation.gap.lower > 0.1\n")
            .count()
        + out
            .matches("\n    main[crop = full].auc(unseen).lower > 0.8\n")
            .count();
    assert_eq!(terms, 3, "{out}");
    assert_eq!(out.matches("holds with 80 % once").count(), 3, "{out}");
    assert!(
        out.contains("an AUC on 80 positive and 80 negative image(s)"),
        "{out}"
    );
    assert!(
        out.contains("can be confirmed: yes; can be refuted: yes"),
        "{out}"
    );
}

#[test]
fn an_assumed_true_value_gives_the_probability_that_the_rule_holds() {
    let (code, out, err) = study(&[
        "power",
        "studies/quickstart.study",
        "--assume",
        "main[crop = full].auc(unseen) = 0.95",
    ]);
    assert_eq!(code, 0, "{err}");
    // At 0.95 on 80 + 80 images the lower bound clears 0.8 almost surely.
    assert!(
        out.contains("at the assumed values it holds with 100 %"),
        "{out}"
    );
    let (code, _, err) = study(&[
        "power",
        "studies/quickstart.study",
        "--assume",
        "main[crop = full].auc(unseen) = 0.95",
        "--assume",
        "main[crop=full].auc(unseen)=0.5",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("assumed twice"), "{err}");
    let (code, _, err) = study(&[
        "power",
        "studies/quickstart.study",
        "--assume",
        "main.auc(unseen).lower=0.75",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("study::E0072") && err.contains("no rule reads"),
        "{err}"
    );
}

#[test]
fn a_study_built_to_be_undecidable_is_flagged_by_power_and_by_check() {
    let (code, out, _) = study(&["power", "tests/ui/undecidable_by_design.study"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("can be confirmed: no; can be refuted: no — inconclusive by design"),
        "{out}"
    );
    let (code, _, err) = study(&["check", "tests/ui/undecidable_by_design.study"]);
    assert_eq!(code, 0, "a warning leaves the study valid: {err}");
    assert!(err.contains("study::W0003"), "{err}");
    // The quickstart and its control can decide: no warning.
    for file in [
        "studies/quickstart.study",
        "studies/quickstart-control.study",
    ] {
        let (_, _, err) = study(&["check", file]);
        assert!(!err.contains("W0003"), "{file}: {err}");
    }
}

#[test]
fn power_names_the_detectable_auc_of_every_rule_of_the_cross_source_study() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cxr-real/manifest.csv");
    if !shared.exists() {
        eprintln!("skipped: {} is absent", shared.display());
        return;
    }
    let (code, out, err) = study(&["--allow-outside", "power", "studies/cross-source.study"]);
    assert_eq!(code, 0, "{err}");
    let comparisons = out
        .lines()
        .filter(|l| l.starts_with("    main.") || l.starts_with("    external."))
        .count();
    assert_eq!(comparisons, 6, "{out}");
    assert_eq!(out.matches("holds with 80 % once").count(), 6, "{out}");
    assert!(
        out.contains("an AUC on 34 positive and 200 negative image(s)"),
        "{out}"
    );
}

/// The twin on the tiny fixture, reduced: both scenarios, two seeds each, counted into power.json.
#[test]
fn simulate_counts_the_twins_verdicts_per_scenario_with_intervals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("power");
    let args = [
        "power",
        "tests/fixtures/tiny-run.study",
        "--simulate",
        "2",
        "--size",
        "16",
        "--epochs",
        "1",
        "--out",
        out.to_str().expect("utf-8"),
    ];
    let (code, text, err) = study(&args);
    assert_eq!(code, 0, "{text}\n{err}");
    assert!(
        text.contains("at reduced settings (images 16 px, 1 epoch(s))"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("power.json")).expect("power.json"))
            .expect("parses");
    let scenarios = json["hypotheses"][0]["scenarios"]
        .as_array()
        .expect("scenarios");
    assert_eq!(scenarios.len(), 2);
    for s in scenarios {
        assert_eq!(s["finished"], 2, "{s}");
        let rates = s["rates"].as_array().expect("rates");
        let counted: u64 = rates
            .iter()
            .map(|r| r[1]["count"].as_u64().expect("count"))
            .sum();
        assert_eq!(counted, 2, "every finished run has one outcome: {s}");
        for r in rates {
            let (lo, share, hi) = (
                r[1]["lower"].as_f64().unwrap(),
                r[1]["share"].as_f64().unwrap(),
                r[1]["upper"].as_f64().unwrap(),
            );
            assert!(
                lo <= share && share <= hi && hi - lo > 0.3,
                "a Wilson interval on 2 runs: {r}"
            );
        }
    }
    let html = std::fs::read_to_string(out.join("power.html")).expect("power.html");
    assert_eq!(html.matches("<svg").count(), 1, "one figure per hypothesis");
    // A second call reuses every finished run and gives the same counts.
    let (code, again, err) = study(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, text);
    assert!(!err.contains("failed"), "{err}");
}
