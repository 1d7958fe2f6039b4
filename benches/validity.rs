//! Error rates of a verdict on planted confounds (docs/validity.md): `studies/quickstart.study` with site_a's
//! covid share set from 50 % (no confound: site_b mirrors it at 50 %) to 95 % (site_b at 5 %), each share
//! run with many study seeds through the ordinary engine; per share, how often `source_shortcut` comes out
//! confirmed (the detection rate; at 50 % the false-alarm rate), refuted and inconclusive, with Wilson
//! intervals, a Markdown table and the detection curve as SVG.
//!
//! `cargo bench --bench validity [-- --seeds N] [--shares 50,70,90] [--size PX] [--epochs E] [--out DIR]`
//! (defaults: 50 seeds, shares 50 60 70 80 90 95, the study's own size and epochs, `target/validity`).
//! Runs already finished in DIR are reused, so an interrupted bench resumes.

use std::path::{Path, PathBuf};

struct Args {
    seeds: u32,
    shares: Vec<u32>,
    size: Option<u32>,
    epochs: Option<u32>,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        seeds: 50,
        shares: vec![50, 60, 70, 80, 90, 95],
        size: None,
        epochs: None,
        out: PathBuf::from("target/validity"),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--seeds" => a.seeds = value().parse().expect("--seeds N"),
            "--shares" => {
                a.shares = value()
                    .split(',')
                    .map(|s| s.trim().parse().expect("--shares 50,70,90"))
                    .collect()
            }
            "--size" => a.size = Some(value().parse().expect("--size PX")),
            "--epochs" => a.epochs = Some(value().parse().expect("--epochs E")),
            "--out" => a.out = PathBuf::from(value()),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// The quickstart with site_a's covid share `share` %, site_b's `100 − share` %, and `seed`.
fn variant(text: &str, share: u32, seed: u32, a: &Args) -> String {
    let mut t = text
        .replace(
            "images 250, covid 90%",
            &format!("images 250, covid {share}%"),
        )
        .replace(
            "images 250, covid 10%",
            &format!("images 250, covid {}%", 100 - share),
        )
        .replace("  seed 7\n", &format!("  seed {seed}\n"));
    if let Some(size) = a.size {
        t = t
            .replace("  size 64\n", &format!("  size {}\n", size.max(32)))
            .replace("resize 48", &format!("resize {size}"));
    }
    if let Some(epochs) = a.epochs {
        t = t.replace("  epochs 6\n", &format!("  epochs {epochs}\n"));
    }
    t
}

fn wilson(k: usize, n: usize) -> (f64, f64) {
    let i = study::eval::metrics::wilson_interval(k, n, 0.95).expect("n > 0");
    (i.lower, i.upper)
}

fn main() {
    let a = args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies");
    let text = std::fs::read_to_string(dir.join("quickstart.study")).expect("the quickstart");
    for (needle, what) in [
        ("images 250, covid 90%", "site_a"),
        ("images 250, covid 10%", "site_b"),
        ("  seed 7\n", "seed"),
    ] {
        assert!(
            text.contains(needle),
            "the quickstart's {what} changed: update this bench"
        );
    }
    let mut rows = Vec::new();
    let started = std::time::Instant::now();
    for share in &a.shares {
        let mut counts = [0usize; 3];
        let mut failed = 0;
        for seed in 1..=a.seeds {
            let source = variant(&text, *share, seed, &a);
            let loaded = study::load_bytes("quickstart.study", source.as_bytes(), Some(&dir));
            let s = loaded.study.expect("the variant checks");
            let plan = study::plan(&s);
            let out = a
                .out
                .join(format!("share-{share}"))
                .join(format!("seed-{seed:03}"));
            let mut opts = study::exec::Options::new(&out);
            opts.keep_going = true;
            let summary = study::run(&plan, &dir, &opts).expect("the output folder is usable");
            let verdicts = study::verdicts(&plan, &out, &summary).unwrap_or_default();
            match verdicts.iter().find(|v| v.hypothesis == "source_shortcut") {
                Some(v) => {
                    use study::probe::verdict::Decision::*;
                    counts[match v.outcome {
                        Confirmed => 0,
                        Refuted => 1,
                        Inconclusive => 2,
                    }] += 1
                }
                None => failed += 1,
            }
        }
        let n = counts.iter().sum::<usize>();
        eprintln!(
            "share {share} %: confirmed {}, refuted {}, inconclusive {}, failed {failed} ({:.0} s so far)",
            counts[0],
            counts[1],
            counts[2],
            started.elapsed().as_secs_f64()
        );
        rows.push((*share, counts, n, failed));
    }
    println!(
        "\nsite_a covid share | runs | confirmed (detection; false alarm at 50 %) | refuted | inconclusive"
    );
    println!("---|---|---|---|---");
    for (share, c, n, failed) in &rows {
        let cell = |k: usize| {
            let (lo, hi) = wilson(k, *n);
            format!(
                "{k}/{n} = {:.0} % [{:.0}, {:.0}]",
                100.0 * k as f64 / *n as f64,
                lo * 100.0,
                hi * 100.0
            )
        };
        let failed = if *failed > 0 {
            format!(" ({failed} failed)")
        } else {
            String::new()
        };
        println!(
            "{share} % | {n}{failed} | {} | {} | {}",
            cell(c[0]),
            cell(c[1]),
            cell(c[2])
        );
    }
    let svg = curve(&rows);
    let path = a.out.join("detection.svg");
    std::fs::create_dir_all(&a.out).expect("out");
    std::fs::write(&path, svg).expect("writes the curve");
    println!(
        "\n{} seed(s) per share{}{}; curve: {}",
        a.seeds,
        a.size.map_or(String::new(), |s| format!(", images {s} px")),
        a.epochs
            .map_or(String::new(), |e| format!(", {e} epoch(s)")),
        path.display()
    );
}

/// The detection rate against the covid share, with Wilson whiskers and the 95 % / 5 % targets.
fn curve(rows: &[(u32, [usize; 3], usize, usize)]) -> String {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 320)).into_drawing_area();
        root.fill(&WHITE).expect("fill");
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .caption(
                "source_shortcut confirmed, by site_a's covid share",
                ("sans-serif", 16),
            )
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(45.0..100.0, 0.0..1.0)
            .expect("chart");
        chart
            .configure_mesh()
            .x_desc("site_a covid share (%)")
            .y_desc("share of runs confirmed")
            .draw()
            .expect("mesh");
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.2 > 0)
            .map(|(s, c, n, _)| (*s as f64, c[0] as f64 / *n as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2)))
            .expect("line");
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, BLUE.filled())))
            .expect("points");
        for (s, c, n, _) in rows.iter().filter(|r| r.2 > 0) {
            let (lo, hi) = wilson(c[0], *n);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*s as f64, lo), (*s as f64, hi)],
                    BLACK,
                )))
                .expect("whisker");
        }
        for target in [0.95, 0.05] {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(45.0, target), (100.0, target)],
                    RGBColor(180, 180, 180),
                )))
                .expect("target");
        }
        root.present().expect("svg");
    }
    svg
}
