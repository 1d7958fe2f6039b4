//! `study check` speed on a 5,000-line study (target: ≤ 50 ms on a 2-core machine).
//! Run with `cargo bench --bench check`. Prints the median of repeated parse + check runs, the plan, and the
//! time to render thousands of diagnostics of one file.

use std::time::{Duration, Instant};

/// A valid study of about `lines` lines: many sources, models, recipes, experiments, probes, hypotheses.
fn generate(lines: usize) -> String {
    let mut s = String::from(
        "// generated benchmark study\nstudy \"bench\" {\n  seed 1\n  repeats 3\n}\n\n",
    );
    s.push_str("dataset phantom = synthetic {\n  size 64\n");
    for i in 0..20 {
        s.push_str(&format!(
            "  source site_{i} {{ images 50, covid {}%, gamma 0.{}, age 20..80 }}\n",
            10 + i * 4,
            5 + i % 5
        ));
    }
    s.push_str("}\n\ncrop full = full\ncrop center = center(80%)\npreprocess p { channels 1, resize 64, normalize per_image }\n");
    s.push_str("split s = by_source {\n  data phantom\n  seen [\"site_0\", \"site_1\"]\n  unseen [\"site_2\", \"site_3\"]\n  fractions { train 70%, validation 10%, seen 20% }\n}\n\n");
    let mut i = 0;
    while s.lines().count() < lines {
        s.push_str(&format!(
            "// block {i}\nmodel m{i} = cnn(channels: [8, 16, {}], dropout: 0.1)\n\ntrain t{i} {{\n  optimizer sgd(lr: 1e-3, momentum: 0.9)\n  schedule step(every: 5, factor: 0.5)\n  epochs 10\n  batch 16\n  select on validation auc\n}}\n\nexperiment e{i} {{\n  grid {{ crop [full, center] }}\n  model m{i}\n  split s\n  preprocess p\n  train t{i}\n  measure [auc, accuracy]\n  per_source\n}}\n\nprobe g{i} = gap(e{i}) {{ at {{ crop full }} }}\n\nhypothesis h{i} \"model {i} generalises\" {{\n  confirmed when g{i}.gap.upper < 0.05 and e{i}[crop = center].auc(unseen).lower > 0.8\n  refuted when g{i}.gap.lower > 0.1\n}}\n\n",
            32 + i % 8
        ));
        i += 1;
    }
    s
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    // `cargo bench --bench check -- front_end` runs only the corpus rate.
    if std::env::args().any(|a| a == "front_end") {
        front_end_corpus();
        return;
    }
    let text = generate(5000);
    let lines = text.lines().count();
    let loaded = study::load_bytes("bench.study", text.as_bytes(), None);
    assert!(
        loaded.study.is_some(),
        "generated study is invalid: {:?}",
        loaded.diagnostics.items.first()
    );
    let mut check = Vec::new();
    let mut plan = Vec::new();
    let mut parse = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        std::hint::black_box(study::syntax::parse_bytes(
            "bench.study",
            text.as_bytes(),
            None,
            Default::default(),
        ));
        parse.push(start.elapsed());
        let start = Instant::now();
        let loaded = study::load_bytes("bench.study", text.as_bytes(), None);
        check.push(start.elapsed());
        let s = loaded.study.expect("valid");
        let start = Instant::now();
        let p = study::plan::plan(&s);
        plan.push(start.elapsed());
        std::hint::black_box(p);
    }
    println!(
        "study check, {lines} lines ({} KiB): median {:.1} ms (target <= 50 ms)",
        text.len() / 1024,
        median(check).as_secs_f64() * 1e3
    );
    println!(
        "  of which parsing: median {:.1} ms",
        median(parse).as_secs_f64() * 1e3
    );
    println!(
        "study plan,  {lines} lines: median {:.1} ms",
        median(plan).as_secs_f64() * 1e3
    );
    complexity();
    front_end_corpus();
}

/// What the fuzz target does to one input, short of its assertions.
fn front_end(text: &[u8]) {
    let loaded = study::load_bytes("corpus.study", text, None);
    std::hint::black_box(study::diagnostics::render_all(
        &loaded.diagnostics,
        &loaded.sources,
        study::diagnostics::Style::plain(),
    ));
    if let Some(s) = &loaded.study {
        let plan = study::plan::plan(s);
        std::hint::black_box(study::plan::summary(&plan, std::path::Path::new("out")));
    }
    if let Ok(text) = std::str::from_utf8(text) {
        let _ = std::hint::black_box(study::syntax::format::format_text(
            study::source::FileId(0),
            text,
        ));
    }
}

/// Rate of the front end (parse, check, render, plan, format) over every study in the repository: the
/// fuzz target's work on its seed corpus, uninstrumented. A campaign of 10^6 inputs needs this fast.
fn front_end_corpus() {
    let mut texts = Vec::new();
    for dir in ["studies", "studies/lib", "tests/ui", "tests/fixtures"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "study") {
                texts.push(std::fs::read(entry.path()).expect("readable study"));
            }
        }
    }
    let bytes: usize = texts.iter().map(Vec::len).sum();
    // The best of five passes of ten rounds: the rate the code allows, less the machine's noise.
    let rounds = 10;
    let secs = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds {
                texts.iter().for_each(|text| front_end(text));
            }
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let runs = (rounds * texts.len()) as f64;
    println!(
        "front end over {} studies ({} KiB): {:.0} studies/s, {:.2} MB/s",
        texts.len(),
        bytes / 1024,
        runs / secs,
        (rounds * bytes) as f64 / secs / 1e6
    );
}

/// Times `f` once and prints it against its bound (check and render must stay O(n log n): see
/// docs/language.md, "Limits").
fn timed<T>(label: &str, bound_ms: f64, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let verdict = if ms <= bound_ms { "ok" } else { "OVER" };
    println!("{label}: {ms:.0} ms (bound {bound_ms:.0} ms) {verdict}");
    out
}

/// Parse + check, then render every diagnostic; returns the number of diagnostics.
fn check_and_render(label: &str, text: &str, bound_ms: f64) -> usize {
    let loaded = timed(&format!("{label}: check"), bound_ms, || {
        study::load_bytes("big.study", text.as_bytes(), None)
    });
    timed(&format!("{label}: render"), bound_ms, || {
        std::hint::black_box(study::diagnostics::render_all(
            &loaded.diagnostics,
            &loaded.sources,
            study::diagnostics::Style::plain(),
        ));
    });
    loaded.diagnostics.items.len()
}

/// The sizes the language promises to handle in under a second each.
fn complexity() {
    const HEAD: &str = "study \"big\" { seed 1, max_trainings 100000 }\ndataset d = synthetic { size 32, source a { images 20, covid 50% }, source b { images 20 } }\ncrop full = full\npreprocess p { resize 32 }\ntrain t { optimizer adam(lr: 1e-3), epochs 1 }\nsplit s = by_source { data d, seen [\"a\"], unseen [\"b\"] }\n";
    // 20,000 declarations, valid.
    let mut text = String::from(HEAD);
    for i in 0..10_000 {
        text.push_str(&format!(
            "model m{i} = cnn(channels: [8])\nexperiment e{i} {{ model m{i}, crop full, split s, preprocess p, train t }}\n"
        ));
    }
    check_and_render("20,000 declarations", &text, 1000.0);
    // 50,000 errors: 12,500 experiments, each with an undefined model and three missing entries.
    let mut text = String::from(HEAD);
    for i in 0..12_500 {
        text.push_str(&format!(
            "experiment e{i} {{ model nosuch{i}, crop full }}\n"
        ));
    }
    let n = check_and_render("50,000 errors", &text, 1000.0);
    println!("  ({n} diagnostics)");
    // 50,000 broken experiments in full (3.9 MB): bound by the parser's rate, about 6 MB/s.
    let mut text = String::from(HEAD);
    for i in 0..50_000 {
        text.push_str(&format!(
            "experiment e{i} {{ model nosuch{i}, crop full, split s, preprocess p, train t }}\n"
        ));
    }
    check_and_render("50,000 broken experiments (3.9 MB)", &text, 2000.0);
    // 5,000 misspelt references among 5,000 declared names: every one gets a did-you-mean.
    let mut text = String::from(HEAD);
    for i in 0..5_000 {
        text.push_str(&format!(
            "model model_{i} = cnn(channels: [8])\nexperiment e{i} {{ model modle_{i}, crop full, split s, preprocess p, train t }}\n"
        ));
    }
    check_and_render("5,000 misspelt among 5,000 names", &text, 1000.0);
    // A 100,000-character name, declared and referred to misspelt.
    let long = "n".repeat(100_000);
    let text = format!(
        "{HEAD}model {long} = cnn(channels: [8])\nexperiment e {{ model {long}x, crop full, split s, preprocess p, train t }}\n"
    );
    check_and_render("100,000-character name", &text, 1000.0);
    // A chain of 5,000 unions, each over the one before.
    let mut text = String::from(HEAD);
    text.push_str("dataset u0 = union(d, d2)\ndataset d2 = synthetic { size 32, source c { images 20, covid 50% } }\n");
    for i in 1..5_000 {
        text.push_str(&format!("dataset u{i} = union(u{}, d2)\n", i - 1));
    }
    check_and_render("5,000 chained unions", &text, 1000.0);
    // The plan and its summary for 90,000 trainings (a 10 x 9 grid, 1,000 repeats).
    let mut text = HEAD.replace("seed 1,", "seed 1, repeats 1000,");
    let models: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let crops: Vec<String> = (0..9).map(|i| format!("c{i}")).collect();
    for m in &models {
        text.push_str(&format!("model {m} = cnn(channels: [8])\n"));
    }
    for (i, c) in crops.iter().enumerate() {
        text.push_str(&format!("crop {c} = center({}%)\n", 90 - i));
    }
    text.push_str(&format!(
        "experiment e {{ grid {{ model [{}], crop [{}] }}, split s, preprocess p, train t }}\n",
        models.join(", "),
        crops.join(", ")
    ));
    let loaded = study::load_bytes("big.study", text.as_bytes(), None);
    let Some(s) = loaded.study else {
        println!("plan case invalid: {:?}", loaded.diagnostics.codes());
        return;
    };
    let plan = timed(
        "plan of 90,000 trainings (90 grid points, 1,000 repeats; linear, about 10 us a cell)",
        3000.0,
        || study::plan::plan(&s),
    );
    timed("summary of that plan", 1000.0, || {
        std::hint::black_box(study::plan::summary(&plan, std::path::Path::new("out")))
    });
}
