//! The command line as a user meets it: exit codes, JSON output, formatting in place, explanations.

mod common;

fn study(args: &[&str]) -> (i32, String, String) {
    common::study_in(None, args)
}

#[test]
fn check_exits_zero_on_a_valid_study_and_one_on_an_invalid_one() {
    let (code, _, err) = study(&["check", "studies/quickstart.study"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ok"));
    let (code, _, err) = study(&["check", "tests/ui/undefined_name.study"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("study::E0012") && err.contains("did you mean `small`?"),
        "{err}"
    );
    let (code, _, err) = study(&[
        "check",
        "studies/quickstart.study",
        "tests/ui/zero_epochs.study",
    ]);
    assert_eq!(code, 1, "one invalid file makes the run fail: {err}");
}

#[test]
fn check_json_lists_every_diagnostic_with_its_position() {
    let (code, out, _) = study(&[
        "check",
        "--format",
        "json",
        "tests/ui/seen_and_unseen.study",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let diags = json[0]["diagnostics"].as_array().expect("diagnostics");
    let d = diags
        .iter()
        .find(|d| d["code"] == "study::E0023")
        .expect("E0023 reported");
    assert_eq!(d["severity"], "error");
    let primary = d["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .find(|l| l["primary"] == true)
        .expect("primary label");
    assert_eq!(primary["line"], 17);
    assert_eq!(primary["file"], "tests/ui/seen_and_unseen.study");
    assert_eq!(json[0]["valid"], false);
}

#[test]
fn check_of_a_missing_file_is_a_diagnostic_not_a_crash() {
    let (code, _, err) = study(&["check", "no/such/file.study"]);
    assert_eq!(code, 1);
    assert!(err.contains("study::E0002"), "{err}");
}

#[test]
fn plan_json_is_valid_json_and_stable() {
    let (code, first, err) = study(&["plan", "--json", "studies/quickstart.study"]);
    assert_eq!(code, 0, "{err}");
    let (_, second, _) = study(&["plan", "--json", "studies/quickstart.study"]);
    assert_eq!(first, second);
    let plan: serde_json::Value = serde_json::from_str(&first).expect("valid JSON");
    assert!(plan["cells"].as_array().is_some_and(|c| !c.is_empty()));
    let (code, summary, _) = study(&["plan", "studies/quickstart.study"]);
    assert_eq!(code, 0);
    assert!(
        summary.contains("cells:") && summary.contains("experiments:"),
        "{summary}"
    );
}

#[test]
fn fmt_rewrites_in_place_keeping_comments_and_check_reports_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.study");
    let messy = "// header comment\nstudy   \"s\"{seed 1}\n\n\n/* block\n   comment */\nmodel m=cnn(channels:[8,16]) // trailing\npreprocess p {\n  // inside\n  resize 64,channels 1\n}\n";
    std::fs::write(&path, messy).expect("write");
    let p = path.to_str().expect("utf-8 path");
    let (code, out, _) = study(&["fmt", "--check", p]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        messy,
        "--check must not write"
    );
    let (code, _, err) = study(&["fmt", p]);
    assert_eq!(code, 0, "{err}");
    let formatted = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        formatted,
        "// header comment\nstudy \"s\" { seed 1 }\n\n/* block\n   comment */\nmodel m = cnn(channels: [8, 16])  // trailing\npreprocess p {\n  // inside\n  resize 64\n  channels 1\n}\n"
    );
    let (code, _, _) = study(&["fmt", "--check", p]);
    assert_eq!(code, 0, "formatted output is a fixed point");
    let (code, _, _) = study(&["fmt", "tests/ui/syntax_unclosed_list.study"]);
    assert_eq!(code, 1, "a file that does not parse is not formatted");
}

#[test]
fn explain_prints_the_long_text_and_rejects_unknown_codes() {
    let (code, out, _) = study(&["explain", "E0012"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("study::E0012: undefined name")
            && out.contains("Wrong")
            && out.contains("Fixed"),
        "{out}"
    );
    let (code, out, _) = study(&["explain", "study::e0023"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = study(&["explain", "E9999"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown code"));
    let (_, all, _) = study(&["explain", "all"]);
    assert_eq!(all.lines().count(), study::diagnostics::Code::ALL.len());
}

#[test]
fn data_prints_counts_and_writes_the_preview() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("q.study");
    std::fs::copy("studies/quickstart.study", &path).expect("copy");
    let (code, out, err) = study(&["data", "--preview", path.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dataset phantom: 660 images"), "{out}");
    assert!(out.contains("label–source association"), "{out}");
    assert!(out.contains("split seen_unseen"), "{out}");
    let preview = dir.path().join("out/quickstart/preview-phantom.png");
    let img = image::open(&preview).expect("preview PNG");
    assert!(img.width() > 64 && img.height() > 64);
    let (code, _, err) = study(&["data", "tests/ui/undefined_name.study"]);
    assert_eq!(code, 1, "an invalid study is not read: {err}");
}
