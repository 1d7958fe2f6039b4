//! What a study touches is visible and bounded: `study plan` lists the files it reads and the folder it
//! writes; paths outside the study's folder need `--allow-outside`; diagnostics quote manifests, never
//! other files.

mod common;

use std::path::Path;

fn study(dir: &Path, args: &[&str]) -> (i32, String, String) {
    common::study_in(Some(dir), args)
}

fn study_text(manifest: &str) -> String {
    common::png_study("reach", manifest, "")
}

#[test]
fn data_outside_the_study_folder_needs_the_flag() {
    let dir = tempfile::tempdir().expect("temp");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("manifest.csv"), common::png_manifest(&data, 8)).expect("manifest");
    let studies = dir.path().join("studies");
    std::fs::create_dir_all(&studies).expect("mkdir");
    std::fs::write(studies.join("s.study"), study_text("../data/manifest.csv")).expect("study");

    for command in ["check", "plan", "run", "lock", "data"] {
        let (code, _, err) = study(dir.path(), &[command, "studies/s.study"]);
        assert_eq!(code, 1, "{command}: {err}");
        assert!(
            err.contains("E0035") && err.contains("`../data/manifest.csv` is outside"),
            "{command}: {err}"
        );
    }
    assert!(
        !studies.join("out").exists() && !studies.join("s.lock").exists(),
        "nothing was written"
    );

    let (code, _, err) = study(
        dir.path(),
        &["run", "--quiet", "--allow-outside", "studies/s.study"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(studies.join("out/reach/results.json").exists());
}

#[test]
fn study_plan_lists_the_files_read_and_the_folder_written() {
    let dir = tempfile::tempdir().expect("temp");
    std::fs::write(
        dir.path().join("manifest.csv"),
        common::png_manifest(dir.path(), 8),
    )
    .expect("manifest");
    std::fs::write(dir.path().join("s.study"), study_text("manifest.csv")).expect("study");
    let (code, out, err) = study(dir.path(), &["plan", "s.study"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("reads (paths from the study's folder):\n")
            && out.contains("images/ (8 files)")
            && out.contains("<- prepare/d")
            && out
                .lines()
                .any(|l| l.trim_start().starts_with("manifest.csv")),
        "{out}"
    );
    assert!(
        out.contains("writes (unless `study run --out` says otherwise):\n  out/reach/"),
        "{out}"
    );
    assert!(!dir.path().join("out").exists(), "planning writes nothing");

    // The JSON plan carries each file with its hash, and the ids a run then uses.
    let (code, json, err) = study(dir.path(), &["plan", "--json", "s.study"]);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&json).expect("json");
    let prepare = plan["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["name"] == "prepare/d")
        .expect("prepare/d");
    assert_eq!(prepare["inputs"].as_object().expect("inputs").len(), 9);
    let (code, _, err) = study(dir.path(), &["run", "--quiet", "s.study"]);
    assert_eq!(code, 0, "{err}");
    let written: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/reach/plan.json")).expect("plan.json"),
    )
    .expect("json");
    assert_eq!(
        written["plan"]["cells"], plan["cells"],
        "the planned ids are the run's"
    );
}

#[test]
fn diagnostics_quote_manifests_never_other_files() {
    let dir = tempfile::tempdir().expect("temp");
    let secret = "SECRET-FIRST-LINE:x:0:0\nSECRET-SECOND-LINE\n";
    std::fs::write(dir.path().join("notes.txt"), secret).expect("writes");
    std::fs::write(dir.path().join("s.study"), study_text("notes.txt")).expect("study");
    for command in ["data", "run"] {
        let (code, out, err) = study(dir.path(), &[command, "s.study"]);
        assert_eq!(code, 1, "{command}: {err}");
        assert!(err.contains("E0042"), "{command}: {err}");
        assert!(
            !err.contains("SECRET") && !out.contains("SECRET"),
            "{command} shows the file's text:\n{err}"
        );
        assert!(err.contains("not a .csv file"), "{command}: {err}");
    }
    // The same text as a .csv manifest: its header is quoted, to help map the columns.
    std::fs::write(dir.path().join("notes.csv"), secret).expect("writes");
    std::fs::write(dir.path().join("s.study"), study_text("notes.csv")).expect("study");
    let (code, _, err) = study(dir.path(), &["data", "s.study"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("SECRET-FIRST-LINE"), "{err}");
}
