//! Image preparation throughput over the real corpus `../shared/data/cxr-real`: decode + resize to 224
//! (area) + per-image normalisation, cold and from a warm cache, next to the Pillow + NumPy peer
//! (`benches/peer/prepare.py`, run by this benchmark when `python3` has Pillow and NumPy).
//! Targets: at least 3× the peer cold; a warm cache at least 20× faster than cold.
//! Run with `cargo bench --bench prepare`.

use std::path::Path;
use std::time::Instant;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cxr-real");
    if !root.join("manifest.csv").exists() {
        println!("skipped: {} is absent", root.display());
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "study \"bench\" {{ seed 1 }}\ndataset cxr = csv(\"{}\") {{ image column \"path\", label column \"label\", source column \"source\" }}\ncrop full = full\npreprocess p {{ resize 224, interpolation auto, normalize per_image }}\n",
        root.join("manifest.csv").display()
    );
    // The corpus lies outside the temporary study folder.
    let reach = study::source::Reach::Anywhere;
    let loaded = study::load_bytes_with("bench.study", text.as_bytes(), Some(dir.path()), reach);
    let s = loaded.study.expect("valid benchmark study");
    let ctx = study::data::DataContext {
        root: dir.path().to_path_buf(),
        seed: 1,
    };
    let table = study::data::load_dataset(&s, "cxr", &ctx).expect("cxr-real loads");
    let n = table.records.len();
    let (crop, pre) = (&s.crops["full"], &s.preprocessings["p"]);
    let normalise = |prepared: &study::data::cache::Prepared| {
        for o in &prepared.outcomes {
            if let Ok(study::data::cache::PreparedImage::Image(px)) = o {
                let mut g = study::data::gray::Gray::from_u8(224, 224, px);
                study::data::transform::normalize(&mut g, &pre.normalize, None);
                std::hint::black_box(g);
            }
        }
    };
    let mut cold = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let p = study::data::cache::prepare(&table.records, &s, 1, crop, pre, None, "", None);
        normalise(&p);
        cold = cold.min(start.elapsed().as_secs_f64());
    }
    let cache = dir.path().join("cache");
    let start = Instant::now();
    let first =
        study::data::cache::prepare(&table.records, &s, 1, crop, pre, None, "", Some(&cache));
    let filling = start.elapsed().as_secs_f64();
    assert_eq!(first.decoded, n);
    let (mut warm, mut warm_load) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..3 {
        let start = Instant::now();
        let p =
            study::data::cache::prepare(&table.records, &s, 1, crop, pre, None, "", Some(&cache));
        assert_eq!(p.decoded, 0, "a warm cache decodes nothing");
        warm_load = warm_load.min(start.elapsed().as_secs_f64());
        normalise(&p);
        warm = warm.min(start.elapsed().as_secs_f64());
    }
    let mut cold_load = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        std::hint::black_box(study::data::cache::prepare(
            &table.records,
            &s,
            1,
            crop,
            pre,
            None,
            "",
            None,
        ));
        cold_load = cold_load.min(start.elapsed().as_secs_f64());
    }
    let threads = rayon::current_num_threads();
    println!(
        "study cold (decode + resize + normalise): {:>6.0} images/s ({n} images, {threads} threads)",
        n as f64 / cold
    );
    println!(
        "study cache fill:                         {:>6.0} images/s",
        n as f64 / filling
    );
    println!(
        "study warm cache (+ normalise):           {:>6.0} images/s ({:.1}x cold)",
        n as f64 / warm,
        cold / warm
    );
    println!(
        "loading only, cold vs warm cache:         {:>6.0} vs {:.0} images/s ({:.1}x, target >= 20x)",
        n as f64 / cold_load,
        n as f64 / warm_load,
        cold_load / warm_load
    );
    let peer = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/prepare.py"))
        .arg(&root)
        .output();
    match peer {
        Ok(out) if out.status.success() => {
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            println!("{line}");
            if let Some(rate) = line
                .split(": ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|r| r.parse::<f64>().ok())
            {
                println!(
                    "ratio study cold / peer: {:.2}x (target >= 3x)",
                    n as f64 / cold / rate
                );
            }
        }
        _ => println!("peer not run: install Pillow and NumPy for python3 (see benches/README.md)"),
    }
}
