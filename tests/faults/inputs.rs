//! Faults in what a run reads: a same-size edit hidden behind a restored modification time, files that
//! change during a run, a manifest linked from outside the study's folder, CRLF manifests, file names that
//! are not UTF-8, and a million rows of one mistake.

use super::{common, run_command, study};
use std::path::{Path, PathBuf};

/// A study over 8 PNGs in `dir` (manifest `manifest.csv`), its file.
fn png_study(dir: &Path, rows: usize) -> PathBuf {
    let manifest = common::png_manifest(dir, rows as u32);
    std::fs::write(dir.join("manifest.csv"), manifest).expect("manifest");
    let file = dir.join("s.study");
    std::fs::write(&file, common::png_study("s", "manifest.csv", "")).expect("study");
    file
}

/// Swaps the labels of rows 1 and 2 (same length), then puts the modification time back.
fn swap_labels_keeping_time(manifest: &Path) {
    let before = std::fs::metadata(manifest)
        .expect("stat")
        .modified()
        .expect("mtime");
    let text = std::fs::read_to_string(manifest).expect("reads");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[1] = lines[1].replace("covid", "normal");
    lines[2] = lines[2].replace("normal", "covid");
    let edited = lines.join("\n") + "\n";
    assert_eq!(edited.len(), text.len(), "the edit keeps the size");
    assert_ne!(edited, text);
    std::fs::write(manifest, edited).expect("writes");
    let file = std::fs::File::options()
        .write(true)
        .open(manifest)
        .expect("opens");
    file.set_modified(before).expect("restores the time");
}

#[test]
fn a_same_size_edit_with_its_time_restored_is_refused_by_locked() {
    let dir = tempfile::tempdir().expect("temp");
    let file = png_study(dir.path(), 8);
    let out = dir.path().join("out");
    let lock = study().arg("lock").arg(&file).output().expect("locks");
    assert!(
        lock.status.success(),
        "{}",
        String::from_utf8_lossy(&lock.stderr)
    );
    let first = run_command(&out, &file, &["--locked"])
        .output()
        .expect("runs");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    swap_labels_keeping_time(&dir.path().join("manifest.csv"));
    let locked = run_command(&out, &file, &["--locked"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert_eq!(locked.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E0065") && stderr.contains("manifest.csv"),
        "{stderr}"
    );
    // A plain run trusts the memo and says so in its provenance.
    let plain = run_command(&out, &file, &[]).output().expect("runs");
    assert!(plain.status.success());
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results"))
            .expect("json");
    let check = &raw["provenance"]["input_check"];
    assert!(
        check["recognised"].as_u64().is_some_and(|n| n > 0),
        "{check}"
    );
}

#[test]
fn files_that_change_during_a_run_publish_nothing_and_leave_no_mixed_cell() {
    let dir = tempfile::tempdir().expect("temp");
    let file = png_study(dir.path(), 8);
    let loaded = study::load(&file);
    let plan = study::plan(&loaded.study.expect("valid"));
    let out = dir.path().join("out");
    let manifest = dir.path().join("manifest.csv");
    let original = std::fs::read(&manifest).expect("reads");
    // The run binds to the files as they are, then a row is corrected before its cells read them.
    let claimed = study::claim(&plan, dir.path(), &out).expect("claims");
    let edited = String::from_utf8(original.clone())
        .unwrap()
        .replacen("covid", "normal", 1);
    std::fs::write(&manifest, edited).expect("edits");
    let err = claimed
        .run(&study::exec::Options::new(&out))
        .expect_err("the inputs moved");
    assert!(err.summary().contains("E0073"), "{}", err.summary());
    assert!(err.summary().contains("manifest.csv"), "{}", err.summary());
    assert!(!out.join("results.json").exists(), "nothing published");
    drop(claimed);
    // Files restored: the run equals a fresh run, not one mixing the edit in.
    std::fs::write(&manifest, &original).expect("restores");
    let summary = study::run(&plan, dir.path(), &study::exec::Options::new(&out)).expect("runs");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let fresh = dir.path().join("fresh");
    study::run(&plan, dir.path(), &study::exec::Options::new(&fresh)).expect("runs");
    assert_eq!(
        common::results_without_times(&out),
        common::results_without_times(&fresh)
    );
}

#[test]
fn a_manifest_linked_from_outside_the_folder_is_refused_unquoted() {
    let outside = tempfile::tempdir().expect("temp");
    let secret = outside.path().join("secret.csv");
    std::fs::write(&secret, "password,hunter2\n").expect("writes");
    let dir = tempfile::tempdir().expect("temp");
    std::os::unix::fs::symlink(&secret, dir.path().join("m.csv")).expect("links");
    let file = dir.path().join("s.study");
    std::fs::write(&file, common::png_study("s", "m.csv", "")).expect("study");
    let checked = study().arg("data").arg(&file).output().expect("runs");
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E0035") && stderr.contains("symbolic link"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the file's text is not shown:\n{stderr}"
    );
}

#[test]
fn a_crlf_manifest_is_placed_on_the_right_lines() {
    let dir = tempfile::tempdir().expect("temp");
    let mut rows: Vec<String> = common::png_manifest(dir.path(), 8)
        .lines()
        .map(String::from)
        .collect();
    rows.push(rows[2].clone()); // line 3 again, as line 10
    std::fs::write(dir.path().join("manifest.csv"), rows.join("\r\n") + "\r\n").expect("writes");
    let file = dir.path().join("s.study");
    std::fs::write(&file, common::png_study("s", "manifest.csv", "")).expect("study");
    let data = study().arg("data").arg(&file).output().expect("runs");
    let stderr = String::from_utf8_lossy(&data.stderr);
    assert!(stderr.contains("E0047"), "{stderr}");
    assert!(stderr.contains("first on line 3"), "{stderr}");
    assert!(stderr.contains("manifest.csv:10:1"), "{stderr}");
}

#[test]
fn a_file_name_that_is_not_utf8_is_named_as_a_data_problem() {
    use std::os::unix::ffi::OsStrExt;
    // A folder dataset (a manifest row that is not UTF-8 is already E0041, "row N is not valid UTF-8").
    let dir = tempfile::tempdir().expect("temp");
    common::png_manifest(dir.path(), 8);
    for (k, class) in [
        (0, "a/covid"),
        (1, "a/normal"),
        (2, "b/covid"),
        (3, "b/normal"),
    ] {
        let folder = dir.path().join("f").join(class);
        std::fs::create_dir_all(&folder).expect("mkdir");
        for n in [k, k + 4] {
            let from = dir.path().join(format!("images/{n}.png"));
            std::fs::copy(from, folder.join(format!("{n}.png"))).expect("copies");
        }
    }
    let odd = dir
        .path()
        .join("f/a/covid")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    std::fs::copy(dir.path().join("images/0.png"), &odd).expect("copies");
    let file = dir.path().join("s.study");
    let text = common::png_study("s", "unused.csv", "").replace(
        r#"csv("unused.csv") { image column "path", label column "label", source column "source" }"#,
        r#"folders("f") { layout source_then_class }"#,
    );
    assert!(text.contains("folders(\"f\")"), "{text}");
    std::fs::write(&file, text).expect("study");
    let run = run_command(&dir.path().join("out"), &file, &[])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("E0066"), "{stderr}");
    assert!(stderr.contains("E0043"), "{stderr}");
    assert!(
        stderr.contains("caf") && stderr.contains("not valid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn a_million_rows_of_one_mistake_are_told_a_few_times_and_counted() {
    let dir = tempfile::tempdir().expect("temp");
    let mut rows = common::png_manifest(dir.path(), 8);
    let again = "images/1.png,normal,a\n";
    rows.reserve(again.len() * 1_000_000);
    for _ in 0..1_000_000 {
        rows.push_str(again);
    }
    std::fs::write(dir.path().join("manifest.csv"), rows).expect("writes");
    let file = dir.path().join("s.study");
    std::fs::write(&file, common::png_study("s", "manifest.csv", "")).expect("study");
    let data = study().arg("data").arg(&file).output().expect("runs");
    let stderr = String::from_utf8_lossy(&data.stderr);
    assert_eq!(data.status.code(), Some(1));
    assert!(stderr.len() < 200_000, "{} bytes of messages", stderr.len());
    assert!(
        stderr.contains("and 999,950 more row(s) with problems"),
        "{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
}
