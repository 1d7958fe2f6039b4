//! Data: manifests, images, DICOM, the synthetic generator, splits. Real data is read from
//! `../shared/data` by path; tests that need it say so and skip when it is absent.

mod common;
use common::{checked, checked_outside};
use std::path::{Path, PathBuf};
use study::data::{DataContext, Problem, load_dataset, split::assign};
use study::diagnostics::{Code, IntoDiagnostics};

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is absent (the shared test data is not on this machine)",
            p.display()
        );
        None
    }
}

fn ctx(dir: &Path, seed: u64) -> DataContext {
    DataContext {
        root: dir.to_path_buf(),
        seed,
    }
}

const TAIL: &str = "crop full = full\npreprocess p { resize 64 }\nmodel small = cnn(channels: [8, 16])\ntrain quick { optimizer adam(lr: 1e-3), epochs 2 }\n";

fn real_study(manifest: &Path, split: &str) -> String {
    format!(
        "study \"real\" {{ seed 5 }}\ndataset cxr = csv(\"{}\") {{\n  image column \"path\"\n  label column \"label\"\n  source column \"source\"\n  patient column \"patient_id\"\n  age column \"age\"\n  sex column \"sex\"\n  view column \"view\"\n}}\n{TAIL}{split}\nexperiment e {{ model small, crop full, split s, preprocess p, train quick }}\n",
        manifest.display()
    )
}

#[test]
fn real_manifest_counts_equal_the_manifest() {
    let Some(manifest) = shared("cxr-real/manifest.csv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let s = checked_outside(
        &real_study(&manifest, "split s = random { data cxr, group patient }"),
        dir.path(),
    );
    let table = load_dataset(&s, "cxr", &ctx(dir.path(), 5)).expect("loads");
    let mut reader = csv::Reader::from_path(&manifest).expect("csv");
    let headers = reader.headers().expect("header").clone();
    let (li, si) = (
        headers.iter().position(|h| h == "label").unwrap(),
        headers.iter().position(|h| h == "source").unwrap(),
    );
    let mut expected = std::collections::BTreeMap::new();
    for row in reader.records() {
        let row = row.expect("row");
        *expected
            .entry((row[si].to_string(), row[li].to_string()))
            .or_insert(0usize) += 1;
    }
    let mut got = std::collections::BTreeMap::new();
    for r in &table.records {
        *got.entry((r.source.clone(), r.label.clone()))
            .or_insert(0usize) += 1;
    }
    assert_eq!(got, expected);
    assert_eq!(table.records.len(), 607);
    assert_eq!(
        got[&("nih-chestxray14".to_string(), "normal".to_string())],
        100
    );
}

#[test]
fn grouped_splits_share_no_patient_and_are_byte_identical_for_a_seed() {
    let Some(manifest) = shared("cxr-real/manifest.csv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for split in [
        "split s = random { data cxr, group patient }",
        "split s = by_source { data cxr, seen [\"nih-chestxray14\", \"ieee8023-covid-chestxray\"], group patient }",
        "split s = kfold(4) { data cxr, group patient }",
        "split s = leave_one_source_out { data cxr, sources [\"nih-chestxray14\", \"kermany-pediatric-cxr\", \"ieee8023-covid-chestxray\"], group patient }",
    ] {
        let s = checked_outside(&real_study(&manifest, split), dir.path());
        let table = load_dataset(&s, "cxr", &ctx(dir.path(), 5)).expect("loads");
        let a = assign("s", &s.splits["s"], &table, 5).expect("assigns");
        assert!(
            a.leaks(&table, "patient").is_empty(),
            "{split}: a patient straddles partitions"
        );
        // Cohen has patients with several images: grouping must have mattered somewhere.
        let again = assign("s", &s.splits["s"], &table, 5).expect("assigns");
        assert_eq!(a, again, "{split}: not deterministic");
        let other = assign("s", &s.splits["s"], &table, 6).expect("assigns");
        assert_ne!(a, other, "{split}: the seed has no effect");
        let renamed = assign("t", &s.splits["s"], &table, 5).expect("assigns");
        assert_ne!(
            a, renamed,
            "{split}: the split's name must be part of its seed"
        );
    }
}

#[test]
fn fractions_and_strata_are_respected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = checked(
        &format!(
            "study \"f\" {{ seed 1 }}\ndataset d = synthetic {{ source a {{ images 500, covid 30% }} }}\n{TAIL}split s = random {{ data d, fractions {{ train 60%, validation 20%, test 20% }} }}\nexperiment e {{ model small, crop full, split s, preprocess p, train quick }}\n"
        ),
        dir.path(),
    );
    let table = load_dataset(&s, "d", &ctx(dir.path(), 1)).expect("loads");
    let a = assign("s", &s.splits["s"], &table, 1).expect("assigns");
    for (partition, share) in [("train", 0.6), ("validation", 0.2), ("test", 0.2)] {
        let members = a.members(0, partition);
        assert!(
            (members.len() as f64 - 500.0 * share).abs() <= 2.0,
            "{partition}: {}",
            members.len()
        );
        let covid = members
            .iter()
            .filter(|i| table.records[**i].label == "covid")
            .count();
        assert!(
            (covid as f64 / members.len() as f64 - 0.3).abs() < 0.02,
            "{partition}: covid share {covid}/{}",
            members.len()
        );
    }
}

#[test]
fn by_source_and_leave_one_source_out_hold_sources_out_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = checked(
        &format!(
            "study \"b\" {{ seed 2 }}\ndataset d = synthetic {{\n  source a {{ images 40, covid 80% }}\n  source b {{ images 40, covid 20% }}\n  source c {{ images 40 }}\n}}\n{TAIL}split s = by_source {{ data d, seen [a, b] }}\nsplit l = leave_one_source_out {{ data d }}\nexperiment e {{ grid {{ split [s, l] }}, model small, crop full, preprocess p, train quick }}\n"
        ),
        dir.path(),
    );
    let table = load_dataset(&s, "d", &ctx(dir.path(), 2)).expect("loads");
    let a = assign("s", &s.splits["s"], &table, 2).expect("assigns");
    for (r, p) in table.records.iter().zip(&a.folds[0].partitions) {
        assert_eq!(p.as_deref() == Some("unseen"), r.source == "c");
    }
    let l = assign("l", &s.splits["l"], &table, 2).expect("assigns");
    assert_eq!(l.folds.len(), 3);
    for fold in &l.folds {
        let held = fold.name.clone().expect("fold name");
        for (r, p) in table.records.iter().zip(&fold.partitions) {
            assert_eq!(p.as_deref() == Some("unseen"), r.source == held);
            assert!(p.is_some());
        }
    }
}

#[test]
fn synthetic_images_are_determined_by_the_seed_and_markers_appear_only_where_declared() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = checked(
        &format!(
            "study \"m\" {{ seed 3 }}\ndataset d = synthetic {{\n  size 64\n  source marked {{ images 6, covid 50%, marker \"R\" top_left }}\n  source plain {{ images 6, covid 50% }}\n}}\n{TAIL}split s = random {{ data d }}\nexperiment e {{ model small, crop full, split s, preprocess p, train quick }}\n"
        ),
        dir.path(),
    );
    let table = load_dataset(&s, "d", &ctx(dir.path(), 3)).expect("loads");
    let corner_max = |img: &study::data::gray::Gray| {
        (0..12)
            .flat_map(|y| (0..12).map(move |x| (x, y)))
            .map(|(x, y)| img.get(x, y))
            .fold(0.0f32, f32::max)
    };
    for r in &table.records {
        let (img, mask) = study::data::images::load_record(r, &s, 3).expect("renders");
        let (again, _) = study::data::images::load_record(r, &s, 3).expect("renders");
        assert_eq!(img, again, "not deterministic");
        assert_eq!(
            corner_max(&img) == 1.0,
            r.source == "marked",
            "{}: marker where not declared, or missing",
            r.id
        );
        let mask = mask.expect("synthetic images have masks");
        let lung = mask.data.iter().filter(|v| **v > 0.5).count() as f64 / mask.data.len() as f64;
        assert!((0.08..0.4).contains(&lung), "{}: lung share {lung}", r.id);
    }
    let other = study::data::synthetic::records(
        "d",
        match &s.datasets["d"].source {
            study::study::DatasetSource::Synthetic(x) => x,
            _ => unreachable!(),
        },
        4,
    );
    let (a, _) = study::data::images::load_record(&table.records[0], &s, 3).expect("renders");
    let (b, _) = study::data::images::load_record(&other.records[0], &s, 4).expect("renders");
    assert_ne!(a, b, "another seed draws other images");
}

#[test]
fn dicom_samples_decode_with_inversion_and_headers() {
    let Some(dir) = shared("cxr-dicom-samples") else {
        return;
    };
    let rsna =
        dir.join("rsna-pneumonia-1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm");
    let (img, header) =
        study::data::images::decode_dicom(&rsna, "d", study::study::DEFAULT_MAX_PIXELS)
            .expect("JPEG baseline DICOM decodes");
    assert_eq!((img.width, img.height), (1024, 1024));
    assert_eq!(header.view.as_deref(), Some("PA"));
    assert_eq!(header.sex, Some(study::data::metadata::Sex::Male));
    assert_eq!(header.age, Some(62.0));
    let rg1 = dir.join("pydicom-data-RG1_UNCR.dcm");
    let (img, header) =
        study::data::images::decode_dicom(&rg1, "d", study::study::DEFAULT_MAX_PIXELS)
            .expect("MONOCHROME1 DICOM decodes");
    assert_eq!(header.photometric, "MONOCHROME1");
    assert_eq!((img.width, img.height), (1841, 1955));
    assert!(img.data.iter().all(|v| (0.0..=1.0).contains(v)));
    // After inversion the air outside the body is dark and the mediastinum bright, as in MONOCHROME2.
    let mean = |x0: usize, y0: usize, w: usize, h: usize| {
        let mut s = 0.0;
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                s += img.get(x, y) as f64;
            }
        }
        s / (w * h) as f64
    };
    let centre = mean(870, 600, 100, 600);
    let lung = mean(450, 700, 150, 400);
    assert!(
        centre > lung,
        "mediastinum {centre} should be brighter than lung {lung}"
    );
}

fn problems_of(text: &str, dir: &Path, dataset: &str) -> Vec<Problem> {
    let s = checked(text, dir);
    match load_dataset(&s, dataset, &ctx(dir, 1)) {
        Ok(t) => t.skipped,
        Err(p) => p,
    }
}

fn csv_study(extra: &str) -> String {
    format!(
        "study \"c\" {{ seed 1 }}\ndataset d = csv(\"m.csv\") {{\n  image column \"path\"\n  label column \"label\"\n  source column \"source\"\n  age column \"age\"\n  patient column \"patient\"\n  sex column \"sex\"\n{extra}}}\n{TAIL}split s = random {{ data d }}\nexperiment e {{ model small, crop full, split s, preprocess p, train quick }}\n"
    )
}

fn write_png(path: &Path, value: u8) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    image::GrayImage::from_pixel(16, 16, image::Luma([value]))
        .save(path)
        .expect("png");
}

fn codes(problems: &[Problem]) -> Vec<Code> {
    problems.iter().map(|p| p.code).collect()
}

#[test]
fn bad_manifests_give_coded_problems_naming_the_cell() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img/a.png"), 10);
    write_png(&d.join("img/b.png"), 200);
    let header = "path,label,source,age,patient,sex\n";
    let cases: Vec<(&str, String, Code)> = vec![
        (
            "unequal row",
            format!("{header}img/a.png,covid,x,50,p1,M\nimg/b.png,normal,x\n"),
            Code::CsvMalformed,
        ),
        (
            "missing column",
            "path,label,source,age,patient\nimg/a.png,covid,x,50,p1\n".to_string(),
            Code::MissingColumn,
        ),
        (
            "bad age",
            format!("{header}img/a.png,covid,x,fifty,p1,M\nimg/b.png,normal,x,40,p2,F\n"),
            Code::BadValue,
        ),
        (
            "duplicate",
            format!("{header}img/a.png,covid,x,50,p1,M\nimg/a.png,normal,x,40,p2,F\n"),
            Code::DuplicateImage,
        ),
        (
            "missing image",
            format!("{header}img/a.png,covid,x,50,p1,M\nimg/zzz.png,normal,x,40,p2,F\n"),
            Code::DataMissing,
        ),
        (
            "conflicting patient",
            format!("{header}img/a.png,covid,x,50,p1,M\nimg/b.png,normal,x,40,p1,F\n"),
            Code::PatientConflict,
        ),
    ];
    // One class is a dataset of its own (a covid-only collection): accepted, checked per partition.
    std::fs::write(
        d.join("m.csv"),
        format!("{header}img/a.png,covid,x,50,p1,M\nimg/b.png,covid,x,40,p2,F\n"),
    )
    .expect("write");
    let problems = problems_of(&csv_study(""), d, "d");
    assert!(problems.is_empty(), "one class: {problems:?}");
    for (what, manifest, code) in cases {
        std::fs::write(d.join("m.csv"), &manifest).expect("write");
        let problems = problems_of(&csv_study(""), d, "d");
        assert!(
            codes(&problems).contains(&code),
            "{what}: expected {code}, got {problems:?}"
        );
        // Row problems point into the manifest.
        if matches!(
            code,
            Code::BadValue | Code::DuplicateImage | Code::CsvMalformed | Code::DataMissing
        ) {
            let p = problems.iter().find(|p| p.code == code).expect("problem");
            let Some(study::data::Place::Text { start, end, .. }) = &p.place else {
                panic!("{what}: no place in the manifest")
            };
            assert!(
                manifest[..*start].matches('\n').count() >= 1,
                "{what}: points at the header"
            );
            assert!(end > start);
        }
    }
    std::fs::write(
        d.join("m.csv"),
        format!("{header}img/a.png,covid,x,50,p1,M\n"),
    )
    .expect("write");
    let problems = problems_of(&csv_study("  keep age > 90\n"), d, "d");
    assert_eq!(codes(&problems), vec![Code::EmptyData]);
    assert!(
        problems[0].message.contains("1 left out by `keep`"),
        "{}",
        problems[0].message
    );
    let missing = problems_of(&csv_study("").replace("m.csv", "nowhere/m.csv"), d, "d");
    assert_eq!(codes(&missing), vec![Code::DataMissing]);
    assert!(missing[0].help.contains("dataset `d`"));
}

#[test]
fn skip_policy_counts_instead_of_failing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img/a.png"), 10);
    write_png(&d.join("img/b.png"), 200);
    write_png(&d.join("img/c.png"), 90);
    std::fs::write(d.join("m.csv"), "path,label,source,age,patient,sex\nimg/a.png,covid,x,50,p1,M\nimg/b.png,normal,x,,p2,F\nimg/c.png,normal,x,40,p3,F\nimg/gone.png,normal,x,40,p4,F\nimg/c.png,normal,x,old,p5,F\n").expect("write");
    let s = checked(&csv_study("  on_error skip\n"), d);
    let table = load_dataset(&s, "d", &ctx(d, 1)).expect("skips bad rows");
    assert_eq!(table.records.len(), 3, "an empty age is missing, not wrong");
    assert_eq!(
        codes(&table.skipped),
        vec![Code::DataMissing, Code::BadValue]
    );
    let strict = problems_of(&csv_study(""), d, "d");
    assert_eq!(
        codes(&strict),
        vec![Code::DataMissing, Code::BadValue],
        "without `on_error skip` the same rows fail"
    );
}

#[test]
fn corrupt_images_give_coded_problems() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("good.png"), 100);
    let bytes = std::fs::read(d.join("good.png")).expect("read");
    std::fs::write(d.join("truncated.png"), &bytes[..bytes.len() / 2]).expect("write");
    std::fs::write(d.join("empty.png"), b"").expect("write");
    std::fs::write(d.join("text.png"), b"not an image at all").expect("write");
    assert!(
        study::data::images::decode_file(
            &d.join("good.png"),
            "x",
            study::study::DEFAULT_MAX_PIXELS
        )
        .is_ok()
    );
    for name in ["truncated.png", "empty.png", "text.png"] {
        let p =
            study::data::images::decode_file(&d.join(name), "x", study::study::DEFAULT_MAX_PIXELS)
                .expect_err(name);
        assert_eq!(p.code, Code::BadImage, "{name}");
    }
    if let Some(dicom) = shared(
        "cxr-dicom-samples/rsna-pneumonia-1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm",
    ) {
        let bytes = std::fs::read(dicom).expect("read");
        std::fs::write(d.join("cut.dcm"), &bytes[..bytes.len() / 3]).expect("write");
        let p = study::data::images::decode_file(
            &d.join("cut.dcm"),
            "x",
            study::study::DEFAULT_MAX_PIXELS,
        )
        .expect_err("truncated DICOM");
        assert_eq!(p.code, Code::BadDicom);
    }
    // A 16-bit PNG keeps its precision.
    let deep = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(4, 1, |x, _| {
        image::Luma([x as u16 * 1000 + 1])
    });
    deep.save(d.join("deep.png")).expect("png16");
    let g = study::data::images::decode_file(
        &d.join("deep.png"),
        "x",
        study::study::DEFAULT_MAX_PIXELS,
    )
    .expect("16-bit decodes");
    assert!((g.data[1] - 1001.0 / 65535.0).abs() < 1e-6);
}

#[test]
fn masks_must_match_their_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img/a.png"), 10);
    write_png(&d.join("img/b.png"), 200);
    std::fs::create_dir_all(d.join("masks")).expect("mkdir");
    image::GrayImage::from_pixel(8, 8, image::Luma([255]))
        .save(d.join("masks/a.png"))
        .expect("png");
    std::fs::write(d.join("m.csv"), "path,label,source,age,patient,sex,mask\nimg/a.png,covid,x,50,p1,M,masks/a.png\nimg/b.png,normal,x,40,p2,F,\n").expect("write");
    let s = checked(&csv_study("  mask column \"mask\"\n"), d);
    let table = load_dataset(&s, "d", &ctx(d, 1)).expect("loads");
    let p = study::data::images::load_record(&table.records[0], &s, 1).expect_err("size mismatch");
    assert_eq!(p.code, Code::MaskMismatch);
    let (_, mask) =
        study::data::images::load_record(&table.records[1], &s, 1).expect("no mask is fine");
    assert!(mask.is_none());
}

#[test]
fn data_problems_render_with_the_manifest_snippet_and_the_dataset_declaration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img/a.png"), 10);
    std::fs::write(
        d.join("m.csv"),
        "path,label,source,age,patient,sex\nimg/a.png,covid,x,early 40s,p1,M\n",
    )
    .expect("write");
    let text = csv_study("");
    let mut loaded = study::load_bytes("t.study", text.as_bytes(), Some(d));
    let s = loaded.study.take().expect("valid");
    let problems = load_dataset(&s, "d", &ctx(d, 1)).expect_err("bad age");
    let diags = problems
        .as_slice()
        .into_diagnostics(&s, &mut loaded.sources);
    let out =
        study::diagnostics::render_all(&diags, &loaded.sources, study::diagnostics::Style::plain());
    assert!(out.contains("study::E0043"), "{out}");
    assert!(out.contains("m.csv:2:"), "names the manifest line: {out}");
    assert!(out.contains("early 40s"), "shows the cell: {out}");
    assert!(
        out.contains("dataset `d` declared here"),
        "points at the study: {out}"
    );
}

#[test]
fn the_cache_decodes_once_and_never_stores_failures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img/a.png"), 10);
    write_png(&d.join("img/b.png"), 200);
    std::fs::write(d.join("img/c.png"), b"broken").expect("write");
    std::fs::write(d.join("m.csv"), "path,label,source,age,patient,sex\nimg/a.png,covid,x,50,p1,M\nimg/b.png,normal,x,40,p2,F\nimg/c.png,normal,x,40,p3,F\n").expect("write");
    let s = checked(&csv_study(""), d);
    let table = load_dataset(&s, "d", &ctx(d, 1)).expect("loads");
    let (crop, pre) = (&s.crops["full"], &s.preprocessings["p"]);
    let cache = d.join("cache");
    let cold =
        study::data::cache::prepare(&table.records, &s, 1, crop, pre, None, "", Some(&cache));
    assert_eq!(cold.decoded, 3);
    assert_eq!(
        cold.outcomes[2].as_ref().expect_err("corrupt").code,
        Code::BadImage
    );
    let warm =
        study::data::cache::prepare(&table.records, &s, 1, crop, pre, None, "", Some(&cache));
    assert_eq!(warm.decoded, 1, "only the failed image is decoded again");
    for i in 0..2 {
        assert_eq!(
            cold.outcomes[i].as_ref().ok(),
            warm.outcomes[i].as_ref().ok()
        );
    }
    let uncached = study::data::cache::prepare(&table.records, &s, 1, crop, pre, None, "", None);
    assert_eq!(
        uncached.outcomes[0].as_ref().ok(),
        warm.outcomes[0].as_ref().ok()
    );
    // A changed file has a new content hash: it is decoded again.
    write_png(&d.join("img/a.png"), 99);
    let changed =
        study::data::cache::prepare(&table.records, &s, 1, crop, pre, None, "", Some(&cache));
    assert_eq!(changed.decoded, 2);
    let Ok(study::data::cache::PreparedImage::Image(px)) = &changed.outcomes[0] else {
        panic!("image")
    };
    assert!(px.iter().all(|v| *v == 99));
}

#[test]
fn folder_layouts_give_classes_and_sources() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    for (source, class, n) in [
        ("hosp_a", "PNEUMONIA", 3),
        ("hosp_a", "NORMAL", 2),
        ("hosp_b", "NORMAL", 4),
        ("hosp_b", "OTHER", 1),
    ] {
        for i in 0..n {
            write_png(&d.join(format!("data/{source}/{class}/{i}.png")), 50);
        }
    }
    std::fs::write(d.join("data/hosp_a/NORMAL/notes.txt"), "not an image").expect("write");
    let s = checked(
        &format!(
            "study \"f\" {{ seed 1 }}\ndataset d = folders(\"data\") {{\n  layout source_then_class\n  label {{ \"PNEUMONIA\" => pneumonia, \"NORMAL\" => normal, * => drop }}\n}}\n{TAIL}split s = random {{ data d }}\nexperiment e {{ model small, crop full, split s, preprocess p, train quick }}\n"
        ),
        d,
    );
    let table = load_dataset(&s, "d", &ctx(d, 1)).expect("loads");
    assert_eq!(
        table.records.len(),
        9,
        "the OTHER folder is dropped, the text file ignored"
    );
    assert_eq!(table.dropped, 1, "the file in OTHER counts as dropped");
    let count = |src: &str, label: &str| {
        table
            .records
            .iter()
            .filter(|r| r.source == src && r.label == label)
            .count()
    };
    assert_eq!(
        (
            count("hosp_a", "pneumonia"),
            count("hosp_a", "normal"),
            count("hosp_b", "normal")
        ),
        (3, 2, 4)
    );
    assert_eq!(table.records[0].id, "hosp_a/NORMAL/0.png");
}

#[test]
fn dicom_folders_read_metadata_from_headers() {
    let Some(samples) = shared("cxr-dicom-samples") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    for (class, file) in [
        (
            "pneumonia",
            "rsna-pneumonia-1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm",
        ),
        ("normal", "pydicom-data-RG1_UNCR.dcm"),
    ] {
        std::fs::create_dir_all(d.join("dcm").join(class)).expect("mkdir");
        std::fs::copy(samples.join(file), d.join("dcm").join(class).join(file)).expect("copy");
    }
    let s = checked(
        &format!(
            "study \"d\" {{ seed 1 }}\ndataset d = dicom(\"dcm\") {{ layout class_per_folder }}\n{TAIL}split s = random {{ data d }}\nexperiment e {{ model small, crop full, split s, preprocess p, train quick }}\n"
        ),
        d,
    );
    let table = load_dataset(&s, "d", &ctx(d, 1)).expect("loads");
    let rsna = table
        .records
        .iter()
        .find(|r| r.label == "pneumonia")
        .expect("rsna");
    assert_eq!(
        (rsna.age, rsna.sex, rsna.view.as_deref()),
        (
            Some(62.0),
            Some(study::data::metadata::Sex::Male),
            Some("PA")
        )
    );
    let rg1 = table
        .records
        .iter()
        .find(|r| r.label == "normal")
        .expect("rg1");
    assert_eq!(
        (rg1.sex, rg1.view.as_deref()),
        (Some(study::data::metadata::Sex::Female), Some("PA"))
    );
}

#[test]
fn jpeg_rgb_and_palette_images_become_gray() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let rgb = image::RgbImage::from_pixel(8, 8, image::Rgb([255, 0, 0]));
    rgb.save(d.join("red.png")).expect("png");
    rgb.save(d.join("red.jpg")).expect("jpeg");
    let g =
        study::data::images::decode_file(&d.join("red.png"), "x", study::study::DEFAULT_MAX_PIXELS)
            .expect("rgb png");
    assert!(
        (g.data[0] - 0.2126).abs() < 0.01,
        "luminance of pure red, got {}",
        g.data[0]
    );
    let j =
        study::data::images::decode_file(&d.join("red.jpg"), "x", study::study::DEFAULT_MAX_PIXELS)
            .expect("jpeg");
    assert!((j.data[27] - g.data[27]).abs() < 0.05);
    // A palette PNG: 2×1 pixels, palette [black, white].
    let mut palette_png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut palette_png, 2, 1);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0, 0, 0, 255, 255, 255]);
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&[0, 1]).expect("data");
    }
    std::fs::write(d.join("palette.png"), palette_png).expect("write");
    let p = study::data::images::decode_file(
        &d.join("palette.png"),
        "x",
        study::study::DEFAULT_MAX_PIXELS,
    )
    .expect("palette png");
    assert_eq!(p.data, vec![0.0, 1.0]);
}

#[test]
fn augmentation_is_seeded_and_resizing_keeps_ranges() {
    use rand::SeedableRng;
    let img = study::data::gray::Gray {
        width: 32,
        height: 32,
        data: (0..1024).map(|i| (i % 32) as f32 / 31.0).collect(),
    };
    let spec = study::study::Augment {
        flip: 0.5,
        rotate: 10.0,
        translate: 0.05,
        brightness: 0.1,
        contrast: 0.1,
    };
    let a = study::data::transform::augment(
        &img,
        &spec,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(7),
    );
    let b = study::data::transform::augment(
        &img,
        &spec,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(7),
    );
    let c = study::data::transform::augment(
        &img,
        &spec,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(8),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    let none = study::study::Augment {
        flip: 0.0,
        rotate: 0.0,
        translate: 0.0,
        brightness: 0.0,
        contrast: 0.0,
    };
    let same = study::data::transform::augment(
        &img,
        &none,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
    );
    assert!(
        img.data
            .iter()
            .zip(&same.data)
            .all(|(x, y)| (x - y).abs() < 1e-5),
        "no augmentation leaves the image unchanged"
    );
    for interpolation in [
        study::study::Interpolation::Auto,
        study::study::Interpolation::Bilinear,
        study::study::Interpolation::Nearest,
    ] {
        for (w, h) in [(7, 9), (64, 48)] {
            let r = study::data::transform::resize(&img, w, h, interpolation);
            assert_eq!((r.width, r.height), (w, h));
            assert!(r.data.iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v)));
        }
    }
}

#[cfg(unix)]
#[test]
fn an_unusable_image_path_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img/a.png"), 10);
    std::os::unix::fs::symlink("loop2.png", d.join("img/loop1.png")).expect("link");
    std::os::unix::fs::symlink("loop1.png", d.join("img/loop2.png")).expect("link");
    std::os::unix::fs::symlink("gone.png", d.join("img/dangling.png")).expect("link");
    std::fs::create_dir_all(d.join("img/folder.png")).expect("mkdir");
    let header = "path,label,source,age,patient,sex\n";
    for (path, why) in [
        ("img/loop1.png", "is a loop of symbolic links"),
        (
            "img/dangling.png",
            "is a symbolic link to something that does not exist",
        ),
        ("img/folder.png", "is a folder, not a file"),
        ("img/zzz.png", "does not exist"),
    ] {
        let manifest = format!("{header}img/a.png,covid,x,50,p1,M\n{path},normal,x,40,p2,F\n");
        std::fs::write(d.join("m.csv"), manifest).expect("write");
        let problems = problems_of(&csv_study(""), d, "d");
        let p = problems
            .iter()
            .find(|p| p.code == Code::DataMissing)
            .unwrap_or_else(|| panic!("{path}: {problems:?}"));
        assert!(
            p.message.contains(why),
            "{path}: expected `{why}` in `{}`",
            p.message
        );
    }
}

/// CRC-32 of PNG chunks (ISO 3309).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= *b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn images_above_the_pixel_limit_are_refused_before_decoding() {
    use study::data::images::decode_file;
    use study::study::DEFAULT_MAX_PIXELS;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // A PNG whose header announces 20000×20000 pixels: decoding it would take gigabytes; the header is
    // all that is read.
    write_png(&d.join("small.png"), 90);
    let mut bytes = std::fs::read(d.join("small.png")).expect("read");
    // Signature (8), IHDR length and type (8), then width and height; the chunk's CRC follows its 13 bytes.
    bytes[16..20].copy_from_slice(&20000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&20000u32.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(d.join("huge.png"), &bytes).expect("write");
    let p = decode_file(&d.join("huge.png"), "x", DEFAULT_MAX_PIXELS).expect_err("refused");
    assert_eq!(p.code, Code::ImageTooLarge);
    assert!(
        p.message.contains("20000×20000") && p.message.contains("not decoded"),
        "{}",
        p.message
    );
    assert!(p.help.contains("max_pixels 400000000"), "{}", p.help);

    // A limit of the dataset's own: refused above it, decoded at it.
    image::RgbImage::from_pixel(300, 200, image::Rgb([10, 20, 30]))
        .save(d.join("rgb.png"))
        .expect("png");
    let p = decode_file(&d.join("rgb.png"), "x", 59_999).expect_err("above");
    assert_eq!(p.code, Code::ImageTooLarge);
    let g = decode_file(&d.join("rgb.png"), "x", 60_000).expect("at the limit");
    assert_eq!((g.width, g.height), (300, 200));

    // `max_pixels` on a dataset reaches its images.
    let s = checked(
        r#"study "t" { seed 1 }
dataset d = csv("m.csv") { image column "path", label column "label", source column "source", max_pixels 200 }
crop full = full
preprocess p { resize 16 }
model m = cnn(channels: [4])
train t { optimizer adam(lr: 1e-3), epochs 1 }
split s = by_source { data d, seen [a], unseen [b] }
experiment e { model m, crop full, split s, preprocess p, train t }
"#,
        d,
    );
    assert_eq!(s.datasets["d"].pixel_limit(), 200);
    let source = study::data::ImageSource::File(d.join("small.png"));
    let p = study::data::images::load(&source, "d", &s, 1).expect_err("256 pixels > 200");
    assert_eq!(p.code, Code::ImageTooLarge);
}

#[test]
fn a_pixel_limit_must_be_a_positive_whole_number() {
    for (value, code) in [("0", "E0019"), ("1.5", "E0018"), ("\"big\"", "E0018")] {
        let text = format!(
            "study \"t\" {{ seed 1 }}\ndataset d = csv(\"m.csv\") {{ image column \"p\", label column \"l\", max_pixels {value} }}\n"
        );
        let loaded = study::load_bytes("t.study", text.as_bytes(), None);
        let found = loaded.diagnostics.codes();
        assert!(found.contains(&code), "max_pixels {value}: {found:?}");
    }
}
