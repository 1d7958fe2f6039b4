//! The replication studies run end to end on stand-in data of the same shape: a copy of `studies/` whose
//! `data/` folder holds, per declared collection, a small manifest of phantom radiographs with that
//! collection's labels only and a per-source signature (a bright marker in a corner of its own), plus lung
//! masks for the segmenter. The studies are reduced (a tiny CNN, one epoch, 32 px, one repeat), every
//! reduction asserted to apply, so that an edit of a study that escapes it fails here.

mod common;

use std::path::Path;

/// Collection folder, source, label of every image (one label per source, as in the papers' data).
const COLLECTIONS: [(&str, &str, &str); 8] = [
    ("bimcv-covid19-pos", "bimcv_pos", "covid"),
    ("bimcv-covid19-neg", "bimcv_neg", "negative"),
    ("covid-19-ar", "covid19_ar", "covid"),
    ("v2-cov19-nii", "v2_cov19_nii", "covid"),
    ("padchest", "padchest", "negative"),
    ("chestx-ray14", "nih", "negative"),
    ("chexpert", "chexpert", "negative"),
    ("covid-chestxray-dataset", "cohen", "covid"),
];

const IMAGES: u32 = 24;
const SIDE: u32 = 32;

/// A phantom radiograph: two dark lung fields in a brighter body, a faint opacity in the lungs of covid
/// images, and the source's marker in a corner of its own.
fn phantom(k: u32, source: usize, covid: bool) -> image::GrayImage {
    image::GrayImage::from_fn(SIDE, SIDE, |x, y| {
        let lung = in_lungs(x, y);
        let mut v: i32 = if lung { 70 } else { 170 };
        v += ((x * 7 + y * 13 + k * 29) % 23) as i32 - 11;
        if covid && lung && (x + y + k).is_multiple_of(3) {
            v += 40;
        }
        let (mx, my) = [(1, 1), (SIDE - 5, 1), (1, SIDE - 5), (SIDE - 5, SIDE - 5)][source % 4];
        if (mx..mx + 4).contains(&x) && (my..my + 4).contains(&y) {
            v = 250 - 40 * (source / 4) as i32;
        }
        image::Luma([v.clamp(0, 255) as u8])
    })
}

fn in_lungs(x: u32, y: u32) -> bool {
    let ellipse = |cx: f64, cy: f64| {
        let (dx, dy) = ((x as f64 - cx) / 6.0, (y as f64 - cy) / 10.0);
        dx * dx + dy * dy <= 1.0
    };
    ellipse(10.0, 16.0) || ellipse(22.0, 16.0)
}

/// Writes `studies/data/` under `root`: every collection's manifest and images, and the lung masks.
fn stand_in_data(root: &Path) {
    let data = root.join("studies/data");
    for (s, (folder, source, label)) in COLLECTIONS.iter().enumerate() {
        let dir = data.join(folder);
        std::fs::create_dir_all(dir.join("images")).expect("mkdir");
        let mut rows = String::from("path,label,patient,age,sex,view\n");
        for k in 0..IMAGES {
            let file = format!("images/{k}.png");
            phantom(k, s, *label == "covid")
                .save(dir.join(&file))
                .expect("png");
            let sex = if k % 2 == 0 { "F" } else { "M" };
            let view = if k % 3 == 0 { "AP" } else { "PA" };
            rows.push_str(&format!(
                "{file},{label},{source}-{k},{},{sex},{view}\n",
                30 + (k * 7 + s as u32 * 5) % 50
            ));
        }
        std::fs::write(dir.join("manifest.csv"), rows).expect("manifest");
    }
    let masks = data.join("lung-masks");
    std::fs::create_dir_all(masks.join("images")).expect("mkdir");
    std::fs::create_dir_all(masks.join("masks")).expect("mkdir");
    let mut rows = String::from("image,mask,source,patient_id\n");
    for k in 0..IMAGES {
        phantom(k, k as usize % 4, k % 2 == 0)
            .save(masks.join(format!("images/{k}.png")))
            .expect("png");
        image::GrayImage::from_fn(SIDE, SIDE, |x, y| {
            image::Luma([if in_lungs(x, y) { 255 } else { 0 }])
        })
        .save(masks.join(format!("masks/{k}.png")))
        .expect("png");
        rows.push_str(&format!(
            "images/{k}.png,masks/{k}.png,site{},m{k}\n",
            k % 4
        ));
    }
    std::fs::write(masks.join("manifest.csv"), rows).expect("manifest");
}

/// `text` with each `(from, to)` replaced, every `from` required to occur.
fn reduce(text: &str, edits: &[(&str, &str)], what: &str) -> String {
    let mut out = text.to_string();
    for (from, to) in edits {
        assert!(out.contains(from), "{what}: `{from}` no longer occurs");
        out = out.replace(from, to);
    }
    out
}

/// Every `model NAME = …` line of a study replaced by a tiny CNN.
fn tiny_models(text: &str) -> String {
    text.lines()
        .map(
            |l| match l.strip_prefix("model ").and_then(|r| r.split_once(" = ")) {
                Some((name, _)) => format!("model {name} = cnn(channels: [4])"),
                None => l.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Copies the replication studies and their library into `root/studies`, reduced.
fn reduced_studies(root: &Path) {
    let studies = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies");
    std::fs::create_dir_all(root.join("studies/lib")).expect("mkdir");
    let lib = std::fs::read_to_string(studies.join("lib/covid-sources.study")).expect("lib");
    let lib = reduce(
        &lib,
        &[
            ("unet(depth: 4, base: 16)", "unet(depth: 2, base: 4)"),
            // Enough for the phantoms' lungs: the crop boxes them.
            ("  epochs 30\n", "  epochs 40\n"),
            ("  lr 1e-3\n", "  lr 1e-2\n"),
            ("  size 256\n", "  size 32\n"),
        ],
        "lib/covid-sources.study",
    );
    std::fs::write(root.join("studies/lib/covid-sources.study"), lib).expect("lib");
    let common_edits: &[(&str, &str)] = &[("repeats 5", "repeats 1"), ("resize 224", "resize 32")];
    let studies_and_edits: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "ben-ahmed-2021",
            vec![
                ("cycle: 50", "cycle: 1"),
                ("epochs 1000", "epochs 1"),
                ("sizes [10, 20, 50]", "sizes [4, 8]"),
                ("  epochs 20\n", "  epochs 1\n"),
                ("new_site.auc(50)", "new_site.auc(8)"),
                ("reject smaller than 50%", "reject smaller than 1%"),
            ],
        ),
        (
            "degrave-2021",
            vec![("epochs 30", "epochs 1"), ("samples 64", "samples 4")],
        ),
        ("maguolo-nanni-2021", vec![("epochs 20", "epochs 1")]),
    ];
    for (name, edits) in studies_and_edits {
        let text = std::fs::read_to_string(studies.join(format!("{name}.study"))).expect("study");
        let text = reduce(&text, common_edits, name);
        let text = tiny_models(&reduce(&text, &edits, name));
        std::fs::write(root.join(format!("studies/{name}.study")), text).expect("write");
    }
}

fn run_replication(name: &str) {
    let dir = tempfile::tempdir().expect("temp");
    stand_in_data(dir.path());
    reduced_studies(dir.path());
    let file = format!("studies/{name}.study");
    let (code, out, err) =
        common::study_in(Some(dir.path()), &["run", "--quiet", "--keep-going", &file]);
    assert_eq!(code, 0, "{name}:\n{err}");
    // Every hypothesis has a verdict and the report is written.
    assert!(out.contains("report: "), "{name}:\n{out}\n{err}");
    let results = dir.path().join(format!("studies/out/{name}/results.json"));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&results).expect("results.json")).expect("json");
    assert_eq!(
        doc["missing"],
        serde_json::json!([]),
        "{name}: {}",
        doc["missing"]
    );
    assert!(!doc["verdicts"].as_array().expect("verdicts").is_empty());
}

#[test]
fn ben_ahmed_2021_runs_on_stand_in_data() {
    run_replication("ben-ahmed-2021");
}

#[test]
fn degrave_2021_runs_on_stand_in_data() {
    run_replication("degrave-2021");
}

#[test]
fn maguolo_nanni_2021_runs_on_stand_in_data() {
    run_replication("maguolo-nanni-2021");
}
