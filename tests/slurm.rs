//! `study run --executor slurm` against a real Slurm (tests/slurm/start.sh starts a private single-node one;
//! .ci/run does so and sets STUDY_REQUIRE_SLURM, which turns a missing Slurm into a failure instead of a
//! skip). Every Slurm command here, and every one `study` runs, reads that private cluster's configuration
//! (SLURM_CONF), never a machine's own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-run.study")
}

/// The private cluster's configuration, as tests/slurm/start.sh writes it.
fn slurm_conf() -> PathBuf {
    let dir = std::env::var_os("STUDY_SLURM_DIR").unwrap_or_else(|| "/tmp/study-slurm".into());
    Path::new(&dir).join("slurm.conf")
}

/// A command that talks to the private cluster.
fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env("SLURM_CONF", slurm_conf());
    c
}

/// Whether the private Slurm controller answers here.
fn slurm() -> bool {
    let up = slurm_conf().exists()
        && command("sinfo")
            .args(["-h", "-o", "%t"])
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var_os("STUDY_REQUIRE_SLURM").is_none(),
            "STUDY_REQUIRE_SLURM is set but no Slurm answers (tests/slurm/start.sh starts one)"
        );
        eprintln!("skipped: no Slurm here (tests/slurm/start.sh starts a single-node one)");
    }
    up
}

fn study(args: &[&str]) -> Output {
    command(env!("CARGO_BIN_EXE_study"))
        .args(args)
        .output()
        .expect("study runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `study run` of the fixture into `out` through Slurm, with `extra` arguments.
fn through_slurm(study_file: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        study_file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--executor",
        "slurm",
        "--poll",
        "0.5",
    ];
    args.extend_from_slice(extra);
    study(&args)
}

fn results(out: &Path) -> study::report::Document {
    serde_json::from_slice(&std::fs::read(out.join("results.json")).expect("results.json"))
        .expect("parses")
}

/// The fixture run in this process, as the reference.
fn local_run(out: &Path) -> study::report::Document {
    let loaded = study::load(&fixture());
    let plan = study::plan::plan(&loaded.study.expect("the fixture checks"));
    let summary = study::run(
        &plan,
        fixture().parent().expect("folder"),
        &study::exec::Options::new(out),
    )
    .expect("runs");
    assert!(summary.failed.is_empty());
    results(out)
}

#[test]
fn a_study_submitted_as_arrays_gives_the_results_of_a_local_run_and_resubmits_only_what_was_lost() {
    if !slurm() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("slurm");
    // Submitted and left: every cell is queued, none finished.
    let detached = through_slurm(&fixture(), &out, &["--detach"]);
    assert!(detached.status.success(), "{}", text(&detached));
    assert!(
        text(&detached).contains("submitted to Slurm"),
        "{}",
        text(&detached)
    );
    let jobs = study::exec::slurm::submitted(&out);
    assert!(jobs.len() >= 5, "one array per wave: {jobs:?}");
    let status = study(&["status", out.to_str().unwrap()]);
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert!(shown.contains("(Slurm task "), "{shown}");
    assert!(
        shown.contains("pending ") || shown.contains("running "),
        "{shown}"
    );
    // One training is cancelled before it starts: its cells are lost, the others go on.
    let train = jobs
        .iter()
        .find(|j| j.cells.iter().any(|c| c.starts_with("train/")))
        .expect("the trainings' array");
    let k = train
        .cells
        .iter()
        .position(|c| c == "train/cnn/full/s/small/quick/rep1")
        .expect("a training of the main experiment");
    let cancelled = format!("{}_{k}", train.job);
    let scancel = command("scancel")
        .arg(&cancelled)
        .output()
        .expect("scancel");
    assert!(scancel.status.success(), "{scancel:?}");
    // The same command waits for what is queued and says what was lost.
    let waited = through_slurm(&fixture(), &out, &[]);
    let shown = text(&waited);
    assert_eq!(waited.status.code(), Some(1), "{shown}");
    assert!(shown.contains("E0071"), "{shown}");
    assert!(
        shown.contains(&format!(
            "Slurm task {cancelled} of `train/cnn/full/s/small/quick/rep1`"
        )),
        "{shown}"
    );
    assert!(shown.contains("because a cell they need failed"), "{shown}");
    let status = text(&study(&["status", out.to_str().unwrap()]));
    assert!(
        status.contains("ended without a result train/cnn/full/s/small/quick/rep1"),
        "{status}"
    );
    // Again: only the lost cells are submitted, and the results are those of a run on this machine.
    let before = study::exec::slurm::submitted(&out).len();
    let resumed = through_slurm(&fixture(), &out, &[]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let again = study::exec::slurm::submitted(&out);
    let resubmitted: Vec<&String> = again[before..].iter().flat_map(|j| &j.cells).collect();
    assert!(resubmitted.contains(&&"train/cnn/full/s/small/quick/rep1".to_string()));
    assert!(
        resubmitted
            .iter()
            .all(|c| !c.starts_with("prepare/") && !c.starts_with("segmenter/")),
        "finished cells are not submitted again: {resubmitted:?}"
    );
    let reference = local_run(&dir.path().join("local"));
    let through = results(&out);
    assert_eq!(
        through.results, reference.results,
        "estimates equal, not close"
    );
    assert_eq!(through.verdicts, reference.verdicts);
    assert!(out.join("report.html").exists());
}

#[test]
fn a_diverging_training_under_slurm_is_the_diagnostic_it_is_locally() {
    if !slurm() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("tiny.study");
    let text_in = std::fs::read_to_string(fixture()).expect("fixture");
    let edited = text_in.replace("optimizer adam(lr: 3e-3)", "optimizer sgd(lr: 1e30)");
    assert_ne!(edited, text_in);
    std::fs::write(&file, edited).expect("writes");
    let out = dir.path().join("out");
    let ran = through_slurm(&file, &out, &[]);
    let shown = text(&ran);
    assert_eq!(ran.status.code(), Some(1), "{shown}");
    // The code and the declaration of a local run (E0061 at `train quick`), not a Slurm failure.
    assert!(shown.contains("E0061"), "{shown}");
    assert!(shown.contains("train quick"), "{shown}");
    assert!(!shown.contains("E0071"), "{shown}");
}

#[test]
fn dry_run_prints_the_scripts_it_would_submit() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    let ran = study(&[
        "run",
        fixture().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--executor",
        "slurm",
        "--dry-run",
        "--device",
        "cuda",
        "--partition",
        "gpu",
        "--time",
        "2:00:00",
        "--mem",
        "8G",
        "--cpus-per-cell",
        "4",
        "--sbatch-arg=--qos=short",
    ]);
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(!out.exists(), "a dry run writes nothing");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    // Trainings and evaluations ask for a GPU; the data, probes on predictions, verdicts and report do not.
    for script in stdout.split("# array ").skip(1) {
        let gpu = script.contains("#SBATCH --gres=gpu:1");
        let accelerated = script.contains("# train")
            || script.contains("# evaluate")
            || script.contains("# segmenter");
        let on_cpu = script.contains("# prepare/")
            || script.contains("# split/")
            || script.contains("# verdict/")
            || script.contains("# report");
        assert!(!(gpu && on_cpu) && (gpu || !accelerated), "{script}");
        assert_eq!(gpu, script.contains("--device cuda:0"), "{script}");
    }
    let scripts = stdout
        .replace(&*out.to_string_lossy(), "<out>")
        .replace(env!("CARGO_BIN_EXE_study"), "<study>");
    insta::assert_snapshot!("dry_run", scripts);
}

#[test]
fn a_node_that_cannot_see_the_output_folder_says_which_path_it_missed() {
    let dir = tempfile::tempdir().expect("temp");
    let plan = dir.path().join("not-shared/plan.json");
    let ran = study(&[
        "run-cell",
        "--plan",
        plan.to_str().unwrap(),
        "--cell",
        "report",
        "--out",
        dir.path().join("not-shared").to_str().unwrap(),
    ]);
    let shown = text(&ran);
    assert_eq!(ran.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("E0067") && shown.contains(&*plan.to_string_lossy()),
        "{shown}"
    );
    assert!(shown.contains("filesystem every node shares"), "{shown}");
    assert!(!shown.contains("panicked"), "{shown}");
}

/// `study power --simulate` on the quickstart through Slurm: every replicate of both scenarios submitted
/// as job arrays, the verdicts counted with intervals, and each replicate's verdict the one a local
/// simulation of the same seed gives. Reduced to 16-pixel phantoms, one epoch and 5 seeds a scenario: on a
/// single 2-core node each cell costs Slurm about a second, and 20 seeds a scenario took 7 minutes.
#[test]
fn the_quickstarts_synthetic_twin_runs_through_slurm_with_the_verdicts_of_a_local_simulation() {
    if !slurm() {
        return;
    }
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/quickstart.study");
    let dir = tempfile::tempdir().expect("temp");
    let simulate = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "power",
            quickstart.to_str().expect("utf-8"),
            "--simulate",
            "5",
            "--size",
            "16",
            "--epochs",
            "1",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let ran = study(&args);
        assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("power.json")).expect("power.json"))
                .expect("parses");
        (text(&ran), json)
    };
    let (shown, slurm) = simulate(
        &dir.path().join("slurm"),
        &["--executor", "slurm", "--poll", "0.5"],
    );
    for scenario in slurm["hypotheses"][0]["scenarios"]
        .as_array()
        .expect("scenarios")
    {
        assert_eq!(scenario["finished"], 5, "{shown}");
    }
    assert!(
        shown.contains("confirmed") && shown.contains("% ["),
        "{shown}"
    );
    let (_, local) = simulate(&dir.path().join("local"), &[]);
    assert_eq!(slurm["replicates"], local["replicates"], "{shown}");
    assert_eq!(slurm["hypotheses"], local["hypotheses"]);
}
