//! Faults in what the tool writes and reads back: files of the user's in the way, reads without bounds
//! (devices, pipes, archives that inflate to gigabytes), outputs tampered with after a run, a report half
//! published, a second run past a deleted `.lock`, a study formatted through a link, unreadable images.

use super::{common, run_command, study};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A small synthetic study with a verdict, run in a second or two.
const SMALL: &str = r#"study "small" { seed 2 }
dataset d = synthetic {
  size 16
  classes [covid, normal]
  source a { images 40, covid 80%, marker "R" top_left }
  source b { images 40, covid 20% }
}
crop full = full
preprocess p { resize 16 }
model m = cnn(channels: [4])
train t { optimizer adam(lr: 3e-3), epochs 3, batch 8 }
split s = by_source { data d, seen [a], unseen [b], fractions { train 70%, seen 30% } }
experiment main { model m, crop full, split s, preprocess p, train t }
probe g = gap(main)
hypothesis h "the site decides" {
  confirmed when g.gap.lower > 0.1
  refuted when main.auc(unseen).lower > 0.5
}
report { formats [markdown, json] }
"#;

/// The small study written in `dir` and run into `dir/out`; the study file and the output folder.
fn small_run(dir: &Path) -> (PathBuf, PathBuf) {
    let file = dir.join("small.study");
    std::fs::write(&file, SMALL).expect("writes");
    let out = dir.join("out");
    let run = run_command(&out, &file, &[]).output().expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    (file, out)
}

fn bundle(file: &Path, out: &Path, to: &Path, extra: &[&str]) -> std::process::Output {
    study()
        .arg("bundle")
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--to")
        .arg(to)
        .args(extra)
        .output()
        .expect("runs")
}

fn failed_with(output: &std::process::Output, code: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(code), "expected {code}:\n{stderr}");
    stderr
}

/// Runs `study ARGS` in a shell with its address space limited to 500 MB.
fn study_within_500_mb(args: &[&Path]) -> std::process::Output {
    let mut line = String::from("ulimit -v 500000; exec \"$0\"");
    for k in 0..args.len() {
        line.push_str(&format!(" \"${}\"", k + 1));
    }
    std::process::Command::new("bash")
        .arg("-c")
        .arg(line)
        .arg(env!("CARGO_BIN_EXE_study"))
        .args(args)
        .output()
        .expect("runs")
}

/// Rewrites a bundle: each entry through `edit` (name, bytes → bytes), hashes in bundle.json updated
/// when `rehash`, as someone who knows the format would.
fn rewrite_bundle(from: &Path, to: &Path, rehash: bool, edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) {
    let opened = study::bundle::open(from).unwrap_or_else(|e| panic!("{}", e.summary()));
    let mut info = opened.info;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(to).expect("creates"));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in opened.entries {
        let bytes = edit(&name, bytes);
        if rehash {
            info.files
                .insert(name.clone(), blake3::hash(&bytes).to_hex().to_string());
        }
        zip.start_file(name, options).expect("entry");
        zip.write_all(&bytes).expect("writes");
    }
    zip.start_file("bundle.json", options).expect("entry");
    zip.write_all(&serde_json::to_vec(&info).expect("json"))
        .expect("writes");
    zip.finish().expect("finishes");
}

#[test]
fn no_command_writes_over_a_file_it_did_not_write() {
    let dir = tempfile::tempdir().expect("temp");
    let (file, out) = small_run(dir.path());
    // bundle --to a file of the user's, or the study itself.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "my notes\n").expect("writes");
    for target in [&notes, &file] {
        let before = std::fs::read(target).expect("reads");
        failed_with(&bundle(&file, &out, target, &[]), "E0074");
        assert_eq!(std::fs::read(target).expect("kept"), before);
    }
    let forced = bundle(&file, &out, &notes, &["--force"]);
    assert!(forced.status.success(), "--force replaces it");
    // A bundle may be written over a bundle.
    let zip = dir.path().join("paper.zip");
    assert!(bundle(&file, &out, &zip, &[]).status.success());
    assert!(bundle(&file, &out, &zip, &[]).status.success());
    // report of a bundle into a folder of the user's.
    let paper = dir.path().join("paper");
    std::fs::create_dir_all(&paper).expect("mkdir");
    std::fs::write(paper.join("report.md"), "my paper\n").expect("writes");
    let report = study().arg("report").arg(&zip).output().expect("runs");
    failed_with(&report, "E0074");
    assert_eq!(
        std::fs::read_to_string(paper.join("report.md")).expect("kept"),
        "my paper\n"
    );
    // Into a new folder it writes, and writes again there.
    std::fs::remove_dir_all(&paper).expect("removes");
    for _ in 0..2 {
        let report = study().arg("report").arg(&zip).output().expect("runs");
        assert!(
            report.status.success(),
            "{}",
            String::from_utf8_lossy(&report.stderr)
        );
    }
    assert!(paper.join("report.md").is_file());
    // study lock over a file that is not a lock; --out naming a file.
    let lock = dir.path().join("small.lock");
    std::fs::write(&lock, "not a lock\n").expect("writes");
    failed_with(
        &study().arg("lock").arg(&file).output().expect("runs"),
        "E0074",
    );
    assert_eq!(
        std::fs::read_to_string(&lock).expect("kept"),
        "not a lock\n"
    );
    failed_with(
        &run_command(&notes, &file, &[]).output().expect("runs"),
        "E0074",
    );
}

#[test]
fn every_read_is_bounded() {
    let dir = tempfile::tempdir().expect("temp");
    // results.json that is /dev/zero, and one that is a named pipe: refused at once, not read.
    let zero = dir.path().join("zero");
    std::fs::create_dir_all(&zero).expect("mkdir");
    std::os::unix::fs::symlink("/dev/zero", zero.join("results.json")).expect("links");
    failed_with(&study_within_500_mb(&[Path::new("report"), &zero]), "E0052");
    let pipe = dir.path().join("pipe");
    std::fs::create_dir_all(&pipe).expect("mkdir");
    let made = std::process::Command::new("mkfifo")
        .arg(pipe.join("results.json"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let mut child = study()
        .arg("report")
        .arg(&pipe)
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("polls").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "study report hangs on a named pipe"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    failed_with(&child.wait_with_output().expect("ends"), "E0052");
    // A 2 MB bundle whose results.json inflates to 1.5 GB, in `report` and `compare`.
    let (file, out) = small_run(dir.path());
    let honest = dir.path().join("honest.zip");
    assert!(bundle(&file, &out, &honest, &[]).status.success());
    let bomb = dir.path().join("bomb.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&bomb).expect("creates"));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        zip.start_file("run/results.json", options).expect("entry");
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..1536 {
            zip.write_all(&zeros).expect("writes");
        }
        zip.finish().expect("finishes");
    }
    assert!(std::fs::metadata(&bomb).expect("stat").len() < 4 << 20);
    failed_with(&study_within_500_mb(&[Path::new("report"), &bomb]), "E0052");
    failed_with(
        &study_within_500_mb(&[Path::new("compare"), &honest, &bomb]),
        "E0052",
    );
}

#[test]
fn outputs_altered_after_the_run_are_noticed() {
    let dir = tempfile::tempdir().expect("temp");
    let (file, out) = small_run(dir.path());
    let reference = common::results_without_times(&out);
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).expect("plan")).expect("json");
    let id_of = |name: &str| -> String {
        plan["plan"]["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_str())
            .expect("cell")
            .to_string()
    };
    // A cell folder replaced by a link to another cell: recomputed, not read.
    let probe = out.join("cells").join(id_of("probe/g"));
    std::fs::remove_dir_all(&probe).expect("removes");
    std::os::unix::fs::symlink(out.join("cells").join(id_of("aggregate/main")), &probe)
        .expect("links");
    let summary = study::run(
        &study::plan(&study::load(&file).study.expect("valid")),
        dir.path(),
        &study::exec::Options::new(&out),
    )
    .expect("runs");
    assert!(summary.ran.iter().any(|c| c == "probe/g"), "{summary:?}");
    assert_eq!(common::results_without_times(&out), reference);
    // plan.json edited by hand, then run-cell: refused.
    let text = std::fs::read_to_string(out.join("plan.json")).expect("reads");
    let edited = text.replacen("\"epochs\": 3", "\"epochs\": 40", 1);
    assert_ne!(edited, text);
    std::fs::write(out.join("plan.json"), edited).expect("writes");
    let train = "train/m/full/s/p/t/rep1";
    std::fs::remove_dir_all(out.join("cells").join(id_of(train))).expect("removes");
    let cell = study()
        .args(["run-cell", "--plan"])
        .arg(out.join("plan.json"))
        .args(["--cell", train, "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    failed_with(&cell, "E0075");
    assert!(
        !out.join("cells").join(id_of(train)).exists(),
        "nothing computed"
    );
    // The image cache's pixels overwritten: prepared again, never used.
    let run = run_command(&out, &file, &[]).output().expect("runs");
    assert!(run.status.success());
    for pack in std::fs::read_dir(out.join("cache"))
        .expect("cache")
        .flatten()
    {
        let data = pack.path().join("data.u8");
        if let Ok(len) = std::fs::metadata(&data).map(|m| m.len()) {
            std::fs::write(&data, vec![255u8; len as usize]).expect("poisons");
        }
    }
    std::fs::remove_dir_all(out.join("cells").join(id_of(train))).expect("removes");
    let run = run_command(&out, &file, &[]).output().expect("runs");
    assert!(run.status.success());
    assert_eq!(common::results_without_times(&out), reference);
    // A verdict flipped inside a bundle: caught by the hashes, and, with the hashes redone, by the rules.
    let honest = dir.path().join("honest.zip");
    assert!(bundle(&file, &out, &honest, &[]).status.success());
    let flip = |name: &str, bytes: Vec<u8>| -> Vec<u8> {
        if name != "run/results.json" {
            return bytes;
        }
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let outcome = doc["verdicts"][0]["outcome"]
            .as_str()
            .expect("outcome")
            .to_string();
        doc["verdicts"][0]["outcome"] = match outcome.as_str() {
            "confirmed" => "refuted".into(),
            _ => "confirmed".into(),
        };
        serde_json::to_vec(&doc).expect("json")
    };
    for rehash in [false, true] {
        let forged = dir.path().join(format!("forged-{rehash}.zip"));
        rewrite_bundle(&honest, &forged, rehash, flip);
        let report = study().arg("report").arg(&forged).output().expect("runs");
        let said = failed_with(&report, "E0075");
        let why = if rehash { "its rules give" } else { "differs" };
        assert!(said.contains(why), "{said}");
    }
    // A rule edited inside a bundle's study: compare refuses to call it the same study.
    let edited = dir.path().join("edited.zip");
    rewrite_bundle(&honest, &edited, true, |name, bytes| match name {
        "study/small.study" => String::from_utf8(bytes)
            .unwrap()
            .replace("> 0.1", "> 0.0")
            .into_bytes(),
        _ => bytes,
    });
    let compared = study()
        .arg("compare")
        .arg(&out)
        .arg(&edited)
        .output()
        .expect("runs");
    let said = failed_with(&compared, "E0075");
    assert!(said.contains("fingerprint"), "{said}");
}

#[test]
fn a_report_is_published_whole_or_not_at_all() {
    let dir = tempfile::tempdir().expect("temp");
    let target = dir.path().join("run");
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::write(target.join("report.md"), "earlier\n").expect("writes");
    // The staging folder cannot be made (a file holds its name): nothing is published, nothing replaced.
    std::fs::write(target.join(format!(".publish-{}", std::process::id())), "").expect("blocks");
    let files = vec![
        ("results.json".to_string(), b"{}".to_vec()),
        ("report.md".to_string(), b"new\n".to_vec()),
        ("figures/a.svg".to_string(), b"<svg/>".to_vec()),
    ];
    let replaced = ["results.json", "report.md", "figures"];
    study::files::publish_together(&target, &files, &replaced).expect_err("cannot stage");
    assert_eq!(
        std::fs::read_to_string(target.join("report.md")).expect("kept"),
        "earlier\n"
    );
    assert!(!target.join("results.json").exists() && !target.join("figures").exists());
    std::fs::remove_file(target.join(format!(".publish-{}", std::process::id()))).expect("rm");
    study::files::publish_together(&target, &files, &replaced).expect("publishes");
    assert_eq!(
        std::fs::read_to_string(target.join("report.md")).expect("new"),
        "new\n"
    );
    assert!(target.join("figures/a.svg").is_file() && target.join("results.json").is_file());
    let left: Vec<_> = std::fs::read_dir(&target)
        .expect("lists")
        .flatten()
        .collect();
    assert_eq!(left.len(), 3, "no staging folder left");
}

#[test]
fn a_deleted_lock_file_does_not_let_a_second_run_in() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    let first = study::exec::claim(&out).expect("claims");
    std::fs::remove_file(out.join(".lock")).expect("deletes the lock file");
    let second = run_command(&out, &super::fixture(), &[])
        .output()
        .expect("runs");
    failed_with(&second, "E0070");
    drop(first);
}

#[test]
fn fmt_writes_through_a_link_to_its_target() {
    let dir = tempfile::tempdir().expect("temp");
    let target = dir.path().join("real.study");
    std::fs::write(&target, "study \"x\" {   seed 1 }\n").expect("writes");
    let link = dir.path().join("link.study");
    std::os::unix::fs::symlink(&target, &link).expect("links");
    let fmt = study().arg("fmt").arg(&link).output().expect("runs");
    assert!(
        fmt.status.success(),
        "{}",
        String::from_utf8_lossy(&fmt.stderr)
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("reads"),
        "study \"x\" { seed 1 }\n"
    );
}

#[test]
fn images_left_out_as_undecodable_are_named_in_the_report() {
    let dir = tempfile::tempdir().expect("temp");
    let mut rows = common::png_manifest(dir.path(), 8);
    std::fs::write(dir.path().join("images/bad.png"), "not an image").expect("writes");
    rows.push_str("images/bad.png,covid,a\n");
    std::fs::write(dir.path().join("manifest.csv"), rows).expect("manifest");
    let file = dir.path().join("s.study");
    let text = common::png_study("s", "manifest.csv", ", on_error skip")
        + "report { formats [markdown, json] }\n";
    std::fs::write(&file, text).expect("study");
    let out = dir.path().join("out");
    let run = run_command(&out, &file, &[]).output().expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains("images/bad.png: cannot decode image"), "{md}");
}
