//! A training killed at any moment resumes to the numbers of an uninterrupted one: kills at crash points
//! injected between the checkpoint's writes, a damaged checkpoint, and 40 `kill -9` at random moments.

use super::{common, run_command};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// One long training (120 epochs of a small CNN on 300 images) and the probes and verdict that read it.
const LONG: &str = r#"study "long" { seed 5 }
dataset d = synthetic {
  size 32
  classes [covid, normal]
  signal 0.3
  source a { images 150, covid 80%, marker "R" top_left }
  source b { images 150, covid 20% }
}
crop full = full
preprocess p { resize 32 }
model m = cnn(channels: [8, 16])
train long { optimizer adam(lr: 3e-3), epochs 120, batch 8, select on validation auc }
split s = by_source { data d, seen [a], unseen [b], fractions { train 60%, validation 20%, seen 20% } }
experiment main { model m, crop full, split s, preprocess p, train long }
probe g = gap(main)
hypothesis h "the site decides" { confirmed when g.gap.lower > 0.1 }
report { formats [json] }
"#;

fn long_study(dir: &Path) -> PathBuf {
    let file = dir.join("long.study");
    std::fs::write(&file, LONG).expect("writes the study");
    file
}

/// The results of an uninterrupted run of the long study.
fn reference(dir: &Path, file: &Path) -> serde_json::Value {
    let out = dir.join("reference");
    let run = run_command(&out, file, &[]).output().expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    common::results_without_times(&out)
}

/// The generations of checkpoints of the run into `out` (`work/<id>/gen-*`).
fn generations(out: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(out.join("work"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|cell| {
            std::fs::read_dir(cell.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("gen-"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_crash_between_the_checkpoints_writes_resumes_to_the_same_numbers() {
    let dir = tempfile::tempdir().expect("temp");
    let file = long_study(dir.path());
    let expected = reference(dir.path(), &file);
    for point in [
        "model.bin",
        "optimizer.bin",
        "best.bin",
        "state.json",
        "current",
    ] {
        let out = dir.path().join(format!("crash-{point}"));
        let crashed = run_command(&out, &file, &[])
            .env("STUDY_CRASH_AT", format!("checkpoint 7 {point}"))
            .output()
            .expect("runs");
        assert!(
            !crashed.status.success(),
            "{point}: the crash point was reached"
        );
        assert!(
            !generations(&out).is_empty(),
            "{point}: earlier epochs were kept"
        );
        let resumed = run_command(&out, &file, &[]).output().expect("runs");
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "{point}: {stderr}");
        assert_eq!(
            common::results_without_times(&out),
            expected,
            "{point}: a resume after a crash there gives other numbers"
        );
    }
}

#[test]
fn a_damaged_checkpoint_is_discarded_with_a_note_and_the_one_before_is_used() {
    let dir = tempfile::tempdir().expect("temp");
    let file = long_study(dir.path());
    let expected = reference(dir.path(), &file);
    let out = dir.path().join("out");
    let crashed = run_command(&out, &file, &[])
        .env("STUDY_CRASH_AT", "checkpoint 9 current")
        .output()
        .expect("runs");
    assert!(!crashed.status.success());
    // Killed after generation 9 was made current, before older ones were cleared away.
    let kept = generations(&out);
    assert!(
        kept.len() >= 2,
        "the current generation and those before: {kept:?}"
    );
    let current = kept.last().expect("a generation");
    assert!(current.ends_with("gen-000009"), "{kept:?}");
    let model = current.join("model.bin");
    let bytes = std::fs::read(&model).expect("reads");
    std::fs::write(&model, &bytes[..bytes.len() / 2]).expect("truncates");
    let resumed = run_command(&out, &file, &[]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(
        stderr.contains("gen-000009") && stderr.contains("discarded"),
        "one line names the discarded checkpoint:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic text:\n{stderr}");
    assert_eq!(common::results_without_times(&out), expected);
}

#[test]
fn forty_random_kills_and_resumes_give_the_uninterrupted_numbers() {
    let dir = tempfile::tempdir().expect("temp");
    let file = long_study(dir.path());
    let expected = reference(dir.path(), &file);
    let out = dir.path().join("out");
    // A fixed sequence of pseudo-random delays (xorshift), so a failure can be replayed.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut kills = 0;
    while kills < 40 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = Duration::from_millis(60 + state % 400);
        let mut child = run_command(&out, &file, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        std::thread::sleep(delay);
        if child.try_wait().expect("polls").is_some() {
            // Finished before the kill: start again from scratch so that every kill lands in a training.
            std::fs::remove_dir_all(&out).expect("removes the finished run");
            continue;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
    }
    let resumed = run_command(&out, &file, &[]).output().expect("runs");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(
        common::results_without_times(&out),
        expected,
        "40 kills and resumes give other numbers than an uninterrupted run"
    );
}
