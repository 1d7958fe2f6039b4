//! Helpers shared by the integration tests.

use std::path::Path;
use study::study::Study;

/// Checks study text (includes resolve against `dir`), failing the test with the rendered diagnostics.
#[allow(dead_code)] // not every test program that shares this module checks study text
pub fn checked(text: &str, dir: &Path) -> Study {
    checked_with(text, dir, study::source::Reach::StudyTree)
}

/// `checked` for text naming files outside `dir` (the shared X-rays), as `--allow-outside` allows.
#[allow(dead_code)] // not every test program that shares this module reads the shared data
pub fn checked_outside(text: &str, dir: &Path) -> Study {
    checked_with(text, dir, study::source::Reach::Anywhere)
}

fn checked_with(text: &str, dir: &Path, reach: study::source::Reach) -> Study {
    let loaded = study::load_bytes_with("t.study", text.as_bytes(), Some(dir), reach);
    let rendered = study::diagnostics::render_all(
        &loaded.diagnostics,
        &loaded.sources,
        study::diagnostics::Style::plain(),
    );
    loaded
        .study
        .unwrap_or_else(|| panic!("invalid study:\n{rendered}"))
}

/// Writes `n` distinct 16×16 PNGs `images/<k>.png` under `dir` and returns a manifest of them
/// (`path,label,source`): labels alternate covid/normal, the first half from source `a`, the rest `b`.
#[allow(dead_code)] // not every test program that shares this module writes images
pub fn png_manifest(dir: &Path, n: u32) -> String {
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    let mut rows = String::from("path,label,source\n");
    for k in 0..n {
        let name = format!("images/{k}.png");
        let img = image::GrayImage::from_fn(16, 16, |x, y| {
            image::Luma([((x * 7 + y * 3 + k * 40) % 256) as u8])
        });
        img.save(dir.join(&name)).expect("png");
        let label = if k % 2 == 0 { "covid" } else { "normal" };
        let source = if k < n / 2 { "a" } else { "b" };
        rows.push_str(&format!("{name},{label},{source}\n"));
    }
    rows
}

/// The smallest study over a `png_manifest` (sources `a` seen, `b` unseen, one epoch of a tiny CNN),
/// named `name`, reading `manifest`; `options` are added to the dataset's entries (`, on_error skip`).
#[allow(dead_code)] // not every test program that shares this module writes studies
pub fn png_study(name: &str, manifest: &str, options: &str) -> String {
    format!(
        r#"study "{name}" {{ seed 1 }}
dataset d = csv("{manifest}") {{ image column "path", label column "label", source column "source"{options} }}
crop full = full
preprocess p {{ resize 16 }}
model m = cnn(channels: [4])
train t {{ optimizer adam(lr: 1e-3), epochs 1 }}
split s = by_source {{ data d, seen [a], unseen [b], fractions {{ train 70%, seen 30% }} }}
experiment e {{ model m, crop full, split s, preprocess p, train t, evaluate [unseen] }}
"#
    )
}

/// A run's `results.json` without wall times and dates: what two runs of one study must agree on exactly.
#[allow(dead_code)] // not every test program that shares this module runs studies
pub fn results_without_times(out: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("seconds");
                map.remove("written_at");
                map.remove("input_check");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let bytes = std::fs::read(out.join("results.json")).expect("results.json");
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    strip(&mut v);
    v
}

/// Runs the `study` binary in `dir` (the package root when `None`): exit code, stdout, stderr.
#[allow(dead_code)] // not every test program that shares this module runs the binary
pub fn study_in(dir: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_study"));
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}
