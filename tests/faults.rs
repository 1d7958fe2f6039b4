//! Faults around the output folder, each reproduced for real: a second run into a folder a run is
//! writing, a run killed while its cell processes compute, a folder of the user's files given as `--out`.
//! Kills during training are in `faults/checkpoints.rs`, faults in what a run reads in `faults/inputs.rs`,
//! in what the tool writes and reads back in `faults/outputs.rs`.

#[path = "faults/checkpoints.rs"]
mod checkpoints;
mod common;
#[path = "faults/inputs.rs"]
mod inputs;
#[path = "faults/outputs.rs"]
mod outputs;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-run.study")
}

fn study() -> Command {
    Command::new(env!("CARGO_BIN_EXE_study"))
}

/// `study run --quiet [extra] --out OUT FILE`, ready to run or spawn.
fn run_command(out: &Path, file: &Path, extra: &[&str]) -> Command {
    let mut command = study();
    command
        .args(["run", "--quiet"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg(file);
    command
}

#[test]
fn a_second_run_into_a_folder_in_use_is_refused_with_the_holder() {
    let out = tempfile::tempdir().expect("temp");
    let claim = study::exec::claim(out.path()).expect("the folder is free");
    let second = run_command(out.path(), &fixture(), &[])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("E0070"), "{stderr}");
    assert!(
        stderr.contains(&format!("process {}", std::process::id())),
        "the diagnostic names the process holding the folder:\n{stderr}"
    );
    assert!(
        !out.path().join("cells").exists(),
        "the refused run wrote nothing"
    );
    // Within one process too, the claim is exclusive while it is held, and free once dropped.
    let again = study::exec::claim(out.path()).expect_err("held");
    assert!(again.summary().contains("E0070"), "{}", again.summary());
    drop(claim);
    study::exec::claim(out.path()).expect("released");
}

#[test]
fn a_killed_run_releases_its_folder() {
    let out = tempfile::tempdir().expect("temp");
    let mut child = run_command(out.path(), &fixture(), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    wait_for(|| out.path().join("run.log").exists(), "the run to start");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    study::exec::claim(out.path()).expect("the kernel released the lock of the killed run");
}

#[test]
fn a_folder_of_other_files_is_never_written_into() {
    let out = tempfile::tempdir().expect("temp");
    std::fs::write(out.path().join("report.md"), "my notes\n").expect("writes");
    std::fs::write(out.path().join("data.csv"), "a,b\n").expect("writes");
    let run = run_command(out.path(), &fixture(), &[])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("E0060"), "{stderr}");
    assert!(stderr.contains("`data.csv`, `report.md`"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("report.md")).expect("kept"),
        "my notes\n"
    );
    let mut left: Vec<String> = std::fs::read_dir(out.path())
        .expect("lists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["data.csv", "report.md"], "nothing was added");
}

#[test]
fn what_a_run_killed_early_left_is_still_its_folder() {
    // A run killed after creating `cells/` but before writing `study.json` leaves only its own entries.
    let out = tempfile::tempdir().expect("temp");
    std::fs::create_dir_all(out.path().join("cells")).expect("creates");
    std::fs::write(out.path().join("run.log"), "").expect("writes");
    study::exec::claim(out.path()).expect("accepted as a study output");
}

/// Processes whose parent is `parent` and whose command line contains `needle` (Linux's /proc).
#[cfg(target_os = "linux")]
fn children_of(parent: u32, needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid …`: the fields after the last `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[cfg(target_os = "linux")]
#[test]
fn cell_processes_die_with_their_run() {
    // The tiny study with trainings long enough (minutes) that a cell process outlives any wait below
    // unless it dies with its run.
    let dir = tempfile::tempdir().expect("temp");
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    assert!(
        text.contains("  epochs 2\n"),
        "the fixture's training has 2 epochs"
    );
    let long = dir.path().join("long.study");
    std::fs::write(&long, text.replace("  epochs 2\n", "  epochs 100000\n")).expect("writes");
    let out = dir.path().join("out");
    let mut child = run_command(&out, &long, &["--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let parent = child.id();
    let log = out.join("run.log");
    let mut cells = Vec::new();
    wait_for(
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            cells = children_of(parent, "run-cell");
            text.contains("start train") && !cells.is_empty()
        },
        "a training in a cell process",
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let killed = Instant::now();
    while !cells.iter().all(|pid| ended(*pid)) {
        // An orphan would go on training for many minutes.
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "cell processes {cells:?} outlived their run"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a process has ended: gone, or a zombie waiting to be reaped.
#[cfg(target_os = "linux")]
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Waits up to two minutes for `condition`.
fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A run of the fixture into `out` through the library.
fn run_into(out: &Path) -> study::exec::RunSummary {
    let loaded = study::load(&fixture());
    let s = loaded.study.expect("the fixture is valid");
    let plan = study::plan(&s);
    let root = fixture().parent().expect("folder").to_path_buf();
    let summary = study::run(&plan, &root, &study::exec::Options::new(out)).expect("runs");
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    summary
}

/// `results.json` without wall times and dates: what two runs of one study must agree on exactly.
fn results(out: &Path) -> serde_json::Value {
    common::results_without_times(out)
}

/// The folder of the finished cell named `name` in a run's output.
fn cell_dir(out: &Path, name: &str) -> PathBuf {
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).expect("plan")).expect("json");
    let id = plan["plan"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["id"].as_str())
        .unwrap_or_else(|| panic!("no cell {name}"));
    out.join("cells").join(id)
}

#[test]
fn damaged_cells_are_recomputed_never_read() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    run_into(&out);
    let reference = results(&out);
    let train = "train/cnn/full/s/small/quick/rep1";
    let evaluate = "evaluate/cnn/full/s/small/quick/rep1";

    // A done record deleted: the cell is recomputed, saved again, and the next run finds it finished.
    std::fs::remove_file(cell_dir(&out, train).join("done.json")).expect("deletes");
    let again = run_into(&out);
    assert_eq!(again.recomputed.len(), 1, "{:?}", again.recomputed);
    assert_eq!(again.recomputed[0].0, train);
    assert!(again.recomputed[0].1.contains("done.json"));
    assert!(again.ran.iter().any(|c| c == train), "{:?}", again.ran);
    assert_eq!(results(&out), reference);
    let third = run_into(&out);
    assert!(
        third.ran.is_empty() && third.recomputed.is_empty(),
        "{third:?}"
    );

    // Digits changed in predictions (still valid JSON, same length): recomputed, not used.
    let predictions = cell_dir(&out, evaluate).join("predictions.json");
    let text = std::fs::read_to_string(&predictions).expect("reads");
    let at = text.find("0.").expect("a probability");
    let digit = text.as_bytes()[at + 2];
    let edited = format!(
        "{}{}{}",
        &text[..at + 2],
        if digit == b'1' { '2' } else { '1' },
        &text[at + 3..]
    );
    std::fs::write(&predictions, edited).expect("edits");
    let again = run_into(&out);
    assert_eq!(
        again.recomputed,
        vec![(
            evaluate.to_string(),
            "`predictions.json` changed since the cell wrote it".to_string()
        )]
    );
    assert_eq!(results(&out), reference);

    // A truncated model file: recomputed, not decoded.
    let model = cell_dir(&out, train).join("model-0.bin");
    let bytes = std::fs::read(&model).expect("reads");
    std::fs::write(&model, &bytes[..bytes.len() / 2]).expect("truncates");
    let again = run_into(&out);
    assert_eq!(again.recomputed.len(), 1, "{:?}", again.recomputed);
    assert!(again.recomputed[0].1.contains("model-0.bin"));
    assert_eq!(results(&out), reference);
}

#[test]
fn a_truncated_model_that_passes_as_finished_is_a_diagnostic_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    run_into(&out);
    // Forge a train cell whose done record matches a truncated model (as if the file had been written
    // truncated), then run its evaluation alone.
    let train = cell_dir(&out, "train/cnn/full/s/small/quick/rep1");
    let model = train.join("model-0.bin");
    let bytes = std::fs::read(&model).expect("reads");
    std::fs::write(&model, &bytes[..bytes.len() / 3]).expect("truncates");
    let record = train.join("done.json");
    let mut done: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).expect("reads")).expect("json");
    let (size, modified) = study::hash::file_stamp(&model).expect("stamp");
    done["files"]["model-0.bin"] = serde_json::json!({
        "size": size, "modified": modified,
        "blake3": study::hash::file_hash(&model).expect("hash"),
    });
    std::fs::write(&record, serde_json::to_vec(&done).expect("json")).expect("writes");
    let evaluate = cell_dir(&out, "evaluate/cnn/full/s/small/quick/rep1");
    std::fs::remove_dir_all(&evaluate).expect("removes");
    let run = study()
        .args(["run-cell", "--plan"])
        .arg(out.join("plan.json"))
        .args(["--cell", "evaluate/cnn/full/s/small/quick/rep1", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("E0067"), "{stderr}");
    assert!(
        stderr.contains("model-0.bin"),
        "the file is named:\n{stderr}"
    );
    assert!(
        !stderr.contains("E0069"),
        "not an internal error:\n{stderr}"
    );
}

#[test]
fn a_failed_run_of_an_edited_study_shows_no_earlier_verdict() {
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("tiny.study");
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    std::fs::write(&file, &text).expect("writes");
    let out = dir.path().join("out");
    let run = |study_file: &Path| run_command(&out, study_file, &[]).output().expect("runs");
    let first = run(&file);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success() && stdout.contains("shortcut: "),
        "{stdout}"
    );
    assert!(out.join("report.md").exists());
    // The edit makes the main trainings diverge: the run fails before its report.
    let edited = text.replace("optimizer adam(lr: 3e-3)", "optimizer sgd(lr: 1e30)");
    assert_ne!(edited, text, "the fixture's optimizer line");
    std::fs::write(&file, edited).expect("writes");
    let second = run(&file);
    let stdout = String::from_utf8_lossy(&second.stdout);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("E0061"), "{stderr}");
    assert!(
        !stdout.contains("shortcut: "),
        "no verdict of the earlier version:\n{stdout}"
    );
    for name in ["results.json", "report.md", "report.html", "metrics.csv"] {
        assert!(
            !out.join(name).exists(),
            "{name} of the earlier version was left as current"
        );
    }
    // Going back to the first version reuses every cell and publishes its report again.
    std::fs::write(&file, &text).expect("writes");
    let third = run(&file);
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(
        third.status.success() && stdout.contains("shortcut: "),
        "{stdout}"
    );
    assert!(out.join("report.md").exists());
}

#[test]
fn rows_skipped_while_reading_are_listed_in_the_report() {
    let dir = tempfile::tempdir().expect("temp");
    let mut rows = common::png_manifest(dir.path(), 8);
    rows.push_str("images/gone.png,covid,a\n");
    std::fs::write(dir.path().join("manifest.csv"), rows).expect("manifest");
    let study_file = dir.path().join("skips.study");
    std::fs::write(
        &study_file,
        common::png_study("skips", "manifest.csv", ", on_error skip"),
    )
    .expect("study");
    let out = dir.path().join("out");
    let run = run_command(&out, &study_file, &[]).output().expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results"))
            .expect("json");
    let skipped = &doc["skipped"];
    assert_eq!(skipped[0]["dataset"], "d", "{skipped}");
    let rows = skipped[0]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].as_str().is_some_and(|r| r.contains("gone.png")),
        "{rows:?}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(
        md.contains("Rows left out") && md.contains("gone.png"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("Rows left out") && html.contains("gone.png"));
}

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped; `None` where mounting is not allowed
/// (not root, or no mount namespace rights).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Every file below `dir` whose name marks it as a temporary file.
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path.clone());
            }
            if name.contains(".tmp") || name.contains(".partial-") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_full_disk_is_said_so_leaves_no_temporary_file_and_keeps_finished_cells() {
    // 160k fills up while a cell writes its outputs, 300k while a training writes its checkpoint.
    for size in ["160k", "300k"] {
        let dir = tempfile::tempdir().expect("temp");
        let out = dir.path().join("out");
        let Some(disk) = SmallDisk::mount(&out, size) else {
            eprintln!(
                "skipped: mounting a small tmpfs needs root (it is how a full disk is reproduced)"
            );
            return;
        };
        let run = || run_command(&out, &fixture(), &[]).output().expect("runs");
        let full = run();
        let stderr = String::from_utf8_lossy(&full.stderr);
        assert_eq!(full.status.code(), Some(1), "{size}: {stderr}");
        assert!(
            stderr.contains("E0066"),
            "{size}: the disk-full code:\n{stderr}"
        );
        assert!(stderr.contains("the disk is full"), "{size}: {stderr}");
        assert!(!stderr.contains("E0067"), "{size}: {stderr}");
        let left = temporary_files(&out);
        assert!(left.is_empty(), "{size}: temporary files left: {left:?}");
        // With space freed, the run goes on from the cells that finished.
        let grown = Command::new("mount")
            .args(["-o", "remount,size=16m"])
            .arg(&disk.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(grown, "remounting the tmpfs larger");
        let again = run();
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(again.status.success(), "{size}: {stderr}");
        let kept = stderr
            .lines()
            .find_map(|l| l.split(" cell(s) run, ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok());
        assert!(
            kept.is_some_and(|n| n > 0),
            "{size}: finished cells reused:\n{stderr}"
        );
    }
}
